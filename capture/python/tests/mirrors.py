"""Mirrors of the MoE module structure of the engines ballast captures from, for CPU tests (torch 1.13).

Each mirror keeps the upstream class names, attribute names, call signatures and routing arithmetic that
the capture agent depends on; weights are random and small. The TRUTH of every mirror is counted where
the mirror dispatches tokens to experts (the experts module / kernel stand-in), independently of the
agent: `truth[layer][expert]` += tokens that expert actually processed.

Upstream sources (repository, path, commit of the version read):
  transformers v5, experts modules `*Experts.forward(hidden_states, top_k_index, top_k_weights)` with
    `@use_experts_implementation`, and the DeepSeek-V2 block that calls F.linear on gate.weight, names the
    group count `num_group` and masks dropped groups with 0.0:
      huggingface/transformers src/transformers/models/deepseek_v2/modeling_deepseek_v2.py
      @0233e509531ace915c8241b4c16c8032a583279c
  transformers v5 DeepSeek-V3: DeepseekV3TopkRouter returns logits (F.linear, float32); DeepseekV3MoE
    .route_tokens_to_experts: sigmoid, + e_score_correction_bias, group score = top-2 sum, masked_fill 0.0,
    top-k; DeepseekV3NaiveMoe(hidden_states, top_k_index, top_k_weights). The 0.0 mask:
      huggingface/transformers src/transformers/models/deepseek_v3/modeling_deepseek_v3.py
      @f5a9ec512fa9fe69e51ea0c6388c68d50de567b3 (get_topk_indices)
  transformers Mixtral / Qwen3-MoE / OLMoE v5: `*TopKRouter` (weight [E, H]) returning
    (router_logits, top values, indices), then `self.experts(hidden_states, indices, weights)` (same experts
    convention as DeepSeek-V2 above; Mixtral read in modeling_mixtral.py of transformers main, 2026).
  transformers GPT-OSS: GptOssTopKRouter returns (router_scores, router_indices); GptOssMLP calls
    `self.experts(hidden_states, router_indices=router_indices, routing_weights=router_scores)`; MXFP4:
    `mlp_forward` computes F.linear(hidden, router.weight, router.bias), triton routing -> RoutingData
    (gate_scal, expt_hist, n_expts_tot, n_expts_act, ...), `self.experts(hidden, routing_data, gather_idx, scatter_idx)`:
      huggingface/transformers src/transformers/integrations/mxfp4.py @0189b1d09a03a87ec4f59831acb93cc1832d14e7
  transformers Llama 4: Llama4Router(nn.Linear) returns (sigmoid(scattered top-k logits), router_logits);
    Llama4TextExperts.forward(hidden_states) gets the tokens repeated per expert (no ids).
  vLLM: FusedMoERouter/BaseRouter.select_experts calls capture_fn(topk_ids) (logical ids, before EPLB):
      vllm-project/vllm vllm/model_executor/layers/fused_moe/router/base_router.py @b9f290edc622f8126056e49e7afe03f0cb0c5347
    grouped_topk (sigmoid/softmax, + bias, top-2 group sum, masked_fill -inf):
      vllm/model_executor/layers/fused_moe/router/grouped_topk_router.py @5568166686c79f69c2a6c1a0534c9595baf2a988
    FusedMoE.router = create_fused_moe_router(...); FusedMoE.forward goes through the `moe_forward`
    custom op, which looks the layer up in the forward context by name; GPUModelRunner.execute_model
    (scheduler_output.total_num_scheduled_tokens) pads to a CUDA-graph size; profile_run / capture_model
    go through _dummy_run.
  SGLang: TopK module (grouping, correction bias, num_fused_shared_experts) -> StandardTopKOutput
    (topk_weights, topk_ids, router_logits); with fused shared experts the last id column is
    randint(num_experts, num_experts + num_fused_shared_experts); FusedMoE.forward(hidden_states, topk_output):
      sgl-project/sglang python/sglang/srt/layers/moe/topk.py @06c48ca8da0b2c8aac15df74a768e6a012444064
"""
import sys
import types

import torch
import torch.nn as nn
import torch.nn.functional as F


def new_truth(layers, experts):
    return [[0] * experts for _ in range(layers)]


def _count(truth, ids, experts):
    """Tokens each expert processes: one per (token, slot) whose id is a routed expert."""
    if truth is None:
        return
    for e in ids.reshape(-1).tolist():
        if 0 <= e < experts:
            truth[e] += 1


# ---------------------------------------------------------------- transformers v5 ----
class Cfg(object):
    def __init__(self, **kw):
        self.__dict__.update(kw)


class ExpertsV5(nn.Module):
    """`*Experts` of transformers v5: 3D weights; forward(hidden_states, top_k_index, top_k_weights)."""

    def __init__(self, cfg):
        super().__init__()
        self.num_experts = cfg.num_experts
        self.gate_up_proj = nn.Parameter(torch.randn(cfg.num_experts, 2 * cfg.inter, cfg.hidden) * 0.2)
        self.down_proj = nn.Parameter(torch.randn(cfg.num_experts, cfg.hidden, cfg.inter) * 0.2)
        self.truth = None

    def forward(self, hidden_states, top_k_index, top_k_weights):
        final = torch.zeros_like(hidden_states)
        with torch.no_grad():
            mask = F.one_hot(top_k_index, num_classes=self.num_experts).permute(2, 1, 0)
            hit = torch.greater(mask.sum(dim=(-1, -2)), 0).nonzero()
        for e in hit:
            e = e[0]
            if e == self.num_experts:
                continue  # sentinel of rank-local routing: not an expert of this rank
            pos, tok = torch.where(mask[e])
            if self.truth is not None:
                self.truth[int(e)] += int(tok.numel())
            gate, up = F.linear(hidden_states[tok], self.gate_up_proj[e]).chunk(2, dim=-1)
            out = F.linear(F.silu(gate) * up, self.down_proj[e]) * top_k_weights[tok, pos, None]
            final.index_add_(0, tok, out.to(final.dtype))
        return final


class MixtralExperts(ExpertsV5):
    pass


class Qwen3MoeExperts(ExpertsV5):
    pass


class OlmoeExperts(ExpertsV5):
    pass


class DeepseekV2Experts(ExpertsV5):
    pass


class DeepseekV3NaiveMoe(ExpertsV5):
    pass


class TopKRouterV5(nn.Module):
    """Mixtral/Qwen3-MoE/OLMoE v5 router: (router_logits, top values, indices)."""

    def __init__(self, cfg):
        super().__init__()
        self.top_k = cfg.top_k
        self.num_experts = cfg.num_experts
        self.hidden_dim = cfg.hidden
        self.weight = nn.Parameter(torch.randn(cfg.num_experts, cfg.hidden))

    def forward(self, hidden_states):
        hidden_states = hidden_states.reshape(-1, self.hidden_dim)
        logits = F.linear(hidden_states, self.weight)
        probs = F.softmax(logits, dtype=torch.float, dim=-1)
        top, idx = torch.topk(probs, self.top_k, dim=-1)
        top = top / top.sum(dim=-1, keepdim=True)
        return logits, top.to(logits.dtype), idx


class MixtralTopKRouter(TopKRouterV5):
    pass


class Qwen3MoeTopKRouter(TopKRouterV5):
    pass


class OlmoeTopKRouter(TopKRouterV5):
    pass


