import { Ajv } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import { zodResponseFormat } from 'openai/helpers/zod';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { jsonSchemaInstance } from './json-schema-instance';

const ajv = new Ajv2020({ strict: false, allErrors: true });
const ajvDraft7 = new Ajv({ strict: false, allErrors: true });
addFormats.default(ajv);
addFormats.default(ajvDraft7);

/** A real validator for the schema's own draft (the zod helper emits draft-07, others 2020-12). */
function validatorFor(schema: object) {
  const draft = (schema as { $schema?: string }).$schema ?? '';
  return (draft.includes('draft-07') ? ajvDraft7 : ajv).compile(schema);
}

function expectValid(schema: object, instance: unknown) {
  const validate = validatorFor(schema);
  const ok = validate(instance);
  expect({ ok, errors: validate.errors ?? null, instance }).toEqual({ ok: true, errors: null, instance });
}

const FORMATS = ['date-time', 'date', 'time', 'email', 'uri', 'uuid', 'hostname', 'ipv4', 'ipv6', 'duration'];
const key = fc.stringMatching(/^[a-z][a-z_]{0,8}$/);

/** Schemas of the shapes clients emit, nested: every generated instance must validate against its schema. */
const schemas = fc.letrec<{ schema: object; leaf: object; object: object; array: object; union: object }>(
  (tie) => ({
    schema: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      tie('leaf'),
      tie('object'),
      tie('array'),
      tie('union'),
    ),
    leaf: fc.oneof(
      fc.constant({ type: 'string' }),
      fc.constantFrom(...FORMATS).map((format) => ({ type: 'string', format })),
      fc
        .tuple(fc.nat(6), fc.nat(10))
        .map(([min, extra]) => ({ type: 'string', minLength: min, maxLength: min + extra })),
      fc.uniqueArray(fc.string(), { minLength: 1, maxLength: 4 }).map((e) => ({ type: 'string', enum: e })),
      fc
        .record({
          type: fc.constantFrom('integer', 'number'),
          lo: fc.integer({ min: -1000, max: 1000 }),
          width: fc.integer({ min: 10, max: 1000 }),
          multipleOf: fc.constantFrom(undefined, 1, 2, 5, 0.5),
          exclusive: fc.boolean(),
        })
        .map(({ type, lo, width, multipleOf, exclusive }) => ({
          type,
          ...(exclusive
            ? { exclusiveMinimum: lo, exclusiveMaximum: lo + width }
            : { minimum: lo, maximum: lo + width }),
          ...(multipleOf === undefined ? {} : { multipleOf }),
        })),
      fc.constant({ type: 'boolean' }),
      fc.constant({ type: 'null' }),
      fc.jsonValue({ maxDepth: 2 }).map((value) => ({ const: value })),
    ),
    object: fc.dictionary(key, tie('schema'), { maxKeys: 4 }).map((properties) => ({
      type: 'object',
      properties,
      required: Object.keys(properties),
      additionalProperties: false,
    })),
    array: fc
      .record({ items: tie('schema'), min: fc.nat(3), extra: fc.nat(3) })
      .map(({ items, min, extra }) => ({ type: 'array', items, minItems: min, maxItems: min + extra })),
    union: fc.oneof(
      fc.array(tie('schema'), { minLength: 1, maxLength: 3 }).map((anyOf) => ({ anyOf })),
      tie('leaf').map((s) => ({ anyOf: [s, { type: 'null' }] })),
      fc.constantFrom('string', 'integer', 'boolean').map((t) => ({ type: [t, 'null'] })),
    ),
  }),
);

