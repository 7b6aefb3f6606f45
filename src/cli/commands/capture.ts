import type { Command } from 'commander';
import { InputError } from '../../core/errors.ts';

/** `ballast capture`: placeholder until its issue lands. */
export function register(program: Command): void {
  program
    .command('capture')
    .description('Capture routing from a running server without restart.')
    .allowUnknownOption()
    .allowExcessArguments()
    .action(() => {
      throw new InputError('', '', '`ballast capture` is not available in this build');
    });
}
