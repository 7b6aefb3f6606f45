"""Small MoE models that mirror the class names and output conventions of HF transformers and vLLM.

Run as a script, it drives one model through prefill and decode steps and prints, on its last stdout
line, `TRUTH <json>`: the expert counts each block actually dispatched to, per phase, computed by
the block itself (independent of the ballast agent). Used by the `ballast run` tests and the
overhead benchmark.

  --conv hf       Qwen3MoeSparseMoeBlock: gate = nn.Linear(H, E), top_k = 4 on the block, input
                  [B, S, H], returns (hidden, router_logits)
  --conv vllm     MixtralMoE: gate = ReplicatedLinear returning (logits, None), top_k = 3 only on
                  the FusedMoE experts module, input [tokens, H], returns one tensor
  --conv deepseek DeepseekV2MoE (vLLM): ReplicatedLinear gate with e_score_correction_bias, FusedMoE with
                  use_grouped_topk (4 groups, 2 kept), sigmoid scoring, top_k = 3
  --conv router   OlmoeSparseMoeBlock with an OlmoeTopKRouter child returning
                  (logits, scores, indices), top_k = 6
"""
import argparse
import json
import sys
import time

import torch
import torch.nn as nn


class Expert(nn.Module):
    def __init__(self, h, f):
        super().__init__()
        self.up = nn.Linear(h, f, bias=False)
        self.down = nn.Linear(f, h, bias=False)

    def forward(self, x):
        return self.down(torch.relu(self.up(x)))


ROUTES = None  # when set: list per block of per-token sorted expert ids, in token order


def dispatch(experts, x, idx, weights, truth, block=None):
    """Run each token through its selected experts; add the selections to truth[E] (ints)."""
    if ROUTES is not None and block is not None and ROUTES is not None:
        ROUTES[block].extend(sorted(r) for r in idx.tolist())
    out = torch.zeros_like(x)
    for e, expert in enumerate(experts):
        tok, slot = (idx == e).nonzero(as_tuple=True)
        if truth is not None:
            truth[e] += int(tok.numel())
        if tok.numel():
            out.index_add_(0, tok, expert(x[tok]) * weights[tok, slot].unsqueeze(-1))
    return out


# ---- HF transformers convention ----
class Qwen3MoeSparseMoeBlock(nn.Module):
    def __init__(self, h, f, e, top_k):
        super().__init__()
        self.num_experts = e
        self.top_k = top_k
        self.gate = nn.Linear(h, e, bias=False)
        self.experts = nn.ModuleList([Expert(h, f) for _ in range(e)])
        self.truth = None
        self.block_index = None

    def forward(self, hidden_states):
        b, s, h = hidden_states.shape
        x = hidden_states.view(-1, h)
        router_logits = self.gate(x)
        probs = torch.softmax(router_logits, dim=-1, dtype=torch.float)
        weights, idx = torch.topk(probs, self.top_k, dim=-1)
        out = dispatch(self.experts, x, idx, weights.to(x.dtype), self.truth, self.block_index)
        return out.view(b, s, h), router_logits


# ---- vLLM convention ----
class ReplicatedLinear(nn.Module):
    def __init__(self, h, e):
        super().__init__()
        self.input_size = h
        self.output_size = e
        self.weight = nn.Parameter(torch.randn(e, h) * 0.5)

    def forward(self, x):
        return nn.functional.linear(x, self.weight), None


class FusedMoE(nn.Module):
    def __init__(self, h, f, e, top_k):
        super().__init__()
        self.top_k = top_k
        self.global_num_experts = e
        self.experts = nn.ModuleList([Expert(h, f) for _ in range(e)])
        self.truth = None
        self.block_index = None

    def forward(self, hidden_states, router_logits):
        probs = torch.softmax(router_logits, dim=-1, dtype=torch.float)
        weights, idx = torch.topk(probs, self.top_k, dim=-1)
        return dispatch(self.experts, hidden_states, idx, weights.to(hidden_states.dtype), self.truth, self.block_index)


class MixtralMoE(nn.Module):
    def __init__(self, h, f, e, top_k):
        super().__init__()
        self.gate = ReplicatedLinear(h, e)
        self.experts = FusedMoE(h, f, e, top_k)

    def forward(self, hidden_states):
        router_logits, _ = self.gate(hidden_states)
        return self.experts(hidden_states, router_logits)


