import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError } from '../../core/errors.ts';
import { decoderLayersFromModel, resolveDecoderLayers } from './decoder-layers.ts';

const odd = Array.from({ length: 24 }, (_, i) => 2 * i + 1); // Llama-4-Maverick MoE layers 1, 3, ..., 47

test('explicit --model wins: Llama-4-Maverick has 48 decoder layers (MoE every second layer)', () => {
  const d = resolveDecoderLayers(odd, { explicit: decoderLayersFromModel('meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8'), metaExtra: { num_hidden_layers: 99 } }, 'plan.json');
  assert.equal(d.numHiddenLayers, 48);
  assert.equal(d.inferred, false);
});

test('trace metadata num_hidden_layers, then a model name that resolves to a preset whose MoE layers match', () => {
  assert.equal(resolveDecoderLayers([3, 4], { metaExtra: { num_hidden_layers: 61 } }, 'x').numHiddenLayers, 61);
  assert.equal(resolveDecoderLayers([3, 4], { metaExtra: { numHiddenLayers: 7 } }, 'x').numHiddenLayers, 7);
  // DeepSeek-V3: 61 layers, MoE from layer 3.
  const v3 = resolveDecoderLayers([3, 60], { model: 'deepseek-ai/DeepSeek-V3-0324' }, 'x');
  assert.equal(v3.numHiddenLayers, 61);
  assert.match(v3.source, /preset DeepSeek-V3/);
  // The ESFT readers name the architecture in parentheses.
  assert.equal(resolveDecoderLayers([1, 26], { model: 'deepseek-ai/ESFT-vanilla-lite (DeepSeek-V2-Lite arch)' }, 'x').numHiddenLayers, 27);
  // A preset whose MoE layers do not include the plan's (layer 0 is dense in V3) is not used.
  const no = resolveDecoderLayers([0, 1], { model: 'deepseek-ai/DeepSeek-V3' }, 'x');
  assert.equal(no.inferred, true);
  assert.equal(no.numHiddenLayers, 2);
});

test('fallback: largest layer id + 1, said; ids at or past the count and duplicates refused', () => {
  const d = resolveDecoderLayers([1, 2, 26], {}, 'x');
  assert.equal(d.numHiddenLayers, 27);
  assert.equal(d.inferred, true);
  assert.match(d.source, /largest MoE layer id \(26\) \+ 1/);
  assert.throws(() => resolveDecoderLayers([1, 30], { metaExtra: { num_hidden_layers: 27 } }, 'p.json'), (e: unknown) => e instanceof InputError && e.file === 'p.json' && /MoE layer id 30 is out of range for 27 decoder layers/.test(e.message));
  assert.throws(() => resolveDecoderLayers([1, 1], {}, 'p.json'), /same decoder layer id/);
});
