import type { Command } from 'commander';
import { InputError } from '../../core/errors.ts';
import { readInput } from '../../ingest/readers.ts';
import { GPU_MEMORY_GIB, doctorExitCode, renderDoctor, runDoctor } from '../../act/doctor/doctor.ts';

/**
 * `ballast doctor [--trace T] [--json] [--gpu NAME | --gpu-memory-gb N] [--vllm-log F] [--sglang-log F] -- <launch command>`
 * Exit status: 0 when no finding is an error, 1 when one is (the engine would refuse the launch or the
 * experts do not fit), 2 on bad input.
 */
export function register(program: Command): void {
  program
    .command('doctor')
    .description('Check a vLLM / SGLang launch (CUDA or ROCm; and engine logs) against the engines\' start-up rules, the model config and a routing trace. Exit 1 when a finding is an ERROR.')
    .argument('[launch...]', 'the launch command after --, e.g. -- vllm serve deepseek-ai/DeepSeek-V3 --tensor-parallel-size 8')
    .option('--trace <file>', 'routing trace (any format ballast reads) for the EPLB pay-off check')
    .option('--gpu-memory-gb <n>', 'GPU HBM in GiB (default: --gpu\'s; MI300X 192 on a ROCm launch; else 80)')
    .option('--gpu <name>', `GPU model for its HBM: ${Object.keys(GPU_MEMORY_GIB).join(', ')}`)
    .option('--vllm-log <file>', 'vLLM log with "EPLB step:" lines: balancedness series, consistency and wrong-axis check')
    .option('--sglang-log <file>', 'SGLang log with "[Expert Balancedness]" lines')
    .option('--ranks <n>', 'EP ranks for the log checks when the launch command does not give them')
    .option('--json', 'print {facts, findings: [{id, severity, message, flag?}]}')
    .action(async (launch: string[], o: { trace?: string; gpuMemoryGb?: string; gpu?: string; vllmLog?: string; sglangLog?: string; ranks?: string; json?: boolean }) => {
      const num = (v: string | undefined, name: string) => {
        if (v === undefined) return undefined;
        const n = Number(v);
        if (!(n > 0)) throw new InputError(name, '', `expected a positive number, got ${v}`);
        return n;
      };
      if (launch.length === 0 && !o.vllmLog && !o.sglangLog) {
        throw new InputError('', '', 'nothing to check; give the launch command after --, e.g. ballast doctor -- vllm serve MODEL --tensor-parallel-size 8');
      }
      const trace = o.trace ? await readInput(o.trace, {}) : undefined;
      const report = await runDoctor({
        argv: launch,
        trace: trace ? { load: trace.load, routes: trace.routes } : undefined,
        gpuMemoryGb: num(o.gpuMemoryGb, '--gpu-memory-gb'),
        gpu: o.gpu,
        vllmLog: o.vllmLog,
        sglangLog: o.sglangLog,
        ranks: num(o.ranks, '--ranks'),
      });
      process.stdout.write(o.json ? `${JSON.stringify(report)}\n` : renderDoctor(report));
      process.exitCode = doctorExitCode(report);
    });
}