# ---- vLLM DeepSeek-V2/V3 convention: grouped, bias-corrected sigmoid routing inside FusedMoE ----
class DeepseekFusedMoE(nn.Module):
    """Selection written token by token from the DeepSeek-V3 definition (independent of the agent)."""

    def __init__(self, h, f, e, top_k, bias):
        super().__init__()
        self.top_k = top_k
        self.global_num_experts = e
        self.use_grouped_topk = True
        self.num_expert_group = 4
        self.topk_group = 2
        self.scoring_func = "sigmoid"
        self.e_score_correction_bias = bias
        self.experts = nn.ModuleList([Expert(h, f) for _ in range(e)])
        self.truth = None
        self.block_index = None

    def select(self, logits):
        e = logits.shape[-1]
        per = e // self.num_expert_group
        bias = self.e_score_correction_bias.tolist()
        rows = []
        for row in torch.sigmoid(logits.float()).tolist():
            choice = [row[j] + bias[j] for j in range(e)]
            gscore = []
            for g in range(self.num_expert_group):
                vals = sorted(choice[g * per:(g + 1) * per], reverse=True)
                gscore.append(vals[0] + vals[1])
            groups = sorted(range(self.num_expert_group), key=lambda g: -gscore[g])[:self.topk_group]
            allowed = [j for g in groups for j in range(g * per, (g + 1) * per)]
            rows.append(sorted(allowed, key=lambda j: -choice[j])[:self.top_k])
        idx = torch.tensor(rows, dtype=torch.long)
        w = torch.sigmoid(logits.float()).gather(1, idx)
        return w / w.sum(-1, keepdim=True), idx

    def forward(self, hidden_states, router_logits):
        w, idx = self.select(router_logits)
        return dispatch(self.experts, hidden_states, idx, w.to(hidden_states.dtype), self.truth, self.block_index)


class DeepseekV2MoE(nn.Module):
    def __init__(self, h, f, e, top_k):
        super().__init__()
        self.gate = ReplicatedLinear(h, e)
        self.gate.e_score_correction_bias = nn.Parameter(torch.randn(e) * 0.3, requires_grad=False)
        self.experts = DeepseekFusedMoE(h, f, e, top_k, self.gate.e_score_correction_bias)

    def forward(self, hidden_states):
        router_logits, _ = self.gate(hidden_states)
        return self.experts(hidden_states, router_logits)


# ---- newer HF: separate router module returning indices ----
class OlmoeTopKRouter(nn.Module):
    def __init__(self, h, e, top_k):
        super().__init__()
        self.top_k = top_k
        self.num_experts = e
        self.weight = nn.Parameter(torch.randn(e, h) * 0.5)

    def forward(self, x):
        logits = nn.functional.linear(x, self.weight)
        probs = torch.softmax(logits, dim=-1, dtype=torch.float)
        scores, indices = torch.topk(probs, self.top_k, dim=-1)
        return logits, scores, indices


class OlmoeSparseMoeBlock(nn.Module):
    def __init__(self, h, f, e, top_k):
        super().__init__()
        self.gate = OlmoeTopKRouter(h, e, top_k)
        self.experts = nn.ModuleList([Expert(h, f) for _ in range(e)])
        self.truth = None
        self.block_index = None

    def forward(self, hidden_states):
        b, s, h = hidden_states.shape
        x = hidden_states.view(-1, h)
        _, scores, idx = self.gate(x)
        return dispatch(self.experts, x, idx, scores.to(x.dtype), self.truth, self.block_index).view(b, s, h)


class DenseMLP(nn.Module):
    def __init__(self, h, f):
        super().__init__()
        self.gate_proj = nn.Linear(h, f, bias=False)
        self.down_proj = nn.Linear(f, h, bias=False)

    def forward(self, x):
        return self.down_proj(torch.relu(self.gate_proj(x)))


class DecoderLayer(nn.Module):
    def __init__(self, mlp):
        super().__init__()
        self.norm = nn.LayerNorm(mlp_hidden(mlp))
        self.mlp = mlp

    def forward(self, x):
        y = self.mlp(self.norm(x))
        if isinstance(y, tuple):
            y = y[0]
        return x + y


def mlp_hidden(mlp):
    for p in mlp.parameters():
        return p.shape[-1]
    raise ValueError("no parameters")


