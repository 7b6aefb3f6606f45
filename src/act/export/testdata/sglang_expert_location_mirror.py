"""
A mirror of how SGLang loads --init-expert-location, re-implemented (not copied) from its source:

  sgl-project/sglang @ 6270b01498692d05d29267efe96d0eb7d9824545
    python/sglang/srt/eplb/expert_location.py
      compute_initial_expert_location_metadata: ".pt" -> torch.load, ".json" -> json of the file,
        else json of the string; "physical_to_logical_map" -> init_by_mapping, "logical_count" ->
        init_by_eplb, anything else -> NotImplementedError
      _init_common: num_physical = num_logical + ep_num_redundant_experts; assert num_physical % ep_size == 0
      _compute_logical_to_all_physical_map / _pad_nested_array / _init_raw (pad with -1, num_valid)
      compute_logical_to_rank_dispatch_physical_map (ep_dispatch_algorithm "static", seed 42)
      ExpertLocationMetadata.__post_init__ shape asserts
      init_by_eplb: logical_count of 2 dims gets a leading pass axis (unsqueeze(0))
  sgl-project/sglang @ 68836b60f99d117ec96b5c8d7e49400724f25aca
    python/sglang/srt/eplb/expert_location_dispatch.py
      ExpertLocationDispatchInfo.init_new(layer_id): row layer_id of every map
      _topk_ids_logical_to_physical_static: partial_logical_to_rank_dispatch_physical_map[topk_ids]
  sgl-project/sglang @ 3e4a39ee73308590c5c753108bdcb8d333f7f1c6
    python/sglang/srt/models/deepseek_v2.py get_model_config_for_expert_location:
      num_layers = config.num_hidden_layers, num_logical_experts = config.n_routed_experts;
      the MoE block of decoder layer `layer_id` calls init_new(layer_id=self.layer_id)

Reads a JSON list of cases on stdin; each case: {"file", "config": HF config dict, "ep_size",
"ep_num_redundant_experts"}. Writes one JSON result per case: {"ok": true, "layers": {decoder layer
id: {"ranks": [[ranks holding logical e] for e], "dispatch_ok": bool}}} for placements,
{"ok": true, "logical_count": {layer id: [E]}} for counts, or {"ok": false, "error": "..."}.
"""
import json
import random
import sys
from pathlib import Path

import torch
import torch.nn.functional as F


def moe_layer_ids(cfg):
    # DeepseekV2DecoderLayer: MoE when layer_id >= first_k_dense_replace and layer_id % moe_layer_freq == 0
    k = cfg.get("first_k_dense_replace", 0)
    f = cfg.get("moe_layer_freq", 1)
    return [i for i in range(cfg["num_hidden_layers"]) if i >= k and i % f == 0]


def load_data(data):
    if data.endswith(".pt"):
        return torch.load(data)
    if data.endswith(".json"):
        return json.loads(Path(data).read_text())
    return json.loads(data)


def logical_to_all_physical(p2l, num_logical):
    num_layers, num_physical = p2l.shape
    out = [[[] for _ in range(num_logical)] for _ in range(num_layers)]
    for l in range(num_layers):
        for p in range(num_physical):
            out[l][p2l[l, p].item()].append(p)
    width = max(len(x) for layer in out for x in layer)
    return torch.tensor([[x + [-1] * (width - len(x)) for x in layer] for layer in out])


def fair_choices(arr, k, r):
    q, rem = divmod(k, len(arr))
    ans = arr * q + r.sample(arr, k=rem)
    r.shuffle(ans)
    return ans


def rank_dispatch(l2all, num_gpus, num_physical, seed=42):
    # returns the [num_gpus, layers, logical] table; SGLang keeps row ep_rank of it on each rank
    r = random.Random(seed)
    per = num_physical // num_gpus
    num_layers, num_logical, _ = l2all.shape
    out = torch.full((num_gpus, num_layers, num_logical), -1, dtype=l2all.dtype)
    for l in range(num_layers):
        for e in range(num_logical):
            cands = [p for p in l2all[l, e].tolist() if p != -1]
            part = out[:, l, e]
            for g in range(num_gpus):
                same = [p for p in cands if p // per == g]
                if same:
                    part[g] = same[0]
            remain = int(torch.sum(part == -1).item())
            part[part == -1] = torch.tensor(fair_choices(cands, remain, r), dtype=l2all.dtype)
    assert torch.all(out != -1)
    return out


def run(case):
    cfg = case["config"]
    num_layers = cfg["num_hidden_layers"]
    E = cfg["n_routed_experts"]
    G = case["ep_size"]
    num_physical = E + case["ep_num_redundant_experts"]
    assert num_physical % G == 0, "num_physical_experts % ep_size != 0"
    d = load_data(case["file"])
    moe = moe_layer_ids(cfg)
    if "physical_to_logical_map" in d:
        p2l = torch.tensor(d["physical_to_logical_map"])
        assert p2l.dim() == 2 and p2l.shape[1] == num_physical, f"map shape {tuple(p2l.shape)} for {num_physical} physical experts"
        l2all = logical_to_all_physical(p2l, E)
        l2all = F.pad(l2all, (0, num_physical - l2all.shape[-1]), value=-1)
        num_valid = torch.count_nonzero(l2all != -1, dim=-1)
        assert p2l.shape[0] == l2all.shape[0] == num_valid.shape[0]
        per_rank = rank_dispatch(l2all, G, num_physical)
        per = num_physical // G
        layers = {}
        for layer_id in moe:
            # ExpertLocationDispatchInfo.init_new(layer_id): row layer_id (IndexError when out of range)
            row = p2l[layer_id, :]
            dispatch_ok = True
            topk_ids = torch.arange(E)
            for g in range(G):
                phys = per_rank[g][layer_id, :][topk_ids]
                # the expert module at physical slot p holds logical p2l[layer_id, p]
                dispatch_ok = dispatch_ok and bool(torch.all(row[phys] == topk_ids))
            ranks = [sorted({p // per for p in range(num_physical) if row[p].item() == e}) for e in range(E)]
            layers[str(layer_id)] = {"ranks": ranks, "dispatch_ok": dispatch_ok}
        return {"ok": True, "rows": int(p2l.shape[0]), "layers": layers}
    if "logical_count" in d:
        lc = torch.tensor(d["logical_count"])
        if lc.dim() == 2:
            lc = lc.unsqueeze(0)
        assert lc.shape[2] == E, f"logical_count has {lc.shape[2]} experts, model {E}"
        out = {}
        for layer_id in moe:
            out[str(layer_id)] = lc[:, layer_id, :].sum(0).tolist()
        return {"ok": True, "rows": int(lc.shape[1]), "logical_count": out}
    raise NotImplementedError(f"Unknown init_expert_location format ({list(d.keys())=})")


results = []
for case in json.load(sys.stdin):
    try:
        results.append(run(case))
    except Exception as e:  # report, the test decides
        results.append({"ok": False, "error": f"{type(e).__name__}: {e}"})
print(json.dumps(results))
