import type { Command } from 'commander';
import { InputError } from '../../core/errors.ts';
import { totalCounts } from '../../core/load-trace.ts';
import { loadModelConfig } from '../../predict/model-config.ts';
import { startProxy } from '../../capture/proxy/server.ts';
import { captureSglang, parseDuration } from '../../capture/sglang.ts';

interface CaptureOpts {
  sglang?: string;
  vllm?: string;
  listen?: string;
  duration: string;
  out?: string;
  dumpDir?: string;
  token?: string;
  numExperts?: string;
  modelConfig?: string;
  layers?: string;
  topK?: string;
  maxTokens: string;
  flushS: string;
}

const stamp = () => new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');

function posInt(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new InputError(flag, '', `expected a positive integer, got "${v}"`);
  return Number(v);
}

/** "127.0.0.1:8001", "[::1]:8001", ":8001" or "8001" -> host (default 127.0.0.1) and port. */
export function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:(?:\[([^\]]+)\]|([^:\[\]]*)):)?(\d+)$/.exec(s.trim());
  if (!m) throw new InputError('--listen', '', `expected HOST:PORT or PORT, got "${s}"`);
  const port = Number(m[3]);
  if (port > 65535) throw new InputError('--listen', '', `port ${port} is above 65535`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

/** Upstream URL without credentials or trailing slash, checked. */
function upstreamUrl(s: string, flag: string): string {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new InputError(flag, '', `expected a server URL like http://127.0.0.1:8000, got "${s}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InputError(flag, '', `expected an http(s) URL, got "${s}"`);
  u.username = '';
  u.password = '';
  return u.toString().replace(/\/+$/, '');
}

async function runProxy(engine: 'vllm' | 'sglang', o: CaptureOpts): Promise<void> {
  const flag = engine === 'vllm' ? '--vllm' : '--sglang';
  const upstream = upstreamUrl((engine === 'vllm' ? o.vllm : o.sglang)!, flag);
  const { host, port } = parseListen(o.listen!);
  const cfg = o.modelConfig ? loadModelConfig(o.modelConfig) : undefined;
  const layers = posInt(o.layers, '--layers') ?? cfg?.numLayers;
  const topK = posInt(o.topK, '--top-k') ?? cfg?.topK;
  if (engine === 'sglang' && (layers === undefined || topK === undefined)) {
    throw new InputError('--sglang', '', "SGLang returns routed experts as raw int32 ids without a shape; give --model-config <config.json> (or --layers N --top-k K)");
  }
  const out = o.out ?? `${engine}-proxy-${stamp()}.ballast`;
  const log = (l: string) => process.stderr.write(`[ballast] ${l}\n`);
  const record = {
    out,
    numExperts: posInt(o.numExperts, '--num-experts') ?? cfg?.numExperts,
    maxTokens: posInt(o.maxTokens, '--max-tokens'),
    model: cfg?.name,
    extra: { capturePath: engine === 'vllm' ? 'vllm-return-routed-experts-proxy' : 'sglang-return-routed-experts-proxy', engine, upstream },
  };
  const flushMs = Math.round(Number(o.flushS) * 1000);
  if (!Number.isFinite(flushMs) || flushMs < 100) throw new InputError('--flush-s', '', `expected seconds >= 0.1, got "${o.flushS}"`);
  const proxy = await startProxy({ upstream, engine, host, port, record, shape: layers && topK ? { layers, topK } : undefined, flushMs, log });
  log(`recording proxy for ${upstream} listening on ${proxy.url}; point clients there; Ctrl-C writes ${out} and stops`);
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '::1') log(`listening on ${host}: reachable from other machines`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  const st = await proxy.close();
  const notRecorded = st.skipped + st.dropped + st.lost;
  const wrote = st.recordingFailed ? `; the recording thread failed, so ${out} holds only what it wrote before that (if anything)` : st.tokens ? `; wrote ${out}` : '; nothing to write';
  log(`${st.requests} requests, ${st.tokens} tokens recorded${notRecorded ? `, ${notRecorded} not recorded` : ''}${wrote}`);
}

/** `ballast capture`: SGLang's recorder (`--sglang URL`) or a recording proxy (`--vllm URL --listen ADDR`, `--sglang URL --listen ADDR`). */
export function register(program: Command): void {
  program
    .command('capture')
    .description("Capture expert load from a running server without restart: SGLang's expert distribution recorder, or a recording proxy in front of vLLM / SGLang returning routed experts.")
    .option('--sglang <url>', 'SGLang server URL, e.g. http://127.0.0.1:30000')
    .option('--vllm <url>', 'vLLM OpenAI-compatible server URL started with --enable-return-routed-experts (needs --listen)')
    .option('--listen <addr>', 'run a recording proxy on HOST:PORT (host default 127.0.0.1) in front of --vllm / --sglang')
    .option('--duration <d>', 'SGLang recorder: how long to record: 60s, 2m, 500ms', '60s')
    .option('--out <file>', 'trace file to write (default <engine>-<time>.ballast)')
    .option('--dump-dir <dir>', "SGLang recorder: where the server writes dumps: its $SGLANG_EXPERT_DISTRIBUTION_RECORDER_DIR (default that variable here, else /tmp)")
    .option('--token <token>', 'SGLang recorder: API key of the server (sent as a bearer token)')
    .option('--num-experts <n>', 'proxy: routed experts per layer (default from --model-config, else largest id seen + 1)')
    .option('--model-config <path>', "proxy: the model's config.json (experts, top-k, layers)")
    .option('--layers <n>', 'proxy with --sglang: layers in the routed-experts arrays (default from --model-config)')
    .option('--top-k <k>', 'proxy with --sglang: experts per token (default from --model-config)')
    .option('--max-tokens <n>', 'proxy: record at most this many tokens (then pass through unrecorded)', '2000000')
    .option('--flush-s <s>', 'proxy: rewrite the trace this often', '10')
    .addHelpText(
      'after',
      '\nExamples:\n  ballast capture --sglang http://127.0.0.1:30000 --duration 60s --out sglang.ballast\n  ballast capture --vllm http://127.0.0.1:8000 --listen 127.0.0.1:8001 --out vllm.ballast\n',
    )
    .action(async (o: CaptureOpts) => {
      if (o.vllm && o.sglang) throw new InputError('--vllm', '', 'give --vllm or --sglang, not both');
      if (o.vllm && !o.listen) throw new InputError('--vllm', '', 'expected --listen HOST:PORT: the vLLM capture is a recording proxy clients send their requests to');
      if (o.listen) {
        if (!o.vllm && !o.sglang) throw new InputError('--listen', '', 'expected --vllm URL or --sglang URL to forward to');
        return runProxy(o.vllm ? 'vllm' : 'sglang', o);
      }
      if (!o.sglang) throw new InputError('--sglang', '', 'expected --sglang URL (SGLang recorder) or --vllm URL --listen ADDR (recording proxy); use `ballast run` to capture in-process');
      const durationMs = parseDuration(o.duration);
      const out = o.out ?? `sglang-${stamp()}.ballast`;
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
