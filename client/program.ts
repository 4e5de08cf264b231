/**
 * The chainbackup CLI's commands, built without running them: client/cli.ts parses the command line
 * with it, and devtools/references.ts writes docs/reference/cli.md from it.
 */
import { Command } from 'commander';
import { addHelpFooters } from './help.js';
import { CliContext } from './cli-context.js';
import { productVersion } from '../config/release.js';
import { registerCatalogCommands } from './commands/catalog.js';
import { registerScheduleCommands } from './commands/schedules.js';
import { registerStatusCommand } from './commands/status.js';
import { registerCheckCommand } from './commands/check.js';
import { registerWatchCommands } from './commands/watch.js';
import { registerKeptCommands } from './commands/kept.js';
import { registerDecryptCommand } from './commands/decrypt.js';
import { registerCodecServerCommand } from './commands/codec-server.js';
import { registerWorkCommands } from './commands/work.js';

/** The program and the context its commands share; `environment` gives --config its default (CHAINBACKUP_CONFIG). */
export function buildProgram(environment: NodeJS.ProcessEnv = process.env): { program: Command; cli: CliContext } {
  const program = new Command()
    .name('chainbackup')
    .description('Physical incremental backups of MariaDB and MySQL, orchestrated by Temporal')
    .version(productVersion, '-V, --version')
    .option('-c, --config <path>', 'configuration file', environment.CHAINBACKUP_CONFIG ?? 'chainbackup.yaml')
    .option('--worker-timeout <seconds>', 'how long list, show, status, check, kept and the plans of delete and restore wait for a worker to take their workflow up', '20')
    .option('--read-timeout <seconds>', 'how long list, show, status, check, kept and the plans of delete and restore wait in all once a worker has taken their workflow', '180')
    .showHelpAfterError()
    .exitOverride();

  const cli = new CliContext(program);
  registerScheduleCommands(program, cli);
  registerWorkCommands(program, cli);
  registerCatalogCommands(program, cli);
  registerStatusCommand(program, cli);
  registerCheckCommand(program, cli);
  registerWatchCommands(program, cli);
  registerKeptCommands(program, cli);
  registerDecryptCommand(program, cli);
  registerCodecServerCommand(program, cli);
  addHelpFooters(program);
  return { program, cli };
}
