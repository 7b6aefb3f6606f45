/** Conformance cases for the vllm-jsonl reader (folds worked out by hand). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReaderCases } from '../cases.ts';

const lines = (name: string, recs: unknown[]) => (dir: string) => {
  const p = join(dir, name);
  writeFileSync(p, `${recs.map((r) => JSON.stringify(r)).join('\n')}\n`);
  return p;
};

const meta = { record_type: 'eplb_load_meta', version: 1, model: 'toy', num_ranks: 2, num_groups: 1, num_nodes: 1, num_layers: 2, num_redundant_experts: 2 };
// P = 6 slots, E = 4 logical experts (6 - 2 redundant). Layer 0 replicates experts 0 and 3; layer 1 experts 1 and 2.
const p2l = [
  [0, 1, 3, 2, 0, 3],
  [1, 2, 0, 3, 1, 2],
];
const step1 = { record_type: 'eplb_load_stats', version: 1, step: 100, expert_load: [[5, 1, 2, 4, 3, 6], [2, 2, 7, 1, 4, 0]], p2l_map: p2l };
const step2 = { record_type: 'eplb_load_stats', version: 1, step: 200, expert_load: [[1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 9]], p2l_map: p2l };
// step1 layer 0: e0 = 5+3, e1 = 1, e2 = 4, e3 = 2+6 -> [8,1,4,8]; layer 1: e0 = 7, e1 = 2+4, e2 = 2+0, e3 = 1 -> [7,6,2,1]
// step2 layer 0: [2,1,1,2]; layer 1: e2 gets slot 5 = 9 -> [0,0,9,0]
const mapping = { record_type: 'eplb_initial_mapping', version: 1, num_redundant_experts: 2, num_slots: 6, initial_global_assignments: { '0': p2l[0], '1': p2l[1] } };

export const cases: ReaderCases = {
  valid: [
    {
      name: 'meta + two steps, replicas folded',
      make: lines('load.jsonl', [meta, step1, step2]),
      expect: { layers: 2, experts: 4, windows: 2, layerIds: [0, 1], counts: [10, 2, 5, 10, 7, 6, 11, 1] },
    },
    {
      name: 'no meta line (E = max p2l + 1), mapping line skipped',
      make: lines('nometa.jsonl', [step1, mapping]),
      expect: { layers: 2, experts: 4, windows: 1, counts: [8, 1, 4, 8, 7, 6, 2, 1] },
    },
  ],
  invalid: [
    { name: 'bad JSON line', make: (d) => { const p = join(d, 'b.jsonl'); writeFileSync(p, `${JSON.stringify(meta)}\n{"record_type": "eplb_load_stats",\n`); return p; }, where: /^line 2$/, message: /not valid JSON/ },
    {
      name: 'p2l id out of range',
      make: lines('r.jsonl', [meta, { ...step1, p2l_map: [[0, 1, 3, 2, 0, 4], p2l[1]] }]),
      where: /^line 2$/,
      message: /p2l_map\[0\]\[5\] = 4; expected a logical expert id in \[0, 4\)/,
    },
    { name: 'layer count differs from meta', make: lines('l.jsonl', [meta, { ...step1, expert_load: [step1.expert_load[0]] }]), where: /^line 2$/, message: /expected 2 layers in "expert_load", got 1/ },
    { name: 'ragged slots', make: lines('s.jsonl', [step1, { ...step2, expert_load: [[1, 1, 1, 1, 1], step2.expert_load[1]] }]), where: /^line 2$/, message: /expected 6 slots in expert_load\[0\], got 5/ },
    { name: 'negative load', make: lines('n.jsonl', [{ ...step1, expert_load: [[-1, 1, 2, 4, 3, 6], step1.expert_load[1]] }]), where: /^line 1$/, message: /expert_load\[0\]\[0\] = -1/ },
    { name: 'only a meta line', make: lines('m.jsonl', [meta]), where: /^$/, message: /no eplb_load_stats lines/ },
  ],
};
