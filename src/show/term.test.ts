import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { columns, wrapText } from './term.ts';
import { agentRanks } from './watch.ts';

test('wrapText: long prose wraps at spaces under its label or bullet; tables and short lines stay', () => {
  const label = `  gate       ${'word '.repeat(30).trim()}`;
  const w = wrapText(label, 40).split('\n');
  // 13 columns of label, then 4-letter words: 5 words take 13 + 5*4 + 4 spaces = 37 columns, a 6th would need 42 > 40.
  assert.equal(w[0], `  gate       ${'word '.repeat(5).trim()}`);
  assert.equal(w[1], `             ${'word '.repeat(5).trim()}`);
  assert.ok(w.every((l) => columns(l) <= 40));
  assert.equal(w.join(' ').replace(/\s+/g, ' '), label.replace(/\s+/g, ' ').replace(/^ /, ' '));
  const bullet = wrapText(`    - ${'abc '.repeat(20).trim()}`, 30).split('\n');
  assert.equal(bullet[1].indexOf('abc'), 6, 'continuation hangs under the text after "- "');
  const table = `│ ${'x'.repeat(120)} │`;
  assert.equal(wrapText(table, 100), table);
  assert.equal(wrapText('short line'), 'short line');
  // Colour codes do not count as columns.
  assert.equal(columns('\x1b[32mAPPLY\x1b[39m'), 5);
});

test('watch names the agents, not "ranks 0"', () => {
  assert.equal(agentRanks([0]), '1 agent (rank 0)');
  assert.equal(agentRanks([0, 1]), '2 agents (ranks 0,1)');
  assert.equal(agentRanks([]), 'no agents yet');
});

test('CLI text output fits 100 columns (plan with the gate, simulate --synthetic, analyze)', { timeout: 240_000 }, () => {
  const runs = [
    ['plan', 'data/demo/esft-law.ballast', '--ranks', '8', '--redundant', '8', '--cluster', '8xH100-SXM'],
    ['simulate', '--synthetic', 'skewed-top1', '--ranks', '8'],
    ['analyze', 'data/demo/esft-law.ballast', '--ranks', '8'],
  ];
  for (const args of runs) {
    const r = spawnSync(process.execPath, ['bin/ballast.js', ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } });
    assert.equal(r.status, 0, r.stderr);
    const wide = r.stdout.split('\n').filter((l) => columns(l) > 100);
    assert.deepEqual(wide, [], `${args[0]}: lines over 100 columns`);
    assert.ok(r.stdout.split('\n').length > 10);
  }
});
