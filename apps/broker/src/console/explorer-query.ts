import { EndpointSchema, PrioritySchema, SluiceError } from '@sluice/events';
import { and, desc, eq, gte, lt, type SQL, sql } from 'drizzle-orm';
import { z } from 'zod';
import { requests } from '../db/schema';

export const REQUEST_STATUSES = [
  'queued',
  'dispatched',
  'retrying',
  'completed',
  'failed',
  'cancelled',
] as const;

/**
 * The explorer's exact-match filters: each line names the input field, its schema and the
 * `requests` column it matches, and the input schema and the WHERE clause follow from this table.
 * A new filter (such as the request's endpoint, once the projection has that column) is one line.
 */
export const EXACT_FILTERS = {
  tenantId: { column: requests.tenantId, schema: z.string().min(1).max(128) },
  status: { column: requests.status, schema: z.enum(REQUEST_STATUSES) },
  model: { column: requests.model, schema: z.string().min(1).max(256) },
  endpoint: { column: requests.endpoint, schema: EndpointSchema },
  priority: { column: requests.priority, schema: PrioritySchema },
  idempotencyKey: { column: requests.idempotencyKey, schema: z.string().min(1).max(256) },
  requestId: { column: requests.requestId, schema: z.string().min(1).max(128) },
} as const;

type FilterName = keyof typeof EXACT_FILTERS;
type FilterShape = { [K in FilterName]: z.ZodOptional<(typeof EXACT_FILTERS)[K]['schema']> };

const filterShape = Object.fromEntries(
  Object.entries(EXACT_FILTERS).map(([name, f]) => [name, f.schema.optional()]),
) as FilterShape;

export const MAX_PAGE = 200;

/** A search: any of the filters, a submission time range (`from` inclusive, `to` exclusive), a page. */
export const ExplorerSearchInput = z
  .object({
    ...filterShape,
    from: z.iso.datetime({ offset: true }).optional(),
    to: z.iso.datetime({ offset: true }).optional(),
    /** Where the previous page ended (`nextCursor`). */
    cursor: z.string().max(400).optional(),
    limit: z.number().int().min(1).max(MAX_PAGE).default(50),
  })
  .refine((q) => !q.from || !q.to || Date.parse(q.from) < Date.parse(q.to), {
    message: '`from` must be before `to`',
    path: ['from'],
  });
export type ExplorerSearch = z.infer<typeof ExplorerSearchInput>;

/** The same search for a tenant: the tenant comes from its key or session, never from the input. */
export const TenantExplorerSearchInput = ExplorerSearchInput.transform(({ tenantId: _ignored, ...q }) => q);

/** The last row of a page: the next page starts strictly after it (newest first). */
export interface ExplorerCursor {
  submittedAt: string;
  requestId: string;
}

export function encodeCursor(c: ExplorerCursor): string {
  return Buffer.from(JSON.stringify([c.submittedAt, c.requestId])).toString('base64url');
}

export function decodeCursor(cursor: string): ExplorerCursor {
  try {
    const [submittedAt, requestId] = JSON.parse(
      Buffer.from(cursor, 'base64url').toString('utf8'),
    ) as unknown[];
    if (
      typeof submittedAt === 'string' &&
      typeof requestId === 'string' &&
      !Number.isNaN(Date.parse(submittedAt))
    )
      return { submittedAt, requestId };
  } catch {
    // falls through to the refusal below
  }
  throw new SluiceError(
    'invalid_request',
    'cursor: not a cursor this explorer returned; start from the first page',
    {
      details: { param: 'cursor' },
    },
  );
}

/**
 * The WHERE clause of a search (pure). `scopeTenantId` is the caller's tenant (null = an operator):
 * it always wins over the input, so a tenant's search never reaches another tenant's rows.
 */
export function explorerWhere(
  q: Partial<Omit<ExplorerSearch, 'limit'>>,
  scopeTenantId: string | null,
): SQL | undefined {
  const conditions: SQL[] = [];
  for (const [name, filter] of Object.entries(EXACT_FILTERS) as Array<
    [FilterName, (typeof EXACT_FILTERS)[FilterName]]
  >) {
    const value = name === 'tenantId' && scopeTenantId !== null ? scopeTenantId : q[name];
    if (value !== undefined) conditions.push(eq(filter.column, value));
  }
  if (q.from) conditions.push(gte(requests.submittedAt, new Date(q.from)));
  if (q.to) conditions.push(lt(requests.submittedAt, new Date(q.to)));
  if (q.cursor) {
    const c = decodeCursor(q.cursor);
    // Row comparison: one index range on (submitted_at, request_id), ties broken by id. Times are
    // stored at millisecond precision (they come from events' ISO timestamps), as the cursor holds them.
    conditions.push(
      sql`(${requests.submittedAt}, ${requests.requestId}) < (${c.submittedAt}::timestamptz, ${c.requestId})`,
    );
  }
  return conditions.length ? and(...conditions) : undefined;
}

/** Newest first; the request id breaks ties so keyset pages neither skip nor repeat a row. */
export const EXPLORER_ORDER = [desc(requests.submittedAt), desc(requests.requestId)] as const;
