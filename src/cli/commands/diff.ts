import type { Command } from 'commander';
import { InputError } from '../../core/errors.ts';

/** `ballast diff`: placeholder until its issue lands. */
export function register(program: Command): void {
  program
    .command('diff')
    .description('Compare two traces or reports.')
    .allowUnknownOption()
    .allowExcessArguments()
    .action(() => {
      throw new InputError('', '', '`ballast diff` is not available in this build');
    });
}
