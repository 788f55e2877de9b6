import { Ajv, type Options, type ValidateFunction } from 'ajv';
import formatsPlugin from 'ajv-formats';
import type { FastifySchema, FastifySchemaCompiler } from 'fastify';

/**
 * Schema validation, one compiler per part of the request. A JSON body is typed by its sender, so
 * it is checked as sent: `"kind": ["nuke"]` or `"dryRun": "true"` is refused, not converted.
 * Path parameters, the query string and headers arrive as text, so there the declared types are
 * coerced (`/tasks/7` gives the integer 7). Additional properties are refused, never dropped
 * silently (removeAdditional off), and the first error is enough (allErrors off: a body listing
 * every failure can be made expensive).
 */
const common: Options = { removeAdditional: false, useDefaults: true, allErrors: false, strict: false };

function compilerWith(options: Options): (schema: object) => ValidateFunction {
  const ajv = new Ajv({ ...common, ...options });
  // The CommonJS default export, as fastify's own compiler loads it.
  (formatsPlugin as unknown as (a: Ajv) => void)(ajv);
  return (schema) => ajv.compile(schema);
}

export function partValidatorCompiler(): FastifySchemaCompiler<FastifySchema> {
  const strictTypes = compilerWith({ coerceTypes: false });
  const textTypes = compilerWith({ coerceTypes: 'array' });
  return ({ schema, httpPart }) => (httpPart === 'body' ? strictTypes(schema as object) : textTypes(schema as object));
}
