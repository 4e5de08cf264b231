#!/usr/bin/env node
/**
 * The operator's CLI over @temporalio/client. Connection settings follow Temporal's conventions
 * (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS, profiles). Exit codes:
 * 0 done; 1 the work failed; 2 the request was refused (bad arguments, configuration or input);
 * 3 Temporal could not be reached; 4 `status` found a health rule broken; 130 Ctrl-C stopped
 * following (the work goes on) or answered a confirmation (nothing was changed).
 */
import { Command } from 'commander';
import { addHelpFooters } from './help.js';
import { ConfigError } from '../config/file.js';
import { productVersion } from '../config/release.js';
import { CliContext, CliError, ExitCode } from './cli-context.js';
import { registerCatalogCommands } from './commands/catalog.js';
import { registerScheduleCommands } from './commands/schedules.js';
import { registerStatusCommand } from './commands/status.js';
import { registerWatchCommands } from './commands/watch.js';
import { registerKeptCommands } from './commands/kept.js';
import { registerDecryptCommand } from './commands/decrypt.js';
import { registerCodecServerCommand } from './commands/codec-server.js';
import { registerWorkCommands } from './commands/work.js';

export { CliError, ExitCode };


const program = new Command()
  .name('chainbackup')
  .description('Physical incremental backups of MariaDB and MySQL, orchestrated by Temporal')
  .version(productVersion, '-V, --version')
  .option('-c, --config <path>', 'configuration file', process.env.CHAINBACKUP_CONFIG ?? 'chainbackup.yaml')
  .option('--worker-timeout <seconds>', 'how long list, show, status and kept wait for a worker to take their workflow up', '20')
  .option('--read-timeout <seconds>', 'how long list, show, status and kept wait in all once a worker has taken their workflow', '180')
  .showHelpAfterError()
  .exitOverride();

const cli = new CliContext(program);
registerScheduleCommands(program, cli);
registerWorkCommands(program, cli);
registerCatalogCommands(program, cli);
registerStatusCommand(program, cli);
registerWatchCommands(program, cli);
registerKeptCommands(program, cli);
registerDecryptCommand(program, cli);
registerCodecServerCommand(program, cli);
addHelpFooters(program);

async function main(argv: string[]): Promise<number> {
  try {
    await program.parseAsync(argv);
    return ExitCode.ok;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') return ExitCode.ok;
    if (code?.startsWith('commander.')) return ExitCode.refused; // commander already printed the problem
    if (error instanceof CliError) {
      console.error(`chainbackup: ${error.message}`);
      return error.exitCode;
    }
    if (error instanceof ConfigError) {
      console.error(`chainbackup: ${error.message}`);
      return ExitCode.refused;
    }
    console.error(`chainbackup: ${error instanceof Error ? error.message : String(error)}`);
    return ExitCode.failed;
  } finally {
    await cli.close();
  }
}

process.exitCode = await main(process.argv);
