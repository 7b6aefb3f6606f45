/**
 * `ballast agent-path`: print the directory holding the Python capture agent (`ballast_agent`), for
 * PYTHONPATH in scripts and notebooks that use `ballast_agent.capture(model, out=...)` (docs/capture.md).
 */
import type { Command } from 'commander';
import { AGENT_DIR } from '../../capture/run.ts';

export function register(program: Command): void {
  program
    .command('agent-path')
    .description('Print the directory of the Python capture agent (for PYTHONPATH; or pip install it).')
    .addHelpText(
      'after',
      '\nExample:\n  PYTHONPATH=$(ballast agent-path) python my_script.py\n  # in the script:  import ballast_agent\n  #   with ballast_agent.capture(model, out="run.ballast"): model.generate(...)\n  pip install $(ballast agent-path)    # the same package, installed\n',
    )
    .action(() => {
      process.stdout.write(`${AGENT_DIR}\n`);
    });
}
