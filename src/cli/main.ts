/**
 * The `ballast` command. Each subcommand lives in src/cli/commands/<name>.ts and exports
 * `register(program)`; commands stay thin and call into the core.
 *
 * Exit codes: 0 ok; 1 internal error; 2 bad input (one line on stderr, no stack trace).
 */
import { Command, CommanderError } from 'commander';
import { formatInputError, InputError } from '../core/errors.ts';
import { COMMANDS } from './commands/index.ts';

export const VERSION = '0.1.0';

export function buildProgram(): Command {
  const program = new Command('ballast')
    .description('Measure, plan and predict expert-parallel load balance for Mixture-of-Experts inference.')
    .version(VERSION)
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const register of COMMANDS) register(program);
  for (const c of program.commands) c.exitOverride();
  return program;
}

/** Run the CLI with `argv` (without node and script). Returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    return handleError(e);
  }
}

export function handleError(e: unknown): number {
  if (e instanceof InputError) {
    process.stderr.write(`ballast: ${formatInputError(e)}\n`);
    return 2;
  }
  if (e instanceof CommanderError) {
    // --help and --version exit 0; usage errors were already printed by commander.
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
    return 2;
  }
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err.code === 'string' && ['ENOENT', 'EACCES', 'EISDIR', 'ENOTDIR', 'ENOSPC', 'EEXIST'].includes(err.code)) {
    process.stderr.write(`ballast: ${err.path ?? ''}: ${err.code}: ${err.message.replace(/^[A-Z]+: /, '')}\n`);
    return 2;
  }
  process.stderr.write(`ballast: internal error: ${err?.stack ?? String(e)}\n`);
  return 1;
}
