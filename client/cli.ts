#!/usr/bin/env node
/**
 * The operator's CLI over @temporalio/client. Connection settings follow Temporal's conventions
 * (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS, profiles). Its exit codes are
 * EXIT_CODE_MEANINGS in help.ts (every command's help and docs/reference/cli.md list them).
 */
import { ConfigError } from '../config/file.js';
import { CliError, ExitCode } from './cli-context.js';
import { buildProgram } from './program.js';

export { CliError, ExitCode };

const { program, cli } = buildProgram();

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
