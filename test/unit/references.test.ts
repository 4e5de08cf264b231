/**
 * The references in docs/reference/ are generated from the code (`npm run references`): each
 * committed one must be what the code generates now, every key of the configuration must say what
 * it does, and the JSON Schema must take the configurations the documentation shows.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import YAML from 'yaml';
import { parseConfig } from '../../config/file.js';
import { referenceFiles } from '../../devtools/references/files.js';
import { configurationJsonSchema, isLeaf, itemsOf, keysOf, resolved, variantsOf, type JsonSchema } from '../../devtools/references/schema.js';
import { repoRoot } from '../../devtools/sandbox/processes.js';

const root = configurationJsonSchema();

/** Every key of the configuration (those of the objects in lists and of each kind included), by its dotted path. */
function everyKey(node: JsonSchema, path: string): { path: string; node: JsonSchema }[] {
  const schema = resolved(node, root);
  const items = itemsOf(schema);
  const objects = [schema, ...variantsOf(schema)].map((object) => ({ object, prefix: path })).concat(items ? [{ object: items, prefix: `${path}[]` }] : []);
  return objects.flatMap(({ object, prefix }) =>
    keysOf(object).flatMap(([key, child]) => {
      const path = keyPath(prefix, key);
      return [{ path, node: child }, ...everyKey(child, path)];
    }),
  );
}

