/**
 * `ballast doctor`: check an inference-server launch command (vLLM or SGLang, CUDA or ROCm) against
 * the model's config and, optionally, a routing trace and the engines' balancedness logs. Each finding
 * names the numbers behind it and the flag to change. ERROR findings are what the engine refuses at
 * start-up or cannot fit; the CLI exits 1 when there is one, so doctor can gate a deploy script.
 *
 * Rules re-derived from the engines' source (messages quoted so they can be found again):
 *   vllm-project/vllm @ 840e7972c6ab74061696e81e17d8a74db2aefd7e vllm/config/parallel.py,
 *     ParallelConfig._validate_parallel_config:
 *       eplb-without-ep          "enable_expert_parallel must be True to use EPLB."
 *       eplb-single-rank         "EPLB requires tensor_parallel_size or data_parallel_size to be greater than 1"
 *       redundant-without-eplb   "num_redundant_experts is set to ... but EPLB is not enabled."
 *     EPLBConfig: num_redundant_experts, step_interval (set with --eplb-config JSON or the dotted
 *     --eplb-config.num_redundant_experts N form); data_parallel_size docstring: "MoE layers will be
 *     sharded according to the product of the tensor parallel size and data parallel size".
 *   vllm-project/vllm @ c439a139790cafaecb54e8dea123b78049f1442b vllm/model_executor/layers/fused_moe/layer.py,
 *     FusedMoE.__init__ (global_num_experts = E + R):
 *       redundant-not-divisible  with EPLB, "EPLB currently only supports even distribution of experts
 *                                across ranks." ((E + R) % EP size != 0)
 *   vllm/engine/arg_utils.py on main registers --enable-eplb and --eplb-config but no
 *     --num-redundant-experts (removed after PR #20562 moved it into --eplb-config; vLLM PR #55989
 *     records that the flat flag is not a registered EngineArgs flag):
 *       removed-flag             --num-redundant-experts on a vLLM launch: argparse rejects it
 *   sgl-project/sglang @ 6270b01498692d05d29267efe96d0eb7d9824545 python/sglang/srt/eplb/expert_location.py
 *     `_init_common`: num_physical_experts = num_logical + ep_num_redundant_experts;
 *     `assert num_physical_experts % ep_size == 0`                 -> redundant-not-divisible (SGLang)
 *   sgl-project/sglang @ 469c63e54e7d94591617ef9590c6aa26d54dc1bb python/sglang/srt/server_args.py
 *     `_handle_eplb_and_dispatch`: `if self.enable_eplb: assert self.ep_size > 1` -> eplb-single-rank (SGLang)
 *
 * Other findings (id: when):
 *   tp-without-ep            MoE model, TP > 1, no expert parallelism (--enable-expert-parallel /
 *                            --ep-size / --enable-ep-moe / --moe-a2a-backend): experts are sliced, EPLB is moot
 *   experts-oom              routed-expert weights per GPU (E/G x MoE layers x 3*H*F*bytes, G = the GPUs the
 *                            MoE layers are sharded over) exceed HBM x utilization, with no redundant experts
 *   redundant-experts-oom    the same with R redundant slots added (R/G per GPU per layer)
 *   eplb-not-worth-it        EPLB on, and the trace + cost model + gate predict the re-placement won't pay
 *   eplb-pays                (info) the same check predicts a gain
 *   eplb-no-headroom         EPLB on with memory utilization above 0.95
 *   max-model-len-unset      max_position_embeddings > 32K and no --max-model-len / --context-length
 *   hierarchical-disabled    several nodes, but GPUs or expert groups (n_group) do not divide by them:
 *                            DeepSeek EPLB silently falls back to global balancing
 *   init-expert-location-*   SGLang --init-expert-location JSON checked against num_hidden_layers, E + R and
 *                            the experts each MoE row must hold (expert_location.py; error when it does not fit)
 *   rocm-launch              (info) HIP_VISIBLE_DEVICES / ROCR_VISIBLE_DEVICES set: the GPU memory used
 *   model-config-unavailable (info) the config could not be read; only flag checks ran
 *   log-*                    from --vllm-log / --sglang-log (see docs/engines.md)
 */
import { InputError } from '../../core/errors.ts';
import { totalCounts, windowCounts, type LoadTrace } from '../../core/load-trace.ts';
import { defaultPlan } from '../../core/default-placements.ts';
import type { TokenRoutes } from '../../core/token-routes.ts';
import { expertBytes, loadModelConfig, type ModelConfig } from '../../predict/model-config.ts';
import { readVllmEplbLog, compareWithRankLoads } from '../../ingest/readers/vllm-log/parse.ts';
import { readSglangBalancednessLog } from '../../ingest/readers/sglang-log/parse.ts';
import { type LaunchSpec, flag, numFlag, parseLaunch, switchOn } from './launch.ts';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  id: string;
  severity: Severity;
  message: string;
  /** The flag to change, when one does. */
  flag?: string;
}

export interface DoctorInput {
  /** The launch command, e.g. ['vllm', 'serve', 'deepseek-ai/DeepSeek-V3', '--tensor-parallel-size', '8']. */
  argv: string[];
  trace?: { load: LoadTrace; routes?: TokenRoutes };
  /** GPU HBM in GiB (default: --gpu's, else MI300X's 192 on a ROCm launch, else 80). */
  gpuMemoryGb?: number;
  /** GPU model name (GPU_MEMORY_GIB key), for its HBM. */
  gpu?: string;
  vllmLog?: string;
  sglangLog?: string;
  /** EP ranks for log checks when the launch command does not say. */
  ranks?: number;
}

