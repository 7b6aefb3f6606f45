import type { Command } from 'commander';
import { InputError } from '../../core/errors.ts';

/** `ballast simulate`: placeholder until its issue lands. */
export function register(program: Command): void {
  program
    .command('simulate')
    .description('Replay a trace against placement policies and predict time.')
    .allowUnknownOption()
    .allowExcessArguments()
    .action(() => {
      throw new InputError('', '', '`ballast simulate` is not available in this build');
    });
}
