/**
 * The configuration file's JSON Schema, as a user writes the file (defaults are optional keys),
 * generated from the zod schema the workers and the CLI validate it with, and a walk over its keys
 * that the Markdown reference and the tests share.
 */
import { z } from 'zod';
import { configSchema } from '../../domain/config.js';

export type JsonSchema = z.core.JSONSchema.JSONSchema;

export const SCHEMA_FILE = 'docs/reference/chainbackup.schema.json';

// zod cannot write refinements (an absolute path's rules, a time zone, "exactly one of socket or host", ...) into a JSON
// Schema: they are left out, and the schema says so; anything zod could not express at all would be allowed ('any').
const RULES_LEFT_OUT =
  'Rules this schema cannot express (the value rules of paths, cluster names, time zones and week schedules, and rules across keys such as "exactly one ' +
  'of socket or host") are named in the descriptions and checked by chainbackup when it reads the file.';

export function configurationJsonSchema(): JsonSchema {
  const { $schema, title, description, ...schema } = z.toJSONSchema(configSchema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' });
  return { $schema, $id: 'urn:chainbackup:configuration', title, description: `${description ?? ''} ${RULES_LEFT_OUT}`, ...schema };
}

/** The schema a node stands for: its own keywords over those of the value type it refers to. */
export function resolved(node: JsonSchema, root: JsonSchema): JsonSchema {
  if (node.$ref === undefined) return node;
  const name = definitionName(node);
  const definition = name === undefined ? undefined : root.$defs?.[name];
  if (!definition) throw new Error(`unknown reference ${node.$ref}`);
  return { ...definition, ...node };
}

/** The value type a node refers to (a key of $defs), if it refers to one. */
export function definitionName(node: JsonSchema): string | undefined {
  return node.$ref?.replace('#/$defs/', '');
}

/** The schemas of an object's keys (zod writes no boolean schemas). */
export function keysOf(node: JsonSchema): [string, JsonSchema][] {
  return Object.entries(node.properties ?? {}).map(([key, schema]) => {
    if (typeof schema === 'boolean') throw new Error(`key ${key} has a boolean schema`);
    return [key, schema];
  });
}

export function itemsOf(node: JsonSchema): JsonSchema | undefined {
  const items = node.items;
  if (items === undefined || (typeof items === 'object' && !Array.isArray(items))) return items;
  throw new Error('tuple or boolean items are not used by the configuration');
}

/** The kinds a key may take (a discriminated union's objects, or a value of either of two types). */
export function variantsOf(node: JsonSchema): JsonSchema[] {
  return node.oneOf ?? node.anyOf ?? [];
}

/** A key whose value is an object, a list of objects or one of several kinds of object gets a section of its own; any other is a leaf. */
export function isLeaf(node: JsonSchema, root: JsonSchema): boolean {
  const schema = resolved(node, root);
  const items = itemsOf(schema);
  const hasKeys = (candidate: JsonSchema | undefined) => candidate?.properties !== undefined;
  return !hasKeys(schema) && !hasKeys(items) && !variantsOf(schema).some(hasKeys);
}