export interface DoctorFacts {
  engine: string;
  model?: string;
  modelConfig?: string;
  tp: number;
  dp: number;
  expertParallel: boolean;
  epSize?: number;
  eplb: boolean;
  redundantExperts: number;
  memoryUtilization?: number;
  nodes: number;
  /** 'rocm' when the launch sets HIP_VISIBLE_DEVICES / ROCR_VISIBLE_DEVICES, else 'cuda'. */
  platform: 'cuda' | 'rocm';
  /** GPU HBM used by the memory checks, GiB, and where it came from. */
  gpuMemoryGb: number;
  gpuMemorySource: string;
}

/**
 * HBM per GPU, GiB, from the vendors' product pages (the stated GB, read as GiB, as the engines'
 * memory checks do with the device's total):
 *   H100 SXM 80 GB, H200 141 GB (nvidia.com/en-us/data-center/h100/, /h200/);
 *   MI300X 192 GB HBM3, MI325X 256 GB HBM3E, MI355X 288 GB HBM3E
 *   (amd.com/en/products/accelerators/instinct/mi300/mi300x.html, .../mi300/mi325x.html, .../mi350/mi355x.html).
 */
export const GPU_MEMORY_GIB: Record<string, number> = { h100: 80, h200: 141, mi300x: 192, mi325x: 256, mi355x: 288 };

export interface DoctorReport {
  facts: DoctorFacts;
  findings: Finding[];
}

/** Published max_position_embeddings of the presets (their config.json files). */
const PRESET_MAX_POSITIONS: Record<string, number> = {
  'DeepSeek-V3': 163840,
  'DeepSeek-V2-Lite': 163840,
  'Qwen3-30B-A3B': 40960,
  'Qwen3-235B-A22B': 40960,
  'Mixtral-8x7B': 32768,
  'OLMoE-1B-7B': 4096,
  'Llama-4-Maverick': 1048576,
};

const GiB = 2 ** 30;
const gib = (b: number) => `${(b / GiB).toFixed(1)} GiB`;

function maxPositions(model: string, cfg: ModelConfig): number | undefined {
  if (cfg.source !== 'preset') {
    try {
      const p = statSync(model).isDirectory() ? join(model, 'config.json') : model;
      const o = JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
      const v = o.max_position_embeddings ?? (o.text_config as Record<string, unknown> | undefined)?.max_position_embeddings;
      return typeof v === 'number' ? v : undefined;
    } catch {
      return undefined;
    }
  }
  return PRESET_MAX_POSITIONS[cfg.name];
}

interface Derived extends DoctorFacts {
  stepInterval: number;
  maxLenFlag?: string;
  maxLenSet: boolean;
  utilFlag: string;
  epFlagHint: string;
  redundantFlag: string;
  eplbConfigError?: string;
}

