import type { Command } from 'commander';
import { InputError } from '../../core/errors.ts';
import { readPlanFile } from '../../plan/plan-file.ts';
import { REORDER_FILE, reorderCheckpoint } from '../../act/reorder/reorder.ts';

/** `ballast reorder <checkpoint-dir> --plan PLAN --out DIR [--verify] [--ranks G] [--json]` */
export function register(program: Command): void {
  program
    .command('reorder')
    .description("Rewrite a safetensors checkpoint so the engines' default linear placement realises a plan (plans without replicas).")
    .argument('<checkpoint-dir>', 'HF checkpoint directory (*.safetensors, model.safetensors.index.json)')
    .requiredOption('--plan <file>', 'ballast plan JSON, or SGLang {"physical_to_logical_map": [L][E]} (a permutation per layer; no --ranks needed)')
    .requiredOption('--out <dir>', 'new directory for the rewritten checkpoint (must not exist)')
    .option('--verify', "re-read the output: every tensor against its source bytes (SHA-256), and each permuted layer's router on random inputs (same experts chosen, at their new slots)")
    .option('--ranks <n>', 'EP ranks, only to check a plan form against (a permutation does not need it)')
    .option('--json', 'print the result as JSON')
    .action(async (dir: string, o: { plan: string; out: string; verify?: boolean; ranks?: string; json?: boolean }) => {
      const ranks = o.ranks !== undefined ? Number(o.ranks) : undefined;
      if (ranks !== undefined && !(Number.isInteger(ranks) && ranks > 0)) throw new InputError('--ranks', '', `expected a positive integer, got ${o.ranks}`);
      const plan = readPlanFile(o.plan, { numRanks: ranks, permutationOnly: true });
      const r = await reorderCheckpoint({ checkpointDir: dir, plan, outDir: o.out, verify: o.verify, planPath: o.plan });
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ out: o.out, ...r, layers: r.layers.length })}\n`);
        return;
      }
      const moved = r.layers.reduce((s, l) => s + l.new_to_old.filter((old, s2) => old !== s2).length, 0);
      process.stdout.write(
        [
          `wrote ${o.out}: ${r.layers.length} MoE layers, ${moved} expert slots changed`,
          `  routing (config.json): ${r.routing}`,
          `  ${r.tensorsPermuted} tensors permuted, ${r.tensorsCopied} copied unchanged`,
          `  shards rewritten: ${r.shardsRewritten.length} (${(r.bytesWritten / 2 ** 20).toFixed(1)} MiB), hard-linked: ${r.shardsLinked.length}`,
          o.verify ? `  verified ${r.tensorsVerified} tensors against their source bytes (SHA-256)` : '  not verified (pass --verify to hash-check every tensor and re-route each layer)',
          ...(o.verify
            ? [
                `  function check: ${r.layersRouteChecked} of ${r.layersRouteChecked + r.layersRouteUnchecked.length} permuted layers re-routed on 64 random inputs choose the same experts at their new slots${r.layersRouteUnchecked.length ? `; routers of layers ${r.layersRouteUnchecked.join(', ')} are quantized, checked by bytes only` : ''}`,
              ]
            : []),
          `  inverse permutation per layer: ${o.out}/${REORDER_FILE} (old_to_new, new_to_old)`,
          '',
        ].join('\n'),
      );
    });
}
