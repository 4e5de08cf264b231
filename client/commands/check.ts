/**
 * `chainbackup check`: the set-up, checked end to end before the first backup, in the spirit of
 * `pgbackrest check`. Here: the configuration, Temporal, its search attributes, and a worker on every
 * queue; on each cluster's host (a read-only workflow there): the login and grants, the backup
 * tool, the datadir, storage, binlog settings, keys and the space a restore needs.
 */
import type { Command } from 'commander';
import proto from '@temporalio/proto';
import type { CheckLine } from '../../activities/check.js';
import { hostTaskQueue } from '../../domain/config.js';
import { formatTimestamp } from '../../domain/names.js';
import { SEARCH_ATTRIBUTES } from '../../domain/search-attributes.js';
import { WorkflowId } from '../../domain/workflow-contract.js';
import { checkCluster } from '../../workflows/index.js';
import { CliError, ExitCode, type CliContext } from '../cli-context.js';

interface Finding extends CheckLine {
  cluster?: string;
}

const { TaskQueueKind, TaskQueueType } = proto.temporal.api.enums.v1;

const describeLine = (finding: Finding) => `${{ ok: 'ok  ', warn: 'WARN', fail: 'FAIL' }[finding.result]}  ${finding.cluster ?? '-'}  ${finding.check}: ${finding.detail}`;

export function registerCheckCommand(program: Command, cli: CliContext): void {
  program
    .command('check [clusters...]')
    .description(
      "check the set-up before the first backup: the configuration, Temporal and its search attributes, a worker on every queue, and on each cluster's host the database login and every grant, the backup tool against the server, the datadir, storage (a probe object written, read, listed and removed), binlog settings, keys and the space a restore needs; one line per check, exits 4 when one fails",
    )
    .option('--json', 'print the findings as JSON')
    .action(async (names: string[], options: { json?: boolean }) => {
      const config = await cli.config();
      const clusters = names.length > 0 ? await Promise.all(names.map((name) => cli.knownCluster(name))) : config.clusters.map((cluster) => cluster.name);
      const findings: Finding[] = [{ check: 'configuration', result: 'ok', detail: `${cli.configPath}: ${config.clusters.length} cluster(s), shared queue ${config.temporal.taskQueue}` }];
      const report = () => {
        if (options.json) console.log(JSON.stringify(findings, null, 2));
        else console.log(findings.map(describeLine).join('\n'));
        const failed = findings.filter((finding) => finding.result === 'fail');
        if (failed.length > 0) throw new CliError(`${failed.length} check(s) failed: ${failed.map((finding) => `${finding.cluster ? `${finding.cluster} ` : ''}${finding.check}`).join(', ')}`, ExitCode.unhealthy);
      };
      let client;
      try {
        client = await cli.client();
      } catch (error) {
        if (!(error instanceof CliError) || error.exitCode !== ExitCode.refused) throw error;
        // The payload keys the CLI needs to talk to the workers: a finding, not a stop.
        findings.push({ check: 'payload keys', result: 'fail', detail: error.message });
        return report();
      }
      const namespace = client.options.namespace;
      findings.push({ check: 'temporal', result: 'ok', detail: `namespace ${namespace} answers` });

      const registered = await client.connection.operatorService.listSearchAttributes({ namespace }).then(
        (answer) => answer.customAttributes ?? {},
        () => undefined,
      );
      const missing = registered ? SEARCH_ATTRIBUTES.filter((attribute) => !(attribute.name in registered)) : [];
      findings.push(
        !registered
          ? { check: 'search attributes', result: 'warn', detail: `namespace ${namespace} does not say which it has (no operator API): make sure ${SEARCH_ATTRIBUTES.map((attribute) => attribute.name).join(', ')} exist` }
          : missing.length === 0
            ? { check: 'search attributes', result: 'ok', detail: `all ${SEARCH_ATTRIBUTES.length} registered` }
            : {
                check: 'search attributes',
                result: 'fail',
                detail: `${missing.map((attribute) => attribute.name).join(', ')} missing (workers refuse to start): ${missing.map((attribute) => `temporal operator search-attribute create --namespace ${namespace} --name ${attribute.name} --type ${attribute.type}`).join(' && ')}`,
              },
      );

      const pollers = async (queue: string, type: proto.temporal.api.enums.v1.TaskQueueType) =>
        ((await client.workflowService.describeTaskQueue({ namespace, taskQueue: { name: queue, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL }, taskQueueType: type })).pollers ?? []).map(
          (poller) => poller.identity ?? '?',
        );
      const orchestrators = await pollers(config.temporal.taskQueue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW);
      findings.push(
        orchestrators.length > 0
          ? { check: 'workflow worker', result: 'ok', detail: `${orchestrators.length} worker(s) serve the shared queue ${config.temporal.taskQueue} (${orchestrators.join(', ')})` }
          : { check: 'workflow worker', result: 'fail', detail: `no worker serves the shared queue ${config.temporal.taskQueue}: start one (chainbackup-worker --config ${cli.configPath})` },
      );

      for (const name of clusters) {
        const queue = hostTaskQueue(config.clusters.find((cluster) => cluster.name === name) ?? { name }, config.temporal.taskQueue);
        const hosts = await pollers(queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY);
        if (hosts.length === 0) {
          findings.push({ cluster: name, check: 'host worker', result: 'fail', detail: `no worker serves ${queue}: start one on ${name}'s database host (chainbackup-worker --config … --clusters ${name}); its host is not checked` });
          continue;
        }
        findings.push({ cluster: name, check: 'host worker', result: 'ok', detail: `${hosts.join(', ')} serve(s) ${queue}` });
        if (orchestrators.length === 0) continue;
        const lines = await cli.readOnly(checkCluster, { workflowId: WorkflowId.check(name, formatTimestamp(Date.now())), args: [{ cluster: name }], summary: `Check the set-up of ${name} (chainbackup CLI)` });
        findings.push(...lines.map((line) => ({ cluster: name, ...line })));
      }
      report();
    });
}
