import type { Command } from 'commander';
import { InputError } from '../../core/errors.ts';
import { runWithAgent } from '../../capture/run.ts';

function intOpt(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new InputError(flag, '', `expected an integer, got "${v}"`);
    return n;
  };
}

/** `ballast run [options] -- <command...>`: run a command with the capture agent attached. */
export function register(program: Command): void {
  program
    .command('run')
    .description('Run a command (vLLM, SGLang, any transformers script) with the MoE capture agent attached; writes a trace when it ends.')
    .argument('<command...>', 'command to run, after `--`')
    .option('--out <file>', 'trace file to write (default ballast-run-<time>.ballast; none when only --collector is given)')
    .option('--collector <addr>', 'send windows to an external collector (HOST:PORT or http://HOST:PORT; comma-separated for several)')
    .option('--token <token>', 'bearer token for the external collector')
    .option('--flush-ms <n>', 'window length in milliseconds', intOpt('--flush-ms'), 1000)
    .option('--sample-routes <n>', 'also record the routes of 1 token in N (0 = off)', intOpt('--sample-routes'), 0)
    .option('--per-expert-metrics', 'expose ballast_expert_load{layer,expert} on /metrics (L*E series)')
    .addHelpText(
      'after',
      '\nExamples:\n  ballast run --out qwen.ballast -- python generate.py\n  ballast run -- vllm serve Qwen/Qwen3-30B-A3B --enforce-eager\n  ballast run --collector 10.0.0.5:9400 --token $T -- python -m sglang.launch_server --model-path ...\n',
    )
    .action(async (command: string[], o: { out?: string; collector?: string; token?: string; flushMs: number; sampleRoutes: number; perExpertMetrics?: boolean }) => {
      process.exitCode = await runWithAgent({
        command,
        out: o.out,
        collector: o.collector,
        token: o.token ?? process.env.BALLAST_TOKEN,
        flushMs: o.flushMs,
        sampleRoutes: o.sampleRoutes,
        perExpertMetrics: o.perExpertMetrics,
      });
    });
}
