/** Conformance cases for the count-tables reader (expected values worked out by hand). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReaderCases } from '../cases.ts';

const file = (name: string, json: unknown, table?: string) => (dir: string) => {
  const p = join(dir, name);
  writeFileSync(p, JSON.stringify(json));
  return table === undefined ? p : `${p}#${table}`;
};

/** Two tasks, 2 MoE layers (model ids 1, 2) x 3 experts, top-2, as load_counts.json is laid out. */
const TASKS = {
  model: 'tiny',
  num_experts: 3,
  top_k: 2,
  moe_layers: [1, 2],
  tasks: {
    law: { num_tokens: '5', counts: [[4, 4, 2], [1, 6, 3]] },
    math: { num_tokens: 3, counts: [[2, 2, 2], [0, 0, 6]] },
  },
};

export const cases: ReaderCases = {
  valid: [
    {
      name: 'FILE#NAME picks a task table',
      make: file('tasks.json', TASKS, 'law'),
      expect: { layers: 2, experts: 3, windows: 1, layerIds: [1, 2], counts: [4, 4, 2, 1, 6, 3], totalByLayer: [10, 10], tokens: 5 },
    },
    {
      name: 'one table needs no #NAME; models/domains nesting',
      make: file('one.json', { models: { m: { top_k: 1, layers: [0, 7], domains: { web: { expert_counts: [[1, 2], [3, 0]] } } } } }),
      expect: { layers: 2, experts: 2, windows: 1, layerIds: [0, 7], counts: [1, 2, 3, 0] },
    },
  ],
  invalid: [
    { name: 'several tables, no #NAME', make: file('tasks.json', TASKS), where: /^$/, message: /holds 2 count tables; pick one as .*tasks\.json#NAME, NAME one of: law, math$/ },
    { name: 'unknown table', make: file('tasks.json', TASKS, 'code'), where: /^$/, message: /^no count table "code"; expected one of: law, math$/ },
    {
      name: 'negative count',
      make: file('neg.json', { tasks: { a: { counts: [[1, -1]] } } }, 'a'),
      where: /^key tasks\.a\.counts\[0\]\[1\]$/,
      message: /expected a non-negative integer count, got -1/,
    },
  ],
};
