import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Plan } from '../../core/plan.ts';
import { phaseColumns, renderPhasesSection } from './phases.ts';

function plan(steps: { name: string; tokens: number; weight: number }[], R: number): Plan {
  return {
    version: 1,
    numLayers: 1,
    numExperts: 4,
    numRanks: 2,
    layerIds: [0],
    phy2log: [Int32Array.from({ length: 4 + R }, (_, p) => p % 4)],
    ranksPerNode: 2,
    params: {
      redundantSlots: R,
      timeObjective: { steps: steps.map((s) => ({ ...s, predictedStepUs: 100 * s.tokens, busiestGpuActivatedExperts: 2, busiestGpuTokenExpertPairs: s.tokens })), routes: '<routes>' },
    },
  };
}

test('phases side by side: one column per time-objective plan, mix named from its two steps, text escaped', () => {
  const cols = phaseColumns([
    { path: '/x/p.prefill.json', plan: plan([{ name: 'prefill', tokens: 8, weight: 1 }], 2) },
    { path: '/x/other.json', plan: { ...plan([], 0), params: {} } },
    { path: '/x/p.mix.json', plan: plan([{ name: 'prefill', tokens: 8, weight: 1 }, { name: 'decode', tokens: 2, weight: 10 }], 0) },
  ]);
  assert.deepEqual(cols.map((c) => [c.label, c.phase, c.redundantSlots]), [['p.prefill.json', 'prefill', 2], ['p.mix.json', 'mix', 0]]);
  const html = renderPhasesSection(cols);
  assert.match(html, /<td>8 \/ 2 x10\.00<\/td>/);
  assert.match(html, /<td>800 \/ 200<\/td>/);
  assert.ok(html.includes('&lt;routes&gt;') && !html.includes('<routes>'));
  assert.equal(renderPhasesSection([]), '');
});
