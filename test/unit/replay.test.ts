/**
 * Issue 15: workflows in flight survive upgrades. Every history recorded from a released version
 * (test/replay/v<version>/, written by `CHAINBACKUP_RECORD_HISTORIES=test/replay/v<version> npm test`,
 * see test/support/record-histories.ts) is replayed against the workflow code of this build. A change
 * to a workflow's command sequence that is not behind `patched()` or a new workflow type fails here
 * with a DeterminismViolationError naming the history.
 *
 * Until the first release is recorded there is nothing to replay: the suite says so with a skipped
 * test instead of passing as if something had been checked.
 */
import { describe, expect, test } from '@jest/globals';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { execa } from 'execa';
import { KINDS } from '../support/record-histories.js';

const replayRoot = fileURLToPath(new URL('../../../test/replay', import.meta.url));
const replayer = fileURLToPath(new URL('../support/replay-histories.js', import.meta.url));

/** Each release's recording must hold every kind the recorder looks for but this one: a lock completes only after 10 idle minutes, longer than the suite (the continued-as-new lock covers its code). */
const NOT_RECORDED = new Set(['cluster-lock']);
const REQUIRED_KINDS = KINDS.map((kind) => kind.file).filter((file) => !NOT_RECORDED.has(file));

const releases = existsSync(replayRoot)
  ? readdirSync(replayRoot, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && /^v\d/.test(entry.name))
      .map((entry) => entry.name)
  : [];
const recordings = releases.flatMap((release) =>
  readdirSync(join(replayRoot, release))
    .filter((file) => file.endsWith('.json'))
    .map((file) => ({ release, kind: file.replace(/\.json$/, ''), path: join(replayRoot, release, file) })),
);

describe('recorded histories', () => {
  if (releases.length === 0) {
    test.skip('no release recorded yet: record with CHAINBACKUP_RECORD_HISTORIES=test/replay/v<version> npm test', () => undefined);
    return;
  }

  test.each(releases)('%s holds a history of every kind of run', (release) => {
    expect(recordings.filter((recording) => recording.release === release).map((recording) => recording.kind).sort()).toEqual(expect.arrayContaining(REQUIRED_KINDS));
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
