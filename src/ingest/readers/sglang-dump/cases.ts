/** Conformance cases for the sglang-dump reader (see ../cases.ts); fixtures written by python3-torch. */
import { join } from 'node:path';
import { nest, tensor, writeTorchFile } from '../../torch/fixtures/make.ts';
import type { ReaderCases } from '../cases.ts';

// stat dump: ring of 4 slots, 2 passes written (slots 0, 1), L = 2 layers, E = 4 experts.
const slots = [
  [1, 2, 0, 1, 0, 0, 3, 1],
  [0, 1, 1, 2, 2, 2, 0, 0],
  [0, 0, 0, 0, 0, 0, 0, 0],
  [0, 0, 0, 0, 0, 0, 0, 0],
];

export const cases: ReaderCases = {
  valid: [
    {
      name: 'stat dump with a partly filled ring buffer',
      make(dir) {
        return writeTorchFile(join(dir, 'expert_distribution_recorder_1754000000.0.pt'), {
          rank: 0,
          logical_count: tensor(nest(slots.flat(), [4, 2, 4]), 'int32'),
          average_utilization_rate_over_window: 0.875,
        });
      },
      expect: { layers: 2, experts: 4, windows: 2, counts: [1, 3, 1, 3, 2, 2, 3, 1] },
    },
  ],
  invalid: [
    {
      name: 'legacy (non-zip) torch.save file',
      make(dir) {
        return writeTorchFile(join(dir, 'legacy.pt'), { rank: 0, logical_count: tensor(nest(slots.flat(), [4, 2, 4])) }, true);
      },
      where: /^byte 0$/,
      message: /legacy \(non-zip\) torch\.save format/,
    },
  ],
};
