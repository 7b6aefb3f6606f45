/**
 * What to do with a plan, per engine: the closing lines of `ballast plan`.
 *
 * Takes the plan, the gate's verdict (when it ran) and the file written (when --out was given).
 * Returns lines (no colour). What each engine loads is from its source (see plan-exports.ts and
 * docs/plan.md): released SGLang loads `--init-expert-location`; no vLLM release loads a placement
 * file, so on vLLM a plan is applied by rewriting the checkpoint (`ballast reorder`, no replicas) or
 * left to vLLM's online EPLB.
 */
import { type Plan, uniformSlots } from '../core/plan.ts';
import { sglangLaunchFlags } from './export/plan-exports.ts';

export interface NextStepsInput {
  plan: Plan;
  /** The gate's verdict, when it ran. */
  verdict?: 'apply' | 'keep current';
  /** Where the plan was written (--out), if anywhere. */
  out?: string;
}

export function nextSteps({ plan, verdict, out }: NextStepsInput): string[] {
  const lines: string[] = [];
  const keep = verdict === 'keep current';
  if (out) {
    lines.push(
      keep
        ? `  wrote ${out}  (KEEP CURRENT: the gate predicts this plan does not pay; keep the placement you have. The file is for inspection, \`ballast diff\` or a later re-check, not for deploying)`
        : `  wrote ${out}`,
    );
  } else lines.push('  (pass --out plan.json to save the plan)');
  const file = out ?? 'plan.json';
  const P = plan.phy2log[0]?.length ?? plan.numExperts;
  const R = P - plan.numExperts;
  const uniform = uniformSlots(plan);
  lines.push(keep ? '  next steps (only if you apply it anyway; the gate says keep current)' : '  next steps');
  if (uniform) {
    const map = 'sglang-map.json';
    lines.push(`    SGLang   ballast export ${file} --to sglang --out ${map}   then launch with ${sglangLaunchFlags(plan, map).join(' ')}`);
  } else {
    lines.push('    SGLang   needs one slot count for every layer: re-plan without --variable-slots');
  }
  const forReorder = plan.params?.for === 'reorder';
  if (R === 0 && uniform) {
    lines.push(`    vLLM     ballast reorder CHECKPOINT --plan ${file} --out NEW_CHECKPOINT --verify   then serve NEW_CHECKPOINT with --enable-expert-parallel: the default linear placement is then this plan`);
    if (!forReorder) {
      lines.push('             (group-routed models such as DeepSeek-V3 or Kimi: make the plan with --for reorder --model CHECKPOINT; reorder refuses plans that would change what the model computes)');
    }
  } else {
    lines.push(
      `    vLLM     no vLLM release loads a placement with ${R > 0 ? `${R} redundant slots` : 'a different slot count per layer'}, and reorder carries none: re-plan with --for reorder --model CHECKPOINT for \`ballast reorder\`, or let vLLM place replicas online: --enable-expert-parallel --enable-eplb${R > 0 ? ` --eplb-config.num_redundant_experts ${R}` : ''}`,
    );
  }
  lines.push('             (--to vllm-jsonl / --to expert-map follow open vLLM PRs #41141 / #34811; no vLLM release loads them. `ballast run --apply` is not built)');
  return lines;
}
