import type { Command } from 'commander';
import { InputError } from '../../core/errors.ts';

/** `ballast plan`: placeholder until its issue lands. */
export function register(program: Command): void {
  program
    .command('plan')
    .description('Plan an expert-to-GPU placement.')
    .allowUnknownOption()
    .allowExcessArguments()
    .action(() => {
      throw new InputError('', '', '`ballast plan` is not available in this build');
    });
}
