/**
 * Issue 15: workflows in flight survive upgrades. Every history recorded from a released version
 * (test/replay/<version>/, written by `CHAINBACKUP_RECORD_HISTORIES=... npm test`, see
 * test/support/record-histories.ts) is replayed against the workflow code of this build. A change to
 * a workflow's command sequence that is not behind `patched()` or a new workflow type fails here
 * with a DeterminismViolationError naming the history.
 */
import { describe, expect, test } from '@jest/globals';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { execa } from 'execa';
import { KINDS } from '../support/record-histories.js';

const replayRoot = fileURLToPath(new URL('../../../test/replay', import.meta.url));
const replayer = fileURLToPath(new URL('../support/replay-histories.js', import.meta.url));

/**
 * Each release's recording must hold every kind the recorder looks for, but for these two: v0.1.0's
 * recorder looked for the wrong clone target name, and a lock completes only after 10 idle minutes,
 * longer than the suite (the continued-as-new lock covers its code).
 */
const NOT_RECORDED = new Set(['restore-clone', 'cluster-lock']);
const REQUIRED_KINDS = KINDS.map((kind) => kind.file).filter((file) => !NOT_RECORDED.has(file));

const releases = readdirSync(replayRoot, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name);
const recordings = releases.flatMap((release) =>
  readdirSync(join(replayRoot, release))
    .filter((file) => file.endsWith('.json'))
    .map((file) => ({ release, kind: file.replace(/\.json$/, ''), path: join(replayRoot, release, file) })),
);

describe('recorded histories', () => {
  test('each release holds a history of every kind of run', () => {
    expect(releases.length).toBeGreaterThan(0);
    for (const release of releases) {
      expect(recordings.filter((recording) => recording.release === release).map((recording) => recording.kind).sort()).toEqual(expect.arrayContaining(REQUIRED_KINDS));
    }
  });

  test('every recorded history replays on this build', async () => {
    expect(recordings.length).toBeGreaterThan(0);
    // A separate Node process: see test/support/replay-histories.ts.
    const replayed = await execa(process.execPath, [replayer, ...recordings.map((recording) => recording.path)]);
    const outcomes = replayed.stdout.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { path: string; error?: string });
    expect(outcomes.map((outcome) => outcome.path)).toEqual(recordings.map((recording) => recording.path));
    // A DeterminismViolationError here names the history whose commands this build no longer issues.
    expect(outcomes.filter((outcome) => outcome.error)).toEqual([]);
  });
});