function derive(spec: LaunchSpec): Derived {
  if (spec.engine === 'sglang') {
    const tp = numFlag(spec, '--tp-size', '--tp', '--tensor-parallel-size') ?? 1;
    const dp = numFlag(spec, '--dp-size', '--dp', '--data-parallel-size') ?? 1;
    const epN = numFlag(spec, '--ep-size', '--ep', '--expert-parallel-size');
    const a2a = flag(spec, '--moe-a2a-backend');
    const ep = (epN !== undefined && epN > 1) || switchOn(spec, '--enable-ep-moe', '--enable-deepep-moe') || (typeof a2a === 'string' && a2a !== 'none');
    return {
      engine: 'sglang',
      model: spec.model,
      tp,
      dp,
      expertParallel: ep,
      epSize: ep ? (epN !== undefined && epN > 1 ? epN : tp) : undefined,
      eplb: switchOn(spec, '--enable-eplb'),
      redundantExperts: numFlag(spec, '--ep-num-redundant-experts') ?? 0,
      memoryUtilization: numFlag(spec, '--mem-fraction-static'),
      nodes: numFlag(spec, '--nnodes') ?? 1,
      stepInterval: numFlag(spec, '--eplb-rebalance-num-iterations') ?? 1000,
      maxLenSet: flag(spec, '--context-length') !== undefined,
      maxLenFlag: '--context-length',
      utilFlag: '--mem-fraction-static',
      epFlagHint: `--ep-size ${tp}`,
      redundantFlag: '--ep-num-redundant-experts',
      platform: 'cuda',
      gpuMemoryGb: 80,
      gpuMemorySource: '',
    };
  }
  const tp = numFlag(spec, '--tensor-parallel-size') ?? 1;
  const dp = numFlag(spec, '--data-parallel-size') ?? 1;
  // Newer vLLM main spans the EP group over TP x PCP x DP (prefill context parallel); 1 when unset.
  const pcp = numFlag(spec, '--prefill-context-parallel-size') ?? 1;
  const ep = switchOn(spec, '--enable-expert-parallel');
  let cfg: Record<string, unknown> = {};
  let eplbConfigError: string | undefined;
  const raw = flag(spec, '--eplb-config');
  if (typeof raw === 'string') {
    try {
      const j = JSON.parse(raw) as unknown;
      if (j && typeof j === 'object' && !Array.isArray(j)) cfg = j as Record<string, unknown>;
      else eplbConfigError = `--eplb-config is not a JSON object: ${raw}`;
    } catch {
      eplbConfigError = `--eplb-config is not JSON: ${raw}`;
    }
  }
  // Dotted keys (--eplb-config.num_redundant_experts 2) set one field each, as vLLM's parser does.
  for (const [k, v] of spec.flags) {
    if (!k.startsWith('--eplb-config.')) continue;
    const key = k.slice('--eplb-config.'.length).replace(/-/g, '_');
    cfg[key] = v === true ? true : /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : /^(true|false)$/i.test(v) ? /^true$/i.test(v) : v;
  }
  const R = cfg.num_redundant_experts ?? 0;
  if (!eplbConfigError && !(Number.isInteger(R) && (R as number) >= 0)) eplbConfigError = `--eplb-config num_redundant_experts must be a non-negative integer, got ${JSON.stringify(R)}`;
  const dpLocal = numFlag(spec, '--data-parallel-size-local');
  const nodes = numFlag(spec, '--nnodes') ?? (dpLocal && dpLocal > 0 ? Math.max(1, Math.ceil(dp / dpLocal)) : 1);
  return {
    engine: spec.engine === 'vllm' ? 'vllm' : 'unknown',
    model: spec.model,
    tp,
    dp,
    expertParallel: ep,
    epSize: ep ? tp * pcp * dp : undefined,
    eplb: switchOn(spec, '--enable-eplb'),
    redundantExperts: Number.isInteger(R) ? (R as number) : 0,
    memoryUtilization: numFlag(spec, '--gpu-memory-utilization') ?? 0.9,
    nodes,
    stepInterval: Number(cfg.step_interval ?? 3000),
    maxLenSet: flag(spec, '--max-model-len') !== undefined,
    maxLenFlag: '--max-model-len',
    utilFlag: '--gpu-memory-utilization',
    epFlagHint: '--enable-expert-parallel',
    redundantFlag: '--eplb-config.num_redundant_experts R',
    eplbConfigError,
    platform: 'cuda',
    gpuMemoryGb: 80,
    gpuMemorySource: '',
  };
}

/** Per-rank loads [L][G] of a [L][E] histogram under the default linear placement. */
export function linearRankLoads(counts: Float64Array, L: number, E: number, G: number): Float64Array {
  const per = E / G;
  const out = new Float64Array(L * G);
  for (let l = 0; l < L; l++) for (let e = 0; e < E; e++) out[l * G + Math.floor(e / per)] += counts[l * E + e];
  return out;
}

async function eplbGateFinding(d: Derived, cfg: ModelConfig, load: LoadTrace, routes: TokenRoutes | undefined, G: number): Promise<Finding> {
  const E = load.numExperts;
  const L = load.numLayers;
  const { getSolver } = await import('../../plan/solvers/index.ts');
  const { predictAndGate } = await import('../../predict/gate.ts');
  const current = defaultPlan('linear', L, E, G, load.meta.layerIds);
  const groups = cfg.numGroups && E % cfg.numGroups === 0 ? cfg.numGroups : 1;
  const nodes = G % d.nodes === 0 && groups % d.nodes === 0 ? d.nodes : 1;
  const proposed = await getSolver('deepseek').solve({
    load: totalCounts(load),
    numLayers: L,
    numExperts: E,
    layerIds: load.meta.layerIds,
    numRanks: G,
    numNodes: nodes,
    numGroups: nodes > 1 ? groups : 1,
    redundantSlots: d.redundantExperts,
  });
  const r = await predictAndGate({ load, routes, plan: proposed, current, model: cfg, horizonSteps: d.stepInterval });
  const nums = `predicted MoE time per step ${r.currentStepUs.toFixed(0)} us now, gain ${r.predictedGainPct.toFixed(1)}% (${r.gainPerStepUs.toFixed(1)} us/step), moving ${r.expertsMoved} replicas costs ${r.moveCostMs.toFixed(1)} ms, break-even after ${Number.isFinite(r.breakEvenSteps) ? r.breakEvenSteps.toFixed(0) : 'never'} steps (re-plan every ${d.stepInterval} steps), max/mean rank load ${r.imbalance.current.toFixed(2)} -> ${r.imbalance.proposed.toFixed(2)}`;
  if (r.verdict === 'keep current') {
    return {
      id: 'eplb-not-worth-it',
      severity: 'warning',
      message: `EPLB is on but the trace says re-placement will not pay: ${nums}. ${r.reasons[r.reasons.length - 1] ?? ''}`.trim(),
      flag: d.engine === 'sglang' ? 'drop --enable-eplb (or raise --eplb-rebalance-num-iterations)' : 'drop --enable-eplb (or raise step_interval in --eplb-config)',
    };
  }
  return { id: 'eplb-pays', severity: 'info', message: `EPLB is predicted to pay on this trace: ${nums}` };
}

