import type { Command } from 'commander';
import { InputError } from '../../core/errors.ts';

/** `ballast watch`: placeholder until its issue lands. */
export function register(program: Command): void {
  program
    .command('watch')
    .description('Live terminal view of a capture.')
    .allowUnknownOption()
    .allowExcessArguments()
    .action(() => {
      throw new InputError('', '', '`ballast watch` is not available in this build');
    });
}
