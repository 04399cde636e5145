import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describeZodError, SluiceError } from '@sluice/events';
import { z } from 'zod';

/** The price file shipped with Sluice; `SLUICE_PRICES_FILE` names another. */
export const DEFAULT_PRICES_FILE = fileURLToPath(new URL('../../prices.json', import.meta.url));

/**
 * How tokens were bought, which picks their price: synchronously at the default tier (`sync`), at
 * the flex or priority tier, through the Batch API, or answered from the cache without the upstream.
 */
export type Channel = 'sync' | 'flex' | 'priority' | 'batch' | 'cache';

/** Every channel, in the order reports list them. */
export const CHANNELS = ['sync', 'flex', 'priority', 'batch', 'cache'] as const satisfies readonly Channel[];

/** The service tiers billed at a price of their own; any other tier the upstream names (`default`, `scale`) is `sync`. */
export const PRICED_TIERS = ['flex', 'priority'] as const;
export type PricedTier = (typeof PRICED_TIERS)[number];

/**
 * The channel that bills a `usage.recorded`: a synchronous answer is priced by the tier the
 * upstream says it used (`service_tier`), never by the one asked for.
 */
export function billedChannel(channel: 'sync' | 'batch' | 'cache', serviceTier: string | null): Channel {
  if (channel !== 'sync') return channel;
  return serviceTier === 'flex' || serviceTier === 'priority' ? serviceTier : 'sync';
}

/** What a report calls a channel: the tier for synchronous ones (`default` for `sync`). */
export function tierName(channel: Channel): string {
  return channel === 'sync' ? 'default' : channel;
}

/** Integer micro-dollars per 1M tokens: $2.50 / 1M = 2_500_000. */
export interface ModelPrice {
  inputMicrosPer1M: number;
  cachedInputMicrosPer1M: number;
  outputMicrosPer1M: number;
}

export interface PriceVersion {
  effectiveFrom: Date;
  sync: ModelPrice;
  /** Flex tier; the synchronous price unless the version lists `flex` (before tiers were priced, flex billed as sync). */
  flex: ModelPrice;
  /** Priority tier; the synchronous price unless the version lists `priority`. */
  priority: ModelPrice;
  /** Whether the version lists a price of its own for the tier: Sluice routes to flex only where it saves. */
  tierPriced: Readonly<Record<PricedTier, boolean>>;
  batch: ModelPrice;
  /** What a cache hit is billed: `cacheHitPercent` of the synchronous price (0 by default). */
  cache: ModelPrice;
  /**
   * Integer micro-dollars per counted unit that is not a token, by kind (a built-in tool call:
   * `web_search_call: 10_000` is $0.01 per call). A kind not listed is unpriced.
   */
  units: Readonly<Record<string, number>>;
}

/** Versions per model, oldest first; each applies until the next one's `effectiveFrom`. */
export interface PriceTable {
  source: string;
  models: ReadonlyMap<string, readonly PriceVersion[]>;
}

const MAX_DECIMALS = 6;
/** A decimal USD amount (string or number) as integer micro-dollars, never through a float. */
const usdAmount = (what: string, example: string) =>
  z
    .union([z.string(), z.number()])
    .transform((v) => String(v))
    .refine((s) => new RegExp(`^\\d{1,7}(\\.\\d{1,${MAX_DECIMALS}})?$`).test(s), {
      message: `a non-negative USD amount ${what} with at most ${MAX_DECIMALS} decimals, e.g. "${example}"`,
    })
    .transform(usdToMicros);

const Usd = usdAmount('per 1M tokens', '2.50');
/** USD per unit (one built-in tool call), e.g. "0.01". */
const UsdPerUnit = usdAmount('per unit', '0.01');

const Prices = z.strictObject({ input: Usd, cachedInput: Usd, output: Usd });

const PricesFileSchema = z.strictObject({
  $comment: z.string().optional(),
  batchDiscountPercent: z.number().int().min(0).max(100).default(50),
  /** A response-cache hit is billed at this percentage of the synchronous price (0 = free). */
  cacheHitPercent: z.number().int().min(0).max(100).default(0),
  models: z.record(
    z.string().min(1),
    z
      .array(
        z.strictObject({
          effectiveFrom: z.iso.datetime({ offset: true }).refine((s) => Date.parse(s) % 3_600_000 === 0, {
            message: 'must be a whole UTC hour (usage is rolled up per hour), e.g. 2025-07-01T00:00:00Z',
          }),
          input: Usd,
          cachedInput: Usd,
          output: Usd,
          batch: Prices.optional(),
          /** The flex service tier's price from this version on (absent: billed at the synchronous price). */
          flex: Prices.optional(),
          /** The priority service tier's price from this version on (absent: billed at the synchronous price). */
          priority: Prices.optional(),
          /** Overrides the top-level `cacheHitPercent` from this version on. */
          cacheHitPercent: z.number().int().min(0).max(100).optional(),
          /** USD per unit that is not a token, by kind (built-in tool calls: `web_search_call`). */
          units: z
            .record(z.string(), UsdPerUnit)
            .refine((units) => Object.keys(units).every((kind) => /^[a-z][a-z0-9_]{0,63}$/.test(kind)), {
              message: 'unit kinds are lower-case names such as web_search_call',
            })
            .optional(),
        }),
      )
      .min(1),
  ),
});

/** "2.50" → 2_500_000 without ever going through a float. */
export function usdToMicros(usd: string): number {
  const [whole = '0', frac = ''] = usd.split('.');
  return Number(whole) * 1_000_000 + Number(frac.padEnd(MAX_DECIMALS, '0'));
}

