import type { Command } from 'commander';
import { InputError } from '../../core/errors.ts';

/** `ballast demo`: placeholder until its issue lands. */
export function register(program: Command): void {
  program
    .command('demo')
    .description('Run the main job on the bundled ESFT law trace.')
    .allowUnknownOption()
    .allowExcessArguments()
    .action(() => {
      throw new InputError('', '', '`ballast demo` is not available in this build');
    });
}
