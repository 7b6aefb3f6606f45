/**
 * The capture agent on mirrors of each engine's MoE module structure (capture/python/tests/mirrors.py,
 * written from the upstream files its docstring cites). Every case runs in one Python process
 * (capture/python/tests/run_cases.py); the truth is what each mirror's experts module dispatched, counted
 * there, independently of the agent.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { FIXTURE, PYTHON, runBounded } from './test-helpers.ts';

interface Case {
  chained_calls?: number[];
  name: string;
  counts?: number[][];
  truth?: number[][];
  truth_with_padding?: number[][];
  physical?: number;
  path?: string;
  check?: string | null;
  engine?: string;
  engine_version?: string;
  enabled?: boolean;
  experts?: number;
  tokens?: number;
  layer_ids?: number[];
  num_hidden_layers?: number | null;
  log: string[];
  error?: string;
}

const cases = new Map<string, Case>();
before(async () => {
  const res = await runBounded(PYTHON, [join(FIXTURE, '..', 'run_cases.py')], { timeoutMs: 240_000 });
  assert.equal(res.code, 0, res.stderr);
  for (const line of res.stdout.split('\n')) if (line.startsWith('CASE ')) {
    const c = JSON.parse(line.slice(5)) as Case;
    cases.set(c.name, c);
  }
});

function get(name: string): Case {
  const c = cases.get(name);
  assert.ok(c, `case ${name} did not run`);
  assert.equal(c.error, undefined, `case ${name} raised ${c.error}`);
  return c;
}

const exact: [string, string, string][] = [
  ['mixtral', 'dispatch-hook', 'transformers v5 Mixtral: MixtralExperts(top_k_index)'],
  ['qwen3_moe', 'dispatch-hook', 'transformers v5 Qwen3-MoE'],
  ['olmoe', 'dispatch-hook', 'transformers v5 OLMoE'],
  ['deepseek_v2', 'dispatch-hook', 'transformers v5 DeepSeek-V2: F.linear on gate.weight, num_group, 0.0 mask'],
  ['deepseek_v3_bias_above_0', 'dispatch-hook', 'transformers v5 DeepSeek-V3, correction bias > 0'],
  ['deepseek_v3_bias_below_0', 'dispatch-hook', 'transformers v5 DeepSeek-V3, biased scores <= 0'],
  ['deepseek_v3_bias_below_0_router_hook', 'router-hook', 'DeepSeek-V3 re-selected from logits: dropped groups masked with 0.0 as transformers does'],
  ['gpt_oss', 'dispatch-hook', 'transformers GPT-OSS: experts(router_indices=...) by keyword'],
  ['gpt_oss_mxfp4', 'dispatch-hook', 'transformers GPT-OSS MXFP4: router never called, RoutingData.expt_hist'],
  ['llama4', 'router-hook', 'transformers Llama 4: Llama4Router (scores, logits)'],
  ['vllm_capture_fn_padded_and_dummy', 'vllm-capture-fn', 'vLLM router capture fn in the moe_forward op: profile/dummy/capture runs and CUDA-graph padding excluded'],
  ['vllm_capture_fn_grouped', 'vllm-capture-fn', 'vLLM grouped top-k with correction bias through the capture fn'],
  ['sglang_topk_grouped_fused_shared', 'dispatch-hook', 'SGLang TopK grouping with a fused shared expert (17 slots, 16 routed)'],
  ['sglang_piecewise_prefill', 'sglang-step-buffer', 'SGLang piecewise CUDA graphs for prefill (torch.compile, MoE as an opaque custom op calling forward_impl) plus decode graphs'],
  ['sglang_cuda_graph_padded_and_warmup', 'sglang-step-buffer', 'SGLang default mode (decode CUDA graphs): ids copied into a step buffer inside the graph, counted per real ModelRunner.forward'],
];

for (const [name, path, what] of exact) {
  test(`exact counts: ${what}`, () => {
    const c = get(name);
    assert.deepEqual(c.counts, c.truth);
    assert.ok(c.truth!.flat().reduce((a, b) => a + b, 0) > 0);
    assert.equal(c.path, path);
    assert.equal(c.check, 'ok', c.log.join('\n'));
    assert.ok(!c.log.some((l) => /capture disabled|check failed/.test(l)), c.log.join('\n'));
  });
}

test('vLLM: only the real tokens of real steps are counted (3+5+1+13+64+7 = 93); engine and version are reported', () => {
  const c = get('vllm_capture_fn_padded_and_dummy');
  assert.equal(c.tokens, 93);
  // top-2 over 3 layers
  assert.equal(c.counts!.flat().reduce((a, b) => a + b, 0), 93 * 2 * 3);
  assert.equal(c.engine, 'vllm');
  assert.equal(c.engine_version, '0.11.0-mirror');
});

test('SGLang: the fused shared-expert slot is not an expert (16 routed experts, from the gate)', () => {
  const c = get('sglang_topk_grouped_fused_shared');
  assert.equal(c.experts, 16);
  assert.equal(c.engine, 'sglang');
  // 6+1+1+9 = 17 tokens x top-3 routed x 3 layers
  assert.equal(c.counts!.flat().reduce((a, b) => a + b, 0), 17 * 3 * 3);
});

test('a layer that stops recording is named in one line after the first window', () => {
  const c = get('layer_missing_reported');
  assert.equal(c.check, 'failed');
  const lines = c.log.filter((l) => l.includes('check failed'));
  assert.equal(lines.length, 1);
  assert.match(lines[0], /layers 2 recorded no routing \(of 3 announced\)/);
});

test('torch.compile tracing the hooks ends in a one-line refusal that says to run eagerly', () => {
  const c = get('torch_compile_refused');
  assert.equal(c.check, 'failed');
  assert.deepEqual(c.counts, []);
  const lines = c.log.filter((l) => l.includes('check failed'));
  assert.equal(lines.length, 1);
  assert.match(lines[0], /none of the 3 announced MoE layers recorded routing; torch\.compile traced/);
});

test('a vLLM without the router capture hook, compiled: refused after 3 steps with the --enforce-eager instruction; its profile run is not counted', () => {
  const c = get('vllm_without_capture_fn_compiled_refused');
  assert.equal(c.path, 'router-hook');
  assert.equal(c.check, 'failed');
  const lines = c.log.filter((l) => l.includes('check failed'));
  assert.equal(lines.length, 1);
  assert.match(lines[0], /after 3 vLLM steps none of the 3 announced MoE layers recorded routing; this vLLM 0\.8\.0-mirror has no router capture hook .*--enforce-eager/);
});

test('vLLM without the capture fn, --enable-eplb: EPLB load view mapped to logical experts, said to be approximate', () => {
  const c = get('vllm_without_capture_fn_eplb_load_view');
  assert.equal(c.physical, 12); // 8 logical experts + 4 replicas: physical slots != logical ids
  assert.equal(c.path, 'eplb-load-view');
  assert.equal(c.engine, 'vllm');
  assert.equal(c.engine_version, '0.10.1-mirror');
  // What the replicas dispatched, padding rows included, summed per logical expert: equal.
  assert.deepEqual(c.counts, c.truth_with_padding);
  // Real tokens: 4+8+16+64+2+3+13 = 110; padding: 3->4 and 13->16 = 4 rows x top-2 = 8 more per layer.
  assert.equal(c.tokens, 110);
  for (let l = 0; l < 3; l++) {
    const real = c.truth![l].reduce((a, b) => a + b, 0);
    const got = c.counts![l].reduce((a, b) => a + b, 0);
    assert.equal(real, 220);
    assert.equal(got, 228);
    for (let e = 0; e < 8; e++) assert.ok(c.counts![l][e] >= c.truth![l][e]);
  }
  assert.notDeepEqual(c.counts, c.truth);
  assert.equal(c.check, 'approximate'); // never called exact
  const said = c.log.filter((l) => l.includes('EPLB load view'));
  assert.equal(said.length, 1);
  assert.match(said[0], /no router capture hook .*EPLB load view instead \(--enable-eplb\): approximate, CUDA-graph padding tokens are included/);
  assert.ok(c.log.some((l) => /via eplb-load-view \(vllm 0\.10\.1-mirror\); self-check: approximate/.test(l)));
});

test('vLLM EPLB load view on two EP ranks: each counts its own physical slots, the ranks sum to the dispatch once; profile load not carried', () => {
  const c = cases.get('vllm_eplb_load_view_two_ep_ranks');
  assert.ok(c, 'case did not run');
  assert.equal(c.error, undefined, c.error);
  const per = c.counts as unknown as number[][][];
  assert.equal(per.length, 2);
  const sum = per[0].map((row, l) => row.map((v, e) => v + per[1][l][e]));
  assert.deepEqual(sum, c.truth_with_padding);
  // 4+3+16+13 real tokens run as 4+4+16+16 = 40 rows x top-2 = 80 per layer (the profile run's 64 rows excluded)
  for (const row of sum) assert.equal(row.reduce((a, b) => a + b, 0), 80);
  for (const r of per) assert.notDeepEqual(r, c.truth_with_padding); // one rank alone is a part
  const extra = c as unknown as { checks: string[]; sum_ranks: boolean[] };
  assert.deepEqual(extra.checks, ['approximate', 'approximate']);
  assert.ok(extra.sum_ranks.length >= 2 && extra.sum_ranks.every((x) => x === true));
});

test('transformers tp_plan (rank-local expert ids) is refused in one line, nothing counted', () => {
  const c = get('transformers_tp_plan_refused');
  assert.equal(c.enabled, false);
  assert.deepEqual(c.counts, []);
  assert.equal(c.log.length, 1);
  assert.match(c.log[0], /capture disabled: transformers tensor parallel \(tp_plan, tp_size=2\)/);
});

test('vLLM: a capture function already bound (--enable-return-routed-experts) keeps receiving every call; dual-batch overlap is refused in one line', () => {
  const c = get('vllm_capture_fn_chained_and_dbo_refused');
  // 2 layers: profile run (64 tokens), a real step padded to 4, then the DBO step (padded to 4) still reaches it
  assert.deepEqual(c.chained_calls, [64, 64, 4, 4, 4, 4]);
  assert.equal(c.enabled, false);
  const lines = c.log.filter((l) => l.includes('capture disabled'));
  assert.equal(lines.length, 1);
  assert.match(lines[0], /dual-batch overlap \(--enable-dbo\).*relaunch without --enable-dbo/);
});

test('vLLM whose model runner the agent cannot find: refused in one line (it could not tell dummy runs and padding from real tokens)', () => {
  const c = get('vllm_unknown_runner_refused');
  assert.equal(c.enabled, false);
  assert.deepEqual(c.counts, []);
  assert.equal(c.log.length, 1, c.log.join('\n'));
  assert.match(c.log[0], /capture disabled: vLLM 9\.9\.9-mirror: GPUModelRunner\.execute_model not found .*capture is off/);
});

test('num_hidden_layers comes from the model config each engine builds from (dense layers included), never from the MoE layers', () => {
  // DeepSeek-V2 style mirror: decoder layer 0 dense, MoE layers 1..3; its config says 4 decoder layers.
  const ds = get('deepseek_v2_dense_first');
  assert.deepEqual(ds.layer_ids, [1, 2, 3]);
  assert.equal(ds.num_hidden_layers, 4);
  assert.deepEqual(ds.counts, ds.truth);
  // Llama 4: config.text_config.num_hidden_layers (6), not the vision tower's (34).
  assert.equal(get('llama4_text_config').num_hidden_layers, 6);
  // vLLM: the model carries none here; GPUModelRunner.model_config.hf_text_config says 4.
  const v = get('vllm_runner_model_config');
  assert.deepEqual(v.layer_ids, [1, 2, 3]);
  assert.equal(v.num_hidden_layers, 4);
  // SGLang: the model's config (3 layers, all MoE).
  assert.equal(get('sglang_topk_grouped_fused_shared').num_hidden_layers, 3);
  // A model without it in its config sends none.
  assert.equal(get('mixtral').num_hidden_layers, null);
  // A config that contradicts the layer names (2 decoder layers for MoE layer ids 0..2) is not sent; one line says so.
  const bad = get('num_hidden_layers_below_layer_ids');
  assert.equal(bad.num_hidden_layers, null);
  assert.ok(bad.log.some((l) => /num_hidden_layers 2 in the model config is not above the largest MoE layer id 2/.test(l)), bad.log.join('\n'));
  assert.deepEqual(bad.counts, bad.truth);
});

test('SGLang CUDA graphs: only real tokens of real steps are counted (no kernel warm-up, capture warm-ups, padding rows or dummy runs)', () => {
  const c = get('sglang_cuda_graph_padded_and_warmup');
  // real tokens 6+3+5+8+9+1+3+2+12 = 49; x top-3 routed (the fused shared slot dropped) x 3 layers
  assert.equal(c.tokens, 49);
  assert.equal(c.counts!.flat().reduce((a, b) => a + b, 0), 49 * 3 * 3);
  // The padded graphs (3->4, 5->8, 3->4) really dispatched padding rows to routed experts: 5 rows x 3 x 3 layers more.
  assert.equal(c.truth_with_padding!.flat().reduce((a, b) => a + b, 0), 49 * 9 + 5 * 9);
  assert.notDeepEqual(c.counts, c.truth_with_padding);
  assert.equal(c.experts, 16);
  assert.equal(c.engine, 'sglang');
  assert.equal(c.num_hidden_layers, 3);
});

test('SGLang DP attention: refused on the step-buffer path in one line; eager steps counted, replayed steps flagged by the self-check', () => {
  const c = get('sglang_dp_attention_refused');
  assert.equal(c.path, 'dispatch-hook');
  const said = c.log.filter((l) => l.includes('DP attention'));
  assert.equal(said.length, 1);
  assert.match(said[0], /counting at dispatch instead, exact only with --disable-cuda-graph/);
  // eager steps only: extend 6, extend 9, decode 12 (above the largest graph) = 27 tokens
  assert.equal(c.tokens, 27);
  assert.equal(c.counts!.flat().reduce((a, b) => a + b, 0), 27 * 9);
  assert.equal(c.check, 'failed');
  const failed = c.log.filter((l) => l.includes('check failed'));
  assert.equal(failed.length, 1);
  assert.match(failed[0], /layers 0 \(81 of 147\).*--disable-cuda-graph, or record with `ballast capture --sglang URL`/);
});

test('SGLang EPLB / redundant experts (physical ids): capture refused in one line, nothing counted', () => {
  const c = get('sglang_eplb_refused');
  assert.equal(c.enabled, false);
  assert.deepEqual(c.counts, []);
  const said = c.log.filter((l) => l.includes('capture disabled'));
  assert.equal(said.length, 1);
  assert.match(said[0], /physical expert ids .*ballast capture --sglang URL/);
});

test('SGLang without ModelRunner.forward: one line says so; under CUDA graphs the self-check fails (padding and warm-ups counted)', () => {
  const c = get('sglang_without_model_runner');
  assert.ok(c.log.some((l) => /SGLang 0\.3\.0-mirror: ModelRunner\.forward not found .*exact only with --disable-cuda-graph/.test(l)), c.log.join('\n'));
  assert.equal(c.check, 'failed');
  assert.equal(c.log.filter((l) => l.includes('check failed')).length, 1);
  const direct = get('sglang_topk_grouped_fused_shared'); // the model run directly, no runner, no graphs: exact
  assert.ok(direct.log.some((l) => /ModelRunner\.forward not found/.test(l)));
});

test('SGLang piecewise prefill graphs on a FusedMoE without forward_impl: the traced wrapper cannot count them; the self-check fails in one line naming --disable-piecewise-cuda-graph', () => {
  const c = get('sglang_piecewise_without_forward_impl_flagged');
  assert.equal(c.path, 'sglang-step-buffer');
  assert.equal(c.check, 'failed');
  // decode steps (3+5+8+1+3+2+12 = 34 tokens) still counted exactly; the two piecewise extends (6, 9) are not
  assert.equal(c.counts!.flat().reduce((a, b) => a + b, 0), 34 * 9);
  const failed = c.log.filter((l) => l.includes('check failed'));
  assert.equal(failed.length, 1);
  assert.match(failed[0], /piecewise CUDA graphs \(torch\.compile\).*--disable-piecewise-cuda-graph/);
});

test('SGLang piecewise prefill graphs: padded extend batches (6->8, 9->16) counted on their real tokens only', () => {
  const c = get('sglang_piecewise_prefill');
  assert.equal(c.tokens, 49);
  // padding: decode 3->4, 5->8, 3->4 (5 rows) and extend 6->8, 9->16 (9 rows), x 3 routed x 3 layers
  assert.equal(c.truth_with_padding!.flat().reduce((a, b) => a + b, 0), 49 * 9 + 14 * 9);
  assert.equal(c.counts!.flat().reduce((a, b) => a + b, 0), 49 * 9);
});
