import type { Command } from 'commander';
import { InputError } from '../../core/errors.ts';

/** `ballast doctor`: placeholder until its issue lands. */
export function register(program: Command): void {
  program
    .command('doctor')
    .description('Check inference-server launch flags.')
    .allowUnknownOption()
    .allowExcessArguments()
    .action(() => {
      throw new InputError('', '', '`ballast doctor` is not available in this build');
    });
}