class _SparseBlockV5(nn.Module):
    router_cls = TopKRouterV5
    experts_cls = ExpertsV5

    def __init__(self, cfg):
        super().__init__()
        self.top_k = cfg.top_k
        self.gate = self.router_cls(cfg)
        self.experts = self.experts_cls(cfg)

    def forward(self, hidden_states):
        b, s, h = hidden_states.shape
        x = hidden_states.view(-1, h)
        _, weights, idx = self.gate(x)
        return self.experts(x, idx, weights).reshape(b, s, h)


class MixtralSparseMoeBlock(_SparseBlockV5):
    router_cls = MixtralTopKRouter
    experts_cls = MixtralExperts


class Qwen3MoeSparseMoeBlock(_SparseBlockV5):
    router_cls = Qwen3MoeTopKRouter
    experts_cls = Qwen3MoeExperts


class OlmoeSparseMoeBlock(_SparseBlockV5):
    router_cls = OlmoeTopKRouter
    experts_cls = OlmoeExperts


class DeepseekV2Moe(nn.Module):
    """v5: gate = nn.Linear, never called; F.linear on gate.weight; num_group; 0.0 mask."""

    def __init__(self, cfg):
        super().__init__()
        self.experts = DeepseekV2Experts(cfg)
        self.gate = nn.Linear(cfg.hidden, cfg.num_experts, bias=False)
        self.topk_method = cfg.topk_method
        self.num_group = cfg.n_group
        self.top_k = cfg.top_k
        self.topk_group = cfg.topk_group
        self.num_experts = cfg.num_experts
        self.routed_scaling_factor = 1.0

    def route_tokens_to_experts(self, router_logits):
        b, s, e = router_logits.shape
        router_logits = router_logits.view(-1, e).softmax(dim=-1, dtype=torch.float32)
        if self.topk_method == "greedy":
            w, idx = torch.topk(router_logits, k=self.top_k, dim=-1, sorted=False)
        else:
            group_scores = router_logits.view(b * s, self.num_group, -1).max(dim=-1).values
            group_idx = torch.topk(group_scores, k=self.topk_group, dim=-1, sorted=False)[1]
            group_mask = torch.zeros_like(group_scores)
            group_mask.scatter_(1, group_idx, 1)
            score_mask = group_mask.unsqueeze(-1).expand(b * s, self.num_group, self.num_experts // self.num_group).reshape(b * s, -1)
            tmp = router_logits.masked_fill(~score_mask.bool(), 0.0)
            w, idx = torch.topk(tmp, k=self.top_k, dim=-1, sorted=False)
        return idx, w * self.routed_scaling_factor

    def forward(self, hidden_states):
        shape = hidden_states.shape
        logits = F.linear(hidden_states.type(torch.float32), self.gate.weight.type(torch.float32))
        idx, w = self.route_tokens_to_experts(logits)
        return self.experts(hidden_states.view(-1, shape[-1]), idx, w).view(*shape)


class DeepseekV3TopkRouter(nn.Module):
    """v5: returns router logits only."""

    def __init__(self, cfg):
        super().__init__()
        self.n_routed_experts = cfg.num_experts
        self.hidden = cfg.hidden
        self.weight = nn.Parameter(torch.randn(cfg.num_experts, cfg.hidden))
        self.register_buffer("e_score_correction_bias", torch.zeros(cfg.num_experts))

    def forward(self, hidden_states):
        hidden_states = hidden_states.view(-1, self.hidden)
        return F.linear(hidden_states.type(torch.float32), self.weight.type(torch.float32))


class DeepseekV3MoE(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.experts = DeepseekV3NaiveMoe(cfg)
        self.gate = DeepseekV3TopkRouter(cfg)
        self.n_routed_experts = cfg.num_experts
        self.n_group = cfg.n_group
        self.topk_group = cfg.topk_group
        self.top_k = cfg.top_k
        self.norm_topk_prob = True

    def route_tokens_to_experts(self, router_logits):
        scores = router_logits.sigmoid()
        choice = scores.view(-1, self.n_routed_experts) + self.gate.e_score_correction_bias.unsqueeze(0)
        group_scores = choice.view(-1, self.n_group, self.n_routed_experts // self.n_group).topk(2, dim=-1)[0].sum(dim=-1)
        group_idx = torch.topk(group_scores, k=self.topk_group, dim=-1, sorted=False)[1]
        group_mask = torch.zeros_like(group_scores)
        group_mask.scatter_(1, group_idx, 1)
        score_mask = group_mask.unsqueeze(-1).expand(-1, self.n_group, self.n_routed_experts // self.n_group).reshape(-1, self.n_routed_experts)
        choice = choice.masked_fill(~score_mask.bool(), 0.0)
        idx = torch.topk(choice, k=self.top_k, dim=-1, sorted=False)[1]
        w = scores.gather(1, idx)
        return idx, w / (w.sum(dim=-1, keepdim=True) + 1e-20)

    def forward(self, hidden_states):
        shape = hidden_states.shape
        logits = self.gate(hidden_states)
        idx, w = self.route_tokens_to_experts(logits)
        return self.experts(hidden_states.view(-1, shape[-1]), idx, w.to(hidden_states.dtype)).view(*shape)


class GptOssTopKRouter(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.top_k = cfg.top_k
        self.num_experts = cfg.num_experts
        self.hidden_dim = cfg.hidden
        self.weight = nn.Parameter(torch.randn(cfg.num_experts, cfg.hidden))
        self.bias = nn.Parameter(torch.randn(cfg.num_experts) * 0.1)

    def forward(self, hidden_states):
        hidden_states = hidden_states.reshape(-1, self.hidden_dim)
        logits = F.linear(hidden_states, self.weight, self.bias)
        top, idx = torch.topk(logits, self.top_k, dim=-1)
        top = F.softmax(top, dim=1, dtype=top.dtype)
        return torch.zeros_like(logits).scatter_(1, idx, top), idx


class GptOssExperts(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.num_experts = cfg.num_experts
        self.hidden_size = cfg.hidden
        self.w = nn.Parameter(torch.randn(cfg.num_experts, cfg.hidden, cfg.hidden) * 0.2)
        self.truth = None

    def forward(self, hidden_states, router_indices=None, routing_weights=None):
        x = hidden_states.reshape(-1, self.hidden_size)
        out = torch.zeros_like(x)
        for e in range(self.num_experts):
            tok = (router_indices == e).any(dim=-1).nonzero().view(-1)
            if self.truth is not None:
                self.truth[e] += int(tok.numel())
            if tok.numel():
                out.index_add_(0, tok, (x[tok] @ self.w[e]) * routing_weights[tok, e, None])
        return out


class GptOssMLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.router = GptOssTopKRouter(cfg)
        self.experts = GptOssExperts(cfg)

    def forward(self, hidden_states):
        scores, idx = self.router(hidden_states)
        out = self.experts(hidden_states, router_indices=idx, routing_weights=scores)
        return out.reshape(hidden_states.shape), scores


# GPT-OSS MXFP4: triton_kernels routing stand-ins (RoutingData / GatherIndx / ScatterIndx).
class RoutingData(object):
    def __init__(self, gate_scal, expt_hist, n_expts_tot, n_expts_act):
        self.gate_scal = gate_scal
        self.expt_hist = expt_hist
        self.n_expts_tot = n_expts_tot
        self.n_expts_act = n_expts_act


class GatherIndx(object):
    def __init__(self, src_indx, dst_indx):
        self.src_indx = src_indx
        self.dst_indx = dst_indx


def mxfp4_routing(logits, n_expts_act):
    """Top-k of the logits, sorted by expert: the (token*k) rows each expert gathers, and the histogram."""
    top, idx = torch.topk(logits, n_expts_act, dim=-1)
    gate = F.softmax(top, dim=-1)
    flat = idx.reshape(-1).to(torch.int32)
    order = torch.sort(flat, stable=True)[1]
    hist = torch.histc(flat.float(), bins=logits.shape[1], min=0, max=logits.shape[1] - 1).to(torch.int32)
    return RoutingData(gate.reshape(-1)[order], hist, logits.shape[1], n_expts_act), GatherIndx(order.to(torch.int32), flat[order]), None


class Mxfp4GptOssExperts(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.num_experts = cfg.num_experts
        self.hidden_size = cfg.hidden
        self.w = nn.Parameter(torch.randn(cfg.num_experts, cfg.hidden, cfg.hidden) * 0.2)
        self.truth = None

    def forward(self, hidden_states, routing_data, gather_idx, scatter_idx):
        # The "kernel": rows sorted by expert; row r is token src_indx[r] // k for expert dst_indx[r].
        k = routing_data.n_expts_act
        out = torch.zeros_like(hidden_states)
        for r, (src, e) in enumerate(zip(gather_idx.src_indx.tolist(), gather_idx.dst_indx.tolist())):
            if self.truth is not None:
                self.truth[e] += 1
            t = src // k
            out[t] += (hidden_states[t] @ self.w[e]) * routing_data.gate_scal[r]
        return out


def mxfp4_mlp_forward(self, hidden_states):
    """transformers integrations/mxfp4.py mlp_forward: the router module itself is never called."""
    batch_size = hidden_states.shape[0]
    hidden_states = hidden_states.reshape(-1, self.router.hidden_dim)
    router_logits = F.linear(hidden_states, self.router.weight, self.router.bias)
    routing_data, gather_idx, scatter_idx = mxfp4_routing(router_logits, self.router.top_k)
    out = self.experts(hidden_states, routing_data, gather_idx, scatter_idx)
    return out.reshape(batch_size, -1, self.router.hidden_dim), router_logits


class Llama4Router(nn.Linear):
    def __init__(self, cfg):
        super().__init__(cfg.hidden, cfg.num_experts, bias=False)
        self.num_experts = cfg.num_experts
        self.top_k = cfg.top_k

    def forward(self, hidden_states):
        logits = super().forward(hidden_states)
        top, idx = torch.topk(logits, self.top_k, dim=1)
        scores = torch.full_like(logits, float("-inf")).scatter_(1, idx, top)
        return torch.sigmoid(scores.float()).to(scores.dtype), logits


class Llama4TextExperts(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.num_experts = cfg.num_experts
        self.hidden_size = cfg.hidden
        self.w = nn.Parameter(torch.randn(cfg.num_experts, cfg.hidden, cfg.hidden) * 0.2)

    def forward(self, hidden_states):
        hidden_states = hidden_states.view(self.num_experts, -1, self.hidden_size)
        return torch.bmm(hidden_states, self.w).view(-1, self.hidden_size)


class Llama4TextMoe(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.top_k = cfg.top_k
        self.hidden_dim = cfg.hidden
        self.num_experts = cfg.num_experts
        self.experts = Llama4TextExperts(cfg)
        self.router = Llama4Router(cfg)
        self.truth = None

    def forward(self, hidden_states):
        hidden_states = hidden_states.reshape(-1, self.hidden_dim)
        scores, logits = self.router(hidden_states)
        routed_in = hidden_states.repeat(scores.shape[1], 1) * scores.transpose(0, 1).reshape(-1, 1)
        out = self.experts(routed_in)
        # Truth where the experts act: an expert processes a token with a nonzero weight.
        if self.truth is not None:
            for e, n in enumerate((scores > 0).sum(dim=0).tolist()):
                self.truth[e] += int(n)
        return out.reshape(scores.shape[1], -1, self.hidden_dim).sum(dim=0), logits


class DenseMLP(nn.Module):
    """A dense decoder MLP (DeepSeek's first_k_dense_replace layers: gate_proj/up_proj/down_proj, no router)."""

    def __init__(self, hidden, inter=8):
        super().__init__()
        self.gate_proj = nn.Linear(hidden, inter, bias=False)
        self.up_proj = nn.Linear(hidden, inter, bias=False)
        self.down_proj = nn.Linear(inter, hidden, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, mlp, hidden):
        super().__init__()
        self.input_layernorm = nn.LayerNorm(hidden)
        self.mlp = mlp

    def forward(self, x):
        y = self.mlp(self.input_layernorm(x))
        if isinstance(y, tuple):
            y = y[0]
        return x + y.view(x.shape)


class Model(nn.Module):
    def __init__(self, name, blocks, hidden, vocab=50, dense_first=0, config=None):
        super().__init__()
        self.config = Cfg(_name_or_path=name, **(config or {}))
        self.embed_tokens = nn.Embedding(vocab, hidden)
        self.layers = nn.ModuleList([DecoderLayer(DenseMLP(hidden), hidden) for _ in range(dense_first)] +
                                    [DecoderLayer(b, hidden) for b in blocks])
        self.lm_head = nn.Linear(hidden, vocab, bias=False)

    def forward(self, ids):
        x = self.embed_tokens(ids)
        for layer in self.layers:
            x = layer(x)
        return self.lm_head(x)


def hf_model(family, layers=3, hidden=16, experts=8, top_k=2, bias=0.0, seed=0, dense_first=0, config=None):
    """A small transformers-v5-style model; returns (model, truth setter). `layers` MoE layers follow
    `dense_first` dense ones (DeepSeek first_k_dense_replace: decoder layers 0..dense_first-1 dense);
    `config`: extra model.config attributes (num_hidden_layers, text_config, ...)."""
    torch.manual_seed(seed)
    cfg = Cfg(hidden=hidden, inter=8, num_experts=experts, top_k=top_k, n_group=4, topk_group=2,
              topk_method="group_limited_greedy")
    blocks = []
    for _ in range(layers):
        if family == "mixtral":
            blocks.append(MixtralSparseMoeBlock(cfg))
        elif family == "qwen3_moe":
            blocks.append(Qwen3MoeSparseMoeBlock(cfg))
        elif family == "olmoe":
            blocks.append(OlmoeSparseMoeBlock(cfg))
        elif family == "deepseek_v2":
            blocks.append(DeepseekV2Moe(cfg))
        elif family == "deepseek_v3":
            b = DeepseekV3MoE(cfg)
            b.gate.e_score_correction_bias.copy_(torch.full((experts,), bias) + torch.linspace(-0.05, 0.05, experts))
            blocks.append(b)
        elif family in ("gpt_oss", "gpt_oss_mxfp4"):
            b = GptOssMLP(cfg)
            if family == "gpt_oss_mxfp4":
                b.experts = Mxfp4GptOssExperts(cfg)
                b.forward = types.MethodType(mxfp4_mlp_forward, b)
            blocks.append(b)
        elif family == "llama4":
            blocks.append(Llama4TextMoe(cfg))
        else:
            raise ValueError(family)
    model = Model("mirror/%s" % family, blocks, hidden, dense_first=dense_first, config=config).eval()

    def set_truth(truth):
        for i, b in enumerate(blocks):
            (b if family == "llama4" else b.experts).truth = truth[i]
    return model, set_truth


# ---------------------------------------------------------------- vLLM ----
class _Ctx(object):
    def __init__(self):
        self.no_compile_layers = {}
        self.dp_metadata = None
        self.real_tokens = None   # mirror-only: rows [0, real_tokens) are real, the rest CUDA-graph padding
        self.dummy = False        # mirror-only: a profile / dummy / graph-capture run


def install_vllm_mirror(version="0.11.0-mirror", with_capture_fn=True, eplb_redundant=None, ep=(0, 1)):
    """Register mirror modules under the vllm.* names the agent looks up. Returns the mirror namespace.

    eplb_redundant=R (with with_capture_fn=False): an older vLLM launched with --enable-eplb, written from
    vllm-project/vllm vllm/distributed/eplb/eplb_state.py @0014ec6c58e1b74e660a1e6d059b5689716183ff
    (EplbState: physical_to_logical_map [L][P] with the initial arrangement list(range(E)) + [i % E for i < R],
    logical_to_physical_map [L][E][R+1] (-1 = none), logical_replica_count [L][E], expert_load_pass int32
    [L][local physical]; step(model, is_dummy, is_profile, log_stats): profile -> return, dummy -> zero the
    pass, else copy it into the load window and zero it), FusedMoE.select_experts of the same era (logical
    top-k -> a replica of each logical expert -> physical id -> expert_map to local slots -> scatter_add_ of
    1 per (token, k) into expert_load_view, padding rows included) and GPUModelRunner.eplb_step (after
    execute_model's forward; is_dummy=True from _dummy_run). ep=(rank, size): this process is EP rank `rank`
    holding physical slots [rank*P/size, (rank+1)*P/size), every rank routing the same (gathered) tokens;
    the replica is picked by flattened position % replica count (the newer deterministic rule; the older
    one drew it at random, which changes nothing the agent reads)."""
    ctx = _Ctx()
    m = types.SimpleNamespace()
    vllm = types.ModuleType("vllm")
    vllm.__version__ = version
    fc = types.ModuleType("vllm.forward_context")
    fc.get_forward_context = lambda: ctx
    ps = types.ModuleType("vllm.distributed.parallel_state")
    state = {"tp_rank": 0, "pp_rank": 0, "pp_size": 1, "dp_rank": 0}
    ps.get_tensor_model_parallel_rank = lambda: state["tp_rank"]
    ps.get_pp_group = lambda: types.SimpleNamespace(rank_in_group=state["pp_rank"], world_size=state["pp_size"])
    ps.get_dp_group = lambda: types.SimpleNamespace(rank_in_group=state["dp_rank"])
    ps.get_ep_group = lambda: types.SimpleNamespace(rank_in_group=ep[0], world_size=ep[1])
    eplb = {"state": None, "layers": []}

    class EplbState(object):
        def __init__(self, num_layers, experts, redundant):
            p2l = list(range(experts)) + [i % experts for i in range(redundant)]
            self.physical_to_logical_map = torch.tensor(p2l).unsqueeze(0).expand(num_layers, -1).contiguous()
            l2p = torch.full((experts, redundant + 1), -1, dtype=torch.long)
            cnt = torch.zeros(experts, dtype=torch.long)
            for i, lg in enumerate(p2l):
                l2p[lg, cnt[lg]] = i
                cnt[lg] += 1
            self.logical_to_physical_map = l2p.unsqueeze(0).expand(num_layers, -1, -1).contiguous()
            self.logical_replica_count = cnt.unsqueeze(0).expand(num_layers, -1).contiguous()
            self.local = len(p2l) // ep[1]
            self.expert_load_pass = torch.zeros((num_layers, self.local), dtype=torch.int32)
            self.expert_load_window = []

        def step(self, model, is_dummy=False, is_profile=False, log_stats=False):
            if is_profile:
                return
            if is_dummy:
                self.expert_load_pass.zero_()
            else:
                self.expert_load_window.append(self.expert_load_pass.clone())
                self.expert_load_pass.zero_()
    gmr = types.ModuleType("vllm.v1.worker.gpu_model_runner")

    class BaseRouter(object):
        def __init__(self, top_k, global_num_experts):
            self.top_k = top_k
            self.global_num_experts = global_num_experts
            self.capture_fn = None

        def set_capture_fn(self, capture_fn):
            self.capture_fn = capture_fn

        def select_experts(self, hidden_states, router_logits):
            w, ids = self._compute_routing(hidden_states, router_logits)
            if self.capture_fn is not None:
                self.capture_fn(ids)  # logical ids, before EPLB mapping
            return w, ids

    class FusedTopKRouter(BaseRouter):
        def _compute_routing(self, hidden_states, router_logits):
            w, ids = torch.topk(torch.softmax(router_logits, dim=-1), self.top_k, dim=-1)
            return w / w.sum(dim=-1, keepdim=True), ids.to(torch.int32)

    class GroupedTopKRouter(BaseRouter):
        def __init__(self, top_k, global_num_experts, num_expert_group, topk_group, e_score_correction_bias):
            super().__init__(top_k, global_num_experts)
            self.num_expert_group = num_expert_group
            self.topk_group = topk_group
            self.e_score_correction_bias = e_score_correction_bias

        def _compute_routing(self, hidden_states, router_logits):
            scores = router_logits.sigmoid()
            n = scores.shape[0]
            biased = scores + self.e_score_correction_bias.unsqueeze(0)
            gs = biased.view(n, self.num_expert_group, -1).topk(2, dim=-1)[0].sum(dim=-1)
            gi = torch.topk(gs, k=self.topk_group, dim=-1, sorted=False)[1]
            gm = torch.zeros_like(gs).scatter_(1, gi, 1)
            sm = gm.unsqueeze(-1).expand(n, self.num_expert_group, scores.shape[-1] // self.num_expert_group).reshape(n, -1)
            ids = torch.topk(biased.masked_fill(~sm.bool(), float("-inf")), k=self.top_k, dim=-1, sorted=False)[1]
            w = scores.gather(1, ids)
            return w / w.sum(dim=-1, keepdim=True), ids.to(torch.int32)

    def moe_forward(hidden_states, router_logits, layer_name):
        """The `vllm.moe_forward` custom op: opaque to torch.compile; runs the layer found by name."""
        layer = ctx.no_compile_layers[layer_name]
        return layer.forward_impl(hidden_states, router_logits)

    class FusedMoE(nn.Module):
        def __init__(self, hidden, experts, top_k, prefix, grouped=False, bias=None, sequence_parallel=False):
            super().__init__()
            self.global_num_experts = experts
            self.top_k = top_k
            self.layer_name = prefix
            self.is_sequence_parallel = sequence_parallel
            self.w = nn.Parameter(torch.randn(experts, hidden, hidden) * 0.2)
            self.enable_eplb = eplb_redundant is not None
            if self.enable_eplb:
                self.moe_layer_idx = len(eplb["layers"])
                eplb["layers"].append(self)
            if with_capture_fn:
                if grouped:
                    self.router = GroupedTopKRouter(top_k, experts, 4, 2, bias)
                else:
                    self.router = FusedTopKRouter(top_k, experts)
            else:
                self._old_router = FusedTopKRouter(top_k, experts)  # older vLLM: no router object to hook
            self.truth = None
            self.truth_with_padding = None
            ctx.no_compile_layers[prefix] = self

        def forward(self, hidden_states, router_logits):
            return moe_forward(hidden_states, router_logits, self.layer_name)

        def forward_impl(self, hidden_states, router_logits):
            router = getattr(self, "router", None) or self._old_router
            w, ids = router.select_experts(hidden_states, router_logits)
            out = torch.zeros_like(hidden_states)
            real = hidden_states.shape[0] if ctx.real_tokens is None else ctx.real_tokens
            if self.enable_eplb:
                st, li = eplb["state"], self.moe_layer_idx
                lg = ids.long()
                pos = torch.arange(lg.numel()).reshape(lg.shape)
                rep = (pos % st.logical_replica_count[li][lg]).unsqueeze(-1)
                phys = st.logical_to_physical_map[li][lg].gather(-1, rep).squeeze(-1)
                lo = ep[0] * st.local
                local = phys.flatten() - lo  # expert_map: this rank's slots -> 0..local-1, others -> -1
                local = torch.where((local >= 0) & (local < st.local), local, torch.full_like(local, -1))
                bad = local < 0
                st.expert_load_pass[li].scatter_add_(0, local.masked_fill(bad, 0), (~bad).to(torch.int32))
                p2l = st.physical_to_logical_map[li]
                for p in range(p2l.shape[0]):  # each replica computes with its logical expert's weights
                    tok, slot = (phys == p).nonzero(as_tuple=True)
                    e = int(p2l[p])
                    # The other ranks' replicas stand in for the combine after EP (every rank ends with the
                    # full output); only this rank's own slots are its dispatch.
                    if self.truth is not None and not ctx.dummy and lo <= p < lo + st.local:
                        self.truth[e] += int((tok < real).sum())
                        self.truth_with_padding[e] += int(tok.numel())
                    if tok.numel():
                        out.index_add_(0, tok, (hidden_states[tok] @ self.w[e]) * w[tok, slot, None])
                return out
            for e in range(self.global_num_experts):
                tok, slot = (ids == e).nonzero(as_tuple=True)
                if self.truth is not None and not ctx.dummy:
                    self.truth[e] += int((tok < real).sum())
                if tok.numel():
                    out.index_add_(0, tok, (hidden_states[tok] @ self.w[e]) * w[tok, slot, None])
            return out

    class ReplicatedLinear(nn.Module):
        def __init__(self, h, e):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(e, h))
            self.output_size = e

        def forward(self, x):
            return F.linear(x, self.weight), None

    class MixtralMoE(nn.Module):
        def __init__(self, hidden, experts, top_k, prefix, sequence_parallel=False):
            super().__init__()
            self.gate = ReplicatedLinear(hidden, experts)
            self.experts = FusedMoE(hidden, experts, top_k, prefix + ".experts", sequence_parallel=sequence_parallel)
            self.is_sequence_parallel = sequence_parallel

        def forward(self, hidden_states):
            logits, _ = self.gate(hidden_states)
            return self.experts(hidden_states, logits)

    class DeepseekV2MoE(nn.Module):
        def __init__(self, hidden, experts, top_k, prefix, bias):
            super().__init__()
            self.gate = ReplicatedLinear(hidden, experts)
            self.gate.e_score_correction_bias = nn.Parameter(bias, requires_grad=False)
            self.experts = FusedMoE(hidden, experts, top_k, prefix + ".experts", grouped=True, bias=self.gate.e_score_correction_bias)

        def forward(self, hidden_states):
            logits, _ = self.gate(hidden_states)
            return self.experts(hidden_states, logits)

    class VModel(nn.Module):
        def __init__(self, kind, layers, hidden, experts, top_k, vocab=50, layer_offset=0, sequence_parallel=False):
            super().__init__()
            self.config = Cfg(_name_or_path="mirror/vllm-%s" % kind)
            self.embed_tokens = nn.Embedding(vocab, hidden)
            blocks = []
            for i in range(layers):
                prefix = "model.layers.%d.mlp" % (i + layer_offset)
                if kind == "deepseek":
                    blocks.append(DeepseekV2MoE(hidden, experts, top_k, prefix, torch.randn(experts) * 0.3))
                else:
                    blocks.append(MixtralMoE(hidden, experts, top_k, prefix, sequence_parallel))
            self.layers = nn.ModuleDict({str(i + layer_offset): DecoderLayer(b, hidden) for i, b in enumerate(blocks)})
            self.blocks = blocks

        def forward(self, ids):
            x = self.embed_tokens(ids)  # vLLM flattens tokens: [T, H]
            for layer in self.layers.values():
                x = layer(x)
            return x

    class GPUModelRunner(object):
        def __init__(self, model, max_num_tokens=64, capture_sizes=(1, 2, 4, 8, 16, 32, 64)):
            self.model = model
            self.max_num_tokens = max_num_tokens
            self.capture_sizes = capture_sizes

        def _pad(self, n):
            for s in self.capture_sizes:
                if s >= n:
                    return s
            return n

        def eplb_step(self, is_dummy=False, is_profile=False):
            if eplb["state"] is not None:
                eplb["state"].step(self.model, is_dummy, is_profile, log_stats=False)

        def _dummy_run(self, num_tokens, is_profile=False):
            ctx.dummy, ctx.real_tokens = True, None
            try:
                with torch.no_grad():
                    self.model(torch.zeros(num_tokens, dtype=torch.long))
            finally:
                ctx.dummy = False
            self.eplb_step(is_dummy=True, is_profile=is_profile)

        def profile_run(self):
            self._dummy_run(self.max_num_tokens, is_profile=True)

        def capture_model(self):
            for s in reversed(self.capture_sizes):
                self._dummy_run(s)

        def execute_model(self, scheduler_output, input_ids=None):
            n = scheduler_output.total_num_scheduled_tokens
            padded = self._pad(n)
            ids = torch.zeros(padded, dtype=torch.long)
            ids[:n] = input_ids
            ctx.real_tokens = n
            try:
                with torch.no_grad():
                    out = self.model(ids)
            finally:
                ctx.real_tokens = None
            self.eplb_step()
            return out

    gmr.GPUModelRunner = GPUModelRunner
    es = types.ModuleType("vllm.distributed.eplb.eplb_state")
    es.EplbState = EplbState
    for name, mod in (("vllm", vllm), ("vllm.forward_context", fc), ("vllm.distributed.parallel_state", ps),
                      ("vllm.v1.worker.gpu_model_runner", gmr), ("vllm.distributed.eplb.eplb_state", es)):
        sys.modules[name] = mod

    def build_eplb(experts):
        eplb["state"] = EplbState(len(eplb["layers"]), experts, eplb_redundant)
        return eplb["state"]
    m.build_eplb = build_eplb
    m.ctx, m.state, m.VModel, m.GPUModelRunner = ctx, state, VModel, GPUModelRunner
    m.sched = lambda n: types.SimpleNamespace(total_num_scheduled_tokens=n)
    return m


def uninstall_mirrors():
    for name in list(sys.modules):
        if name == "vllm" or name.startswith("vllm.") or name == "sglang" or name.startswith("sglang."):
            del sys.modules[name]


# ---------------------------------------------------------------- SGLang ----
def install_sglang_mirror(version="0.5.0-mirror"):
    sg = types.ModuleType("sglang")
    sg.__version__ = version
    sys.modules["sglang"] = sg
    m = types.SimpleNamespace()

    class StandardTopKOutput(tuple):
        def __new__(cls, topk_weights, topk_ids, router_logits):
            o = tuple.__new__(cls, (topk_weights, topk_ids, router_logits))
            o.topk_weights, o.topk_ids, o.router_logits = topk_weights, topk_ids, router_logits
            return o

    class TopK(nn.Module):
        def __init__(self, top_k, num_expert_group, topk_group, correction_bias, num_fused_shared_experts,
                     routed_scaling_factor=2.5):
            super().__init__()
            self.top_k = top_k  # includes the fused shared-expert slot(s)
            self.num_expert_group = num_expert_group
            self.topk_group = topk_group
            self.correction_bias = correction_bias
            self.num_fused_shared_experts = num_fused_shared_experts
            self.routed_scaling_factor = routed_scaling_factor

        def forward(self, hidden_states, router_logits):
            scores = router_logits.sigmoid()
            n, e = scores.shape
            choice = scores + self.correction_bias.unsqueeze(0)
            gs = choice.view(n, self.num_expert_group, -1).topk(2, dim=-1)[0].sum(dim=-1)
            gi = torch.topk(gs, k=self.topk_group, dim=-1, sorted=False)[1]
            gm = torch.zeros_like(gs).scatter_(1, gi, 1)
            sm = gm.unsqueeze(-1).expand(n, self.num_expert_group, e // self.num_expert_group).reshape(n, -1)
            tmp = choice.masked_fill(~sm.bool(), float("-inf"))
            _, ids = torch.topk(tmp, k=self.top_k, dim=-1, sorted=self.num_fused_shared_experts > 0)
            w = scores.gather(1, ids)
            if self.num_fused_shared_experts:
                ids[:, -1] = torch.randint(low=e, high=e + self.num_fused_shared_experts, size=(n,), dtype=ids.dtype,
                                           device=ids.device)
                w[:, -1] = w[:, :-1].sum(dim=-1) / self.routed_scaling_factor
            return StandardTopKOutput(w, ids.to(torch.int32), router_logits)

    class FusedMoE(nn.Module):
        def __init__(self, num_experts, hidden, num_fused_shared_experts):
            super().__init__()
            self.num_experts = num_experts  # routed + fused shared
            self.num_fused_shared_experts = num_fused_shared_experts
            self.w = nn.Parameter(torch.randn(num_experts, hidden, hidden) * 0.2)
            self.truth = None
            self.routed = num_experts - num_fused_shared_experts

        def forward(self, hidden_states, topk_output):
            ids, w = topk_output.topk_ids, topk_output.topk_weights
            out = torch.zeros_like(hidden_states)
            for e in range(self.num_experts):
                tok, slot = (ids == e).nonzero(as_tuple=True)
                if self.truth is not None and e < self.routed:
                    self.truth[e] += int(tok.numel())
                if tok.numel():
                    out.index_add_(0, tok, (hidden_states[tok] @ self.w[e]) * w[tok, slot, None])
            return out

    class MoEGate(nn.Module):
        def __init__(self, hidden, experts):
            super().__init__()
            self.weight = nn.Parameter(torch.randn(experts, hidden))
            self.e_score_correction_bias = nn.Parameter(torch.randn(experts) * 0.3, requires_grad=False)

        def forward(self, hidden_states):
            return F.linear(hidden_states, self.weight)

    class DeepseekV2MoE(nn.Module):
        def __init__(self, hidden, experts, top_k, fused_shared=1):
            super().__init__()
            self.num_fused_shared_experts = fused_shared
            self.gate = MoEGate(hidden, experts)
            self.experts = FusedMoE(experts + fused_shared, hidden, fused_shared)
            self.topk = TopK(top_k + fused_shared, 4, 2, self.gate.e_score_correction_bias, fused_shared)

        def forward(self, hidden_states):
            logits = self.gate(hidden_states)
            return self.experts(hidden_states, self.topk(hidden_states, logits))

    class SModel(nn.Module):
        def __init__(self, layers, hidden, experts, top_k, vocab=50):
            super().__init__()
            # SGLang's DeepseekV2ForCausalLM keeps the HF config as self.config (num_hidden_layers in it).
            self.config = Cfg(_name_or_path="mirror/sglang-deepseek", num_hidden_layers=layers)
            self.embed_tokens = nn.Embedding(vocab, hidden)
            self.blocks = [DeepseekV2MoE(hidden, experts, top_k) for _ in range(layers)]
            self.layers = nn.ModuleList([DecoderLayer(b, hidden) for b in self.blocks])

        def forward(self, ids):
            x = self.embed_tokens(ids)
            for layer in self.layers:
                x = layer(x)
            return x

    m.SModel = SModel
    m.MoEGate, m.TopK, m.StandardTopKOutput = MoEGate, TopK, StandardTopKOutput
    return m


# ---------------------------------------------------------------- SGLang runner + CUDA graphs ----
class SimCudaGraph(object):
    """CUDA-graph semantics on CPU (torch 1.13 has no CUDA graphs here).

    capture(): runs the function once with Python, as torch.cuda.graph capture does (every Python side
    effect, the agent's bookkeeping included, happens here and only here), while a TorchFunctionMode
    records each torch operation with the tensor objects it touched. torch.cuda.is_current_stream_capturing()
    answers True meanwhile; host reads (.item(), .tolist(), nonzero, bool()) raise, as they do on a
    capturing stream. replay(): re-executes only the recorded tensor operations on the same tensor objects
    (fixed addresses: the static input buffers, persistent buffers, parameters); each recorded output is
    refreshed in place, so later operations read the new values, as graph memory would hold them. No Python
    of the captured code runs on replay. (Capture here also executes once, like an extra warm-up run.)"""

    FORBIDDEN = frozenset(["item", "tolist", "nonzero", "__bool__", "__int__", "__index__", "__float__", "numpy"])

    def __init__(self):
        self.ops = []

    def capture(self, fn):
        from torch.overrides import TorchFunctionMode
        ops = self.ops
        forbidden = self.FORBIDDEN

        class _Rec(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                name = getattr(func, "__name__", "")
                if name in forbidden:
                    raise RuntimeError("operation not permitted when stream is capturing (%s)" % name)
                out = func(*args, **kwargs)
                ops.append((func, args, kwargs, out))
                return out

        saved = (torch.cuda.is_available, torch.cuda.is_current_stream_capturing)
        torch.cuda.is_available = lambda: True
        torch.cuda.is_current_stream_capturing = lambda: True
        try:
            with torch.no_grad(), _Rec():
                return fn()
        finally:
            torch.cuda.is_available, torch.cuda.is_current_stream_capturing = saved

    @staticmethod
    def _refresh(out, new):
        if isinstance(out, torch.Tensor) and isinstance(new, torch.Tensor):
            # A view (slice, expand, in-place result) shares the memory of a tensor already refreshed.
            if new is not out and out._base is None:
                out.copy_(new)
        elif isinstance(out, (tuple, list)) and isinstance(new, (tuple, list)):
            for o, n in zip(out, new):
                SimCudaGraph._refresh(o, n)

    def replay(self):
        with torch.no_grad():
            for func, args, kwargs, out in self.ops:
                self._refresh(out, func(*args, **kwargs))


class RealCudaGraph(object):
    """torch.cuda.CUDAGraph with SimCudaGraph's interface (bench/gpu_capture.py, on a GPU)."""

    def __init__(self):
        self.g = torch.cuda.CUDAGraph()

    def capture(self, fn):
        torch.cuda.synchronize()
        with torch.no_grad(), torch.cuda.graph(self.g):
            out = fn()
        torch.cuda.synchronize()
        return out

    def replay(self):
        self.g.replay()


def install_sglang_runner_mirror(version="0.5.4-mirror", server_args=None, with_runner=True, graph_factory=None,
                                 with_forward_impl=True):
    """SGLang with its ModelRunner and decode CudaGraphRunner, written from (sgl-project/sglang):
      python/sglang/srt/model_executor/model_runner.py: ModelRunner.forward(forward_batch, skip_attn_backend_init,
        pp_proxy_tensors) -> _forward_raw: can_run_graph = forward_mode.is_cuda_graph() and graph_runner.can_run(fb)
        -> graph_runner.replay(fb); else forward_decode / forward_extend -> self.model.forward(input_ids, positions,
        forward_batch); _dummy_run(batch_size) (kernel warm-up) calls self.model.forward directly.
      python/sglang/srt/model_executor/cuda_graph_runner.py @21514ff5bdad2ae598bf3070d3a583aa4fa35ae7:
        static buffers input_ids[max_bs], num_token_non_padded[1]; capture(): for bs in reversed(capture_bs):
        capture_one_batch_size(bs, model.forward): run_once() = forward(input_ids[:bs], positions[:bs], fb)
        twice, then under torch.cuda.graph; can_run: batch_size <= max_bs; replay(fb): raw_bs, bs =
        capture_bs[bisect_left(capture_bs, raw_bs)], input_ids[:raw_bs].copy_(fb.input_ids) (padding rows keep
        stale ids), num_token_non_padded = raw tokens, graph.replay(), output_buffers[bs][:raw_bs]; self.bs = bs.
      python/sglang/srt/models/deepseek_v2.py (DeepseekV2MoE.forward: router_logits = self.gate(h);
        topk_output = self.topk(h, router_logits, num_token_non_padded=forward_batch.num_token_non_padded);
        self.experts(hidden_states=h, topk_output=topk_output)).
    The TopK here does not mask padded rows (as fused_topk_torch_native / custom routing do not), so padding
    rows reach real experts: the worst case for a counter. TRUTH: each FusedMoE adds, on the device (inside the
    graph), one per (token, slot) it dispatched to a routed expert, for rows < num_token_non_padded (real
    tokens) into truth_pass, and for every row into pad_pass; the test harness harvests them after real steps
    and zeroes them after warm-up, capture and dummy runs."""
    import bisect
    base = install_sglang_mirror(version)
    m = types.SimpleNamespace(base=base, SimCudaGraph=SimCudaGraph)
    mr = types.ModuleType("sglang.srt.model_executor.model_runner")
    cgr = types.ModuleType("sglang.srt.model_executor.cuda_graph_runner")

    class ForwardMode(object):
        def __init__(self, name):
            self.name = name

        def is_decode(self):
            return self.name == "DECODE"

        def is_extend(self):
            return self.name == "EXTEND"

        def is_idle(self):
            return self.name == "IDLE"

        def is_cuda_graph(self):
            return self.name == "DECODE"

    DECODE, EXTEND = ForwardMode("DECODE"), ForwardMode("EXTEND")

    class ForwardBatch(object):
        def __init__(self, forward_mode, batch_size, input_ids, positions, num_token_non_padded=None):
            self.forward_mode = forward_mode
            self.batch_size = batch_size
            self.input_ids = input_ids
            self.positions = positions
            self.num_token_non_padded = num_token_non_padded
            self.out_cache_loc = torch.zeros(input_ids.shape[0], dtype=torch.long)

    pw_state = {"active": False, "opaque": lambda fn: fn()}
    moe_layers = []

    def moe_forward_piecewise_cuda_graph_impl(hidden_states, topk_weights, topk_ids, router_logits, layer_id):
        """register_custom_op: opaque to torch.compile; runs moe_layers[layer_id].forward_impl in Python
        (at the piece's capture), as SGLang's forward context lookup does."""
        out = base.StandardTopKOutput(topk_weights, topk_ids, router_logits)
        return pw_state["opaque"](lambda: moe_layers[layer_id].forward_impl(hidden_states, out))

    class FusedMoE(nn.Module):
        """Capture-safe dispatch (dense masks, no host reads), truth counted on the device."""

        def __init__(self, num_experts, hidden, num_fused_shared_experts):
            super().__init__()
            self.num_experts = num_experts
            self.num_fused_shared_experts = num_fused_shared_experts
            self.routed = num_experts - num_fused_shared_experts
            self.w = nn.Parameter(torch.randn(num_experts, hidden, hidden) * 0.2)
            self.truth_pass = torch.zeros(self.routed, dtype=torch.long)
            self.pad_pass = torch.zeros(self.routed, dtype=torch.long)
            self.real_rows = None  # the forward batch's num_token_non_padded, set by the block
            self.layer_id = len(moe_layers)
            moe_layers.append(self)

        def forward(self, hidden_states, topk_output):
            if pw_state["active"]:
                # Inside piecewise CUDA graphs: the opaque custom op (fused_moe_triton/layer.py)
                return moe_forward_piecewise_cuda_graph_impl(hidden_states, topk_output.topk_weights,
                                                             topk_output.topk_ids, topk_output.router_logits,
                                                             self.layer_id)
            return self.forward_impl(hidden_states, topk_output)

        def forward_impl(self, hidden_states, topk_output):
            ids, w = topk_output.topk_ids.long(), topk_output.topk_weights
            out = torch.zeros_like(hidden_states)
            for e in range(self.num_experts):
                coef = ((ids == e).to(w.dtype) * w).sum(dim=-1, keepdim=True)
                out = out + (hidden_states @ self.w[e]) * coef
            routed = (ids >= 0) & (ids < self.routed)
            rows = torch.arange(ids.shape[0], device=ids.device).unsqueeze(1).expand(ids.shape)
            real = routed & (rows < self.real_rows) if self.real_rows is not None else routed
            flat = ids.clamp(0, self.routed - 1).reshape(-1)
            self.truth_pass.index_add_(0, flat, real.long().reshape(-1))
            self.pad_pass.index_add_(0, flat, routed.long().reshape(-1))
            return out

    class OldFusedMoE(FusedMoE):
        """An SGLang whose FusedMoE has no forward_impl (the dispatch is inside forward): inside piecewise
        graphs the traced forward is all the agent could wrap."""
        forward_impl = None

        def forward(self, hidden_states, topk_output):
            return FusedMoE.forward_impl(self, hidden_states, topk_output)

    class DeepseekV2MoE(nn.Module):
        def __init__(self, hidden, experts, top_k, fused_shared=1):
            super().__init__()
            self.num_fused_shared_experts = fused_shared
            self.gate = base.MoEGate(hidden, experts)
            self.experts = (FusedMoE if with_forward_impl else OldFusedMoE)(experts + fused_shared, hidden, fused_shared)
            self.topk = base.TopK(top_k + fused_shared, 4, 2, self.gate.e_score_correction_bias, fused_shared)

        def forward(self, hidden_states, forward_batch):
            logits = self.gate(hidden_states)
            self.experts.real_rows = forward_batch.num_token_non_padded
            return self.experts(hidden_states, self.topk(hidden_states, logits))

    class DecoderLayer(nn.Module):
        def __init__(self, hidden, experts, top_k):
            super().__init__()
            self.input_layernorm = nn.LayerNorm(hidden)
            self.mlp = DeepseekV2MoE(hidden, experts, top_k)

        def forward(self, x, forward_batch):
            return x + self.mlp(self.input_layernorm(x), forward_batch)

    class DeepseekV2ForCausalLM(nn.Module):
        def __init__(self, layers, hidden, experts, top_k, vocab=50):
            super().__init__()
            self.config = Cfg(_name_or_path="mirror/sglang-deepseek-graphs", num_hidden_layers=layers)
            self.embed_tokens = nn.Embedding(vocab, hidden)
            self.layers = nn.ModuleList([DecoderLayer(hidden, experts, top_k) for _ in range(layers)])

        def forward(self, input_ids, positions, forward_batch):
            x = self.embed_tokens(input_ids)
            for layer in self.layers:
                x = layer(x, forward_batch)
            return x

    class CudaGraphRunner(object):
        def __init__(self, model_runner, capture_bs=(1, 2, 4, 8)):
            self.model_runner = model_runner
            self.capture_bs = sorted(capture_bs)
            self.max_bs = max(self.capture_bs)
            self.num_tokens_per_bs = 1
            self.graphs, self.output_buffers = {}, {}
            self.input_ids = torch.zeros(self.max_bs, dtype=torch.long)
            self.positions = torch.zeros(self.max_bs, dtype=torch.long)
            self.num_token_non_padded = torch.zeros(1, dtype=torch.long)
            self.bs = None
            self.capture()

        def can_run(self, forward_batch):
            return forward_batch.batch_size <= self.max_bs

        def capture(self):
            for bs in reversed(self.capture_bs):
                graph, out = self.capture_one_batch_size(bs, self.model_runner.model.forward)
                self.graphs[bs], self.output_buffers[bs] = graph, out

        def capture_one_batch_size(self, bs, forward):
            input_ids, positions = self.input_ids[:bs], self.positions[:bs]
            self.num_token_non_padded.fill_(bs)
            fb = ForwardBatch(DECODE, bs, input_ids, positions, num_token_non_padded=self.num_token_non_padded)

            def run_once():
                return forward(input_ids, fb.positions, fb)
            with torch.no_grad():
                for _ in range(2):
                    run_once()
            graph = (graph_factory or SimCudaGraph)()
            out = graph.capture(run_once)
            return graph, out

        def replay(self, forward_batch, skip_attn_backend_init=False, pp_proxy_tensors=None):
            raw_bs = forward_batch.batch_size
            bs = self.capture_bs[bisect.bisect_left(self.capture_bs, raw_bs)]
            self.input_ids[:raw_bs].copy_(forward_batch.input_ids)
            self.positions[:raw_bs].copy_(forward_batch.positions)
            self.num_token_non_padded.fill_(raw_bs)
            self.raw_bs, self.bs = raw_bs, bs
            self.graphs[bs].replay()
            return self.output_buffers[bs][:raw_bs]

    class ModelRunner(object):
        def __init__(self, model, server_args=None):
            self.model = model
            self.server_args = server_args or Cfg(enable_dp_attention=False, moe_a2a_backend="none",
                                                  enable_eplb=False, ep_num_redundant_experts=0,
                                                  enable_two_batch_overlap=False, enable_pdmux=False)
            self.model_config = Cfg(hf_config=model.config, hf_text_config=model.config)
            self.graph_runner = None
            self.forward_pass_id = 0

        def init_device_graphs(self, capture_bs=(1, 2, 4, 8)):
            self.graph_runner = CudaGraphRunner(self, capture_bs)

        def _dummy_run(self, batch_size):
            ids = torch.zeros(batch_size, dtype=torch.long)
            fb = ForwardBatch(DECODE, batch_size, ids, ids.clone(), torch.tensor([batch_size]))
            with torch.no_grad():
                self.model.forward(ids, fb.positions, fb)

        def forward(self, forward_batch, skip_attn_backend_init=False, pp_proxy_tensors=None):
            self.forward_pass_id += 1
            return self._forward_raw(forward_batch, skip_attn_backend_init, pp_proxy_tensors)

        def _forward_raw(self, forward_batch, skip_attn_backend_init, pp_proxy_tensors):
            can_run_graph = bool(forward_batch.forward_mode.is_cuda_graph() and self.graph_runner
                                 and self.graph_runner.can_run(forward_batch))
            if can_run_graph:
                return self.graph_runner.replay(forward_batch, skip_attn_backend_init=skip_attn_backend_init)
            pw = getattr(self, "piecewise_cuda_graph_runner", None)
            if forward_batch.forward_mode.is_extend() and pw is not None and pw.can_run(forward_batch):
                return pw.replay(forward_batch)  # forward_extend's piecewise branch
            with torch.no_grad():
                if forward_batch.forward_mode.is_decode():
                    return self.model.forward(forward_batch.input_ids, forward_batch.positions, forward_batch)
                return self.model.forward(forward_batch.input_ids, forward_batch.positions, forward_batch)

    class PiecewiseCudaGraphRunner(object):
        """Prefill through piecewise CUDA graphs (SGLang's default for extend batches up to
        piecewise_cuda_graph_max_tokens): the model is traced by torch.compile, where the Python of traced
        modules runs only while tracing (compiled(fn) makes the agent see is_compiling() True), except inside
        the MoE custom op, which stays opaque and runs its Python (opaque(fn): is_compiling() False); each
        token size is run once, then captured; replay pads the tokens to the next size (real tokens first)."""

        def __init__(self, model_runner, compiled, opaque, sizes=(4, 8, 16)):
            self.model_runner = model_runner
            self.sizes = sorted(sizes)
            self.compiled = compiled
            pw_state["opaque"] = opaque
            n = self.sizes[-1]
            self.input_ids = torch.zeros(n, dtype=torch.long)
            self.positions = torch.zeros(n, dtype=torch.long)
            self.num_token_non_padded = torch.zeros(1, dtype=torch.long)
            self.graphs, self.outs = {}, {}
            for size in reversed(self.sizes):
                ids, pos = self.input_ids[:size], self.positions[:size]
                self.num_token_non_padded.fill_(size)
                fb = ForwardBatch(EXTEND, 1, ids, pos, num_token_non_padded=self.num_token_non_padded)

                def run(ids=ids, pos=pos, fb=fb):
                    pw_state["active"] = True
                    try:
                        return self.compiled(lambda: self.model_runner.model.forward(ids, pos, fb))
                    finally:
                        pw_state["active"] = False
                with torch.no_grad():
                    run()
                g = (graph_factory or SimCudaGraph)()
                self.outs[size] = g.capture(run)
                self.graphs[size] = g

        def can_run(self, forward_batch):
            return forward_batch.input_ids.shape[0] <= self.sizes[-1]

        def replay(self, forward_batch, **kwargs):
            n = forward_batch.input_ids.shape[0]
            size = self.sizes[bisect.bisect_left(self.sizes, n)]
            self.input_ids[:n].copy_(forward_batch.input_ids)
            self.positions[:n].copy_(forward_batch.positions)
            self.num_token_non_padded.fill_(n)
            self.graphs[size].replay()
            return self.outs[size][:n]

    mr.ModelRunner = ModelRunner
    m.PiecewiseCudaGraphRunner = PiecewiseCudaGraphRunner
    cgr.CudaGraphRunner = CudaGraphRunner
    if with_runner:
        sys.modules[mr.__name__] = mr
    sys.modules[cgr.__name__] = cgr

    def batch(kind, n, gen, device=None):
        """One step of n tokens: a decode batch of n requests, or one extend (prefill) of n tokens."""
        ids = torch.randint(1, 50, (n,), generator=gen)
        if device is not None:
            ids = ids.to(device)
        mode = DECODE if kind == "decode" else EXTEND
        return ForwardBatch(mode, n if kind == "decode" else 1, ids, torch.arange(n, device=device),
                            torch.tensor([n], device=device))

    def harvest(model, truth, padded):
        """Move each layer's device truth into the totals (after a real step); zero it."""
        for l, layer in enumerate(model.layers):
            ex = layer.mlp.experts
            for e, v in enumerate(ex.truth_pass.tolist()):
                truth[l][e] += v
            for e, v in enumerate(ex.pad_pass.tolist()):
                padded[l][e] += v
            ex.truth_pass.zero_()
            ex.pad_pass.zero_()

    def discard(model):
        """Drop what warm-up, capture and dummy runs dispatched (synthetic tokens)."""
        for layer in model.layers:
            layer.mlp.experts.truth_pass.zero_()
            layer.mlp.experts.pad_pass.zero_()

    m.ModelRunner, m.Model, m.batch, m.harvest, m.discard = ModelRunner, DeepseekV2ForCausalLM, batch, harvest, discard
    m.ForwardBatch, m.DECODE, m.EXTEND = ForwardBatch, DECODE, EXTEND
    return m
