/**
 * Per-batch output series of one policy's replay.
 */

/** Per-batch series, each of length B (number of batches). */
export interface BatchSeries {
  maxOverMean: Float64Array;
  activatedMax: Float64Array;
  activatedMean: Float64Array;
  distinctRanks: Float64Array;
  distinctNodes: Float64Array;
  dispatchUs: Float64Array;
  computeUs: Float64Array;
  combineUs: Float64Array;
  moveUs: Float64Array;
  timeUs: Float64Array;
  expertsMoved: Float64Array;
}

export function newSeries(B: number): BatchSeries {
  const f = () => new Float64Array(B);
  return {
    maxOverMean: f(),
    activatedMax: f(),
    activatedMean: f(),
    distinctRanks: f(),
    distinctNodes: f(),
    dispatchUs: f(),
    computeUs: f(),
    combineUs: f(),
    moveUs: f(),
    timeUs: f(),
    expertsMoved: f(),
  };
}
