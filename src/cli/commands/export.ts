/**
 * `ballast export <input> --to FORM --out FILE`: write a trace's load matrix (csv, npy, json, parquet,
 * ballast) or a plan in an engine's form (sglang, vllm-jsonl, expert-map, deepseek).
 *
 * The SGLang forms (sglang, json) cover every decoder layer: num_hidden_layers comes from --model, the
 * trace metadata, or the model name, else the largest layer id + 1 (said in a note). Each export
 * prints what loads the file today: the SGLang launch flags, or that no vLLM release reads it.
 */
import type { Command } from 'commander';
import { InputError } from '../../core/errors.ts';
import { type DecoderLayers, decoderLayersFromModel, resolveDecoderLayers } from '../../act/export/decoder-layers.ts';
import { LOAD_EXPORT_FORMATS, type LoadExportFormat, writeLoadExport } from '../../act/export/load-exports.ts';
import { PLAN_EXPORT_FORMS, type PlanExportForm, sglangLaunchFlags, writePlanExport } from '../../act/export/plan-exports.ts';
import { readInput } from '../../ingest/readers.ts';
import { readPlanFile } from '../../plan/plan-file.ts';

export const EXPORT_FORMS = [...LOAD_EXPORT_FORMATS, ...PLAN_EXPORT_FORMS] as const;

export interface ExportOptions {
  to: string;
  out: string;
  format?: string;
  ranks?: string;
  /** config.json or preset: num_hidden_layers for the SGLang forms. */
  model?: string;
  /** expert-map: model-level layer id to write when the plan's layers differ. */
  layer?: string;
}

/** What a vLLM-targeted export needs, since no vLLM release reads these files (vllm-project/vllm main). */
const VLLM_PR_NOTE: Record<string, string> = {
  'vllm-jsonl': 'no vLLM release loads this file: it is the offline-EPLB JSONL of open vLLM PR #41141 (vllm/config/parallel.py on main has no field for it). On released vLLM use `ballast reorder` (rewrites the checkpoint so the default placement is this plan) or online EPLB (--enable-expert-parallel --enable-eplb).',
  'expert-map': 'no vLLM release loads this file: it is the --expert-placement-file of open vLLM PR #34811 (vllm/config/parallel.py on main has no such field). On released vLLM use `ballast reorder`, --expert-placement-strategy round_robin, or online EPLB.',
  deepseek: 'DeepSeek EPLB output (phy2log/log2phy/logcnt): for tools that take rebalance_experts results; no engine loads this file as is.',
};

function layersFor(o: ExportOptions, layerIds: number[], extra: Record<string, unknown> | undefined, model: string | undefined, where: string, metaLabel?: string): DecoderLayers {
  const explicit = o.model !== undefined ? decoderLayersFromModel(o.model) : undefined;
  return resolveDecoderLayers(layerIds, { explicit, metaExtra: extra, metaLabel, model }, where);
}

function layersNote(d: DecoderLayers): string {
  return `${d.inferred ? 'note: ' : ''}${d.numHiddenLayers} decoder layers (row l = decoder layer l, dense layers filled) from ${d.source}`;
}

/**
 * Read the trace for a load export; a plan given instead is refused with what to run (a plan holds
 * a placement, not loads: there is nothing to write as csv/npy/json/parquet).
 */
async function readTraceNotPlan(input: string, o: ExportOptions) {
  try {
    return await readInput(input, { format: o.format });
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    let plan;
    try {
      plan = readPlanFile(input);
    } catch {
      throw e;
    }
    throw new InputError(
      input,
      '',
      `is a plan (${plan.numLayers} layers x ${plan.numExperts} experts over ${plan.numRanks} GPUs), not a trace: --to ${o.to} writes a trace's load. ` +
        `To write the plan use --to ${PLAN_EXPORT_FORMS.join('|')}; for the load, export the trace it was made from (ballast export TRACE --to ${o.to} --out ${o.out})`,
    );
  }
}

