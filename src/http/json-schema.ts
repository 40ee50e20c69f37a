import { z } from 'zod';

/* zod schemas as JSON Schema for the OpenAPI document: the options every conversion uses. */

/** A JSON Schema object as the OpenAPI document holds it. */
export type JsonSchema = Record<string, unknown>;

/**
 * Options of z.toJSONSchema for the document: `io` picks what a request may send (input) or what
 * the server sends (output). zod bounds every .int() by the safe-integer range; that is noise here.
 */
export function jsonSchemaOptions(io: 'input' | 'output') {
  return {
    io,
    unrepresentable: 'any',
    override: ({ jsonSchema }: { jsonSchema: JsonSchema }) => {
      if (jsonSchema.minimum === Number.MIN_SAFE_INTEGER) delete jsonSchema.minimum;
      if (jsonSchema.maximum === Number.MAX_SAFE_INTEGER) delete jsonSchema.maximum;
    },
  } as const;
}

/** JSON Schema of `schema` for the document, without the dialect line. */
export function toJsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...json } = z.toJSONSchema(schema, jsonSchemaOptions(io)) as JsonSchema;
  return json;
}
