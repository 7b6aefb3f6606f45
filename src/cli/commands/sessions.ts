import type { Command } from 'commander';
import { InputError } from '../../core/errors.ts';

/** `ballast sessions`: placeholder until its issue lands. */
export function register(program: Command): void {
  program
    .command('sessions')
    .description('List running captures.')
    .allowUnknownOption()
    .allowExcessArguments()
    .action(() => {
      throw new InputError('', '', '`ballast sessions` is not available in this build');
    });
}
