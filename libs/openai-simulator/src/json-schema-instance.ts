/**
 * A deterministic instance of a JSON Schema, as structured-output and tool-calling clients emit
 * schemas (zod, pydantic, hand-written): what the simulator answers for `response_format:
 * json_schema` and writes as tool-call arguments. Pure; same schema and variant, same instance.
 *
 * Covers objects (`properties`, `required`, `additionalProperties`, `minProperties`), `type` arrays
 * incl. `null`, `const`/`enum`, strings (`format`, `pattern` among a few candidates, lengths),
 * numbers and integers (bounds, exclusive bounds, `multipleOf`), booleans, arrays (`items`,
 * `prefixItems`, tuples, `minItems`/`maxItems`, `uniqueItems`), `anyOf`/`oneOf`/`allOf`, `nullable`,
 * and `$ref` into `$defs`/`definitions`/any JSON pointer, recursion included (bounded by depth).
 */

type Schema = Record<string, unknown>;

export interface InstanceOptions {
  /** Makes strings, numbers and enum picks differ slightly (one per `n` choice); 0 = the plain instance. */
  variant?: number;
  /** Beyond this nesting, only required properties and minimum items are generated (recursive schemas end). */
  maxDepth?: number;
}

interface Walk {
  root: unknown;
  depth: number;
  maxDepth: number;
  variant: number;
  /** The property name the value is for: a readable string sample. */
  key: string | undefined;
}

/** Past this nesting even required recursion stops (null), so a schema that never bottoms out still ends. */
const HARD_DEPTH = 32;

const FORMAT_SAMPLES: Record<string, string> = {
  'date-time': '2024-01-01T00:00:00Z',
  date: '2024-01-01',
  time: '12:00:00Z',
  duration: 'P1D',
  email: 'user@example.com',
  'idn-email': 'user@example.com',
  hostname: 'example.com',
  'idn-hostname': 'example.com',
  ipv4: '192.0.2.1',
  ipv6: '2001:db8::1',
  uri: 'https://example.com/',
  'uri-reference': 'https://example.com/',
  iri: 'https://example.com/',
  url: 'https://example.com/',
  uuid: '00000000-0000-4000-8000-000000000000',
  regex: '^.*$',
  'json-pointer': '/example',
  byte: 'ZXhhbXBsZQ==',
};

export function jsonSchemaInstance(schema: unknown, options: InstanceOptions = {}): unknown {
  return generate(schema, {
    root: schema,
    depth: 0,
    maxDepth: options.maxDepth ?? 6,
    variant: options.variant ?? 0,
    key: undefined,
  });
}

const isSchema = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

function generate(schema: unknown, walk: Walk): unknown {
  if (!isSchema(schema) || walk.depth > HARD_DEPTH) return null;
  if (typeof schema.$ref === 'string') {
    const { $ref, ...siblings } = schema;
    const target = resolvePointer(walk.root, $ref);
    const merged = isSchema(target) ? { ...target, ...withoutAnnotations(siblings) } : siblings;
    return generate(merged, { ...walk, depth: walk.depth + 1 });
  }
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0)
    return schema.enum[walk.variant % schema.enum.length];
  if (Array.isArray(schema.allOf) && schema.allOf.length > 0) {
    const { allOf, ...rest } = schema;
    return generate(mergeAll([rest, ...allOf.map((s) => dereference(s, walk.root))]), walk);
  }
  const branches =
    (Array.isArray(schema.anyOf) && schema.anyOf) || (Array.isArray(schema.oneOf) && schema.oneOf);
  if (branches && branches.length > 0) {
    const { anyOf: _a, oneOf: _o, ...rest } = schema;
    return generate({ ...rest, ...asSchema(pickBranch(branches, walk)) }, walk);
  }
  const type = pickType(schema, walk);
  switch (type) {
    case 'object':
      return objectInstance(schema, walk);
    case 'array':
      return arrayInstance(schema, walk);
    case 'string':
      return stringInstance(schema, walk);
    case 'integer':
    case 'number':
      return numberInstance(schema, type === 'integer', walk.variant);
    case 'boolean':
      return walk.variant % 2 === 0;
    case 'null':
      return null;
    default: {
      const unreachable: never = type;
      return unreachable;
    }
  }
}

type JsonType = 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean' | 'null';
const JSON_TYPES: readonly string[] = ['object', 'array', 'string', 'integer', 'number', 'boolean', 'null'];

