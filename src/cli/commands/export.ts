/**
 * `ballast export <input> --to FORM --out FILE`: write a trace's load matrix (csv, npy, json, parquet,
 * ballast) or a plan in an engine's form (sglang, vllm-jsonl, expert-map, deepseek).
 */
import type { Command } from 'commander';
import { InputError } from '../../core/errors.ts';
import { LOAD_EXPORT_FORMATS, type LoadExportFormat, writeLoadExport } from '../../act/export/load-exports.ts';
import { PLAN_EXPORT_FORMS, type PlanExportForm, writePlanExport } from '../../act/export/plan-exports.ts';
import { readInput } from '../../ingest/readers.ts';
import { readPlanFile } from '../../plan/plan-file.ts';

export const EXPORT_FORMS = [...LOAD_EXPORT_FORMATS, ...PLAN_EXPORT_FORMS] as const;

export interface ExportOptions {
  to: string;
  out: string;
  format?: string;
  ranks?: string;
}

/** Run one export; returns the line printed on success. */
export async function runExport(input: string, o: ExportOptions): Promise<string> {
  if (!(EXPORT_FORMS as readonly string[]).includes(o.to)) {
    throw new InputError('--to', '', `unknown export form "${o.to}"; expected one of ${EXPORT_FORMS.join(', ')}`);
  }
  if ((PLAN_EXPORT_FORMS as readonly string[]).includes(o.to)) {
    let numRanks: number | undefined;
    if (o.ranks !== undefined) {
      numRanks = Number(o.ranks);
      if (!Number.isInteger(numRanks) || numRanks < 1) throw new InputError('--ranks', '', `expected a positive integer, got "${o.ranks}"`);
    }
    const plan = readPlanFile(input, { numRanks });
    writePlanExport(plan, o.to as PlanExportForm, o.out);
    return `wrote ${o.to} plan (${plan.numLayers} layers x ${plan.numExperts} experts over ${plan.numRanks} ranks) to ${o.out}`;
  }
  const d = await readInput(input, { format: o.format });
  writeLoadExport({ load: d.load, routes: d.routes }, o.to as LoadExportFormat, o.out);
  const what = o.to === 'ballast' && d.routes ? `${d.routes.numTokens} tokens of routes` : `${d.load.numLayers}x${d.load.numExperts} load`;
  return `wrote ${what} from ${input} (${d.format}) as ${o.to} to ${o.out}`;
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
    .action(async (input: string, o: ExportOptions) => {
      process.stdout.write(`${await runExport(input, o)}\n`);
    });
}
