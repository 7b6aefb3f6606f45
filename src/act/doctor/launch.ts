/**
 * Parse an inference-server launch command line into engine, model and flags.
 *   vLLM:   vllm serve <model> [--flag value | --flag=value | --bool-flag] ...   (or --model M)
 *   SGLang: python -m sglang.launch_server --model-path M ...   (also `sglang serve`)
 * A flag takes the next token as its value unless that token starts with '-' or the flag is a switch
 * (--enable-*, --disable-*, --no-*, --enforce-eager, --trust-remote-code, -ep, ...).
 * Leading `NAME=value` words (and `env NAME=value ...`) are environment assignments, e.g.
 * `HIP_VISIBLE_DEVICES=0,1,2,3 vllm serve ...` on ROCm. vLLM flag names are normalised as vLLM's
 * FlexibleArgumentParser does (`--enable_eplb` = `--enable-eplb`; dotted keys such as
 * `--eplb-config.num_redundant_experts` keep their key after the dot).
 */
export type Engine = 'vllm' | 'sglang' | 'unknown';

export interface LaunchSpec {
  engine: Engine;
  model?: string;
  /** Flag name (with dashes, as typed; short aliases normalised) -> value, or true for switches. */
  flags: Map<string, string | true>;
  /** Environment assignments before the command (NAME -> value). */
  env: Map<string, string>;
  argv: string[];
}

const SWITCH = /^(--enable-|--disable-|--no-|--enforce-eager$|--trust-remote-code$|-ep$|--skip-)/;

/** Short aliases -> long names. */
const ALIASES: Record<string, string> = {
  '-tp': '--tensor-parallel-size',
  '-dp': '--data-parallel-size',
  '-pp': '--pipeline-parallel-size',
  '-ep': '--enable-expert-parallel',
  '-dpl': '--data-parallel-size-local',
  '-pcp': '--prefill-context-parallel-size',
};

export function parseLaunch(argv: string[]): LaunchSpec {
  const joined = argv.join(' ');
  let engine: Engine = 'unknown';
  if (/(^|\s|\/)vllm(\s|$)/.test(joined) || argv.some((a) => a.endsWith('vllm.entrypoints.openai.api_server'))) engine = 'vllm';
  if (argv.some((a) => a.startsWith('sglang.launch_server') || a === 'sglang') ) engine = 'sglang';
  const flags = new Map<string, string | true>();
  const env = new Map<string, string>();
  let model: string | undefined;
  let sawServe = false;
  let start = 0;
  for (; start < argv.length; start++) {
    const w = argv[start];
    if (start === 0 && w === 'env') continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(w);
    if (!m) break;
    env.set(m[1], m[2]);
  }
  for (let i = start; i < argv.length; i++) {
    let a = argv[i];
    if (a === 'serve') {
      sawServe = true;
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      let value: string | true | undefined;
      const eq = a.indexOf('=');
      if (eq > 0) {
        value = a.slice(eq + 1);
        a = a.slice(0, eq);
      }
      a = ALIASES[a] ?? a;
      if (a.startsWith('--')) {
        const dot = a.indexOf('.');
        a = dot > 0 ? `${a.slice(0, dot).replace(/_/g, '-')}${a.slice(dot)}` : a.replace(/_/g, '-');
      }
      if (value === undefined) {
        const next = argv[i + 1];
        if (!SWITCH.test(a) && next !== undefined && !(next.startsWith('-') && !/^-?\d/.test(next))) {
          value = next;
          i++;
        } else value = true;
      }
      flags.set(a, value);
      continue;
    }
    if (engine === 'vllm' && sawServe && model === undefined) model = a;
  }
  const m = flags.get('--model') ?? flags.get('--model-path');
  if (typeof m === 'string') model = m;
  return { engine, model, flags, env, argv };
}

/** First of `names` present: its value (true for a bare switch), else undefined. */
export function flag(spec: LaunchSpec, ...names: string[]): string | true | undefined {
  for (const n of names) if (spec.flags.has(n)) return spec.flags.get(n);
  return undefined;
}

/** Numeric flag value or undefined; a switch or non-number gives NaN. */
export function numFlag(spec: LaunchSpec, ...names: string[]): number | undefined {
  const v = flag(spec, ...names);
  if (v === undefined) return undefined;
  return v === true ? Number.NaN : Number(v);
}

/** True when a switch is on (present without a value, or with a truthy value). */
export function switchOn(spec: LaunchSpec, ...names: string[]): boolean {
  const v = flag(spec, ...names);
  if (v === undefined) return false;
  return v === true || !/^(false|0|no)$/i.test(v);
}