/** The one type to produce: the first non-null of `type` (null past the depth, when allowed), else inferred. */
function pickType(schema: Schema, walk: Walk): JsonType {
  const declared = (Array.isArray(schema.type) ? schema.type : [schema.type]).filter(
    (t): t is JsonType => typeof t === 'string' && JSON_TYPES.includes(t),
  );
  const nullable = declared.includes('null') || schema.nullable === true;
  if (nullable && walk.depth >= walk.maxDepth) return 'null';
  const concrete = declared.find((t) => t !== 'null');
  if (concrete) return concrete;
  if (declared.length > 0) return 'null';
  if ('properties' in schema || 'required' in schema || 'additionalProperties' in schema) return 'object';
  if ('items' in schema || 'prefixItems' in schema || 'minItems' in schema) return 'array';
  if ('format' in schema || 'pattern' in schema || 'minLength' in schema || 'maxLength' in schema)
    return 'string';
  if ('minimum' in schema || 'maximum' in schema || 'multipleOf' in schema) return 'number';
  return 'null';
}

/** A union's branch: the first that is not null, or past the depth the one that ends soonest. */
function pickBranch(branches: unknown[], walk: Walk): unknown {
  const resolved = branches.map((b) => dereference(b, walk.root));
  const isNull = (s: unknown) => isSchema(s) && (s.type === 'null' || s.const === null);
  if (walk.depth >= walk.maxDepth) {
    const leaf =
      resolved.findIndex(isNull) >= 0
        ? resolved.findIndex(isNull)
        : resolved.findIndex((s) => isSchema(s) && s.type !== 'object' && s.type !== 'array');
    if (leaf >= 0) return branches[leaf];
  }
  const concrete = resolved.findIndex((s) => !isNull(s));
  return branches[concrete >= 0 ? concrete : 0];
}

function objectInstance(schema: Schema, walk: Walk): Record<string, unknown> {
  const properties = isSchema(schema.properties) ? schema.properties : {};
  const required = new Set(Array.isArray(schema.required) ? schema.required.map(String) : []);
  const shallow = walk.depth >= walk.maxDepth;
  const out: Record<string, unknown> = {};
  const child = (key: string): Walk => ({ ...walk, depth: walk.depth + 1, key });
  for (const [key, propertySchema] of Object.entries(properties)) {
    if (shallow && !required.has(key)) continue;
    out[key] = generate(propertySchema, child(key));
  }
  const extra = isSchema(schema.additionalProperties) ? schema.additionalProperties : { type: 'string' };
  for (const key of required) if (!(key in out)) out[key] = generate(extra, child(key));
  const minProperties = typeof schema.minProperties === 'number' ? schema.minProperties : 0;
  for (let i = 0; Object.keys(out).length < minProperties && schema.additionalProperties !== false; i++) {
    out[`extra_${i + 1}`] = generate(extra, child(`extra_${i + 1}`));
  }
  return out;
}

function arrayInstance(schema: Schema, walk: Walk): unknown[] {
  const tuple = Array.isArray(schema.prefixItems)
    ? schema.prefixItems
    : Array.isArray(schema.items)
      ? schema.items
      : [];
  const rest = Array.isArray(schema.prefixItems)
    ? schema.items
    : Array.isArray(schema.items)
      ? schema.additionalItems
      : schema.items;
  const min = typeof schema.minItems === 'number' ? schema.minItems : 0;
  const max = typeof schema.maxItems === 'number' ? schema.maxItems : Number.POSITIVE_INFINITY;
  const restAllowed = rest !== false;
  const wanted = walk.depth >= walk.maxDepth ? min : Math.max(min, tuple.length || (restAllowed ? 1 : 0));
  const count = Math.min(wanted, max, restAllowed ? Number.POSITIVE_INFINITY : tuple.length);
  return Array.from({ length: count }, (_, i) =>
    generate(i < tuple.length ? tuple[i] : isSchema(rest) ? rest : {}, {
      ...walk,
      depth: walk.depth + 1,
      // Items differ from each other, so `uniqueItems` holds; the choice's own variant stays in.
      variant: walk.variant + i,
      key: walk.key,
    }),
  );
}

function stringInstance(schema: Schema, walk: Walk): string {
  const pattern = typeof schema.pattern === 'string' ? compile(schema.pattern) : undefined;
  const format = typeof schema.format === 'string' ? FORMAT_SAMPLES[schema.format] : undefined;
  const base = walk.key && /^[\w -]{1,40}$/.test(walk.key) ? walk.key.replace(/_/g, ' ') : 'example';
  const plain = walk.variant === 0 ? base : `${base} ${walk.variant + 1}`;
  const candidates = [
    ...(format ? [format] : []),
    plain,
    base,
    'example',
    'a',
    'A',
    '0',
    'abc123',
    'ABC',
    'a1',
    '',
  ];
  const fitting = pattern ? candidates.find((c) => pattern.test(c)) : candidates[0]!;
  if (fitting === undefined) return plain; // a pattern none of the samples meets: the one case not covered
  if (fitting === format) return format; // padding would break the format
  const minLength = typeof schema.minLength === 'number' ? schema.minLength : 0;
  const maxLength = typeof schema.maxLength === 'number' ? schema.maxLength : Number.POSITIVE_INFINITY;
  const padded = fitting.length < minLength ? fitting + 'x'.repeat(minLength - fitting.length) : fitting;
  return [...padded].slice(0, maxLength).join('');
}

