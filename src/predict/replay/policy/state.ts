/**
 * State of an engine's periodic re-balancing while a trace is replayed (vLLM's EplbState /
 * EplbModelState; SGLang's EPLBManager generator and recorder buffer), kept apart from its decisions
 * (eplb.ts) and from the execution loop (execute.ts).
 *
 * Shapes: window entries [L][E] expert counts of one step; layers L.
 */
import type { Plan } from '../../../core/plan.ts';

export class EplbRunState {
  /** Ring buffer of the last windowSteps steps' counts (vLLM expert_load_window, zero-filled). */
  readonly window: Float64Array[] = [];
  private next = 0;
  /** Steps since the last re-plan (vLLM expert_rearrangement_step). */
  stepsSinceReplan: number;
  /** Steps served in all (warmup + scored). */
  steps = 0;
  /** Async transfer in progress: the target plan and the next layer to apply. */
  pending?: { target: Plan; layer: number; layerUs: number[]; progressUs: number };
  constructor(readonly windowSteps: number, intervalSteps: number, firstAfterSteps: number) {
    this.stepsSinceReplan = intervalSteps - firstAfterSteps;
  }
  /** Record one step's counts in the window. */
  record(counts: Float64Array): void {
    if (this.window.length < this.windowSteps) this.window.push(counts);
    else this.window[this.next] = counts;
    this.next = (this.next + 1) % this.windowSteps;
    this.steps++;
  }
  /** Sum of the window [L * E] (what a re-plan balances). */
  windowLoad(size: number): Float64Array {
    const load = new Float64Array(size);
    for (const h of this.window) for (let i = 0; i < size; i++) load[i] += h[i];
    return load;
  }
}
