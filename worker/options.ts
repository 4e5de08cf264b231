/** The worker's command line, built without parsing it: worker/main.ts parses it, devtools/references.ts documents it. */
import { Command } from 'commander';

export interface WorkerOptions {
  config: string;
  clusters?: string;
  orchestrator: boolean;
  host: boolean;
}

/** `environment` gives --config its default (CHAINBACKUP_CONFIG). */
export function buildWorkerProgram(environment: NodeJS.ProcessEnv = process.env): Command {
  return new Command()
    .name('chainbackup-worker')
    .description('Serve chainbackup workflows and the activities of this host’s clusters')
    .option('-c, --config <path>', 'configuration file', environment.CHAINBACKUP_CONFIG ?? 'chainbackup.yaml')
    .option('--clusters <names>', 'comma-separated clusters whose host queue this worker serves (default: all in the configuration)')
    .option('--no-orchestrator', 'do not serve the shared workflow queue')
    .option('--no-host', 'serve no host queue: an orchestration-only worker');
}
