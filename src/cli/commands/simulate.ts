/**
 * `ballast simulate <trace>`: replay a trace against placement policies and predict MoE time
 * (docs/predict.md). Thin: parses flags, reads inputs, calls src/predict/simulate.ts.
 */
import type { Command } from 'commander';
import { InputError } from '../../core/errors.ts';
import { fractionFlag, intFlag } from '../flags.ts';
import { readInput } from '../../ingest/readers.ts';
import { fitCalibration, readMeasurements } from '../../predict/calibrate.ts';
import { resolveCluster } from '../../predict/cluster-spec.ts';
import { buildCostModel, type ConstantName, parseOverrides, renderExplain } from '../../predict/cost-model.ts';
import { loadModelConfig, modelPresetNames, type ModelConfig } from '../../predict/model-config.ts';
import { renderSimulation } from '../../predict/render-simulation.ts';
import { guessModel, policyNames, type SimInput, simulate } from '../../predict/simulate.ts';
import { skewedScenario } from '../../predict/skewed-scenario.ts';
import type { ReplicaRouting } from '../../predict/replay.ts';
import { wrapText } from '../../show/term.ts';

interface SimulateFlags {
  format?: string;
  model?: string;
  cluster?: string;
  ranks?: string;
  redundant: string;
  policies: string;
  batchTokens: string;
  trainFraction?: string;
  inSample?: boolean;
  train?: string;
  test?: string;
  eplbWindow?: string;
  eplbInterval?: string;
  oracleSolver: string;
  routing: string;
  threads?: string;
  windowsAreSteps?: boolean;
  sampleBatches?: string;
  set: string[];
  calibrate?: string;
  json?: boolean;
  explain?: boolean;
  synthetic?: string;
  seed: string;
}

const DEFAULT_POLICIES = 'linear,deepseek,ballast,oracle,vllm-eplb';

export function register(program: Command): void {
  program
    .command('simulate')
    .description('Replay a trace against placement policies and predict MoE time per batch.')
    .argument('[trace]', 'trace file (any format ballast reads); omit with --train/--test or --synthetic')
    .option('--format <name>', 'input format (default: detected)')
    .option('--model <config|preset>', `HF config.json (file or directory) or preset: ${modelPresetNames().join(', ')} (default: guessed from the trace shape)`)
    .option('--cluster <file|preset>', 'cluster JSON or preset (default: H100-SXM nodes of 8 for --ranks)')
    .option('--ranks <G>', 'EP size (GPUs)')
    .option('--redundant <R>', 'redundant expert slots per layer for replica-capable solvers', '0')
    .option('--policies <list>', 'comma-separated: solver names, oracle, vllm-eplb, sglang-eplb', DEFAULT_POLICIES)
    .option('--batch-tokens <N>', 'tokens per batch (step); load windows are scaled to it', '512')
    .option('--train-fraction <f>', 'plan on the sequences ending before f of the tokens, score the rest (default 0.5)')
    .option('--in-sample', 'plan and score on the whole trace (optimistic)')
    .option('--train <file>', 'plan on this trace ...')
    .option('--test <file>', '... and score on this one')
    .option('--eplb-window <W>', 'vllm-eplb / sglang-eplb: steps of load per re-plan (default: the engine\'s, vLLM 1000, SGLang 1000)')
    .option('--eplb-interval <S>', 'vllm-eplb / sglang-eplb: steps between re-plans (default: the engine\'s, vLLM 3000, SGLang 1000)')
    .option('--oracle-solver <name>', 'solver the oracle re-plans each batch with', 'ballast')
    .option('--routing <token-mod|least-loaded>', 'which replica serves a (token, expert) choice', 'token-mod')
    .option('--threads <N>', 'threads replaying static plans of a large trace, this one included (default: available cores, at most 8; 1 = no workers)')
    .option('--windows-are-steps', 'score load windows as recorded steps instead of scaling them to --batch-tokens')
    .option('--sample-batches <N>', 'load windows without routes: score N batches of tokens sampled from the scored histogram (per-step noise)')
    .option('--set <name=value>', 'override a cost-model constant (repeatable; see --explain)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--calibrate <file>', 'fit c0, hbmEff, eff to measured expert-compute times (CSV tokens,active_experts,time_us or JSON)')
    .option('--synthetic <name>', 'built-in scenario instead of a trace: skewed-top1')
    .option('--seed <n>', 'seed for --synthetic', '1')
    .option('--explain', 'print every cost-model constant with its source')
    .option('--json', 'print JSON')
    .action(async (trace: string | undefined, flags: SimulateFlags) => {
      const text = await runSimulate(trace, flags);
      process.stdout.write(`${flags.json ? text : wrapText(text)}\n`);
    });
}

