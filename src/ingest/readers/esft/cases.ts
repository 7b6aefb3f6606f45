/**
 * Conformance cases for the esft reader. The bundled ESFT cases compare with load_counts.json, a
 * histogram derived independently and shipped with the data; token counts come from SOURCE.txt.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ReaderCases } from '../cases.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../../..');
const esftDir = join(repo, 'data/esft-dsv2lite');
const loadCounts = JSON.parse(readFileSync(join(esftDir, 'load_counts.json'), 'utf8')) as {
  tasks: Record<string, { num_tokens: number; counts: number[][] }>;
};

// Toy dump: layers 3 and 7, two sequences (2 tokens, 1 token), k = 2, E = 4.
// layer 3: tokens {0,1} {2,3} | {1,3}  -> counts [1,2,1,2]
// layer 7: tokens {3,0} {0,1} | {2,0}  -> counts [3,1,1,1]
const TOY: Record<string, string> = {
  'expert_weights_3.txt': '0\t1\t2\t3\t\t0.5\t0.25\t0.5\t0.125\n1\t3\t\t0.75\t0.25\n',
  'expert_weights_7.txt': '3\t0\t0\t1\t\t0.4\t0.3\t0.6\t0.1\n2\t0\t\t0.5\t0.5\n',
};
const TOY_EXPECT = { layers: 2, experts: 4, layerIds: [3, 7], counts: [1, 2, 1, 2, 3, 1, 1, 1], tokens: 3, windows: 2 };

function writeDir(dir: string, files: Record<string, string>): string {
  mkdirSync(dir, { recursive: true });
  for (const [n, t] of Object.entries(files)) writeFileSync(join(dir, n), t);
  return dir;
}

function tarOf(dir: string, name: string, gzip: boolean, members: Record<string, Record<string, string>>): string {
  const stage = join(dir, 'stage');
  for (const [sub, files] of Object.entries(members)) writeDir(join(stage, sub), files);
  const out = join(dir, name);
  const r = spawnSync('tar', [gzip ? '-czf' : '-cf', out, '-C', stage, ...Object.keys(members)]);
  if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
  return out;
}

function bundled(task: 'law' | 'intent' | 'summary', seqs: number) {
  const t = loadCounts.tasks[task];
  return {
    name: `bundled ESFT ${task}.tgz matches load_counts.json (${t.num_tokens} tokens, ${seqs} sequences)`,
    make: () => join(esftDir, 'raw', `${task}.tgz`),
    expect: {
      layers: 26,
      experts: 64,
      windows: seqs,
      layerIds: Array.from({ length: 26 }, (_, i) => i + 1),
      counts: t.counts.flat(),
      totalByLayer: Array.from({ length: 26 }, () => 6 * t.num_tokens),
      tokens: t.num_tokens,
    },
  };
}

export const cases: ReaderCases = {
  valid: [
    { name: 'toy directory', make: (d) => writeDir(join(d, 'dump'), TOY), expect: TOY_EXPECT },
    { name: 'toy .tgz', make: (d) => tarOf(d, 'toy.tgz', true, { task: TOY }), expect: TOY_EXPECT },
    { name: 'toy plain .tar', make: (d) => tarOf(d, 'toy.tar', false, { task: TOY }), expect: TOY_EXPECT },
    bundled('law', 33),
    bundled('intent', 127),
    bundled('summary', 13),
  ],
  invalid: [
    {
      name: 'layer files with different line counts',
      make: (d) => writeDir(join(d, 'dump'), { ...TOY, 'expert_weights_7.txt': '3\t0\t0\t1\t\t0.4\t0.3\t0.6\t0.1\n' }),
      where: /^$/,
      message: /has 1 lines but expert_weights_3\.txt has 2/,
    },
    {
      name: 'ids and weights of different length',
      make: (d) => writeDir(join(d, 'dump'), { ...TOY, 'expert_weights_7.txt': '3\t0\t0\t1\t\t0.4\t0.3\t0.6\t0.1\n2\t0\t\t0.5\n' }),
      where: /^line 2$/,
      message: /2 expert ids but 1 weights/,
    },
    {
      name: 'different token counts for one sequence',
      make: (d) => writeDir(join(d, 'dump'), { ...TOY, 'expert_weights_7.txt': '3\t0\t\t0.4\t0.3\n2\t0\t\t0.5\t0.5\n' }),
      where: /^line 1$/,
      message: /2 expert ids but line 1 of expert_weights_3\.txt has 4/,
    },
    {
      name: 'non-integer id',
      make: (d) => writeDir(join(d, 'dump'), { ...TOY, 'expert_weights_3.txt': '0\t1\t2\tx\t\t0.5\t0.25\t0.5\t0.125\n1\t3\t\t0.75\t0.25\n' }),
      where: /^line 1$/,
      message: /expected integer expert ids, got "x"/,
    },
    {
      name: 'missing two-tab separator (in an archive)',
      make: (d) => tarOf(d, 'bad.tgz', true, { task: { ...TOY, 'expert_weights_3.txt': '0\t1\t2\t3\t0.5\t0.25\t0.5\t0.125\n1\t3\t\t0.75\t0.25\n' } }),
      where: /^task\/expert_weights_3\.txt line 1$/,
      message: /separated by two tabs/,
    },
    { name: 'directory without layer files', make: (d) => writeDir(join(d, 'empty'), { 'notes.txt': 'hi' }), where: /^$/, message: /no expert_weights_<layer>\.txt files/ },
    {
      name: 'archive with two task directories',
      make: (d) => tarOf(d, 'two.tgz', true, { a: TOY, b: TOY }),
      where: /^$/,
      message: /several directories \(a, b\)/,
    },
  ],
};
