/**
 * Edits of the configuration file that the CLI makes (the Aiven-style `incremental enable|disable`).
 * Comments and layout are kept; the edited text is validated as a whole before it replaces the file,
 * so a refused edit leaves the file exactly as it was.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import YAML, { isMap, isSeq } from 'yaml';
import { ConfigError, parseConfig } from '../config/file.js';
import type { Config } from '../domain/config.js';

export type IncrementalSetting = { enabled: true; fullBackupWeekSchedule: string } | { enabled: false };

export async function setIncremental(path: string, cluster: string, setting: IncrementalSetting): Promise<Config> {
  const text = await readFile(path, 'utf8').catch((error: unknown) => {
    throw new ConfigError(`cannot read configuration ${path}: ${(error as Error).message}`);
  });
  parseConfig(text, path); // the file as it is must be valid before it is edited
  const document = YAML.parseDocument(text);
  const clusters = document.get('clusters');
  if (!isSeq(clusters)) throw new ConfigError(`${path}: clusters: must be a list`);
  const index = clusters.items.findIndex((item) => isMap(item) && item.get('name') === cluster);
  if (index < 0) throw new ConfigError(`${path}: no cluster named "${cluster}"`);
  document.setIn(['clusters', index, 'incremental', 'enabled'], setting.enabled);
  if (setting.enabled) document.setIn(['clusters', index, 'incremental', 'fullBackupWeekSchedule'], setting.fullBackupWeekSchedule);
  const edited = document.toString();
  const config = parseConfig(edited, `${path} (after the edit)`);
  const temporary = `${path}.chainbackup-edit`;
  await writeFile(temporary, edited, { mode: 0o600 });
  await rename(temporary, path);
  return config;
}
