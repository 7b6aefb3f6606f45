import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../core/errors.ts';
import { expertBytes, loadModelConfig, modelPresetNames, resolveModelPreset } from './model-config.ts';

test('DeepSeek-V3 preset: 58 MoE layers, 44 MB FP8 experts, 2.55 GB per extra slot per rank (deepseek-ai/EPLB, eplb.py)', () => {
  const m = loadModelConfig('DeepSeek-V3');
  assert.equal(m.hiddenSize, 7168);
  assert.equal(m.expertFfnSize, 2048);
  assert.equal(m.numExperts, 256);
  assert.equal(m.topK, 8);
  // 61 layers, first 3 dense -> layers 3..60.
  assert.equal(m.moeLayerIds.length, 58);
  assert.equal(m.moeLayerIds[0], 3);
  assert.equal(m.bytesPerWeight, 1);
  // 3 * 7168 * 2048 * 1 byte = 44,040,192 bytes ("44 MB per expert per layer in FP8").
  assert.equal(expertBytes(m), 44_040_192);
  // One redundant slot per rank in every MoE layer: 58 * 44.04 MB = 2.554 GB ("about 2.4-2.55 GB").
  assert.ok(Math.abs((58 * expertBytes(m)) / 1e9 - 2.554) < 0.001);
  assert.match(m.fieldSources.expertFfnSize, /moe_intermediate_size/);
});

test('layer patterns: V2-Lite layers 1..26, Maverick every second layer, Qwen3 all, Mixtral all', () => {
  const v2 = loadModelConfig('deepseek-ai/DeepSeek-V2-Lite');
  assert.deepEqual(v2.moeLayerIds, Array.from({ length: 26 }, (_, i) => i + 1));
  assert.equal(v2.topK, 6);
  assert.equal(expertBytes(v2), 3 * 2048 * 1408 * 2);
  const mav = loadModelConfig('llama-4-maverick');
  assert.equal(mav.moeLayerIds.length, 24);
  assert.deepEqual(mav.moeLayerIds.slice(0, 3), [1, 3, 5]);
  assert.equal(mav.numExperts, 128);
  assert.equal(mav.topK, 1);
  assert.equal(loadModelConfig('Qwen3-30B-A3B').moeLayerIds.length, 48);
  assert.equal(loadModelConfig('Qwen3-235B-A22B').moeLayerIds.length, 94);
  const mix = loadModelConfig('mixtral');
  assert.equal(mix.expertFfnSize, 14336);
  assert.equal(mix.moeLayerIds.length, 32);
  const olmoe = loadModelConfig('OLMoE-1B-7B');
  assert.equal(olmoe.numExperts, 64);
  assert.equal(olmoe.topK, 8);
  assert.equal(modelPresetNames().length, 8);
});

test('model ids resolve by family and size: vLLM docs ids, dtype and release suffixes, no prefix matches', () => {
  const name = (id: string) => resolveModelPreset(id)?.preset.name;
  assert.equal(name('deepseek-ai/DeepSeek-V3-0324'), 'DeepSeek-V3');
  assert.equal(name('deepseek-ai/DeepSeek-R1-0528'), 'DeepSeek-V3');
  assert.equal(name('meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8'), 'Llama-4-Maverick');
  assert.equal(name('meta-llama/Llama-4-Scout-17B-16E-Instruct'), 'Llama-4-Scout');
  assert.equal(name('Qwen/Qwen3-30B-A3B-Instruct-2507-FP8'), 'Qwen3-30B-A3B');
  assert.equal(name('mistralai/Mixtral-8x7B-Instruct-v0.1'), 'Mixtral-8x7B');
  assert.equal(name('deepseek-ai/DeepSeek-V2-Lite-Chat'), 'DeepSeek-V2-Lite');
  // DeepSeek-V2 (236B, 160 experts) is not V2-Lite: no preset, never a prefix match.
  assert.equal(name('deepseek-ai/DeepSeek-V2'), undefined);
  assert.equal(name('deepseek-ai/DeepSeek-V2-Chat'), undefined);
  assert.equal(name('Qwen/Qwen3-30B'), undefined);
  // -FP8 of a bf16 preset: 1 byte per expert weight (Maverick FP8 stores experts in fp8).
  assert.equal(loadModelConfig('meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8').bytesPerWeight, 1);
  assert.equal(loadModelConfig('meta-llama/Llama-4-Maverick-17B-128E-Instruct').bytesPerWeight, 2);
  // Releases named by their weight width: 4-bit, 8-bit, and a BF16 upcast of the FP8 DeepSeek-V3.
  assert.equal(loadModelConfig('Qwen/Qwen3-30B-A3B-GPTQ-Int4').bytesPerWeight, 0.5);
  assert.equal(loadModelConfig('Qwen/Qwen3-30B-A3B-GPTQ-Int8').bytesPerWeight, 1);
  assert.equal(loadModelConfig('Qwen/Qwen3-235B-A22B-AWQ').bytesPerWeight, 0.5);
  assert.equal(loadModelConfig('deepseek-ai/DeepSeek-V3-BF16').bytesPerWeight, 2);
  assert.equal(loadModelConfig('deepseek-ai/DeepSeek-V3').bytesPerWeight, 1);
  // Scout: 16 experts, every one of 48 layers MoE (HF config interleave_moe_layer_step 1).
  const scout = loadModelConfig('meta-llama/Llama-4-Scout-17B-16E-Instruct');
  assert.equal(scout.numExperts, 16);
  assert.equal(scout.moeLayerIds.length, 48);
});

test('config.json from a path: quantization and errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-mc-'));
  try {
    const p = join(dir, 'config.json');
    writeFileSync(
      p,
      JSON.stringify({
        hidden_size: 1024,
        intermediate_size: 4096,
        moe_intermediate_size: 512,
        num_experts: 32,
        num_experts_per_tok: 4,
        num_hidden_layers: 6,
        decoder_sparse_step: 2,
        torch_dtype: 'bfloat16',
        quantization_config: { quant_method: 'awq', bits: 4 },
      }),
    );
    const m = loadModelConfig(dir);
    assert.equal(m.expertFfnSize, 512);
    assert.deepEqual(m.moeLayerIds, [1, 3, 5]);
    assert.equal(m.bytesPerWeight, 0.5);
    assert.equal(expertBytes(m), 3 * 1024 * 512 * 0.5);
    writeFileSync(p, JSON.stringify({ hidden_size: 1024, num_hidden_layers: 2 }));
    assert.throws(() => loadModelConfig(p), (e: unknown) => e instanceof InputError && e.file === p && /intermediate_size/.test(e.message));
    writeFileSync(p, '{not json');
    assert.throws(() => loadModelConfig(p), InputError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(() => loadModelConfig('no-such-model-xyz'), InputError);
});
