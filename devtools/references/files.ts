/** The generated references and where they go in the repository. */
import { cliMarkdown } from './cli.js';
import { configurationMarkdown } from './configuration.js';
import { configurationJsonSchema, SCHEMA_FILE } from './schema.js';

export interface ReferenceFile {
  /** Relative to the repository's root. */
  path: string;
  content: string;
}

export function referenceFiles(): ReferenceFile[] {
  const schema = configurationJsonSchema();
  return [
    { path: SCHEMA_FILE, content: `${JSON.stringify(schema, null, 2)}\n` },
    { path: 'docs/reference/configuration.md', content: configurationMarkdown(schema) },
    { path: 'docs/reference/cli.md', content: cliMarkdown() },
  ];
}
