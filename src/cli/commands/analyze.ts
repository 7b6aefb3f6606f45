import type { Command } from 'commander';

/** `ballast analyze`: being built (issue 2). */
export function register(program: Command): void {
  program.command('analyze').description('Measure expert and rank imbalance of routing traces.').argument('<input...>');
}
