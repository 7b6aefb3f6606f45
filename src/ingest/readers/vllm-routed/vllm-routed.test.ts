import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readVllmRouted } from './index.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-vr-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('prompt_routed_experts + one choice join into one sequence with prefill then decode phases', () => {
  const p = join(dir, 'a.json');
  const prompt = [[[0, 1]], [[2, 3]]];
  const gen = [[[1, 2]]];
  writeFileSync(p, JSON.stringify({ prompt_routed_experts: prompt, choices: [{ routed_experts: gen }], num_experts: 8 }));
  const warned: string[] = [];
  const r = readVllmRouted(p, { warn: (s) => warned.push(s) }).routes!;
  assert.equal(r.numTokens, 3);
  assert.equal(r.numExperts, 8);
  assert.deepEqual(Array.from(r.seqStarts), [0, 3]);
  assert.deepEqual(Array.from(r.phase!), [0, 0, 1]);
  assert.deepEqual(Array.from(r.experts), [0, 1, 2, 3, 1, 2]);
  assert.deepEqual(warned, []);
});

test('several choices: the prompt and each choice are separate sequences; E inferred with a warning', () => {
  const p = join(dir, 'b.json');
  writeFileSync(p, JSON.stringify({ prompt_routed_experts: [[[0, 1]]], choices: [{ routed_experts: [[[1, 2]]] }, { routed_experts: [[[2, 4]], [[0, 3]]] }] }));
  const warned: string[] = [];
  const r = readVllmRouted(p, { warn: (s) => warned.push(s) }).routes!;
  assert.deepEqual(Array.from(r.seqStarts), [0, 1, 2, 4]);
  assert.equal(r.numExperts, 5);
  assert.ok(warned.some((w) => /largest id \+ 1 = 5/.test(w)));
});

test('top-1 routing keeps an all-zero layer (it may be a real layer)', () => {
  const p = join(dir, 'c.json');
  writeFileSync(p, JSON.stringify({ routed_experts: [[[0], [1]], [[0], [3]]] }));
  const r = readVllmRouted(p, { warn: () => {} }).routes!;
  assert.equal(r.numLayers, 2);
  assert.deepEqual(r.meta.layerIds, [0, 1]);
});