function compile(pattern: string): RegExp | undefined {
  try {
    return new RegExp(pattern, 'u');
  } catch {
    return undefined;
  }
}

/** 1 (+ variant), moved into the bounds and onto `multipleOf`. */
function numberInstance(schema: Schema, integer: boolean, variant: number): number {
  let lo = typeof schema.minimum === 'number' ? schema.minimum : Number.NEGATIVE_INFINITY;
  let hi = typeof schema.maximum === 'number' ? schema.maximum : Number.POSITIVE_INFINITY;
  let loExclusive = schema.exclusiveMinimum === true; // draft 4: a flag on minimum
  let hiExclusive = schema.exclusiveMaximum === true;
  if (typeof schema.exclusiveMinimum === 'number' && schema.exclusiveMinimum >= lo) {
    lo = schema.exclusiveMinimum;
    loExclusive = true;
  }
  if (typeof schema.exclusiveMaximum === 'number' && schema.exclusiveMaximum <= hi) {
    hi = schema.exclusiveMaximum;
    hiExclusive = true;
  }
  const multipleOf =
    typeof schema.multipleOf === 'number' && schema.multipleOf > 0 ? schema.multipleOf : undefined;
  const step = integer ? integerStep(multipleOf ?? 1) : multipleOf;
  const target = Math.min(Math.max(1 + variant, lo), hi);
  if (step === undefined) {
    if (loExclusive && target <= lo) return Number.isFinite(hi) ? (lo + hi) / 2 : lo + 1;
    if (hiExclusive && target >= hi) return Number.isFinite(lo) ? (lo + hi) / 2 : hi - 1;
    return target;
  }
  const onStep = (k: number) => Number((k * step).toPrecision(15));
  let k = Math.ceil(target / step - 1e-9);
  if (onStep(k) > hi || (hiExclusive && onStep(k) >= hi)) k = Math.floor(target / step + 1e-9);
  if (loExclusive && onStep(k) <= lo) k++;
  if (hiExclusive && onStep(k) >= hi) k--;
  return onStep(k);
}

/** The smallest whole multiple of `multipleOf` (0.5 → 1, 3 → 3): an integer's step. */
function integerStep(multipleOf: number): number {
  for (let m = 1; m <= 1000; m++) {
    const candidate = Number((m * multipleOf).toPrecision(15));
    if (Number.isInteger(candidate)) return candidate;
  }
  return 1;
}

function asSchema(s: unknown): Schema {
  return isSchema(s) ? s : {};
}

/** A `$ref`-only schema replaced by its target (siblings kept); anything else as it is. */
function dereference(schema: unknown, root: unknown, seen = 0): unknown {
  if (!isSchema(schema) || typeof schema.$ref !== 'string' || seen > HARD_DEPTH) return schema;
  const { $ref, ...siblings } = schema;
  const target = resolvePointer(root, $ref);
  return dereference(
    isSchema(target) ? { ...target, ...withoutAnnotations(siblings) } : siblings,
    root,
    seen + 1,
  );
}

/** `#`, `#/$defs/Name`, `#/definitions/a~1b`: a JSON pointer into the root schema (other refs resolve to nothing). */
function resolvePointer(root: unknown, ref: string): unknown {
  if (!ref.startsWith('#')) return undefined;
  let node = root;
  for (const raw of ref.slice(1).split('/').slice(1)) {
    const segment = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isSchema(node) && !Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[segment];
  }
  return node;
}

const ANNOTATIONS = new Set(['description', 'title', 'default', 'examples', '$comment']);
function withoutAnnotations(s: Schema): Schema {
  return Object.fromEntries(Object.entries(s).filter(([k]) => !ANNOTATIONS.has(k)));
}

/** `allOf` as one schema: properties and required joined, the other keywords of later parts winning. */
function mergeAll(parts: unknown[]): Schema {
  const merged: Schema = {};
  const properties: Schema = {};
  const required = new Set<string>();
  for (const part of parts.map(asSchema)) {
    Object.assign(merged, part);
    if (isSchema(part.properties)) Object.assign(properties, part.properties);
    if (Array.isArray(part.required)) for (const r of part.required) required.add(String(r));
  }
  if (Object.keys(properties).length > 0) merged.properties = properties;
  if (required.size > 0) merged.required = [...required];
  return merged;
}
