/**
 * The metrics text as Prometheus's own tool reads it (`promtool check metrics`: names, types, help,
 * counters ending in _total), every series an alert needs, the last values kept through an outage,
 * and the shipped alert rules (`promtool check rules`), which must only name series the text has.
 */
import { describe, expect, test } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { prometheusText, type ClusterHealth, type MetricsReading } from '../../domain/health.js';
import { repoRoot } from '../../devtools/sandbox/processes.js';

const RULES = join(repoRoot, 'docs/monitoring/chainbackup-rules.yml');

const health: ClusterHealth = {
  cluster: 'shop',
  checkedAt: '2026-04-08T00:00:00.000Z',
  storage: { label: 's3://backups/prod', committedBytes: 5_000_000, uncommittedBytes: 10, chains: 2 },
  newestBackup: { name: 'shop-2026-04-07T010000.000Z-incr', type: 'incremental', finishedAt: '2026-04-07T01:00:00.000Z', ageSeconds: 82_800, sizeBytes: 123_456, durationSeconds: 42.5 },
  newestVerified: { name: 'shop-2026-04-06T010000.000Z-full', finishedAt: '2026-04-06T01:00:00.000Z', verifiedAt: '2026-04-06T02:00:00.000Z', ageSeconds: 169_200 },
  lastVerification: { name: 'shop-2026-04-07T010000.000Z-incr', verifiedAt: '2026-04-07T02:00:00.000Z', passed: false },
  failedVerifications: [{ name: 'shop-2026-04-07T010000.000Z-incr', verifiedAt: '2026-04-07T02:00:00.000Z', problems: ['a table is missing'] }],
  failuresSinceBackup: [],
  running: [{ workflowId: 'backup-shop-full-x', type: 'full' }],
  schedules: [{ id: 'chainbackup-schedule-shop-full', type: 'full', paused: false, nextRun: '2026-04-12T01:00:00.000Z' }],
  keptDatadirs: { count: 1, bytes: 1000, diskBytes: 100_000 },
  pointInTime: { window: { from: '2026-04-06T01:00:00.000Z', to: '2026-04-07T23:59:00.000Z', gaps: 0 }, lagSeconds: 3, caughtUp: true, failing: false, rpoSeconds: 5 },
  integrity: { authenticated: true, problems: [] },
};

const everything: MetricsReading = {
  cluster: 'shop',
  status: { health, broken: [{ rule: 'verification', message: 'failed' }] },
  up: true,
  readAtMs: Date.parse('2026-04-08T00:00:00.000Z'),
  endedWork: [
    { type: 'full', result: 'success', count: 3 },
    { type: 'incremental', result: 'failed', count: 1 },
    { type: 'restore', result: 'refused', count: 2 },
  ],
  archived: { files: 4, parts: 17, bytes: 9_000_000 },
};

async function promtool(args: string[], input?: string) {
  return execa('promtool', args, { reject: false, ...(input !== undefined ? { input } : {}) });
}

/** Every series name a text has. */
const seriesIn = (text: string) => new Set(text.split('\n').filter((line) => line && !line.startsWith('#')).map((line) => line.slice(0, line.indexOf('{'))));

describe('the metrics text', () => {
  test('passes promtool check metrics, counters and all', async () => {
    const text = prometheusText([everything, { cluster: 'never-read', up: false }], { version: '9.9.9', node: '24.0.0' });
    const checked = await promtool(['check', 'metrics'], text);
    expect({ exitCode: checked.exitCode, problems: `${checked.stdout}${checked.stderr}` }).toEqual({ exitCode: 0, problems: '' });
    expect(text).toContain('chainbackup_build_info{version="9.9.9",node="24.0.0"} 1\n');
    expect(text).toContain('# TYPE chainbackup_work_ended_total counter\n');
    expect(text).toContain('chainbackup_work_ended_total{cluster="shop",type="restore",result="refused"} 2\n');
    expect(text).toContain('chainbackup_binlog_parts_archived_total{cluster="shop"} 17\n');
    expect(text).toContain('chainbackup_last_backup_duration_seconds{cluster="shop"} 42.5\n');
    expect(text).toContain('chainbackup_last_backup_size_bytes{cluster="shop"} 123456\n');
    expect(text).toContain(`chainbackup_last_verification_timestamp_seconds{cluster="shop"} ${Date.parse('2026-04-07T02:00:00.000Z') / 1000}\n`);
    expect(text).toContain('chainbackup_last_verification_passed{cluster="shop"} 0\n');
    expect(text).toContain(`chainbackup_pitr_window_start_timestamp_seconds{cluster="shop"} ${Date.parse('2026-04-06T01:00:00.000Z') / 1000}\n`);
    expect(text).toContain('chainbackup_status_up{cluster="never-read"} 0\n');
  });

  test('a cluster whose reading fails keeps its last values, marked not up, with the time they were read', () => {
    const down = prometheusText([{ ...everything, up: false }]);
    expect(down).toContain('chainbackup_status_up{cluster="shop"} 0\n');
    expect(down).toContain(`chainbackup_status_read_timestamp_seconds{cluster="shop"} ${Date.parse('2026-04-08T00:00:00.000Z') / 1000}\n`);
    expect(down).toContain(`chainbackup_last_backup_timestamp_seconds{cluster="shop"} ${Date.parse('2026-04-07T01:00:00.000Z') / 1000}\n`);
    expect(down).toContain('chainbackup_binlog_archive_lag_seconds{cluster="shop"} 3\n');
  });
});

describe('the shipped alert rules', () => {
  test('pass promtool check rules and name only series the endpoint serves', async () => {
    const checked = await promtool(['check', 'rules', RULES]);
    expect(checked.exitCode).toBe(0);
    expect(checked.stdout).toMatch(/SUCCESS: \d+ rules found/);
    const served = seriesIn(prometheusText([everything], { version: '1', node: '1' }));
    const rules = await readFile(RULES, 'utf8');
    const named = new Set([...rules.matchAll(/\bchainbackup_[a-z_]+/g)].map((match) => match[0]));
    expect([...named].filter((name) => !served.has(name))).toEqual([]);
  });
});
