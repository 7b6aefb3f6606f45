import type { Command } from 'commander';
import { InputError } from '../../core/errors.ts';

/** `ballast run`: placeholder until its issue lands. */
export function register(program: Command): void {
  program
    .command('run')
    .description('Run a command with the capture agent attached.')
    .allowUnknownOption()
    .allowExcessArguments()
    .action(() => {
      throw new InputError('', '', '`ballast run` is not available in this build');
    });
}