/** Run the command; returns what to print. Throws InputError on bad input. */
export async function runSimulate(trace: string | undefined, flags: SimulateFlags): Promise<string> {
  const ranks = intFlag(flags.ranks, '--ranks');
  const redundant = intFlag(flags.redundant, '--redundant', 0) ?? 0;
  const batchTokens = intFlag(flags.batchTokens, '--batch-tokens')!;
  const eplbWindow = intFlag(flags.eplbWindow, '--eplb-window');
  const eplbInterval = intFlag(flags.eplbInterval, '--eplb-interval');
  const seed = intFlag(flags.seed, '--seed', 0)!;
  const trainFraction = fractionFlag(flags.trainFraction, '--train-fraction');
  if (flags.routing !== 'token-mod' && flags.routing !== 'least-loaded') {
    throw new InputError('--routing', '', `expected token-mod or least-loaded, got "${flags.routing}"`);
  }
  const policies = flags.policies.split(',').map((s) => s.trim()).filter(Boolean);
  const known = new Set([...policyNames(), 'round-robin', 'linear']);
  for (const p of policies) if (!known.has(p)) throw new InputError('--policies', p, `unknown policy; expected any of ${[...known].join(', ')}`);
  if (policies.length === 0) throw new InputError('--policies', '', 'expected at least one policy');
  const overrides: Partial<Record<ConstantName, number>> = parseOverrides(flags.set ?? []);
  const cluster = await resolveCluster(flags.cluster, ranks ?? (flags.cluster ? undefined : 8));
  const common = {
    cluster,
    redundant,
    policies,
    batchTokens,
    trainFraction,
    inSample: flags.inSample,
    eplbWindow,
    eplbInterval,
    oracleSolver: flags.oracleSolver,
    routing: flags.routing as ReplicaRouting,
    windowsAreSteps: flags.windowsAreSteps,
    sampleBatches: intFlag(flags.sampleBatches, '--sample-batches'),
    threads: intFlag(flags.threads, '--threads'),
    seed,
  };

  if (flags.synthetic !== undefined) {
    if (flags.synthetic !== 'skewed-top1') throw new InputError('--synthetic', '', `unknown scenario "${flags.synthetic}"; expected skewed-top1`);
    if (trace || flags.train || flags.test) throw new InputError('--synthetic', '', 'takes no trace, --train or --test');
    const res = await skewedScenario({ ...common, seed, model: flags.model, overrides });
    if (flags.json) return JSON.stringify({ scenario: 'skewed-top1', ...res }, null, 2);
    const parts = res.runs.map((r) => renderSimulation(r));
    return [...parts, ['why the back-of-envelope "3.64x" estimate (seed scenario, not a published measurement) overstates the gain:', ...res.explanation.map((l) => `  ${l}`)].join('\n')].join('\n\n');
  }

  const read = async (p: string): Promise<SimInput> => {
    const d = await readInput(p, { format: flags.format, warn: (l) => process.stderr.write(`ballast: ${l}\n`) });
    for (const w of d.warnings) process.stderr.write(`ballast: ${p}: ${w}\n`);
    return { path: p, load: d.load, routes: d.routes };
  };
  let tr: SimInput | undefined;
  let te: SimInput | undefined;
  let one: SimInput | undefined;
  if (flags.train || flags.test) {
    if (!flags.train || !flags.test) throw new InputError(flags.train ? '--test' : '--train', '', '--train and --test go together');
    if (trace) throw new InputError(trace, '', 'give either a trace or --train/--test, not both');
    if (trainFraction !== undefined || flags.inSample) throw new InputError('--train-fraction', '', 'does not apply with --train/--test');
    tr = await read(flags.train);
    te = await read(flags.test);
  } else {
    if (!trace) throw new InputError('', '', 'expected a trace (or --train FILE --test FILE, or --synthetic skewed-top1)');
    one = await read(trace);
  }
  const shape = (te ?? one)!;
  let model: ModelConfig;
  let modelNote: string | undefined;
  if (flags.model) model = loadModelConfig(flags.model);
  else {
    const g = guessModel(shape.load.numExperts, shape.routes?.topK ?? shape.load.meta.topK, shape.load.meta.model);
    if (!g) throw new InputError('--model', '', `cannot guess the model of a ${shape.load.numExperts}-expert trace; pass --model (${modelPresetNames().join(', ')} or a config.json)`);
    model = g.model;
    modelNote = g.note;
  }
  let calibrated: Partial<Record<ConstantName, number>> | undefined;
  let calNote = '';
  if (flags.calibrate) {
    const base = buildCostModel({ model, cluster, overrides: { ...overrides, c0Us: 0, hbmEff: 1, eff: 1 } });
    const fit = fitCalibration(base, readMeasurements(flags.calibrate));
    calibrated = { c0Us: fit.c0Us, hbmEff: fit.hbmEff, eff: fit.eff };
    // User overrides (--set) still win over calibration: buildCostModel applies them last.
    calNote = `calibrated from ${flags.calibrate}: c0=${fit.c0Us.toFixed(2)} us, hbmEff=${fit.hbmEff.toFixed(3)}, eff=${fit.eff.toFixed(3)} (rmse ${fit.rmseUs.toFixed(2)} us over ${fit.points} points)`;
    if (fit.hbmEff > 1 || fit.eff > 1) calNote += '; an efficiency above 1 means the measurements beat the nominal GPU numbers: check the cluster GPU type and the measurement units';
  }
  const result = await simulate({ ...common, trace: one, train: tr, test: te, model, modelNote, overrides, calibrated, calibrationSource: flags.calibrate });
  if (calNote) result.notes.unshift(calNote);
  for (const x of [one, tr, te]) for (const s of x?.load.meta.sources ?? []) if (s.incomplete) result.notes.unshift(`${s.path}: ${s.incomplete}`);
  if (flags.json) {
    const { constants, ...rest } = result;
    return JSON.stringify(flags.explain ? result : rest, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2);
  }
  const text = renderSimulation(result);
  if (!flags.explain) return text;
  return `${text}\n\n${renderExplain(buildCostModel({ model, cluster, overrides, calibrated, calibrationSource: flags.calibrate }))}`;
}