/** Run every check. Never throws for an unreadable model config: that becomes a finding. */
export async function runDoctor(input: DoctorInput): Promise<DoctorReport> {
  const spec = parseLaunch(input.argv);
  const d = derive(spec);
  const findings: Finding[] = [];
  if (spec.engine === 'unknown' && input.argv.length > 0) {
    findings.push({ id: 'engine-unknown', severity: 'info', message: `could not tell the engine from "${input.argv.slice(0, 3).join(' ')}"; expected "vllm serve ..." or "python -m sglang.launch_server ..."; reading flags as vLLM's` });
  }
  // Platform and GPU memory: ROCm launches name their GPUs with HIP_/ROCR_VISIBLE_DEVICES.
  const rocmVar = ['HIP_VISIBLE_DEVICES', 'ROCR_VISIBLE_DEVICES'].find((v) => spec.env.has(v));
  d.platform = rocmVar ? 'rocm' : 'cuda';
  const gpuKey = input.gpu?.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (input.gpuMemoryGb !== undefined) {
    d.gpuMemoryGb = input.gpuMemoryGb;
    d.gpuMemorySource = '--gpu-memory-gb';
  } else if (gpuKey !== undefined) {
    const gib = GPU_MEMORY_GIB[gpuKey];
    if (gib === undefined) throw new InputError('--gpu', '', `unknown GPU "${input.gpu}"; expected one of ${Object.keys(GPU_MEMORY_GIB).join(', ')} or --gpu-memory-gb N`);
    d.gpuMemoryGb = gib;
    d.gpuMemorySource = `--gpu ${input.gpu}`;
  } else if (d.platform === 'rocm') {
    d.gpuMemoryGb = GPU_MEMORY_GIB.mi300x;
    d.gpuMemorySource = 'ROCm launch: MI300X 192 GB assumed';
  } else {
    d.gpuMemoryGb = 80;
    d.gpuMemorySource = 'default: H100 80 GB';
  }
  if (rocmVar) {
    findings.push({
      id: 'rocm-launch',
      severity: 'info',
      message: `ROCm launch (${rocmVar}=${spec.env.get(rocmVar)}): the same engine rules apply (vLLM allows EPLB on CUDA and ROCm devices); memory checks use ${d.gpuMemoryGb} GiB per GPU (${d.gpuMemorySource})`,
      flag: input.gpu === undefined && input.gpuMemoryGb === undefined ? '--gpu mi355x (288 GB) or --gpu-memory-gb N if the GPUs are not MI300X' : undefined,
    });
  }
  if (d.eplbConfigError) findings.push({ id: 'bad-eplb-config', severity: 'error', message: d.eplbConfigError, flag: '--eplb-config' });
  let cfg: ModelConfig | undefined;
  if (d.model) {
    try {
      cfg = loadModelConfig(d.model);
    } catch (e) {
      const why = e instanceof InputError ? e.message : String(e);
      findings.push({
        id: 'model-config-unavailable',
        severity: 'info',
        message: `cannot read the model config for "${d.model}" (${why}); ballast does not download configs: pass a local path or a preset name. Checks below use the flags alone.`,
      });
    }
  } else if (input.argv.length > 0) {
    findings.push({ id: 'model-config-unavailable', severity: 'info', message: 'no model in the launch command; checks below use the flags alone' });
  }
  const facts: DoctorFacts = {
    engine: d.engine,
    model: d.model,
    modelConfig: cfg ? (cfg.source === 'preset' ? `preset ${cfg.name}` : cfg.source) : undefined,
    tp: d.tp,
    dp: d.dp,
    expertParallel: d.expertParallel,
    epSize: d.epSize,
    eplb: d.eplb,
    redundantExperts: d.redundantExperts,
    memoryUtilization: d.memoryUtilization,
    nodes: d.nodes,
    platform: d.platform,
    gpuMemoryGb: d.gpuMemoryGb,
    gpuMemorySource: d.gpuMemorySource,
  };
  const isMoE = cfg ? cfg.numExperts > 1 : undefined;
  const E = cfg?.numExperts;
  const G = d.epSize;
  const vllm = d.engine !== 'sglang';

  // Start-up refusals (vLLM parallel.py _validate_parallel_config; SGLang server_args.py).
  if (vllm && spec.flags.has('--num-redundant-experts')) {
    const v = flag(spec, '--num-redundant-experts');
    findings.push({
      id: 'removed-flag',
      severity: 'error',
      message: `--num-redundant-experts is not a vLLM flag any more (vllm/engine/arg_utils.py registers --eplb-config instead); vLLM refuses the launch with an unrecognized-argument error. ballast ignores its value`,
      flag: `--eplb-config.num_redundant_experts ${typeof v === 'string' ? v : 'R'}`,
    });
  }
  if (d.eplb && vllm && !d.expertParallel) {
    findings.push({
      id: 'eplb-without-ep',
      severity: 'error',
      message: 'vLLM refuses --enable-eplb without expert parallelism: "enable_expert_parallel must be True to use EPLB." (vllm/config/parallel.py, ParallelConfig._validate_parallel_config)',
      flag: '--enable-expert-parallel',
    });
  }
  if (d.eplb && (vllm ? (G ?? d.tp * d.dp) <= 1 : (G ?? 1) <= 1)) {
    findings.push({
      id: 'eplb-single-rank',
      severity: 'error',
      message: vllm
        ? `vLLM refuses EPLB on one rank: "EPLB requires tensor_parallel_size or data_parallel_size to be greater than 1" (TP=${d.tp}, DP=${d.dp})`
        : `SGLang asserts ep_size > 1 when --enable-eplb is on (server_args.py _handle_eplb_and_dispatch); EP size here is ${G ?? 1}`,
      flag: vllm ? '--tensor-parallel-size or --data-parallel-size > 1' : '--ep-size > 1',
    });
  }
  if (vllm && !d.eplb && d.redundantExperts !== 0) {
    findings.push({
      id: 'redundant-without-eplb',
      severity: 'error',
      message: `vLLM refuses num_redundant_experts ${d.redundantExperts} without EPLB: "num_redundant_experts is set to ${d.redundantExperts} but EPLB is not enabled." (vllm/config/parallel.py)`,
      flag: '--enable-eplb, or drop num_redundant_experts',
    });
  }

  // SGLang --init-expert-location FILE: the shape SGLang will index (expert_location.py).
  const initLoc = d.engine === 'sglang' ? flag(spec, '--init-expert-location') : undefined;
  if (typeof initLoc === 'string' && initLoc !== 'trivial' && initLoc.endsWith('.json')) {
    findings.push(...initExpertLocationFindings(initLoc, cfg, d.redundantExperts, G));
  }

  // round_robin placement: vLLM fused_moe/layer.py determine_expert_placement_strategy falls back to
  // linear "only supported for models with multiple expert groups and no redundant experts".
  if (vllm && flag(spec, '--expert-placement-strategy') === 'round_robin') {
    const why: string[] = [];
    if (cfg && !((cfg.numGroups ?? 0) > 1)) why.push(`${cfg.name} has no expert groups (n_group ${cfg.numGroups ?? 'absent'})`);
    if (d.redundantExperts > 0) why.push(`${d.redundantExperts} redundant experts`);
    if (d.eplb) why.push('EPLB is on');
    if (why.length > 0) {
      findings.push({
        id: 'round-robin-ignored',
        severity: 'warning',
        message: `vLLM ignores --expert-placement-strategy round_robin here and places experts linearly (${why.join('; ')}): "Round-robin expert placement is only supported for models with multiple expert groups and no redundant experts." (fused_moe/layer.py determine_expert_placement_strategy)`,
        flag: '--expert-placement-strategy linear, or `ballast reorder` to make the linear placement the plan',
      });
    }
  }

  // tp-without-ep
  if (d.tp > 1 && !d.expertParallel && isMoE !== false) {
    const who = cfg ? `MoE model with ${E} routed experts per layer` : 'if this is an MoE model (config unread), it';
    const per = cfg && E! % (d.tp * d.dp) === 0 ? `, ${E! / (d.tp * d.dp)} whole experts per GPU` : '';
    findings.push({
      id: 'tp-without-ep',
      severity: cfg ? 'warning' : 'info',
      message: `${who} is served with tensor parallelism ${d.tp} and no expert parallelism: every GPU holds a 1/${d.tp} slice of every expert, so expert placement and EPLB cannot act${d.eplb ? ' (--enable-eplb has nothing to balance)' : ''}; with expert parallelism the EP size would be ${d.tp * d.dp}${per}`,
      flag: d.epFlagHint,
    });
  }

  // (E + R) % G: vLLM FusedMoE with EPLB ("EPLB currently only supports even distribution of experts
  // across ranks", global_num_experts = E + R); SGLang expert_location._init_common asserts it always.
  const slotsChecked = G !== undefined && (vllm ? d.eplb : d.expertParallel || d.redundantExperts > 0);
  if (slotsChecked && E !== undefined && (E + d.redundantExperts) % G! !== 0) {
    findings.push({
      id: 'redundant-not-divisible',
      severity: 'error',
      message: `${E} experts + ${d.redundantExperts} redundant = ${E + d.redundantExperts} slots per layer do not divide over ${G} EP ranks; ${
        vllm ? 'vLLM: "EPLB currently only supports even distribution of experts across ranks." (fused_moe/layer.py)' : 'SGLang: assert num_physical_experts % ep_size == 0 (eplb/expert_location.py)'
      }${(() => {
        const r = (G! - (E % G!)) % G!;
        return `; the smallest R that divides is ${r}, then ${r + G!}, ${r + 2 * G!}, ...`;
      })()}`,
      flag: d.redundantFlag,
    });
  } else if (slotsChecked && E === undefined && d.redundantExperts > 0) {
    findings.push({ id: 'redundant-unchecked', severity: 'info', message: `cannot check that experts + ${d.redundantExperts} redundant slots divide over ${G} EP ranks without the model config` });
  }

  // Memory: routed-expert weights per GPU, with and without redundant slots. The MoE layers are
  // sharded over the EP size, or TP x DP without expert parallelism (vLLM ParallelConfig docstring).
  if (cfg && isMoE) {
    const shards = G ?? (vllm ? d.tp * d.dp : d.tp);
    const be = expertBytes(cfg);
    const Lm = cfg.moeLayerIds.length;
    const expertsPerGpu = (cfg.numExperts / shards) * Lm * be;
    const R = d.eplb || !vllm ? d.redundantExperts : 0;
    const slots = R / shards;
    const extra = slots * Lm * be;
    const hbm = d.gpuMemoryGb * GiB;
    const util = d.memoryUtilization ?? 0.9;
    const budget = hbm * util;
    const perExpert = `${(be / 1e6).toFixed(1)} MB per expert (3*${cfg.hiddenSize}*${cfg.expertFfnSize}*${cfg.bytesPerWeight} bytes)`;
    const allowed = `the ${gib(budget)} allowed by ${d.utilFlag} ${util} of ${gib(hbm)} (${d.gpuMemorySource})`;
    if (expertsPerGpu > budget) {
      findings.push({
        id: 'experts-oom',
        severity: 'error',
        message: `routed experts alone need ${gib(expertsPerGpu)} per GPU (${cfg.numExperts} experts / ${shards} GPUs x ${Lm} MoE layers x ${perExpert}; attention and shared weights not counted), over ${allowed}${R > 0 ? `; ${R} redundant experts add ${gib(extra)}` : ''}`,
        flag: `more GPUs (EP/TP size), a smaller weight dtype, or --gpu / --gpu-memory-gb if the GPU is larger`,
      });
    } else if (R > 0 && expertsPerGpu + extra > budget) {
      findings.push({
        id: 'redundant-experts-oom',
        severity: 'error',
        message: `${R} redundant experts = ${slots} extra slot(s) per GPU per layer x ${Lm} MoE layers x ${perExpert} = ${gib(extra)} per GPU; with the ${gib(expertsPerGpu)} of routed-expert weights each GPU already holds (attention and shared weights not counted) that is ${gib(expertsPerGpu + extra)}, over ${allowed}`,
        flag: `lower ${d.redundantFlag}, add GPUs, or set --gpu-memory-gb if the GPU is larger`,
      });
    }
  }

  // headroom
  if (d.eplb && d.memoryUtilization !== undefined && d.memoryUtilization > 0.95) {
    const hbm = d.gpuMemoryGb * GiB;
    findings.push({
      id: 'eplb-no-headroom',
      severity: 'warning',
      message: `EPLB is on with ${d.utilFlag} ${d.memoryUtilization}: only ${gib(hbm * (1 - d.memoryUtilization))} of ${gib(hbm)} stays outside the engine's pool for the expert-weight transfer buffers and CUDA graphs that re-arrangement needs; users report OOM here`,
      flag: `${d.utilFlag} 0.9`,
    });
  }

  // context length
  if (cfg && d.model) {
    const mp = maxPositions(d.model, cfg);
    if (mp !== undefined && mp > 32768 && !d.maxLenSet) {
      findings.push({
        id: 'max-model-len-unset',
        severity: 'warning',
        message: `max_position_embeddings is ${mp} (> 32768) and ${d.maxLenFlag} is not set: the engine reserves KV cache for a full ${mp}-token sequence, which can fail start-up or cap the batch size`,
        flag: `${d.maxLenFlag} <longest context you serve>`,
      });
    }
  }

  // hierarchical balancing
  if (d.eplb && d.nodes > 1) {
    const gpus = G ?? d.tp * d.dp;
    const groups = cfg?.numGroups ?? (cfg ? 1 : undefined);
    const reasons: string[] = [];
    if (gpus % d.nodes !== 0) reasons.push(`${gpus} GPUs do not divide over ${d.nodes} nodes`);
    if (groups !== undefined && groups % d.nodes !== 0) reasons.push(`${groups} expert group(s) (n_group) do not divide over ${d.nodes} nodes`);
    if (reasons.length > 0) {
      const explicit = flag(spec, '--eplb-algorithm') === 'deepseek_hierarchical';
      findings.push({
        id: 'hierarchical-disabled',
        severity: explicit ? 'error' : 'warning',
        message: `hierarchical balancing is off: ${reasons.join('; ')}, so DeepSeek EPLB balances globally (one group, one node), ignoring node boundaries: replicas and tokens cross the slower inter-node link`,
        flag: `--nnodes (or the GPU count) so that groups and GPUs divide by the nodes`,
      });
    }
  }

  // the gate, on a trace
  if (d.eplb && input.trace) {
    const load = input.trace.load;
    if (!cfg) findings.push({ id: 'eplb-gate-skipped', severity: 'info', message: 'EPLB check on the trace skipped: the model config is needed for the cost model' });
    else if (!G) findings.push({ id: 'eplb-gate-skipped', severity: 'info', message: 'EPLB check on the trace skipped: no expert parallelism, so no EP size' });
    else if (load.numExperts !== cfg.numExperts) {
      findings.push({ id: 'eplb-gate-skipped', severity: 'info', message: `EPLB check skipped: the trace has ${load.numExperts} experts, the model ${cfg.numExperts}` });
    } else if (load.numExperts % G !== 0) {
      findings.push({ id: 'eplb-gate-skipped', severity: 'info', message: `EPLB check skipped: ${load.numExperts} experts do not divide over ${G} ranks` });
    } else {
      try {
        findings.push(await eplbGateFinding(d, cfg, load, input.trace.routes, G));
      } catch (e) {
        if (e instanceof InputError) findings.push({ id: 'eplb-gate-skipped', severity: 'info', message: `EPLB check skipped: ${e.message}` });
        else throw e;
      }
    }
  }

  if (input.vllmLog) findings.push(...vllmLogFindings(input.vllmLog, input.trace?.load, input.ranks ?? G));
  if (input.sglangLog) findings.push(...sglangLogFindings(input.sglangLog));
  return { facts, findings };
}

