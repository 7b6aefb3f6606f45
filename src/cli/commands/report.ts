import type { Command } from 'commander';
import { InputError } from '../../core/errors.ts';

/** `ballast report`: placeholder until its issue lands. */
export function register(program: Command): void {
  program
    .command('report')
    .description('Write a self-contained HTML report.')
    .allowUnknownOption()
    .allowExcessArguments()
    .action(() => {
      throw new InputError('', '', '`ballast report` is not available in this build');
    });
}
