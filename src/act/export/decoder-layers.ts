/**
 * How many decoder layers an engine file must cover, and where that number came from.
 *
 * SGLang indexes its expert-location tensors by decoder layer id over `num_hidden_layers`, dense
 * layers included (sgl-project/sglang @ 6270b01498692d05d29267efe96d0eb7d9824545,
 * python/sglang/srt/eplb/expert_location.py: `physical_to_logical_map  # (layers, num_physical_experts)`,
 * `ModelConfigForExpertLocation.num_layers`; python/sglang/srt/models/deepseek_v2.py @ 3e4a39ee,
 * `get_model_config_for_expert_location` sets `num_layers=config.num_hidden_layers`, and the MoE layer
 * reads row `layer_id` through `ExpertLocationDispatchInfo.init_new(layer_id=self.layer_id)`
 * (python/sglang/srt/eplb/expert_location_dispatch.py @ 68836b60f99d117ec96b5c8d7e49400724f25aca)).
 * A file with MoE rows only is off by the number of leading dense layers (DeepSeek-V2-Lite: layer 0
 * is dense, so MoE layer 26 falls out of range).
 *
 * Resolution order: an explicit count (`--model` config.json or preset), the trace's metadata
 * (`extra.num_hidden_layers` / `extra.numHiddenLayers`), a model name that resolves to a preset, else
 * the largest MoE layer id + 1 with a note saying so.
 */
import { InputError } from '../../core/errors.ts';
import { loadModelConfig, resolveModelPreset } from '../../predict/model-config.ts';

export interface DecoderLayers {
  /** num_hidden_layers: rows the engine file has (row l = decoder layer l). */
  numHiddenLayers: number;
  /** Where the number came from, for the printed note. */
  source: string;
  /** True when it was only inferred from the largest layer id (say so to the user). */
  inferred: boolean;
}

export interface DecoderLayerHints {
  /** From --model (a config.json path or a preset name), resolved at the CLI edge. */
  explicit?: { numHiddenLayers: number; source: string };
  /** Trace metadata `extra` (a capture may record num_hidden_layers), or a plan's params. */
  metaExtra?: Record<string, unknown>;
  /** What metaExtra is, for the note (default 'the trace metadata'). */
  metaLabel?: string;
  /** Model name carried by the trace or plan. */
  model?: string;
}

function positiveInt(v: unknown): v is number {
  return Number.isInteger(v) && (v as number) > 0;
}

/**
 * Decide num_hidden_layers for MoE layer ids `layerIds` (model-level decoder ids, length L).
 * Throws InputError (naming `where`) when a layer id is negative or not below the count found.
 */
export function resolveDecoderLayers(layerIds: number[], hints: DecoderLayerHints, where: string): DecoderLayers {
  for (const [i, id] of layerIds.entries()) {
    if (!Number.isInteger(id) || id < 0) throw new InputError(where, `layerIds[${i}]`, `expected a non-negative decoder layer id, got ${JSON.stringify(id)}`);
  }
  if (new Set(layerIds).size !== layerIds.length) throw new InputError(where, 'layerIds', 'two MoE layers have the same decoder layer id');
  const maxId = layerIds.reduce((m, v) => Math.max(m, v), -1);
  let found: DecoderLayers | undefined;
  if (hints.explicit) found = { ...hints.explicit, inferred: false };
  else {
    const x = hints.metaExtra?.num_hidden_layers ?? hints.metaExtra?.numHiddenLayers;
    if (positiveInt(x)) found = { numHiddenLayers: x, source: `${hints.metaLabel ?? 'the trace metadata'} (num_hidden_layers)`, inferred: false };
  }
  if (!found && hints.model) {
    // Readers name converted checkpoints "<id> (<architecture> arch)" (the ESFT traces do).
    const arch = /\(([^()]+) arch\)/.exec(hints.model)?.[1];
    const hit = (arch ? resolveModelPreset(arch) : undefined) ?? resolveModelPreset(hints.model);
    if (hit) {
      const cfg = loadModelConfig(hit.preset.name);
      // A preset only counts when it agrees with the layers we have (same MoE layer set or a superset).
      const moe = new Set(cfg.moeLayerIds);
      if (layerIds.every((id) => moe.has(id))) {
        found = { numHiddenLayers: cfg.numLayers, source: `preset ${hit.preset.name} (${hit.how} "${hints.model}"; config.json num_hidden_layers)`, inferred: false };
      }
    }
  }
  if (!found) {
    found = {
      numHiddenLayers: maxId + 1,
      source: `the largest MoE layer id (${maxId}) + 1: num_hidden_layers is not in the input; pass --model <config.json> if the model has dense layers after its last MoE layer`,
      inferred: true,
    };
  }
  if (found.numHiddenLayers <= maxId) {
    throw new InputError(where, 'layerIds', `MoE layer id ${maxId} is out of range for ${found.numHiddenLayers} decoder layers (from ${found.source}); is this plan for another model?`);
  }
  return found;
}

/** Read num_hidden_layers of a --model spec (config.json path/dir or preset). */
export function decoderLayersFromModel(spec: string): { numHiddenLayers: number; source: string } {
  const cfg = loadModelConfig(spec);
  return { numHiddenLayers: cfg.numLayers, source: cfg.source === 'preset' ? `preset ${cfg.name} (num_hidden_layers)` : `${cfg.source} (num_hidden_layers)` };
}
