/**
 * The engines' periodic re-balancing as replay policies: what each does after a step, with its
 * defaults and the source they come from. State: state.ts; execution: ../execute.ts.
 *
 * vLLM (vllm-project/vllm):
 *   vllm/config/parallel.py EPLBConfig @ 00193b82b0e2d4faea5d3b4ea4f6c4c2bd9d057a: window_size 1000,
 *     step_interval 3000, use_async True, policy "default".
 *   vllm/distributed/eplb/eplb_state.py @ 50feac95f9e53a97d6ed27fee6bfe3b163d18594: the step counter
 *     starts at step_interval - step_interval // 4 ("initial progress of rearrangement to 3/4"), so the
 *     first re-plan comes after 750 steps, then every 3000; each step() records the pass's load in the
 *     window ring, and in async mode applies one transferred layer (move_to_workspace) when every rank's
 *     buffer is ready; a re-plan due while a transfer is still running waits for it to finish.
 *   vllm/distributed/eplb/async_worker.py @ e163339f03b59a760eccd40c972ed20ccde294db: a background
 *     thread copies one layer at a time on its own CUDA stream (transfer_layer).
 *   vllm/distributed/eplb/policy/default.py: DeepSeek's EPLB (rebalance_experts, hierarchical when the
 *     groups divide the nodes) then preserve_intragpu_slots (experts that stay on a GPU keep their slot).
 * SGLang (sgl-project/sglang):
 *   python/sglang/srt/eplb/eplb_manager.py @ 53e29da2bb04a41bdd4f499a304cbb0e18fc9ba5: rebalance after
 *     every eplb_rebalance_num_iterations forward passes (server_args default 1000) on the recorder's
 *     logical_count; eplb_rebalance_layers_per_chunk None = every layer in one blocking update;
 *     eplb_min_rebalancing_utilization_threshold 1.0 (avg/max load is never above 1: always rebalances).
 *   python/sglang/srt/server_args.py @ 469c63e54e7d94591617ef9590c6aa26d54dc1bb
 *     (_handle_expert_distribution_metrics): the recorder buffer defaults to the rebalance interval.
 *   eplb_algorithm "auto": DeepSeek's EPLB.
 *
 * What the replay models and does not: moves are counted per GPU as experts a GPU must receive
 * (plan-tables.ts movedReplicas), which is what preserve_intragpu_slots leaves to copy; slot order
 * inside a GPU does not change predicted time. Async copies are taken as fully hidden (they compete
 * with dispatch/combine for links in reality; not modelled), but a layer whose copy takes longer than
 * the steps it overlaps is applied later. The window holds logical counts (vLLM maps its physical
 * window to logical at re-plan time, the same numbers when no re-plan falls inside the window).
 */
import type { EplbConfig } from './spec.ts';

/** vLLM's EPLB with its defaults (EPLBConfig; eplb_state.py). */
export function vllmEplbConfig(over: { windowSteps?: number; intervalSteps?: number; async?: boolean } = {}): EplbConfig {
  const interval = over.intervalSteps ?? 3000;
  return {
    engine: 'vllm',
    windowSteps: over.windowSteps ?? 1000,
    intervalSteps: interval,
    // expert_rearrangement_step starts at interval - interval // 4 and fires at interval.
    firstAfterSteps: Math.floor(interval / 4),
    async: over.async ?? true,
    source: 'vLLM EPLBConfig defaults (vllm/config/parallel.py) and EplbState.step (vllm/distributed/eplb/eplb_state.py)',
  };
}

/** SGLang's EPLB with its defaults (server_args.py; eplb_manager.py). */
export function sglangEplbConfig(over: { windowSteps?: number; intervalSteps?: number } = {}): EplbConfig {
  const interval = over.intervalSteps ?? 1000;
  return {
    engine: 'sglang',
    windowSteps: over.windowSteps ?? interval,
    intervalSteps: interval,
    firstAfterSteps: interval,
    async: false,
    source: 'SGLang server_args defaults and EPLBManager (python/sglang/srt/eplb/eplb_manager.py)',
  };
}

/**
 * After one step: whether the engine re-plans now. vLLM: the counter has reached the interval and no
 * async transfer is running (else it waits, counter kept). SGLang: every interval steps.
 */
export function replanDue(cfg: EplbConfig, stepsSinceReplan: number, transferring: boolean): boolean {
  if (stepsSinceReplan < cfg.intervalSteps) return false;
  return !(cfg.async && transferring);
}

/** One line on what the policy models, for outputs. */
export function describeEplb(cfg: EplbConfig): string {
  const moves = cfg.async
    ? 'copied in the background and applied one layer per step (not charged)'
    : 'every layer moved at once, the step pays the copy time';
  return `${cfg.engine === 'vllm' ? 'vLLM' : 'SGLang'} EPLB: starts linear, re-plans with DeepSeek's EPLB on the last ${cfg.windowSteps} steps, first after ${cfg.firstAfterSteps} steps then every ${cfg.intervalSteps}; ${moves} (${cfg.source})`;
}
