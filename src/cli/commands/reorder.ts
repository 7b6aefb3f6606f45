import type { Command } from 'commander';
import { InputError } from '../../core/errors.ts';

/** `ballast reorder`: placeholder until its issue lands. */
export function register(program: Command): void {
  program
    .command('reorder')
    .description('Rewrite a checkpoint so the default placement realises a plan.')
    .allowUnknownOption()
    .allowExcessArguments()
    .action(() => {
      throw new InputError('', '', '`ballast reorder` is not available in this build');
    });
}