/**
 * Check an SGLang --init-expert-location JSON against what SGLang does with it
 * (sgl-project/sglang @ 6270b014 python/sglang/srt/eplb/expert_location.py): a physical_to_logical_map
 * must have one row per decoder layer (num_hidden_layers; MoE layer `layer_id` reads row layer_id through
 * ExpertLocationDispatchInfo.init_new) and E + R columns; every expert of a MoE row needs a slot, or the
 * static dispatch map has no candidate for it. A logical_count needs the same rows and E columns.
 */
export function initExpertLocationFindings(path: string, cfg: ModelConfig | undefined, R: number, G: number | undefined): Finding[] {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file here' : `not JSON (${(e as Error).message})`;
    return [{ id: 'init-expert-location-unchecked', severity: 'info', message: `--init-expert-location ${path}: ${why}; not checked` }];
  }
  const o = (json && typeof json === 'object' ? json : {}) as Record<string, unknown>;
  const key = Array.isArray(o.physical_to_logical_map) ? 'physical_to_logical_map' : Array.isArray(o.logical_count) ? 'logical_count' : undefined;
  if (!key) {
    return [{ id: 'init-expert-location-mismatch', severity: 'error', message: `--init-expert-location ${path} has neither physical_to_logical_map nor logical_count; SGLang raises NotImplementedError("Unknown init_expert_location format")`, flag: '--init-expert-location (a ballast export --to sglang / --to json file)' }];
  }
  let rows = o[key] as unknown[];
  if (key === 'logical_count' && Array.isArray(rows[0]) && Array.isArray((rows[0] as unknown[])[0])) rows = rows[0] as unknown[];
  if (!cfg) return [{ id: 'init-expert-location-unchecked', severity: 'info', message: `--init-expert-location ${path}: ${rows.length} rows; the model config is needed to check them against num_hidden_layers` }];
  const problems: string[] = [];
  if (rows.length !== cfg.numLayers) {
    problems.push(`${rows.length} rows for ${cfg.numLayers} decoder layers (num_hidden_layers): SGLang reads row l for decoder layer l${rows.length === cfg.moeLayerIds.length ? ', so a file of MoE layers only is shifted by the leading dense layers' : ''}`);
  }
  const width = key === 'physical_to_logical_map' ? cfg.numExperts + R : cfg.numExperts;
  const bad = rows.findIndex((r) => !Array.isArray(r) || r.length !== width);
  if (bad >= 0) problems.push(`row ${bad} has ${Array.isArray(rows[bad]) ? (rows[bad] as unknown[]).length : 'no'} entries, expected ${width} (${key === 'physical_to_logical_map' ? `${cfg.numExperts} experts + ${R} redundant (--ep-num-redundant-experts)` : `${cfg.numExperts} experts`})`);
  if (key === 'physical_to_logical_map' && bad < 0) {
    for (const l of cfg.moeLayerIds) {
      const r = rows[l] as number[] | undefined;
      if (!r) continue;
      const seen = new Set(r);
      const missing = Array.from({ length: cfg.numExperts }, (_, e) => e).filter((e) => !seen.has(e));
      const out = r.filter((v) => !Number.isInteger(v) || v < 0 || v >= cfg.numExperts);
      if (out.length > 0) problems.push(`row ${l} holds expert id ${out[0]}, outside 0..${cfg.numExperts - 1}`);
      else if (missing.length > 0) problems.push(`row ${l} (a MoE layer) has no slot for expert ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''}: SGLang's static dispatch has no physical expert to send its tokens to`);
      if (problems.length > 3) break;
    }
    if (G !== undefined && width % G !== 0) problems.push(`${width} slots do not divide over ${G} EP ranks`);
  }
  if (problems.length === 0) return [{ id: 'init-expert-location-ok', severity: 'info', message: `--init-expert-location ${path}: ${rows.length} rows x ${width} match ${cfg.name} (${cfg.numLayers} decoder layers, ${cfg.numExperts} experts${key === 'physical_to_logical_map' ? ` + ${R} redundant` : ''})` }];
  return [{ id: 'init-expert-location-mismatch', severity: 'error', message: `--init-expert-location ${path}: ${problems.join('; ')}`, flag: `ballast export PLAN --to sglang --model ${cfg.source === 'preset' ? cfg.name : cfg.source} (one row per decoder layer)` }];
}

