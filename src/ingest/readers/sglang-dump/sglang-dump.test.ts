import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { InputError } from '../../../core/errors.ts';
import { main } from '../../../cli/main.ts';
import { totalCounts, windowCounts } from '../../../core/load-trace.ts';
import { readInput } from '../../readers.ts';
import { nest, tensor, writeTorchFiles } from '../../torch/fixtures/make.ts';
import { readSglangDump, ringTimeOrder } from './read.ts';

const dir = mkdtempSync(join(tmpdir(), 'ballast-sgl-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const quiet = { warn: () => {} };

// Per-pass logical counts, L = 3 model layers (layer 0 dense: never routed), E = 4.
const pass = (l1: number[], l2: number[]): number[] => [0, 0, 0, 0, ...l1, ...l2];
const P0 = pass([1, 0, 2, 1], [0, 4, 0, 0]);
const P1 = pass([2, 2, 0, 0], [1, 1, 1, 1]);
const P2 = pass([0, 0, 0, 4], [3, 0, 0, 1]);
const P3 = pass([1, 1, 1, 1], [0, 0, 4, 0]);
const P4 = pass([0, 3, 1, 0], [2, 2, 0, 0]);
const ZERO = pass([0, 0, 0, 0], [0, 0, 0, 0]);

/** SGLang's _CircularBuffer: write at curr_index, advance mod N; reset zeroes but keeps curr_index. */
class Ring {
  slots: number[][];
  curr = 0;
  constructor(n: number) {
    this.slots = Array.from({ length: n }, () => ZERO);
  }
  append(p: number[]): void {
    this.slots[this.curr] = p;
    this.curr = (this.curr + 1) % this.slots.length;
  }
  reset(): void {
    this.slots = this.slots.map(() => ZERO);
  }
}

const statValue = (slots: number[][], dtype: string, layout: 'contiguous' | 'permuted' | 'sliced', extra: object = {}) => ({
  rank: 0,
  logical_count: tensor(nest(slots.flat(), [slots.length, 3, 4]), dtype, layout),
  average_utilization_rate_over_window: null,
  ...extra,
});

const fresh = new Ring(6);
[P0, P1, P2].forEach((p) => fresh.append(p));
const resumed = new Ring(5);
[P3, P3, P3, P3].forEach((p) => resumed.append(p));
resumed.reset(); // a dump happened; curr_index stays at 4
[P0, P1, P2].forEach((p) => resumed.append(p)); // slots 4, 0, 1
const wrapped = new Ring(3);
[P0, P1, P2, P3, P4].forEach((p) => wrapped.append(p)); // slots: P3, P4, P2

// per_pass: 2 ranks, L = 2 layers, P = 6 physical slots over E = 4 logical experts.
const p2l = [
  [0, 1, 2, 3, 0, 1],
  [3, 2, 1, 0, 3, 3],
];
const gpc = (a: number[], b: number[]) => tensor([a, b]);
const perPass = (rank: number) => ({
  records: [
    { forward_pass_id: 7, rank, gatherer_key: 'primary', global_physical_count: rank === 0 ? gpc([1, 1, 1, 1, 1, 1], [1, 2, 3, 4, 5, 6]) : gpc([2, 0, 0, 0, 0, 3], [0, 0, 0, 0, 0, 1]) },
    { forward_pass_id: 8, rank, gatherer_key: 'primary', global_physical_count: rank === 0 ? gpc([0, 0, 0, 0, 4, 0], [0, 0, 0, 0, 0, 0]) : gpc([0, 0, 0, 1, 0, 0], [9, 0, 0, 0, 0, 0]) },
  ],
  last_physical_to_logical_map: tensor(p2l, 'int64'),
});

// per_token: L = 3 (layer 0 dense: all -1), P = E = 4, top-2 in 8 columns (-1 padded).
const pad = (ids: number[]) => [...ids, -1, -1, -1, -1, -1, -1];
const dense = (n: number) => Array.from({ length: n }, () => pad([-1, -1]));
const perToken = {
  records: [
    {
      forward_pass_id: 1,
      rank: 0,
      gatherer_key: 'primary',
      input_ids: [11, 12, 13],
      positions: [0, 1, 0],
      extend_seq_lens: [2, 1],
      forward_mode: 1,
      topk_ids_of_layer: tensor([dense(3), [pad([0, 1]), pad([2, 3]), pad([1, 0])], [pad([3, 2]), pad([0, 2]), pad([1, 3])]]),
      misc_objects: [],
      global_physical_count: tensor([[0, 0, 0, 0], [2, 2, 1, 1], [1, 1, 2, 2]]),
    },
    {
      forward_pass_id: 2,
      rank: 0,
      gatherer_key: 'primary',
      input_ids: [14, 15],
      positions: [2, 1],
      extend_seq_lens: null,
      forward_mode: 2,
      topk_ids_of_layer: tensor([dense(2), [pad([3, 0]), pad([2, 1])], [pad([0, 1]), pad([2, 3])]], 'int32', 'permuted'),
      misc_objects: [],
      global_physical_count: tensor([[0, 0, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1]]),
    },
  ],
  // physical -> logical: layer 1 identity, layer 2 swaps pairs.
  last_physical_to_logical_map: tensor([[0, 1, 2, 3], [0, 1, 2, 3], [1, 0, 3, 2]], 'int64'),
};
const badToken = structuredClone(perToken);
(badToken.records[0] as Record<string, unknown>).topk_ids_of_layer = tensor([dense(3), [pad([0, -1]), pad([2, 3]), pad([1, 0])], [pad([3, 2]), pad([0, 2]), pad([1, 3])]]);

const f = (n: string) => join(dir, n);
before(() => {
  mkdirSync(f('pp'));
  mkdirSync(f('tp'));
  writeTorchFiles([
    { out: f('fresh.pt'), value: statValue(fresh.slots, 'int32', 'permuted') },
    { out: f('resumed.pt'), value: statValue(resumed.slots, 'int64', 'sliced') },
    { out: f('wrapped.pt'), value: statValue(wrapped.slots, 'int32', 'contiguous') },
    { out: f('wrapped-head.pt'), value: statValue(wrapped.slots, 'int32', 'contiguous', { curr_index: wrapped.curr }) },
    { out: f('legacy.pt'), value: statValue(fresh.slots, 'int32', 'contiguous'), legacy: true },
    { out: f('pp/expert_distribution_recorder_1700000000.5_0.pt'), value: perPass(0) },
    { out: f('pp/expert_distribution_recorder_1700000000.5_1.pt'), value: perPass(1) },
    { out: f('tp/expert_distribution_recorder_1700000000.5_0.pt'), value: perPass(0) },
    { out: f('tp/expert_distribution_recorder_1700000000.5_1.pt'), value: { ...perPass(0), records: perPass(0).records.map((r) => ({ ...r, rank: 1 })) } },
    { out: f('even.pt'), value: { rank: 0, logical_count: tensor(nest(Array.from({ length: 2 * 2 * 16 }, (_, i) => 2 * (1 + (i % 5))), [2, 2, 16])), average_utilization_rate_over_window: null } },
    { out: f('tok.pt'), value: perToken },
    { out: f('badtok.pt'), value: badToken },
    { out: f('other.pt'), value: { weights: tensor([1, 2, 3]) } },
    { out: f('e16.pt'), value: { rank: 0, logical_count: tensor(nest(Array.from({ length: 2 * 2 * 16 }, (_, i) => (i % 16 === 3 ? 50 : 1 + (i % 5))), [2, 2, 16])), average_utilization_rate_over_window: null } },
  ]);
});

const layer = (p: number[], l: number) => p.slice(4 * l, 4 * l + 4);

test('stat dump never wrapped: unfilled slots dropped, dense layer 0 dropped, permuted storage gathered', async () => {
  const d = await readInput(f('fresh.pt'), quiet);
  assert.equal(d.format, 'sglang-dump');
  const t = d.load;
  assert.equal(t.numWindows, 3);
  assert.deepEqual(t.meta.layerIds, [1, 2]);
  assert.deepEqual(Array.from(windowCounts(t, 0)), [...layer(P0, 1), ...layer(P0, 2)]);
  assert.deepEqual(Array.from(windowCounts(t, 2)), [...layer(P2, 1), ...layer(P2, 2)]);
  // layer 1: [1,0,2,1]+[2,2,0,0]+[0,0,0,4]; layer 2: [0,4,0,0]+[1,1,1,1]+[3,0,0,1]
  assert.deepEqual(Array.from(totalCounts(t)), [3, 2, 2, 5, 4, 5, 1, 2]);
  assert.deepEqual(t.windows.map((w) => w.step), [0, 1, 2]);
  assert.equal(t.meta.extra?.ringOrder, 'time');
});

test('stat dump after a reset: time order restored from the unfilled run (int64, strided with offset)', () => {
  const t = readSglangDump(f('resumed.pt'), quiet).load!;
  assert.equal(t.meta.extra?.ringOrder, 'inferred-from-unfilled-slots');
  assert.deepEqual(t.meta.extra?.ringSlots, [4, 0, 1]);
  assert.deepEqual(Array.from(windowCounts(t, 0)), [...layer(P0, 1), ...layer(P0, 2)]);
  assert.deepEqual(Array.from(windowCounts(t, 1)), [...layer(P1, 1), ...layer(P1, 2)]);
  assert.deepEqual(Array.from(windowCounts(t, 2)), [...layer(P2, 1), ...layer(P2, 2)]);
});

test('stat dump that wrapped: slot order kept, no steps, warning; totals of the passes still in the buffer', () => {
  const warned: string[] = [];
  const t = readSglangDump(f('wrapped.pt'), { warn: (s) => warned.push(s) }).load!;
  assert.equal(t.meta.extra?.ringOrder, 'slot-order-unknown-rotation');
  assert.ok(warned.some((w) => /not time order/.test(w)));
  assert.deepEqual(Array.from(windowCounts(t, 0)), [...layer(P3, 1), ...layer(P3, 2)]);
  assert.deepEqual(t.windows, [{}, {}, {}]);
  // P2 + P3 + P4 (P0, P1 were overwritten)
  assert.deepEqual(Array.from(totalCounts(t)), [1, 4, 2, 5, 5, 2, 4, 1]);
});

test('stat dump that records its write index: oldest slot first', () => {
  const t = readSglangDump(f('wrapped-head.pt'), quiet).load!;
  assert.equal(t.meta.extra?.ringOrder, 'head-from-dump');
  assert.deepEqual(t.meta.extra?.ringSlots, [2, 0, 1]);
  assert.deepEqual(Array.from(windowCounts(t, 0)), [...layer(P2, 1), ...layer(P2, 2)]);
  assert.deepEqual(Array.from(windowCounts(t, 2)), [...layer(P4, 1), ...layer(P4, 2)]);
});

test('ringTimeOrder edge cases', () => {
  assert.deepEqual(ringTimeOrder([false, true, false, true]), { order: [0, 2], how: 'slot-order-unknown-rotation' });
  assert.deepEqual(ringTimeOrder([true, false, false]), { order: [1, 2], how: 'inferred-from-unfilled-slots' });
  assert.deepEqual(ringTimeOrder([false, false, true]), { order: [0, 1], how: 'time' });
});

test('per_pass dumps of two ranks: physical counts folded to logical and summed per pass', async () => {
  const d = await readInput(f('pp'), quiet);
  assert.equal(d.format, 'sglang-dump');
  const t = d.load;
  assert.equal(t.numWindows, 2);
  assert.deepEqual(t.windows.map((w) => w.step), [7, 8]);
  // pass 7, layer 0 (map 0,1,2,3,0,1): rank0 [1,1,1,1,1,1] -> [2,2,1,1]; rank1 [2,0,0,0,0,3] -> [2,3,0,0]
  // pass 7, layer 1 (map 3,2,1,0,3,3): rank0 [1..6] -> e0=4, e1=3, e2=2, e3=1+5+6=12; rank1 -> e3=1
  assert.deepEqual(Array.from(windowCounts(t, 0)), [4, 5, 1, 1, 4, 3, 2, 13]);
  // pass 8: layer 0 rank0 slot4 (e0) 4, rank1 slot3 (e3) 1; layer 1 rank1 slot0 (e3) 9
  assert.deepEqual(Array.from(windowCounts(t, 1)), [4, 0, 0, 1, 0, 0, 0, 9]);
});

test('per_pass dumps of two TP replicas (identical records): counted once, with a warning', () => {
  const warned: string[] = [];
  const t = readSglangDump(f('tp'), { warn: (w) => warned.push(w) }).load!;
  assert.equal(t.meta.extra?.tpReplicas, 2);
  assert.ok(warned.some((w) => /the 2 ranks \(0, 1\) recorded identical routing for every forward pass/.test(w)), warned.join('\n'));
  // rank 0 alone (worked out above): pass 7 [2,2,1,1 | 4,3,2,12], pass 8 [4,0,0,0 | 0,0,0,0]
  assert.deepEqual(Array.from(windowCounts(t, 0)), [2, 2, 1, 1, 4, 3, 2, 12]);
  assert.deepEqual(Array.from(windowCounts(t, 1)), [4, 0, 0, 0, 0, 0, 0, 0]);
});

test('stat dump whose counts are all multiples of 2: warns about TP replication, leaves counts as dumped', () => {
  const warned: string[] = [];
  const t = readSglangDump(f('even.pt'), { warn: (w) => warned.push(w) }).load!;
  assert.ok(warned.some((w) => /every count in this stat dump is a multiple of 2: .*--tp 2/.test(w)), warned.join('\n'));
  assert.equal(totalCounts(t)[0], 2 * (1 + 0) + 2 * (1 + (32 % 5)));
});

test('per_token dump: routes in logical ids, sequences from extend_seq_lens and decode tokens, phases', async () => {
  const d = await readInput(f('tok.pt'), quiet);
  const r = d.routes!;
  assert.equal(r.numTokens, 5);
  assert.equal(r.topK, 2);
  assert.equal(r.numExperts, 4);
  assert.deepEqual(r.meta.layerIds, [1, 2]);
  // token-major [T][L][k]; layer 2 maps physical p -> [1,0,3,2][p]
  assert.deepEqual(Array.from(r.experts), [0, 1, 2, 3, 2, 3, 1, 3, 1, 0, 0, 2, 3, 0, 1, 0, 2, 1, 3, 2]);
  assert.deepEqual(Array.from(r.seqStarts), [0, 2, 3, 4, 5]);
  assert.deepEqual(Array.from(r.phase!), [0, 0, 0, 1, 1]);
  assert.equal(d.load.numWindows, 2);
  assert.deepEqual(d.load.windows.map((w) => [w.step, w.tokens, w.phase]), [[1, 3, 'prefill'], [2, 2, 'decode']]);
});

test('per_token dump with -1 inside a routed token is refused at that element', () => {
  assert.throws(
    () => readSglangDump(f('badtok.pt'), quiet),
    (e: unknown) => e instanceof InputError && e.where === 'key records[0].topk_ids_of_layer[1][0][1]' && /unused slot/.test(e.message),
  );
});

test('legacy torch.save file is refused clearly; other torch files and truncated files too', () => {
  assert.throws(() => readSglangDump(f('legacy.pt'), quiet), (e: unknown) => e instanceof InputError && /legacy \(non-zip\)/.test(e.message));
  assert.throws(() => readSglangDump(f('other.pt'), quiet), (e: unknown) => e instanceof InputError && /expected key "logical_count"/.test(e.message));
  const buf = readFileSync(f('fresh.pt'));
  writeFileSync(f('cut.pt'), buf.subarray(0, buf.length - 200));
  assert.throws(() => readSglangDump(f('cut.pt'), quiet), (e: unknown) => e instanceof InputError && /truncated|end-of-central/.test(e.message));
});

test('`ballast analyze dump.pt --ranks 8` reads a stat dump', async () => {
  let out = '';
  const orig = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((s: string) => {
    out += s;
    return true;
  }) as typeof process.stdout.write;
  let code: number;
  try {
    code = await main(['analyze', f('e16.pt'), '--ranks', '8']);
  } finally {
    process.stdout.write = orig;
  }
  assert.equal(code, 0);
  assert.match(out, /sglang-dump/);
  assert.match(out, /2 MoE layers × 16 experts · 2 windows/);
});