/** Run one export; returns the lines printed on success. */
export async function runExport(input: string, o: ExportOptions): Promise<string> {
  if (!(EXPORT_FORMS as readonly string[]).includes(o.to)) {
    throw new InputError('--to', '', `unknown export form "${o.to}"; expected one of ${EXPORT_FORMS.join(', ')}`);
  }
  let layer: number | undefined;
  if (o.layer !== undefined) {
    if (o.to !== 'expert-map') throw new InputError('--layer', '', 'only --to expert-map takes --layer');
    layer = Number(o.layer);
    if (!/^\d+$/.test(o.layer.trim())) throw new InputError('--layer', '', `expected a non-negative layer id, got "${o.layer}"`);
  }
  if ((PLAN_EXPORT_FORMS as readonly string[]).includes(o.to)) {
    let numRanks: number | undefined;
    if (o.ranks !== undefined) {
      numRanks = Number(o.ranks);
      if (!Number.isInteger(numRanks) || numRanks < 1) throw new InputError('--ranks', '', `expected a positive integer, got "${o.ranks}"`);
    }
    const plan = readPlanFile(input, { numRanks });
    const lines = [`wrote ${o.to} plan (${plan.numLayers} layers x ${plan.numExperts} experts over ${plan.numRanks} ranks) to ${o.out}`];
    if (o.to === 'sglang') {
      // A plan may carry num_hidden_layers in params (copied from the trace metadata by whoever made it).
      const layers = layersFor(o, plan.layerIds, plan.params, plan.model, input, "the plan's params");
      writePlanExport(plan, 'sglang', o.out, { layers });
      lines.push(`  ${layersNote(layers)}`);
      lines.push(`  SGLang loads it with: ${sglangLaunchFlags(plan, o.out).join(' ')}`);
      lines.push('  (add --enable-eplb only if SGLang should re-balance online afterwards: it replaces this placement)');
    } else {
      writePlanExport(plan, o.to as PlanExportForm, o.out, { layer });
      lines.push(`  ${VLLM_PR_NOTE[o.to]}`);
    }
    return lines.join('\n');
  }
  const d = await readTraceNotPlan(input, o);
  let layers: DecoderLayers | undefined;
  if (o.to === 'json') layers = layersFor(o, d.load.meta.layerIds, d.load.meta.extra, d.load.meta.model, input);
  writeLoadExport({ load: d.load, routes: d.routes }, o.to as LoadExportFormat, o.out, { layers });
  const what = o.to === 'ballast' && d.routes ? `${d.routes.numTokens} tokens of routes` : `${d.load.numLayers}x${d.load.numExperts} load`;
  const lines = [`wrote ${what} from ${input} (${d.format}) as ${o.to} to ${o.out}`];
  if (layers) {
    lines.push(`  ${layersNote(layers)}`);
    lines.push(`  SGLang plans from it at start-up with: --ep-size G --ep-num-redundant-experts R --init-expert-location ${o.out} (G, R yours; E + R must divide by G)`);
  }
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('export')
    .description('Export a trace load matrix (csv, npy, json, parquet, ballast) or a plan in an engine form (sglang, vllm-jsonl, expert-map, deepseek).')
    .argument('<input>', 'trace file (any readable format) or, for plan forms, a plan file')
    .requiredOption('--to <form>', `output form: ${EXPORT_FORMS.join('|')}`)
    .requiredOption('--out <file>', 'output path')
    .option('--format <name>', 'force the input format instead of detecting it')
    .option('--ranks <G>', 'EP rank count, for plan inputs that do not carry it')
    .option('--model <config.json|preset>', 'sglang / json: the model, for num_hidden_layers (row l of the file is decoder layer l)')
    .option('--layer <id>', 'expert-map: the layer whose placement to write when the plan\'s layers differ')
    .action(async (input: string, o: ExportOptions) => {
      process.stdout.write(`${await runExport(input, o)}\n`);
    });
}