function stats(xs: number[]): { mean: number; min: number; last: number } {
  return { mean: xs.reduce((a, b) => a + b, 0) / xs.length, min: Math.min(...xs), last: xs[xs.length - 1] };
}

/** Findings from a vLLM EPLB log; with a trace whose windows carry the logged step numbers, the axis check. */
export function vllmLogFindings(path: string, trace: LoadTrace | undefined, G: number | undefined): Finding[] {
  const s = readVllmEplbLog(path);
  const out: Finding[] = [];
  const b = stats(s.steps.map((x) => x.balancedness));
  const re = s.rearrangements.filter((r) => !r.profile);
  out.push({
    id: 'log-balancedness',
    severity: 'info',
    message: `vLLM log: ${s.steps.length} EPLB step lines, balancedness (vLLM: sum of mean-rank / sum of max-rank tokens) mean ${b.mean.toFixed(4)}, min ${b.min.toFixed(4)}, last ${b.last.toFixed(4)}; ${re.length} re-arrangement(s)${re.length ? `, mean ${(re.reduce((a, r) => a + r.seconds, 0) / re.length).toFixed(2)} s` : ''}`,
  });
  if (s.inconsistentLines.length > 0) {
    out.push({
      id: 'log-inconsistent-lines',
      severity: 'warning',
      message: `${s.inconsistentLines.length} line(s) log a balancedness that is not avg_tokens/max_tokens (lines ${s.inconsistentLines.slice(0, 5).join(', ')}${s.inconsistentLines.length > 5 ? ', ...' : ''}): not vLLM's own formula; recompute from counts`,
    });
  }
  if (trace && G && trace.numExperts % G === 0) {
    const byStep = new Map<number, number>();
    trace.windows.forEach((w, i) => {
      if (w.step !== undefined) byStep.set(w.step, i);
    });
    const verdicts = { correct: 0, 'wrong-axis': 0, both: 0, neither: 0 };
    let example = '';
    for (const st of s.steps) {
      if (st.step === undefined || !byStep.has(st.step)) continue;
      const rl = linearRankLoads(windowCounts(trace, byStep.get(st.step)!), trace.numLayers, trace.numExperts, G);
      const c = compareWithRankLoads(st, rl, trace.numLayers, G);
      verdicts[c.verdict]++;
      if (c.verdict === 'wrong-axis' && !example) {
        example = ` (step ${st.step}: logged ${st.balancedness.toFixed(4)}, correct ${c.correct.balancedness.toFixed(4)})`;
      }
    }
    const matched = verdicts.correct + verdicts['wrong-axis'] + verdicts.both + verdicts.neither;
    if (matched === 0) {
      out.push({ id: 'log-axis-unchecked', severity: 'info', message: 'no trace window carries a step number that the log has; the wrong-axis check needs counts of the logged steps' });
    } else if (verdicts['wrong-axis'] > 0) {
      out.push({
        id: 'log-wrong-axis',
        severity: 'warning',
        message: `${verdicts['wrong-axis']} of ${matched} logged steps match the wrong-axis formula of vLLM builds before Aug 2026 (mean/max over layers instead of ranks)${example}: the logged balancedness is not rank balance; use the recomputed values`,
        flag: 'upgrade vLLM, or read balancedness from `ballast analyze` on captured counts',
      });
    } else {
      out.push({
        id: 'log-axis-checked',
        severity: 'info',
        message: `${matched} logged steps checked against the trace: ${verdicts.correct} match vLLM's correct formula, ${verdicts.both} cannot tell, ${verdicts.neither} match neither (different placement or counts)`,
      });
    }
  }
  return out;
}