function discounted(p: ModelPrice, percent: number): ModelPrice {
  const off = (micros: number) => Math.round((micros * (100 - percent)) / 100);
  return {
    inputMicrosPer1M: off(p.inputMicrosPer1M),
    cachedInputMicrosPer1M: off(p.cachedInputMicrosPer1M),
    outputMicrosPer1M: off(p.outputMicrosPer1M),
  };
}

/** Validates a parsed prices file; throws a `SluiceError('invalid_request')` naming what to change. */
export function parsePriceTable(raw: unknown, source = 'prices'): PriceTable {
  const parsed = PricesFileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new SluiceError('invalid_request', `${source}: ${describeZodError(parsed.error)}`);
  }
  const models = new Map<string, PriceVersion[]>();
  for (const [model, versions] of Object.entries(parsed.data.models)) {
    const sorted = versions
      .map((v) => {
        const sync: ModelPrice = {
          inputMicrosPer1M: v.input,
          cachedInputMicrosPer1M: v.cachedInput,
          outputMicrosPer1M: v.output,
        };
        const price = (p: { input: number; cachedInput: number; output: number }): ModelPrice => ({
          inputMicrosPer1M: p.input,
          cachedInputMicrosPer1M: p.cachedInput,
          outputMicrosPer1M: p.output,
        });
        return {
          effectiveFrom: new Date(v.effectiveFrom),
          sync,
          flex: v.flex ? price(v.flex) : sync,
          priority: v.priority ? price(v.priority) : sync,
          tierPriced: { flex: v.flex !== undefined, priority: v.priority !== undefined },
          batch: v.batch ? price(v.batch) : discounted(sync, parsed.data.batchDiscountPercent),
          cache: discounted(sync, 100 - (v.cacheHitPercent ?? parsed.data.cacheHitPercent)),
          units: v.units ?? {},
        };
      })
      .sort((a, b) => a.effectiveFrom.getTime() - b.effectiveFrom.getTime());
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i]!.effectiveFrom.getTime() === sorted[i - 1]!.effectiveFrom.getTime())
        throw new SluiceError(
          'invalid_request',
          `${source}: model ${model} has two versions effective from ${sorted[i]!.effectiveFrom.toISOString()}`,
        );
    }
    models.set(model, sorted);
  }
  return { source, models };
}

/** Reads and validates a prices file (the shipped one by default). */
export function loadPriceTable(path: string = DEFAULT_PRICES_FILE): PriceTable {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new SluiceError(
      'invalid_request',
      `prices file ${path}: cannot read it as JSON (${(error as Error).message})`,
    );
  }
  return parsePriceTable(raw, `prices file ${path}`);
}

/** The version of a model's prices in force at `at`; undefined = not priced. */
export function versionAt(table: PriceTable, model: string, at: Date): PriceVersion | undefined {
  let current: PriceVersion | undefined;
  for (const v of table.models.get(model) ?? []) {
    if (v.effectiveFrom.getTime() <= at.getTime()) current = v;
    else break;
  }
  return current;
}

/** The price of a model's tokens bought through `channel` at time `at`; undefined = not priced. */
export function priceAt(
  table: PriceTable,
  model: string,
  at: Date,
  channel: Channel,
): ModelPrice | undefined {
  return versionAt(table, model, at)?.[channel];
}

/** Whether the version in force at `at` prices `tier` on its own (so routing to it changes the bill). */
export function tierPricedAt(table: PriceTable, model: string, at: Date, tier: PricedTier): boolean {
  return versionAt(table, model, at)?.tierPriced[tier] === true;
}

/** Micro-dollars per unit of `kind` for a model at time `at`; undefined = not priced. */
export function unitPriceAt(table: PriceTable, model: string, kind: string, at: Date): number | undefined {
  let current: PriceVersion | undefined;
  for (const v of table.models.get(model) ?? []) {
    if (v.effectiveFrom.getTime() <= at.getTime()) current = v;
    else break;
  }
  return current && Object.hasOwn(current.units, kind) ? current.units[kind] : undefined;
}

/** Every listed unit price as a half-open validity interval (the version's), for the SQL report. */
export function unitPriceIntervals(
  table: PriceTable,
): Array<{ model: string; unit: string; validFrom: Date; validTo: Date | null; micros: number }> {
  const out: ReturnType<typeof unitPriceIntervals> = [];
  for (const [model, versions] of table.models)
    versions.forEach((v, i) => {
      const validTo = versions[i + 1]?.effectiveFrom ?? null;
      for (const [unit, micros] of Object.entries(v.units))
        out.push({ model, unit, validFrom: v.effectiveFrom, validTo, micros });
    });
  return out;
}

/** Every version as a half-open validity interval: what the SQL report joins the rollup against. */
export function priceIntervals(table: PriceTable): Array<{
  model: string;
  channel: Channel;
  validFrom: Date;
  validTo: Date | null;
  price: ModelPrice;
  /** The synchronous price of the same version: what a cache hit would have cost (money saved). */
  syncPrice: ModelPrice;
}> {
  const out: ReturnType<typeof priceIntervals> = [];
  for (const [model, versions] of table.models) {
    versions.forEach((v, i) => {
      const validTo = versions[i + 1]?.effectiveFrom ?? null;
      const at = { model, validFrom: v.effectiveFrom, validTo, syncPrice: v.sync };
      for (const channel of CHANNELS) out.push({ ...at, channel, price: v[channel] });
    });
  }
  return out;
}
