/**
 * A systemd unit's [Service] settings, and a command line that starts a process with the identity
 * and privilege settings among them, for tests that run the worker as the documented unit would.
 * Only what can be reproduced without systemd: User, Group, UMask, NoNewPrivileges and the
 * capability sets (setpriv, from util-linux). The file-system and kernel settings need systemd.
 */
import { readFile } from 'node:fs/promises';

/** Each [Service] key's values in order; an empty assignment resets the list, as systemd reads it. */
export async function serviceSettings(unitFile: string): Promise<Map<string, string[]>> {
  const settings = new Map<string, string[]>();
  let section = '';
  for (const raw of (await readFile(unitFile, 'utf8')).split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const heading = /^\[(.+)\]$/.exec(line);
    if (heading) {
      section = heading[1] ?? '';
      continue;
    }
    if (section !== 'Service') continue;
    const equals = line.indexOf('=');
    const key = line.slice(0, equals);
    const value = line.slice(equals + 1).trim();
    settings.set(key, value === '' ? [] : [...(settings.get(key) ?? []), ...value.split(/\s+/)]);
  }
  return settings;
}

/** The one value of `key`, or an error naming it: a test must not run with a setting it did not find. */
export function single(settings: Map<string, string[]>, key: string): string {
  const values = settings.get(key);
  if (values?.length !== 1) throw new Error(`the unit sets ${key} ${values === undefined ? 'nowhere' : `to ${JSON.stringify(values)}`}: expected one value`);
  return values[0] as string;
}

/**
 * The command prefix that runs a program as the unit would run it: under its umask, as its User and
 * Group with that user's groups, with no new privileges and empty capability sets where the unit
 * empties them. Needs root (it drops to the unit's account).
 */
export function unitLauncher(settings: Map<string, string[]>): string[] {
  const flags = [`--reuid=${single(settings, 'User')}`, `--regid=${single(settings, 'Group')}`, '--init-groups'];
  if (single(settings, 'NoNewPrivileges') === 'yes') flags.push('--no-new-privs');
  if (settings.get('CapabilityBoundingSet')?.length === 0) flags.push('--bounding-set=-all');
  if (settings.get('AmbientCapabilities')?.length === 0) flags.push('--inh-caps=-all', '--ambient-caps=-all');
  // setpriv has no umask: a shell sets it, then becomes setpriv, which becomes the program.
  return ['bash', '-c', 'umask "$0" && exec "$@"', single(settings, 'UMask'), 'setpriv', ...flags, '--'];
}
