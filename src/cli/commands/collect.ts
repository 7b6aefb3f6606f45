import type { Command } from 'commander';
import { InputError } from '../../core/errors.ts';

/** `ballast collect`: placeholder until its issue lands. */
export function register(program: Command): void {
  program
    .command('collect')
    .description('Run the capture collector.')
    .allowUnknownOption()
    .allowExcessArguments()
    .action(() => {
      throw new InputError('', '', '`ballast collect` is not available in this build');
    });
}
