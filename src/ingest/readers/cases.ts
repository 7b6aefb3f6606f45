/**
 * Shared shape of the per-reader conformance cases. A reader folder `src/ingest/readers/<name>/` may
 * export `cases: ReaderCases` from `cases.ts`; `common.case.test.ts` runs every reader's cases:
 *   - valid cases are read with the format forced and auto-detected (both must pick this reader),
 *     and the shapes/counts must match `expect`;
 *   - invalid cases (read with the format forced) must throw InputError whose `where` and `message`
 *     match the given patterns;
 *   - every valid case reads deterministically, and no other reader out-scores this one on it.
 */

export interface ValidExpect {
  /** L: MoE layers in the trace. */
  layers: number;
  /** E: logical experts. */
  experts: number;
  /** W: windows, when the case pins it. */
  windows?: number;
  /** Per layer: counts summed over windows and experts, length L. */
  totalByLayer?: number[];
  /** [L][E] row-major, summed over windows. */
  counts?: number[];
  /** Tokens: routes.numTokens when the reader returns routes, else the sum of WindowInfo.tokens. */
  tokens?: number;
  /** Model-level layer ids, when the case pins them. */
  layerIds?: number[];
}

export interface ValidCase {
  name: string;
  /** Write the fixture under `dir` (a fresh temp dir) and return the path to read. */
  make(dir: string): string;
  expect: ValidExpect;
}

export interface InvalidCase {
  name: string;
  /** Write the bad fixture under `dir` and return the path to read. */
  make(dir: string): string;
  /** Must match InputError.where (e.g. /^line 3$/). */
  where: RegExp;
  /** Must match InputError.message. */
  message: RegExp;
}

export interface ReaderCases {
  valid: ValidCase[];
  invalid: InvalidCase[];
}