export function sglangLogFindings(path: string): Finding[] {
  const s = readSglangBalancednessLog(path);
  const b = stats(s.passes.map((p) => p.current));
  const out: Finding[] = [
    {
      id: 'log-balancedness',
      severity: 'info',
      message: `SGLang log: ${s.passes.length} [Expert Balancedness] lines, balancedness (SGLang: mean over layers of mean/max GPU load) mean ${b.mean.toFixed(3)}, min ${b.min.toFixed(3)}, last ${b.last.toFixed(3)}; ${s.rebalances.length} rebalance(s)${s.rebalances.length ? `, mean ${(s.rebalances.reduce((a, r) => a + r.seconds, 0) / s.rebalances.length).toFixed(2)} s` : ''}`,
    },
  ];
  const missing = s.gaps.reduce((a, g) => a + g.missing, 0);
  if (missing > 0) {
    out.push({ id: 'log-gaps', severity: 'warning', message: `${missing} forward passes missing from the log in ${s.gaps.length} gap(s) (first after line ${s.gaps[0].afterLine}); the running averages cover passes not shown` });
  }
  return out;
}

export function renderDoctor(r: DoctorReport): string {
  const f = r.facts;
  const lines = [
    `engine ${f.engine}${f.model ? `, model ${f.model}` : ''}${f.modelConfig ? ` (config: ${f.modelConfig})` : ''}`,
    `  TP ${f.tp}, DP ${f.dp}, expert parallel ${f.expertParallel ? `yes (EP ${f.epSize})` : 'no'}, EPLB ${f.eplb ? `on, ${f.redundantExperts} redundant` : 'off'}, nodes ${f.nodes}${f.memoryUtilization !== undefined ? `, memory utilization ${f.memoryUtilization}` : ''}`,
    `  ${f.platform === 'rocm' ? 'ROCm' : 'CUDA'}, ${f.gpuMemoryGb} GiB per GPU (${f.gpuMemorySource})`,
  ];
  if (r.findings.length === 0) lines.push('no findings');
  for (const x of r.findings) {
    lines.push(`${x.severity.toUpperCase().padEnd(7)} ${x.id}: ${x.message}`);
    if (x.flag) lines.push(`        change: ${x.flag}`);
  }
  const errors = r.findings.filter((x) => x.severity === 'error').length;
  if (errors > 0) lines.push(`${errors} error(s): exit status 1`);
  return `${lines.join('\n')}\n`;
}

/** Exit status of a doctor run: 1 when any finding is an error (so a deploy script can gate on it), else 0. */
export function doctorExitCode(r: DoctorReport): number {
  return r.findings.some((x) => x.severity === 'error') ? 1 : 0;
}
