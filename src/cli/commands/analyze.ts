/**
 * `ballast analyze <input...>`: expert and rank imbalance of routing traces (docs/analyze.md).
 *
 * Reads the inputs with `readInputs` (which checks that several inputs share one shape), builds the placement
 * (linear / round-robin over --ranks, or a plan file), and prints `analyzeTrace` results as a terminal
 * summary or, with --json, as JSON (one object for one input, an array for several).
 */
import type { Command } from 'commander';
import { InputError } from '../../core/errors.ts';
import { checkPlanMatchesTrace, type Plan } from '../../core/plan.ts';
import { type AnalysisJson, analyzeTrace, DEFAULT_BATCH_TOKENS } from '../../analyze/analyze-trace.ts';
import { readInputs } from '../../ingest/read-inputs.ts';
import { readPlanFile } from '../../plan/plan-file.ts';
import { renderAnalyses } from '../../show/analyze-view.ts';
import { useColor, wrapText } from '../../show/term.ts';

interface AnalyzeFlags {
  format?: string;
  ranks?: string;
  ranksPerNode?: string;
  placement: string;
  batchTokens?: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('analyze')
    .description('Measure expert and rank imbalance of routing traces.')
    .argument('<input...>', 'trace files or directories (any format `ballast` reads)')
    .option('--format <name>', 'input format (default: detected from the content)')
    .option('--ranks <G>', 'EP size: score rank loads over G ranks (must divide the expert count)')
    .option('--placement <linear|round-robin|PLAN>', 'expert placement over the ranks, or a plan file', 'linear')
    .option('--ranks-per-node <n>', 'ranks per node, for distinct nodes per token (default: one node)')
    .option('--batch-tokens <N>', `tokens per batch for the per-batch replay (token-level inputs; default ${DEFAULT_BATCH_TOKENS})`)
    .option('--json', 'print the analysis as JSON')
    .action(async (inputs: string[], flags: AnalyzeFlags) => {
      const analyses = await runAnalyze(inputs, flags);
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(analyses.length === 1 ? analyses[0] : analyses, null, 2)}\n`);
      } else {
        process.stdout.write(`${wrapText(renderAnalyses(analyses, { color: useColor(process.stdout) }))}\n`);
      }
    });
}

/** Read, check and analyse every input. Throws InputError on bad input or flags. */
export async function runAnalyze(inputs: string[], flags: AnalyzeFlags): Promise<AnalysisJson[]> {
  const ranks = optionalPositiveInt(flags.ranks, '--ranks');
  const ranksPerNode = optionalPositiveInt(flags.ranksPerNode, '--ranks-per-node');
  const batchTokens = optionalPositiveInt(flags.batchTokens, '--batch-tokens');
  const data = await readInputs(inputs, { format: flags.format });
  // What a reader had to assume (e.g. float loads read as weights) goes to stderr, one line each.
  for (const d of data) for (const w of d.warnings) process.stderr.write(`ballast: ${d.path}: ${w}\n`);
  const first = data[0].load;

  let placement: 'linear' | 'round-robin' | Plan;
  let planFile: string | undefined;
  if (flags.placement === 'linear' || flags.placement === 'round-robin') {
    placement = flags.placement;
    if (ranks === undefined && flags.placement !== 'linear') {
      throw new InputError('--placement', '', `${flags.placement} placement needs --ranks G`);
    }
  } else {
    planFile = flags.placement;
    placement = readPlanFile(planFile, {
      numRanks: ranks,
      numExperts: first.numExperts,
      numLayers: first.numLayers,
      layerIds: first.meta.layerIds,
      ranksPerNode,
    });
    checkPlanMatchesTrace(placement, first.numLayers, first.numExperts, planFile);
  }
  if (ranks === undefined && typeof placement !== 'object') {
    if (ranksPerNode !== undefined) throw new InputError('--ranks-per-node', '', 'needs --ranks G (or a plan file)');
    if (batchTokens !== undefined) throw new InputError('--batch-tokens', '', 'needs --ranks G (or a plan file)');
  }
  if (ranks !== undefined && first.numExperts % ranks !== 0 && typeof placement !== 'object') {
    throw new InputError('--ranks', '', `${first.numExperts} experts do not divide evenly over ${ranks} ranks; expected a rank count that divides ${first.numExperts}`);
  }
  return data.map((d) =>
    analyzeTrace(d.load, {
      ranks,
      placement,
      planFile,
      ranksPerNode,
      routes: d.routes,
      batchTokens,
    }),
  );
}

function optionalPositiveInt(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v.trim()) || Number(v) < 1) throw new InputError(flag, '', `expected a positive integer, got "${v}"`);
  return Number(v);
}
