/**
 * The README's command examples run in order: every file a `npx ballast` line reads is shipped in the
 * repository or written by an earlier line (--out, --html, --json FILE, > FILE). Words after `--`
 * are the engine's own command line and are not checked; the one input a user brings (their own
 * checkpoint directory, their model's config.json) is listed below.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';

/** Inputs the reader supplies themselves, with why. */
const USER_SUPPLIED: Record<string, string> = {
  './Mixtral-8x7B': 'the user\'s own downloaded checkpoint (reorder rewrites it)',
  './model/config.json': 'the served model\'s own config.json (capture --vllm reads its top-k)',
};
const OUTPUT_FLAGS = new Set(['--out', '--html']);
const PATHLIKE = /\/|\.(ballast|json|jsonl|csv|npy|tgz|html|parquet|safetensors)(#.*)?$/;

/** The `npx ballast ...` commands of the README's sh blocks, joined across trailing backslashes. */
export function readmeCommands(text: string): string[] {
  const out: string[] = [];
  const blocks = text.split(/^```sh\n/m).slice(1).map((b) => b.split(/^```/m)[0]);
  for (const b of blocks) {
    const joined = b.replace(/\\\n\s*/g, ' ');
    for (const line of joined.split('\n')) {
      const l = line.replace(/\s+#\s.*$/, '').trim();
      if (l.startsWith('npx ballast ')) out.push(l);
    }
  }
  return out;
}

function tokens(cmd: string): string[] {
  return [...cmd.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]);
}

/** Lines of `text` (README markdown) whose commands read a file neither shipped nor written earlier. */
export function readmeProblems(text: string): string[] {
  const cmds = readmeCommands(text);
  const made = new Set<string>();
  const problems: string[] = [];
  for (const cmd of cmds) {
    const t = tokens(cmd).slice(2);
    const end = t.indexOf('--');
    const words = end >= 0 ? t.slice(0, end) : t;
    const writes: string[] = [];
    const reads: string[] = [];
    for (let i = 0; i < words.length; i++) {
      const w = words[i];
      const next = words[i + 1];
      if ((OUTPUT_FLAGS.has(w) || w === '>' || (w === '--json' && next !== undefined && !next.startsWith('-') && next !== '>')) && next !== undefined) {
        writes.push(next);
        i++;
      } else if (!w.startsWith('-') && !/^[a-z]+:\/\//.test(w) && PATHLIKE.test(w)) {
        reads.push(w);
      }
    }
    for (const r of reads) {
      const file = r.replace(/#.*$/, '');
      if (!existsSync(file) && !made.has(file) && !(file in USER_SUPPLIED)) problems.push(`${cmd}: reads ${r}, which is neither shipped nor written by an earlier command`);
    }
    for (const w of writes) made.add(w);
  }
  return problems;
}

test('README commands read only shipped files or files an earlier command wrote', () => {
  const text = readFileSync('README.md', 'utf8');
  assert.ok(readmeCommands(text).length >= 10);
  assert.deepEqual(readmeProblems(text), []);
});

test('the README check catches a file used before it is made', () => {
  const text = '```sh\nnpx ballast analyze counts.csv --ranks 8   # measure\nnpx ballast export data/demo/esft-law.ballast --to csv --out counts.csv\nnpx ballast analyze counts.csv\n```\n';
  assert.deepEqual(readmeProblems(text), ['npx ballast analyze counts.csv --ranks 8: reads counts.csv, which is neither shipped nor written by an earlier command']);
});
