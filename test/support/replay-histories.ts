/**
 * Replays recorded histories against this build's workflow bundle and prints one JSON line per
 * history: `{ path, error? }`. Run as its own Node process by test/unit/replay.test.ts,
 * outside Jest's module registry.
 *
 * The JSON is read with the protojson of the protobufjs copy that @temporalio/proto itself uses:
 * the SDK's `historyFromJSON` pairs another copy's protojson with @temporalio/proto's types when
 * npm cannot dedupe protobufjs (grpc needs 7.x at the top level) and fails with "type must be a Type".
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from '@temporalio/worker';
import proto from '@temporalio/proto';

const { temporal } = proto;
const protoRequire = createRequire(createRequire(import.meta.url).resolve('@temporalio/proto'));
const { fromJson } = protoRequire('protobufjs/ext/protojson') as { fromJson: (type: unknown, json: unknown, options: object) => proto.temporal.api.history.v1.History };
const workflowBundle = { codePath: fileURLToPath(new URL('../../workflow-bundle.js', import.meta.url)) };

for (const path of process.argv.slice(2)) {
  const { workflowId, history } = JSON.parse(readFileSync(path, 'utf8')) as { workflowId: string; history: unknown };
  try {
    await Worker.runReplayHistory({ workflowBundle }, fromJson(temporal.api.history.v1.History, history, { ignoreUnknownFields: true }), workflowId);
    console.log(JSON.stringify({ path }));
  } catch (error) {
    console.log(JSON.stringify({ path, error: `${(error as Error).name}: ${(error as Error).message}` }));
  }
}
