/**
 * `ballast report <trace|plan|simulation...> --html FILE [--json FILE]`: one self-contained HTML file
 * (and/or the report model as JSON) from traces, plans and simulations (docs/report.md).
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InputError } from '../../core/errors.ts';
import { readPlanFile } from '../../plan/plan-file.ts';
import { buildReportModel, classifyInputs } from '../../show/report/build.ts';
import { renderReportHtml } from '../../show/report/html.ts';

export function parsePositiveInt(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InputError(flag, '', `expected a non-negative integer, got "${v}"`);
  return n;
}

interface ReportFlags {
  html?: string;
  json?: string;
  ranks?: string;
  current?: string;
  solver?: string;
  redundant?: string;
  batchTokens?: string;
  model?: string;
  cluster?: string;
  predict?: boolean;
  title?: string;
}

/**
 * The flags `report` and `dashboard` share: the current placement, the solver and replicas for the
 * recommended plan, and the model and cluster the prediction and gate use.
 */
export function addPlanAndPredictOptions(cmd: Command): Command {
  return cmd
    .option('--ranks <G>', 'EP size for the current (linear) placement when no plan gives one (default 8, or the largest divisor of E below it)')
    .option('--current <plan>', 'current placement (default: linear over --ranks)')
    .option('--solver <name>', "solver for the recommended plan, unless an input is a plan ('none' to skip)", 'ballast')
    .option('--redundant <R>', 'redundant slots per layer for the solver', '0')
    .option('--batch-tokens <N>', 'tokens per batch for the per-batch replay of token routes')
    .option('--model <config|preset>', 'model config for predicted time and the gate (default: guessed from the trace shape)')
    .option('--cluster <file|preset>', 'cluster for the cost model (default: H100-SXM nodes)')
    .option('--no-predict', 'skip predicted time and the gate');
}

export function register(program: Command): void {
  const cmd = program
    .command('report')
    .description('Write a self-contained HTML report (heatmap, rank loads, imbalance by layer, per-batch replay, plan and gate).')
    .argument('<inputs...>', 'traces (any format), ballast plans, simulation JSON, or saved report JSON')
    .option('--html <file>', 'write the HTML report here')
    .option('--json <file>', 'write the report model (JSON) here');
  addPlanAndPredictOptions(cmd)
    .option('--title <text>', 'page title', 'ballast report')
    .action(async (inputs: string[], o: ReportFlags) => {
      if (!o.html && !o.json) throw new InputError('--html', '', 'expected --html FILE and/or --json FILE');
      const current = o.current ? readPlanFile(o.current) : undefined;
      const data = await classifyInputs(inputs, { warn: (s) => process.stderr.write(`ballast: ${s}\n`) });
      if (!data.traces.length && !data.plans.length && !data.simulations.length && !data.reports.length) {
        throw new InputError(inputs[0] ?? '', '', 'nothing to report');
      }
      const ranks = parsePositiveInt('--ranks', o.ranks);
      if (ranks === 0) throw new InputError('--ranks', '', 'expected a positive integer');
      const model = await buildReportModel(data, {
        title: o.title,
        ranks,
        current,
        solver: o.solver,
        redundantSlots: parsePositiveInt('--redundant', o.redundant),
        batchTokens: parsePositiveInt('--batch-tokens', o.batchTokens) || undefined,
        model: o.model,
        cluster: o.cluster,
        noPredict: o.predict === false,
      });
      if (o.html) {
        const html = renderReportHtml(model);
        writeFileSync(o.html, html);
        process.stdout.write(`wrote ${o.html} (${(Buffer.byteLength(html) / 1024).toFixed(0)} KiB)\n`);
      }
      if (o.json) {
        writeFileSync(o.json, `${JSON.stringify(model)}\n`);
        process.stdout.write(`wrote ${o.json}\n`);
      }
      for (const n of model.notes) process.stderr.write(`ballast: note: ${n}\n`);
    });
}
