/**
 * When no reader claims a file, the closest one (by first bytes, then extension) reads it, so the
 * error is that reader's own; FILE#NAME reads the shipped count-table files; a plan given to a load
 * export says what to run instead. Expected numbers come from the data files, read here with
 * JSON.parse, not through ballast's readers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../core/errors.ts';
import { totalCounts } from '../core/load-trace.ts';
import { readInput } from './readers.ts';

async function errorOf(path: string, format?: string): Promise<string> {
  try {
    await readInput(path, { format });
  } catch (e) {
    assert.ok(e instanceof InputError, String(e));
    return `${e.where ? `${e.where}: ` : ''}${e.message}`;
  }
  throw new Error(`${path} was read`);
}

test('no reader claims the file: the error is the closest reader\'s own (same as --format)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-closest-'));
  try {
    const cases: [string, string | Buffer, string, RegExp][] = [
      ['typo.csv', 'layer,exprt,count\n1,0,5\n', 'csv', /^line 1: expected a header naming layer, expert and count/],
      ['shape.json', '{"counts": [[1, 2]]}', 'json', /expected \{"logical_count": \[layers\]\[experts\]\}/],
      ['dump.txt', '{"tasks": {"a": {"tokens": 3}}}', 'count-tables', /expected named count tables/],
      ['weights', Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 9]), 'npy', /^byte \d+: /],
    ];
    for (const [name, body, format, msg] of cases) {
      const p = join(dir, name);
      writeFileSync(p, body);
      const auto = await errorOf(p);
      assert.match(auto, msg, name);
      assert.equal(auto, await errorOf(p, format), `${name}: detection and --format ${format} give the same line`);
    }
    const junk = join(dir, 'junk');
    writeFileSync(junk, Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    assert.match(await errorOf(junk), /^unrecognised format; expected one of /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the shipped ESFT and OLMoE count files read with FILE#NAME', async () => {
  const esftPath = 'data/esft-dsv2lite/load_counts.json';
  const esft = JSON.parse(readFileSync(esftPath, 'utf8'));
  const law = await readInput(`${esftPath}#law`);
  assert.equal(law.format, 'count-tables');
  assert.equal(law.load.numLayers, 26);
  assert.equal(law.load.numExperts, 64);
  assert.equal(law.load.meta.topK, 6);
  assert.deepEqual(law.load.meta.layerIds, esft.moe_layers);
  assert.deepEqual(Array.from(totalCounts(law.load)), esft.tasks.law.counts.flat());
  assert.equal(law.load.windows[0].tokens, Number(esft.tasks.law.num_tokens));
  assert.match(await errorOf(esftPath), /holds 3 count tables; pick one as .*#NAME, NAME one of: intent, law, summary$/);

  const olmoePath = 'data/olmoe-routing-analysis/olmoe_mixtral_expert_counts.json';
  const olmoe = JSON.parse(readFileSync(olmoePath, 'utf8'));
  const arxiv = await readInput(`${olmoePath}#olmoe/arxiv`);
  assert.equal(arxiv.load.meta.model, 'allenai/OLMoE-1B-7B-0924');
  assert.deepEqual(arxiv.load.meta.layerIds, [0, 7, 15]);
  assert.equal(arxiv.load.meta.topK, 8);
  assert.deepEqual(Array.from(totalCounts(arxiv.load)), olmoe.models.olmoe.domains.arxiv.expert_counts.flat());
  // First choices only: top-1; Mixtral: 8 experts.
  const top1 = await readInput(`${olmoePath}#mistral/c4/top1`);
  assert.equal(top1.load.meta.topK, 1);
  assert.equal(top1.load.numExperts, 8);
  assert.deepEqual(Array.from(totalCounts(top1.load)), olmoe.models.mistral.domains.c4.expert_counts_top1.flat());
  assert.match(await errorOf(`${olmoePath}#arxiv`), /"arxiv" names \d+ tables \(.*olmoe\/arxiv.*\); give the full name/);
  // The published OLMoE arXiv figure: the hottest expert of layer 0 takes 12.21% of its tokens.
  const row0 = olmoe.models.olmoe.domains.arxiv.expert_counts[0] as number[];
  const share = Math.max(...row0) / row0.reduce((a, b) => a + b, 0);
  assert.equal(Number((share * 100).toFixed(2)), 12.21);
  // #NAME on a one-table format is refused, not ignored.
  assert.match(await errorOf('data/demo/esft-law.ballast#law'), /#law picks a table, but .* is read as ballast, which holds one; drop the #law/);
});

test('float .npy with fractions reads as load weights, with the note; a plan given to a load export says what to run', async () => {
  // fraction.npy (NumPy 1.24): float32 [[3,0,7,1],[0,2.5,5,2],[9,9,0,4]].
  const d = await readInput('src/ingest/readers/npy/fixtures/fraction.npy');
  assert.deepEqual(Array.from(totalCounts(d.load)), [3, 0, 7, 1, 0, 2.5, 5, 2, 9, 9, 0, 4]);
  assert.equal(d.load.meta.extra?.loadWeights, true);
  assert.equal(d.warnings.length, 1);
  assert.match(d.warnings[0], /^1 of 12 loads are not whole numbers: read as load weights .*statistics per token .* take one unit of weight as one token-expert assignment$/);
  // Whole-number floats stay counts, with no note.
  assert.deepEqual((await readInput('src/ingest/readers/npy/fixtures/f4-le-c.npy')).warnings, []);

  const { runExport } = await import('../cli/commands/export.ts');
  const { writePlanFile } = await import('../plan/plan-file.ts');
  const dir = mkdtempSync(join(tmpdir(), 'ballast-export-plan-'));
  try {
    const plan = join(dir, 'plan.json');
    writePlanFile(plan, { version: 1, numLayers: 1, numExperts: 4, numRanks: 2, ranksPerNode: 2, layerIds: [0], phy2log: [Int32Array.from([0, 1, 2, 3])] });
    await assert.rejects(runExport(plan, { to: 'csv', out: join(dir, 'x.csv') }), (e: unknown) => {
      assert.ok(e instanceof InputError);
      assert.match(e.message, /^is a plan \(1 layers x 4 experts over 2 GPUs\), not a trace: --to csv writes a trace's load\. To write the plan use --to sglang\|/);
      assert.match(e.message, /export the trace it was made from \(ballast export TRACE --to csv/);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
