/**
 * `ballast diff <a> <b> [--html FILE] [--json]`: compare two traces or saved reports (docs/report.md).
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InputError } from '../../core/errors.ts';
import { readInput } from '../../ingest/readers.ts';
import { readPlanFile } from '../../plan/plan-file.ts';
import { type DiffSide, diffSides, sideFromReport, sideFromTrace } from '../../show/diff/diff.ts';
import { renderDiffHtml } from '../../show/diff/html.ts';
import { renderDiffText } from '../../show/diff/text.ts';
import { REPORT_FORMAT, type ReportModel } from '../../show/report/model.ts';
import { defaultRanks } from '../../show/report/build.ts';
import { useColor, wrapText } from '../../show/term.ts';
import { parsePositiveInt } from './report.ts';

/** A saved report (`ballast report --json`) or any trace readInput reads. */
export async function readDiffSide(path: string, format?: string): Promise<DiffSide> {
  try {
    const st = statSync(path);
    if (st.isFile() && st.size < 512 * 1024 * 1024) {
      const text = readFileSync(path, 'utf8');
      if (text.trimStart().startsWith('{') && text.includes(`"${REPORT_FORMAT}"`)) {
        const json = JSON.parse(text) as ReportModel;
        if (json.format === REPORT_FORMAT) return sideFromReport(path, json);
      }
    }
  } catch (e) {
    if (e instanceof InputError) throw e;
  }
  const input = await readInput(path, { format, warn: (s) => process.stderr.write(`ballast: ${s}\n`) });
  return sideFromTrace(path, input.load);
}

export function register(program: Command): void {
  program
    .command('diff')
    .description('Compare two traces or reports: per-layer imbalance change and the experts whose share moved most.')
    .argument('<a>', 'first trace or saved report JSON (before)')
    .argument('<b>', 'second trace or saved report JSON (after)')
    .option('--html <file>', 'write an HTML page here')
    .option('--json', 'print the diff as JSON instead of text')
    .option('--ranks <G>', 'EP size for the linear placement used for rank imbalance (default 8 or a divisor of E)')
    .option('--plan-a <plan>', 'placement A ran under (default linear)')
    .option('--plan-b <plan>', 'placement B ran under (default linear)')
    .option('--top <N>', 'experts to list', '20')
    .option('--format <name>', 'input format for both traces (default: detect)')
    .action(async (a: string, b: string, o: Record<string, string | boolean | undefined>) => {
      const sa = await readDiffSide(a, o.format as string | undefined);
      const sb = await readDiffSide(b, o.format as string | undefined);
      const planA = o.planA ? readPlanFile(o.planA as string) : undefined;
      const planB = o.planB ? readPlanFile(o.planB as string) : undefined;
      const ranks = parsePositiveInt('--ranks', o.ranks as string | undefined) ?? planA?.numRanks ?? defaultRanks(sa.numExperts);
      if (ranks < 1 || sa.numExperts % ranks !== 0) {
        throw new InputError('--ranks', '', `${sa.numExperts} experts do not divide evenly over ${ranks} ranks`);
      }
      const diff = diffSides(sa, sb, { ranks, planA, planB, top: parsePositiveInt('--top', o.top as string) });
      if (o.html) {
        writeFileSync(o.html as string, renderDiffHtml(diff));
        process.stderr.write(`ballast: wrote ${o.html}\n`);
      }
      if (o.json) process.stdout.write(`${JSON.stringify(diff)}\n`);
      else process.stdout.write(wrapText(renderDiffText(diff, { color: useColor() })));
    });
}
