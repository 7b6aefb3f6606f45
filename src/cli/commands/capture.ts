import type { Command } from 'commander';
import { InputError } from '../../core/errors.ts';
import { totalCounts } from '../../core/load-trace.ts';
import { captureSglang, parseDuration } from '../../capture/sglang.ts';

/** `ballast capture --sglang URL`: record from a running SGLang server through its recorder endpoints. */
export function register(program: Command): void {
  program
    .command('capture')
    .description("Capture expert load from a running server without restart (SGLang's expert distribution recorder).")
    .option('--sglang <url>', 'SGLang server URL, e.g. http://127.0.0.1:30000')
    .option('--duration <d>', 'how long to record: 60s, 2m, 500ms', '60s')
    .option('--out <file>', 'trace file to write (default sglang-<time>.ballast)')
    .option('--dump-dir <dir>', "where the server writes dumps: its $SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR (default that variable here, else /tmp)")
    .option('--token <token>', 'API key of the server (sent as a bearer token)')
    .addHelpText('after', '\nExample:\n  ballast capture --sglang http://127.0.0.1:30000 --duration 60s --out sglang.ballast\n')
    .action(async (o: { sglang?: string; duration: string; out?: string; dumpDir?: string; token?: string }) => {
      if (!o.sglang) throw new InputError('--sglang', '', 'expected the SGLang server URL (the only live source `capture` drives; use `ballast run` for others)');
      const durationMs = parseDuration(o.duration);
      const out = o.out ?? `sglang-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}.ballast`;
      let interrupt: () => void = () => {};
      const stopSignal = new Promise<void>((r) => (interrupt = r));
      const onSig = () => interrupt();
      process.once('SIGINT', onSig);
      try {
        const r = await captureSglang({ url: o.sglang, durationMs, out, dumpDir: o.dumpDir, token: o.token ?? process.env.BALLAST_TOKEN, stopSignal });
        const tot = totalCounts(r.load);
        let sum = 0;
        for (const v of tot) sum += v;
        process.stderr.write(
          `[ballast] read ${r.dumps.length === 1 ? r.dumps[0] : `${r.dumps.length} dumps`}: ${r.load.numWindows} windows, ${r.load.numLayers} layers x ${r.load.numExperts} experts, ${sum} assignments; wrote ${out}\n`,
        );
      } finally {
        process.off('SIGINT', onSig);
      }
    });
}
