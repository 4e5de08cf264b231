import { readFile } from 'node:fs/promises';
import YAML from 'yaml';
import { configSchema, type Config } from '../domain/config.js';
import { describeIssues } from '../domain/validation.js';

export class ConfigError extends Error {
  constructor(
    message: string,
    /** No file at the path at all (some commands can go on without one). */
    readonly missing = false,
  ) {
    super(message);
  }
}

export function parseConfig(text: string, source: string): Config {
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (error) {
    throw new ConfigError(`${source}: not valid YAML or JSON: ${(error as Error).message}`);
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`${source}: ${describeIssues(parsed.error)}`);
  return parsed.data;
}

export async function loadConfig(path: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new ConfigError(
      missing
        ? `no configuration file at ${path}: name one with --config <path> or the CHAINBACKUP_CONFIG environment variable (default: chainbackup.yaml in the current folder)`
        : `cannot read configuration ${path}: ${(error as Error).message}`,
      missing,
    );
  }
  return parseConfig(text, path);
}
