/** What every command's help ends with: an example, the exit codes, and the environment it reads. */
import type { Command } from 'commander';
import { ExitCode } from './cli-context.js';

const EXAMPLES: Record<string, string> = {
  chainbackup: 'chainbackup --config /etc/chainbackup.yaml list',
  backup: 'chainbackup backup shop --type full',
  restore: 'chainbackup restore shop shop-2026-04-06T010000.000Z-incr --dry-run',
  verify: 'chainbackup verify shop',
  delete: 'chainbackup delete shop shop-2026-04-06T010000.000Z-full --yes',
  retention: 'chainbackup retention shop --dry-run',
  adopt: 'chainbackup adopt shop --dry-run',
  pin: 'chainbackup pin shop shop-2026-04-06T010000.000Z-full --note "audit 2026"',
  unpin: 'chainbackup unpin shop shop-2026-04-06T010000.000Z-full',
  list: 'chainbackup list shop --json',
  show: 'chainbackup show shop shop-2026-04-06T010000.000Z-full',
  status: 'chainbackup status shop || alert "backups of shop are not healthy"',
  check: 'chainbackup check shop',
  watch: 'chainbackup watch backup-shop-full-2026-04-06T010000.000Z',
  cancel: 'chainbackup cancel restore-shop-2026-04-06T010000.000Z',
  schedule: 'chainbackup schedule apply',
  'schedule apply': 'chainbackup schedule apply',
  'schedule describe': 'chainbackup schedule describe shop',
  'schedule pause': 'chainbackup schedule pause shop',
  'schedule resume': 'chainbackup schedule resume shop',
  'schedule trigger': 'chainbackup schedule trigger shop',
  incremental: 'chainbackup incremental enable shop',
  'incremental enable': 'chainbackup incremental enable shop',
  'incremental disable': 'chainbackup incremental disable shop',
  decrypt: 'chainbackup decrypt --key-file /etc/chainbackup/k2026.key --object "$backup/backup.xbstream.zst" < backup.xbstream.zst | zstd -d | mbstream -x -C 0',
  'codec-server': 'chainbackup codec-server --listen 127.0.0.1:8888 --origin http://localhost:8233 --token-file /etc/chainbackup/codec-token',
  kept: 'chainbackup kept list shop',
  'kept list': 'chainbackup kept list shop',
  'kept remove': 'chainbackup kept remove shop --older-than 7d --yes',
};

/** What each exit code of the CLI means: in every command's help and in docs/reference/cli.md. */
export const EXIT_CODE_MEANINGS: readonly (readonly [code: number, meaning: string])[] = [
  [ExitCode.ok, 'done'],
  [ExitCode.failed, 'the work failed'],
  [ExitCode.refused, 'refused (bad arguments, configuration or request; nothing changed)'],
  [ExitCode.unreachable, 'Temporal could not be reached, or no worker answered in time (--worker-timeout, --read-timeout)'],
  [ExitCode.unhealthy, 'status found a health rule broken, or check a set-up mistake'],
  [ExitCode.interrupted, 'Ctrl-C stopped following (the work goes on), or answered a confirmation (nothing changed)'],
];

/** The environment variables the CLI reads, and what for. */
export const ENVIRONMENT_VARIABLES: readonly (readonly [variables: readonly string[], meaning: string])[] = [
  [['CHAINBACKUP_CONFIG'], 'the configuration file, instead of --config'],
  [['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'TEMPORAL_API_KEY', 'TEMPORAL_TLS_*', 'TEMPORAL_PROFILE'], 'the Temporal connection, as the temporal CLI reads them'],
];

const EXIT_CODES = `Exit codes: ${EXIT_CODE_MEANINGS.map(([code, meaning]) => `${code} ${meaning}`).join('; ')}.`;
const ENVIRONMENT = `Environment: ${ENVIRONMENT_VARIABLES.map(([variables, meaning]) => `${listed(variables)} (${meaning})`).join('; ')}.`;

/** "a", "a and b", "a, b and c". */
function listed(names: readonly string[]): string {
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names.at(-1) ?? ''}` : (names[0] ?? '');
}

/** The example of a command, by its path under the program ([] for the program itself, ["kept", "list"]). */
export function commandExample(path: readonly string[]): string {
  // Sub-commands are keyed by their whole path ("kept list"), so that two "list"s keep their own examples.
  const key = path.length === 0 ? 'chainbackup' : path.join(' ');
  return EXAMPLES[key] ?? `chainbackup ${key} --help`;
}

/** Adds the footer to the program and every command under it. */
export function addHelpFooters(command: Command, path: string[] = []): void {
  command.addHelpText('after', `\nExample:\n  ${commandExample(path)}\n\n${EXIT_CODES}\n${ENVIRONMENT}`);
  for (const sub of command.commands) addHelpFooters(sub, [...path, sub.name()]);
}