describe('jsonSchemaInstance', () => {
  it('produces an instance valid against any schema of the shapes clients emit (property)', () => {
    fc.assert(
      fc.property(schemas.schema, fc.nat(5), (schema, variant) => {
        const validate = ajv.compile(schema);
        const instance = jsonSchemaInstance(schema, { variant });
        if (!validate(instance))
          throw new Error(`${JSON.stringify(instance)}: ${ajv.errorsText(validate.errors)}`);
      }),
      { numRuns: 400 },
    );
  });

  it('is deterministic: the same schema and variant give the same instance, another variant another', () => {
    const schema = { type: 'object', properties: { name: { type: 'string' }, n: { type: 'integer' } } };
    expect(jsonSchemaInstance(schema)).toEqual(jsonSchemaInstance(structuredClone(schema)));
    expect(jsonSchemaInstance(schema)).toEqual({ name: 'name', n: 1 });
    expect(jsonSchemaInstance(schema, { variant: 1 })).toEqual({ name: 'name 2', n: 2 });
  });

  it('follows $ref into $defs and definitions, and ends recursive schemas', () => {
    const tree = {
      $defs: {
        node: {
          type: 'object',
          properties: {
            label: { type: 'string' },
            children: { type: 'array', items: { $ref: '#/$defs/node' } },
            parent: { anyOf: [{ $ref: '#/$defs/node' }, { type: 'null' }] },
          },
          required: ['label', 'children', 'parent'],
          additionalProperties: false,
        },
      },
      $ref: '#/$defs/node',
    };
    const instance = jsonSchemaInstance(tree);
    expectValid(tree, instance);
    expect(JSON.stringify(instance).length).toBeLessThan(5_000);

    const draft7 = {
      definitions: { 'a/b': { type: 'integer', minimum: 7 } },
      type: 'object',
      properties: { v: { $ref: '#/definitions/a~1b' } },
      required: ['v'],
    };
    expect(jsonSchemaInstance(draft7)).toEqual({ v: 7 });
  });

  it('honours oneOf with discriminators, allOf, tuples, uniqueItems, minProperties and patterns', () => {
    const cases: object[] = [
      {
        oneOf: [
          {
            type: 'object',
            properties: { kind: { const: 'a' }, x: { type: 'number' } },
            required: ['kind', 'x'],
          },
          {
            type: 'object',
            properties: { kind: { const: 'b' }, y: { type: 'string' } },
            required: ['kind', 'y'],
          },
        ],
      },
      {
        allOf: [
          { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] },
          { properties: { b: { type: 'integer', minimum: 3 } }, required: ['b'] },
        ],
      },
      { type: 'array', prefixItems: [{ type: 'string' }, { type: 'integer' }], items: false },
      { type: 'array', items: { type: 'integer' }, minItems: 4, uniqueItems: true },
      { type: 'array', items: { enum: ['x', 'y', 'z'] }, minItems: 3, uniqueItems: true },
      { type: 'object', minProperties: 3, additionalProperties: { type: 'number' } },
      { type: 'string', pattern: '^[A-Z]{3}$' },
      { type: 'string', pattern: '^\\d+$' },
      { type: 'string', format: 'email', pattern: '^[^@]+@[^@]+\\.[a-z]+$' },
      { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 },
      { type: 'integer', minimum: 10, maximum: 20, multipleOf: 7 },
      { type: 'string', nullable: true },
    ];
    for (const schema of cases) expectValid(schema, jsonSchemaInstance(schema));
  });

  it('answers the schemas openai/helpers/zod emits from zod 4 (strict mode, nullable, enums, nested arrays)', () => {
    const Event = z.object({
      name: z.string(),
      date: z.string().describe('ISO date'),
      when: z.iso.datetime(),
      contact: z.email(),
      id: z.uuid(),
      site: z.url(),
      attendees: z.array(z.object({ name: z.string(), role: z.enum(['host', 'guest']) })).min(1),
      capacity: z.number().int().min(1).max(500),
      price: z.number().nullable(),
      tags: z.array(z.string()).max(3),
      kind: z.discriminatedUnion('type', [
        z.object({ type: z.literal('online'), url: z.string() }),
        z.object({ type: z.literal('venue'), address: z.string() }),
      ]),
      confirmed: z.boolean(),
    });
    const format = zodResponseFormat(Event, 'event');
    const schema = format.json_schema.schema as object;
    const instance = jsonSchemaInstance(schema);
    expectValid(schema, instance);
    expect(Event.parse(instance)).toEqual(instance);
  });
});
