/** Conformance cases for the vllm-routed reader (see ../cases.ts). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReaderCases } from '../cases.ts';

// 3 tokens x 3 model layers x top-2; layer 0 is a dense layer (vLLM fills it with zeros).
const seqA = [
  [[0, 0], [1, 5], [2, 3]],
  [[0, 0], [5, 4], [3, 0]],
  [[0, 0], [1, 2], [2, 3]],
];
const seqB = [
  [[0, 0], [0, 1], [4, 5]],
  [[0, 0], [1, 4], [5, 2]],
];

export const cases: ReaderCases = {
  valid: [
    {
      name: 'one chat completion response with choices[0].routed_experts',
      make(dir) {
        const p = join(dir, 'resp.json');
        writeFileSync(p, JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, routed_experts: seqA }] }));
        return p;
      },
      // layer 1: 1,5,5,4,1,2 -> e1:2 e2:1 e4:1 e5:2; layer 2: 2,3,3,0,2,3 -> e0:1 e2:2 e3:3
      expect: { layers: 2, experts: 6, tokens: 3, layerIds: [1, 2], counts: [0, 2, 1, 0, 1, 2, 1, 0, 2, 3, 0, 0] },
    },
    {
      name: 'JSONL of two responses, one sequence each',
      make(dir) {
        const p = join(dir, 'resp.jsonl');
        writeFileSync(p, `${JSON.stringify({ choices: [{ routed_experts: seqA }] })}\n${JSON.stringify({ choices: [{ routed_experts: seqB }] })}\n`);
        return p;
      },
      expect: { layers: 2, experts: 6, tokens: 5, totalByLayer: [10, 10] },
    },
  ],
  invalid: [
    {
      name: 'a token with a missing layer',
      make(dir) {
        const p = join(dir, 'bad.json');
        writeFileSync(p, JSON.stringify([{ choices: [{ routed_experts: [seqA[0], [[0, 0], [1, 2]]] }] }]));
        return p;
      },
      where: /^key \[0\]\.choices\[0\]\.routed_experts\[1\]$/,
      message: /expected 3 layers, got 2/,
    },
    {
      name: 'a negative expert id on a JSONL line',
      make(dir) {
        const p = join(dir, 'bad.jsonl');
        writeFileSync(p, `${JSON.stringify({ choices: [{ routed_experts: seqB }] })}\n${JSON.stringify({ choices: [{ routed_experts: [[[0, 0], [1, -2], [2, 3]]] }] })}\n`);
        return p;
      },
      where: /^line 2 key choices\[0\]\.routed_experts\[0\]\[1\]\[1\]$/,
      message: /expected an expert id/,
    },
  ],
};
