import type { Command } from 'commander';
import { InputError } from '../../core/errors.ts';

/** `ballast export`: placeholder until its issue lands. */
export function register(program: Command): void {
  program
    .command('export')
    .description('Export a trace load matrix or a plan in another format.')
    .allowUnknownOption()
    .allowExcessArguments()
    .action(() => {
      throw new InputError('', '', '`ballast export` is not available in this build');
    });
}
