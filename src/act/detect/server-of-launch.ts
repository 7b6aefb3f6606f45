/**
 * What an engine's launch command line says about the server it starts: engine, model, parallel
 * layout as launched, address, and the capture-relevant switches. Pure; flag names from the engines'
 * CLIs (vLLM `vllm serve --help`: --tensor-parallel-size/-tp, --data-parallel-size/-dp,
 * --pipeline-parallel-size/-pp, --enable-expert-parallel/-ep, --enable-eplb,
 * --enable-return-routed-experts, --enforce-eager, --host, --port 8000; SGLang server_args.py:
 * --model-path, --tp-size, --dp-size, --ep-size, --pp-size, --enable-dp-attention,
 * --expert-distribution-recorder-mode, --host, --port 30000).
 * Shapes: argv -> LaunchedServer, or undefined when it is not a vLLM or SGLang launch.
 */
import { flag, numFlag, parseLaunch, switchOn } from '../doctor/launch.ts';

export interface LaunchedServer {
  engine: 'vllm' | 'sglang';
  model?: string;
  tp: number;
  dp: number;
  pp: number;
  /** Expert-parallel size as launched (vLLM: tp x dp with --enable-expert-parallel, else 1). */
  ep: number;
  host: string;
  port: number;
  returnsRoutedExperts: boolean;
  /** SGLang --expert-distribution-recorder-mode, when set. */
  recorderMode?: string;
  eplb: boolean;
  enforceEager: boolean;
}

export function serverOfLaunch(argv: string[]): LaunchedServer | undefined {
  const spec = parseLaunch(argv);
  if (spec.engine === 'unknown') return undefined;
  const n = (...names: string[]) => {
    const v = numFlag(spec, ...names);
    return v !== undefined && Number.isInteger(v) && v > 0 ? v : undefined;
  };
  const host = flag(spec, '--host');
  if (spec.engine === 'vllm') {
    const tp = n('--tensor-parallel-size') ?? 1;
    const dp = n('--data-parallel-size') ?? 1;
    const epOn = switchOn(spec, '--enable-expert-parallel');
    return {
      engine: 'vllm',
      model: spec.model ?? (typeof flag(spec, '--model') === 'string' ? (flag(spec, '--model') as string) : undefined),
      tp,
      dp,
      pp: n('--pipeline-parallel-size') ?? 1,
      ep: epOn ? tp * dp : 1,
      host: typeof host === 'string' ? host : '127.0.0.1',
      port: n('--port') ?? 8000,
      returnsRoutedExperts: switchOn(spec, '--enable-return-routed-experts'),
      eplb: switchOn(spec, '--enable-eplb'),
      enforceEager: switchOn(spec, '--enforce-eager'),
    };
  }
  const mode = flag(spec, '--expert-distribution-recorder-mode');
  const model = flag(spec, '--model-path', '--model');
  return {
    engine: 'sglang',
    model: typeof model === 'string' ? model : spec.model,
    tp: n('--tp-size', '--tp', '--tensor-parallel-size') ?? 1,
    dp: n('--dp-size', '--dp', '--data-parallel-size') ?? 1,
    pp: n('--pp-size', '--pipeline-parallel-size') ?? 1,
    ep: n('--ep-size', '--ep', '--expert-parallel-size') ?? 1,
    host: typeof host === 'string' ? host : '127.0.0.1',
    port: n('--port') ?? 30000,
    returnsRoutedExperts: switchOn(spec, '--enable-return-routed-experts'),
    recorderMode: typeof mode === 'string' ? mode : undefined,
    eplb: switchOn(spec, '--enable-eplb'),
    enforceEager: false,
  };
}
