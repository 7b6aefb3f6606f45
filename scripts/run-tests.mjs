#!/usr/bin/env node
// Runs every *.test.ts under src/ (and test/) with Node's own test runner through tsx.
// Node's runner prints its closing summary; this script repeats it as one plain line
// ("N passed, N failed, N skipped").
// Usage: node scripts/run-tests.mjs [path-substring ...]   (filters test files)
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function walk(dir, out) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const filters = process.argv.slice(2);
let files = [...walk('src', []), ...walk('test', [])].sort();
if (filters.length) files = files.filter((f) => filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-timeout=900000', '--test-concurrency=2', ...files],
  { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_NO_WARNINGS: '1' } },
);
// Pass the spec output through, and remember its closing counts to repeat them as one plain line.
const counts = {};
let tail = '';
child.stdout.on('data', (buf) => {
  process.stdout.write(buf);
  const text = tail + buf.toString('utf8');
  const lines = text.split('\n');
  tail = lines.pop() ?? '';
  for (const line of lines) {
    const m = /^\u2139 (pass|fail|skipped|cancelled|todo) (\d+)\s*$/.exec(line);
    if (m) counts[m[1]] = Number(m[2]);
  }
});
child.on('close', (code) => {
  if (counts.pass !== undefined) {
    const failed = (counts.fail ?? 0) + (counts.cancelled ?? 0);
    console.log(`${counts.pass} passed, ${failed} failed, ${counts.skipped ?? 0} skipped`);
  }
  process.exit(code ?? 1);
});
