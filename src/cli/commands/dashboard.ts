import type { Command } from 'commander';
import { InputError } from '../../core/errors.ts';

/** `ballast dashboard`: placeholder until its issue lands. */
export function register(program: Command): void {
  program
    .command('dashboard')
    .description('Serve the live dashboard.')
    .allowUnknownOption()
    .allowExcessArguments()
    .action(() => {
      throw new InputError('', '', '`ballast dashboard` is not available in this build');
    });
}
