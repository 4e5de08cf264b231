/** What every command's help ends with: an example, the exit codes, and the environment it reads. */
import type { Command } from 'commander';

const EXAMPLES: Record<string, string> = {
  chainbackup: 'chainbackup --config /etc/chainbackup.yaml list',
  backup: 'chainbackup backup shop --type full',
  restore: 'chainbackup restore shop shop-2026-04-06T010000.000Z-incr --dry-run',
  verify: 'chainbackup verify shop',
  delete: 'chainbackup delete shop shop-2026-04-06T010000.000Z-full --yes',
  retention: 'chainbackup retention shop --dry-run',
  pin: 'chainbackup pin shop shop-2026-04-06T010000.000Z-full --note "audit 2026"',
  unpin: 'chainbackup unpin shop shop-2026-04-06T010000.000Z-full',
  list: 'chainbackup list shop --json',
  show: 'chainbackup show shop shop-2026-04-06T010000.000Z-full',
  status: 'chainbackup status shop || alert "backups of shop are not healthy"',
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

const EXIT_CODES = 'Exit codes: 0 done; 1 the work failed; 2 refused (bad arguments, configuration or request; nothing changed); 3 Temporal could not be reached; 4 status found a health rule broken; 130 Ctrl-C stopped following (the work goes on).';
const ENVIRONMENT =
  'Environment: CHAINBACKUP_CONFIG (the configuration file, instead of --config); TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_* and TEMPORAL_PROFILE (the Temporal connection, as the temporal CLI reads them).';

/** Adds the footer to the program and every command under it. */
export function addHelpFooters(command: Command, path: string[] = []): void {
  // Sub-commands are keyed by their whole path ("kept list"), so that two "list"s keep their own examples.
  const key = path.length === 0 ? command.name() : path.join(' ');
  const example = EXAMPLES[key] ?? `chainbackup ${key} --help`;
  command.addHelpText('after', `\nExample:\n  ${example}\n\n${EXIT_CODES}\n${ENVIRONMENT}`);
  for (const sub of command.commands) addHelpFooters(sub, [...path, sub.name()]);
}