function keyPath(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function hasType(value: unknown, type: JsonSchema['type']): boolean {
  if (Array.isArray(type)) return type.some((one) => hasType(value, one));
  switch (type) {
    case undefined:
      return true;
    case 'integer':
      return Number.isInteger(value);
    case 'array':
      return Array.isArray(value);
    case 'object':
      return isObject(value);
    case 'null':
      return value === null;
    default:
      return typeof value === type;
  }
}

/** What the schema refuses in a value, each naming the path: an unknown or missing key, a wrong type, a value out of bounds. */
function schemaProblems(value: unknown, node: JsonSchema, path: string): string[] {
  const schema = resolved(node, root);
  const variants = variantsOf(schema);
  if (variants.length > 0) {
    // The kind the value comes closest to (its discriminator matches) says what is wrong with it.
    return variants.map((variant) => schemaProblems(value, variant, path)).reduce((closest, problems) => (problems.length < closest.length ? problems : closest));
  }
  const refused = (reason: string) => [`${path}: ${JSON.stringify(value)} ${reason}`];
  if (!hasType(value, schema.type)) return refused(`is not of type ${String(schema.type)}`);
  if (schema.const !== undefined && value !== schema.const) return refused(`is not ${String(schema.const)}`);
  if (schema.enum && !schema.enum.includes(value as string)) return refused(`is not one of ${schema.enum.join(', ')}`);
  if (typeof value === 'string' && schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) return refused(`does not match ${schema.pattern}`);
  if (typeof value === 'number' && ((schema.minimum ?? value) > value || (schema.maximum ?? value) < value)) return refused('is out of bounds');
  const items = itemsOf(schema);
  if (Array.isArray(value) && items) return value.flatMap((item, index) => schemaProblems(item, items, `${path}[${index}]`));
  if (!isObject(value)) return [];
  const known = new Map(keysOf(schema));
  return [
    ...(schema.required ?? []).filter((key) => !(key in value)).map((key) => `${keyPath(path, key)}: missing`),
    ...Object.entries(value).flatMap(([key, child]) => {
      const childSchema = known.get(key);
      return childSchema ? schemaProblems(child, childSchema, keyPath(path, key)) : [`${keyPath(path, key)}: not a key of the schema`];
    }),
  ];
}

/** The YAML blocks of the README and of docs/ that show the configuration file, or a part of one. */
async function documentedConfigurations(): Promise<{ where: string; text: string; value: Record<string, unknown> }[]> {
  const markdownIn = async (folder: string) => (await readdir(join(repoRoot, folder))).filter((name) => name.endsWith('.md')).map((name) => `${folder}/${name}`);
  const files = ['README.md', ...(await markdownIn('docs')), ...(await markdownIn('docs/guide'))];
  const blocks = await Promise.all(
    files.map(async (file) => {
      const markdown = await readFile(join(repoRoot, file), 'utf8');
      // YAML blocks, and configuration files a shell block writes (`cat > chainbackup.yaml <<'EOF'`).
      return [...markdown.matchAll(/^```yaml[^\n]*\n([\s\S]*?)^```|^cat > \S+\.ya?ml <<'EOF'\n([\s\S]*?)^EOF$/gm)].map((match) => ({
        where: `${file}:${markdown.slice(0, match.index).split('\n').length}`,
        text: match[1] ?? match[2] ?? '',
        value: YAML.parse(match[1] ?? match[2] ?? '') as unknown,
      }));
    }),
  );
  return blocks.flat().filter((block): block is { where: string; text: string; value: Record<string, unknown> } => isObject(block.value));
}

function configRefusal(text: string, where: string): string | undefined {
  try {
    parseConfig(text, where);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

describe('generated references', () => {
  test.each(referenceFiles().map((file) => [file.path, file.content]))('%s is what the code generates now', async (path, generated) => {
    const committed = await readFile(join(repoRoot, path), 'utf8').catch(() => '');
    const committedLines = committed.split('\n');
    const firstDifference = generated.split('\n').findIndex((line, index) => line !== committedLines[index]) + 1;
    expect(committed === generated ? 'up to date' : `${path} is out of date (from line ${firstDifference || committedLines.length}): run npm run references`).toBe('up to date');
  });

  test('every key of the configuration says what it does, and every value shows a valid example', () => {
    const keys = everyKey(root, '');
    expect(keys.map((key) => key.path)).toEqual(expect.arrayContaining(['clusters[].storage.endpoint', 'clusters[].controller.stop', 'worker.metrics.listen']));
    expect(keys.filter((key) => !key.node.description).map((key) => `${key.path}: no description`)).toEqual([]);
    const kinds = keys.flatMap((key) => variantsOf(resolved(key.node, root)).filter((variant) => variant.properties !== undefined).map((variant) => ({ key, variant })));
    expect(kinds.filter(({ variant }) => !variant.description).map(({ key }) => `${key.path}: a kind without a description`)).toEqual([]);
    const leaves = keys.filter((key) => isLeaf(key.node, root) && key.node.const === undefined);
    expect(leaves.filter((key) => !key.node.examples?.length).map((key) => `${key.path}: no example`)).toEqual([]);
    expect(leaves.flatMap((key) => (key.node.examples ?? []).flatMap((example) => schemaProblems(example, key.node, key.path)))).toEqual([]);
  });

  test('the schema takes every configuration the README and docs/ show, and chainbackup takes the whole ones', async () => {
    const clusterSchema = itemsOf(resolved(new Map(keysOf(root)).get('clusters') ?? {}, root)) ?? {};
    const configurations = await documentedConfigurations();
    expect(configurations.filter(({ where, value }) => where.startsWith('README.md:') && value.clusters !== undefined)).not.toEqual([]);
    const problems = configurations.flatMap(({ where, text, value }) => {
      // A part of a file is either top-level keys or a cluster's: its own required keys are elsewhere.
      const place = [root, clusterSchema].find((candidate) => Object.keys(value).every((key) => candidate.properties?.[key] !== undefined));
      if (!place) return [`${where}: fits no part of the schema`];
      const whole = value.clusters !== undefined;
      const refusal = whole ? configRefusal(text, where) : undefined;
      return [...schemaProblems(value, { ...place, required: whole ? place.required : [] }, '').map((problem) => `${where}: ${problem}`), ...(refusal ? [refusal] : [])];
    });
    expect(problems).toEqual([]);
  });
});