class Config(object):
    def __init__(self, name):
        self._name_or_path = name


class ToyMoeForCausalLM(nn.Module):
    """Layer 0 is dense; layers 1..n are MoE (so the MoE layer ids are 1..n)."""

    def __init__(self, conv, layers=3, h=32, f=16, e=16, vocab=100):
        super().__init__()
        self.config = Config("toy-%s-moe" % conv)
        self.conv = conv
        self.embed_tokens = nn.Embedding(vocab, h)
        mods = [DecoderLayer(DenseMLP(h, f))]
        for _ in range(layers):
            if conv == "hf":
                blk = Qwen3MoeSparseMoeBlock(h, f, e, 4)
            elif conv == "vllm":
                blk = MixtralMoE(h, f, e, 3)
            elif conv == "deepseek":
                blk = DeepseekV2MoE(h, f, e, 3)
            else:
                blk = OlmoeSparseMoeBlock(h, f, e, 6)
            mods.append(DecoderLayer(blk))
        self.layers = nn.ModuleList(mods)
        self.lm_head = nn.Linear(h, vocab, bias=False)
        self.num_experts = e

    def moe_blocks(self):
        out = []
        for i, l in enumerate(self.layers[1:]):
            b = l.mlp.experts if self.conv in ("vllm", "deepseek") else l.mlp
            b.block_index = i
            out.append(b)
        return out

    def forward(self, ids):
        x = self.embed_tokens(ids)
        if self.conv in ("vllm", "deepseek"):
            x = x.reshape(-1, x.shape[-1])  # vLLM flattens tokens
        for layer in self.layers:
            x = layer(x)
        return self.lm_head(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conv", default="hf", choices=["hf", "vllm", "router", "deepseek"])
    ap.add_argument("--steps", type=int, default=6, help="decode steps after the prefill")
    ap.add_argument("--batch", type=int, default=3)
    ap.add_argument("--prompt", type=int, default=11)
    ap.add_argument("--sleep", type=float, default=0.0, help="seconds to sleep after each step")
    ap.add_argument("--crash-after", type=int, default=-1, help="raise after this many steps")
    ap.add_argument("--exit-code", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dump-routes", action="store_true", help="also print ROUTES <json>: [L][T] sorted expert ids")
    ap.add_argument("--moe-parallel", choices=["ep", "tp"], help="vllm/deepseek: set FusedMoE's use_ep / tp_size as vLLM does "
                    "(ep: use_ep True, ep_size 2; tp: use_ep False, tp_size 2)")
    args = ap.parse_args()
    global ROUTES

    torch.manual_seed(args.seed)
    model = ToyMoeForCausalLM(args.conv).eval()
    blocks = model.moe_blocks()
    if args.moe_parallel:
        for b in blocks:
            b.use_ep = args.moe_parallel == "ep"
            b.ep_size = 2 if b.use_ep else 1
            b.tp_size = 1 if b.use_ep else 2
    if args.dump_routes:
        ROUTES = [[] for _ in blocks]
    truth = {"prefill": [[0] * model.num_experts for _ in blocks], "decode": [[0] * model.num_experts for _ in blocks]}
    ids = torch.randint(0, 100, (args.batch, args.prompt))
    with torch.no_grad():
        for step in range(args.steps + 1):
            phase = "prefill" if step == 0 else "decode"
            for i, b in enumerate(blocks):
                b.truth = truth[phase][i]
            inp = ids if step == 0 else ids[:, -1:]
            logits = model(inp)
            nxt = logits.reshape(args.batch, -1, logits.shape[-1])[:, -1].argmax(-1, keepdim=True)
            ids = torch.cat([ids, nxt], 1)
            print("step %d %s tokens=%d next=%s" % (step, phase, inp.numel(), nxt.view(-1).tolist()))
            sys.stdout.flush()
            if args.crash_after >= 0 and step + 1 >= args.crash_after:
                raise RuntimeError("fixture crashed on purpose after step %d" % step)
            if args.sleep:
                time.sleep(args.sleep)
    if ROUTES is not None:
        print("ROUTES " + json.dumps(ROUTES))
    print("TRUTH " + json.dumps({"layer_ids": list(range(1, len(blocks) + 1)), "experts": model.num_experts,
                                 "counts": truth}))
    sys.exit(args.exit_code)


if __name__ == "__main__":
    main()
