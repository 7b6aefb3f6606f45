"""
Checkpoint fixtures for `ballast reorder`, with the tensor names of real checkpoints, and a reference
forward pass (router + experts) written here in numpy, independently of ballast's TypeScript.

  /usr/bin/python3 reorder-fixtures.py gen ROOT    writes ROOT/<family>/{ckpt/, plan.json} and ROOT/manifest.json
  /usr/bin/python3 reorder-fixtures.py check ROOT  for every ROOT/<family>/out (written by ballast reorder):
      maxdiff   max |y_before - y_after| over random inputs, per MoE layer (router + experts + shared expert)
      teeth     the same with the rewritten experts but the ORIGINAL router (a reorder that forgot the router):
                must be large, so that maxdiff ~ 0 means something
      moved     slots s whose expert output after differs from the one before (the plan took effect)
      images    every slot s after computes what old expert new_to_old[s] computed before
  and prints one JSON object.

Tensor names per family (shapes are shrunk: H = 32 hidden, I = 32 expert width, E = 8 experts):
  mixtral      mistralai/Mixtral-8x7B-v0.1 model.safetensors.index.json: model.layers.N.block_sparse_moe.gate.weight,
               .block_sparse_moe.experts.M.w1/w2/w3.weight
  qwen2_moe    Qwen/Qwen1.5-MoE-A2.7B index: model.layers.N.mlp.gate.weight, mlp.experts.M.{gate,up,down}_proj.weight,
               mlp.shared_expert.{gate,up,down}_proj.weight, mlp.shared_expert_gate.weight [1, H]
  qwen3_moe    Qwen/Qwen3-30B-A3B index: model.layers.N.mlp.gate.weight, mlp.experts.M.{gate,up,down}_proj.weight
  qwen3_next   Qwen/Qwen3-Next-80B-A3B-Instruct index: as qwen2_moe (shared_expert, shared_expert_gate)
  deepseek_v2  deepseek-ai/DeepSeek-V2 index: mlp.gate.weight, mlp.experts.M.*, mlp.shared_experts.*, dense layer 0
               (mlp.gate_proj), config topk_method group_limited_greedy, n_group, topk_group
  deepseek_v3  deepseek-ai/DeepSeek-V3 index: F8_E4M3 experts with .weight_scale_inv, mlp.gate.weight (BF16),
               mlp.gate.e_score_correction_bias (F32), mlp.shared_experts.*, dense layer 0, and the
               multi-token-prediction layer model.layers.<num_hidden_layers>.{eh_proj,enorm,hnorm,mlp.*}
  kimi_k2      moonshotai/Kimi-K2-Instruct index: DeepSeek-V3 names, model_type kimi_k2, n_group 1
  glm4_moe     zai-org/GLM-4.5-Air index: mlp.gate.weight, mlp.gate.e_score_correction_bias, mlp.shared_experts.*,
               dense first layer, MTP layer at num_hidden_layers
  gpt_oss      openai/gpt-oss-20b index: mlp.router.weight/.bias, mlp.experts.gate_up_proj_blocks/_scales/_bias,
               mlp.experts.down_proj_blocks/_scales/_bias (MXFP4: U8 blocks [E, rows, cols/32, 16], E8M0 scales)
  llama4       meta-llama/Llama-4-Scout-17B-16E-Instruct index: language_model.model.layers.N.feed_forward.router.weight,
               feed_forward.experts.gate_up_proj [E, H, 2I], feed_forward.experts.down_proj [E, I, H],
               feed_forward.shared_expert.*; config text_config, interleave_moe_layer_step (Maverick: 2)
  olmoe        allenai/OLMoE-1B-7B-0924 index: model.layers.N.mlp.gate.weight, mlp.experts.M.*
  hunyuan      tencent/Hunyuan-A13B-Instruct index: model.layers.N.mlp.gate.wg.weight, mlp.experts.M.*,
               mlp.shared_mlp.*; config moe_topk as a per-layer list
  minimax_m2   MiniMaxAI/MiniMax-M2 index: block_sparse_moe.gate.weight, block_sparse_moe.e_score_correction_bias,
               block_sparse_moe.experts.M.w1/w2/w3.weight
  ernie45      baidu/ERNIE-4.5-21B-A3B-PT index: mlp.gate.weight, mlp.moe_statics.e_score_correction_bias [1, E],
               mlp.experts.M.*, mlp.shared_experts.*
  ernie45_he   the same with the router stored [H, E] (as Paddle stores Linear weights; a layout test)
  gptq         GPTQ (auto-gptq qlinear): experts .qweight [in/8, out] I32, .qzeros [groups, out/8], .scales, .g_idx;
               and a quantized router mlp.gate.qweight/... (Qwen3-30B-A3B-GPTQ-Int4 names)
  awq          AWQ (AutoAWQ gemm): .qweight [in, out/8] (order 0,2,4,6,1,3,5,7), .qzeros, .scales; quantized router
Refusal fixtures: unknown model_type, no config.json, a plan crossing DeepSeek-V3 groups, an fp8 router
(mlp.gate.weight_scale_inv: not a form reorder knows), a hash-routed layer moved (DeepSeek-V4 names
layers.N.ffn.*, gate.tid2eid, config num_hash_layers).
"""
import json
import os
import struct
import sys

import numpy as np

H, I, E = 32, 32, 8
DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "U8": 1, "I32": 4, "I64": 8}


# ---------------------------------------------------------------- safetensors by hand (struct + json)
def write_st(path, tensors):
    """tensors: list of (name, dtype, shape, raw bytes)"""
    header, off, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name, dt, shape, raw in tensors:
        assert len(raw) == int(np.prod(shape)) * DTYPE_SIZE[dt], name
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_dir(d):
    out = {}
    for fn in sorted(os.listdir(d)):
        if not fn.endswith(".safetensors"):
            continue
        b = open(os.path.join(d, fn), "rb").read()
        n = struct.unpack("<Q", b[:8])[0]
        h = json.loads(b[8:8 + n])
        for k, v in h.items():
            if k == "__metadata__":
                continue
            s, e = v["data_offsets"]
            out[k] = (v["dtype"], v["shape"], b[8 + n + s:8 + n + e])
    return out


def f32(a):
    return ("F32", a.shape, a.astype("<f4").tobytes())


def bf16(a):
    u = a.astype("<f4").view("<u4") >> 16
    return ("BF16", a.shape, u.astype("<u2").tobytes())


def f16(a):
    return ("F16", a.shape, a.astype("<f2").tobytes())


E4M3 = np.zeros(256)
for c in range(256):
    s, e, m = (c >> 7) & 1, (c >> 3) & 15, c & 7
    v = (m / 8) * 2.0 ** -6 if e == 0 else (1 + m / 8) * 2.0 ** (e - 7)
    E4M3[c] = -v if s else v
FP4 = np.array([0, .5, 1, 1.5, 2, 3, 4, 6, -0., -.5, -1, -1.5, -2, -3, -4, -6])
AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]


def decode(t):
    dt, shape, raw = t
    if dt == "F32":
        return np.frombuffer(raw, "<f4").astype(np.float64).reshape(shape)
    if dt == "F16":
        return np.frombuffer(raw, "<f2").astype(np.float64).reshape(shape)
    if dt == "BF16":
        return (np.frombuffer(raw, "<u2").astype("<u4") << 16).view("<f4").astype(np.float64).reshape(shape)
    if dt == "F8_E4M3":
        return E4M3[np.frombuffer(raw, np.uint8)].reshape(shape)
    if dt == "U8":
        return np.frombuffer(raw, np.uint8).reshape(shape)
    if dt == "I32":
        return np.frombuffer(raw, "<i4").reshape(shape)
    raise ValueError(dt)


# ---------------------------------------------------------------- quantization (pack in gen, unpack in check)
def gptq_pack(out_, in_, gs, rng):
    """Random 4-bit GPTQ tensors of a [out, in] projection (suffix -> tensor)."""
    q = rng.integers(0, 16, size=(in_, out_))
    z = rng.integers(0, 16, size=(in_ // gs, out_))
    s = rng.uniform(0.01, 0.05, size=(in_ // gs, out_)).astype(np.float16)
    qw = np.zeros((in_ // 8, out_), np.uint32)
    for i in range(in_):
        qw[i // 8] |= (q[i].astype(np.uint32) << (4 * (i % 8)))
    qz = np.zeros((in_ // gs, out_ // 8), np.uint32)
    for o in range(out_):
        qz[:, o // 8] |= (np.maximum(z[:, o] - 1, 0).astype(np.uint32) << (4 * (o % 8)))
    g_idx = np.arange(in_) // gs
    return {
        "qweight": ("I32", qw.shape, qw.astype("<u4").tobytes()),
        "qzeros": ("I32", qz.shape, qz.astype("<u4").tobytes()),
        "scales": f16(s),
        "g_idx": ("I32", g_idx.shape, g_idx.astype("<i4").tobytes()),
    }


def gptq_dequant(W, p):
    """auto-gptq: w[i, o] = scales[g_idx[i], o] * (q[i, o] - (qzeros_field[g, o] + 1)); returns [out, in]."""
    qw = decode(W[p + ".qweight"]).view(np.uint32)
    qz = decode(W[p + ".qzeros"]).view(np.uint32)
    s = decode(W[p + ".scales"])
    g = decode(W[p + ".g_idx"])
    in_, out_ = qw.shape[0] * 8, qw.shape[1]
    q = np.zeros((in_, out_))
    for i in range(in_):
        q[i] = (qw[i // 8] >> (4 * (i % 8))) & 15
    z = np.zeros((qz.shape[0], out_))
    for o in range(out_):
        z[:, o] = ((qz[:, o // 8] >> (4 * (o % 8))) & 15) + 1
    return (s[g] * (q - z[g])).T


def awq_pack(out_, in_, gs, rng):
    """Random 4-bit AWQ (gemm) tensors of a [out, in] projection (suffix -> tensor)."""
    q = rng.integers(0, 16, size=(in_, out_))
    z = rng.integers(0, 16, size=(in_ // gs, out_))
    s = rng.uniform(0.01, 0.05, size=(in_ // gs, out_)).astype(np.float16)

    def pack(m):
        r = np.zeros((m.shape[0], m.shape[1] // 8), np.uint32)
        for c in range(m.shape[1] // 8):
            for i in range(8):
                r[:, c] |= m[:, 8 * c + AWQ_ORDER[i]].astype(np.uint32) << (4 * i)
        return r
    qw, qz = pack(q), pack(z)
    return {
        "qweight": ("I32", qw.shape, qw.astype("<u4").tobytes()),
        "qzeros": ("I32", qz.shape, qz.astype("<u4").tobytes()),
        "scales": f16(s),
    }


def awq_dequant(W, p, gs=16):
    def unpack(m):
        r = np.zeros((m.shape[0], m.shape[1] * 8))
        for c in range(m.shape[1]):
            for i in range(8):
                r[:, 8 * c + AWQ_ORDER[i]] = (m[:, c] >> (4 * i)) & 15
        return r
    q = unpack(decode(W[p + ".qweight"]).view(np.uint32))
    z = unpack(decode(W[p + ".qzeros"]).view(np.uint32))
    s = decode(W[p + ".scales"])
    g = np.arange(q.shape[0]) // gs
    return (s[g] * (q - z[g])).T


def mxfp4_dequant(blocks, scales):
    """GPT-OSS: blocks U8 [..., rows, cols/32, 16] (low nibble first), scales U8 E8M0 [..., rows, cols/32]."""
    lo, hi = FP4[blocks & 15], FP4[blocks >> 4]
    v = np.stack([lo, hi], axis=-1).reshape(blocks.shape[:-1] + (32,))
    v = v * np.exp2(scales.astype(np.float64) - 127)[..., None]
    return v.reshape(blocks.shape[:-2] + (blocks.shape[-2] * 32,))


# ---------------------------------------------------------------- routing and experts (reference)
def softmax(v):
    v = v - v.max()
    e = np.exp(v)
    return e / e.sum()


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def silu(v):
    return v * sigmoid(v)


def topk(v, k):
    return list(np.argsort(-v, kind="stable")[:k])


def route(cfg, logits):
    """-> list of (expert, weight) as the family's modelling code routes."""
    kind, k = cfg["route"], cfg["k"]
    if kind == "mixtral":  # top-k logits, softmax over them (MixtralSparseMoeBlock)
        ids = topk(logits, k)
        return list(zip(ids, softmax(logits[ids])))
    if kind == "softmax":  # softmax, top-k, optional renormalisation (Qwen2/3-MoE, OLMoE, Hunyuan)
        p = softmax(logits)
        ids = topk(p, k)
        w = p[ids] / (p[ids].sum() if cfg.get("norm") else 1)
        return list(zip(ids, w))
    if kind == "gptoss":  # top-k logits then softmax (GptOssTopKRouter)
        ids = topk(logits, k)
        return list(zip(ids, softmax(logits[ids])))
    if kind == "llama4":  # top-k logits, sigmoid of them scales the expert input (Llama4Router)
        ids = topk(logits, k)
        return list(zip(ids, sigmoid(logits[ids])))
    if kind in ("noaux_tc", "sigmoid_bias", "softmax_bias", "group_limited_greedy"):
        p = sigmoid(logits) if kind in ("noaux_tc", "sigmoid_bias") else softmax(logits)
        choice = p + cfg["bias"] if "bias" in cfg else p.copy()
        g, tg = cfg.get("n_group", 1), cfg.get("topk_group", 1)
        if g > 1:
            gsz = len(p) // g
            grp = choice.reshape(g, gsz)
            gs = grp.max(1) if kind == "group_limited_greedy" else np.sort(grp, 1)[:, -2:].sum(1)
            keep = topk(gs, tg)
            mask = np.full(len(p), -np.inf)
            for gi in keep:
                mask[gi * gsz:(gi + 1) * gsz] = 0
            choice = choice + mask
        ids = topk(choice, k)
        w = p[ids]
        if cfg.get("norm"):
            w = w / w.sum()
        return list(zip(ids, w * cfg.get("scale", 1.0)))
    raise ValueError(kind)


def swiglu(x, g, u, d):
    return d @ (silu(g @ x) * (u @ x))


class Model:
    """Reads one checkpoint dir; forward(layer, x) = router + experts (+ shared) of that MoE layer."""

    def __init__(self, d, fam):
        self.W, self.f = read_dir(d), fam

    def t(self, n):
        return decode(self.W[n])

    def lin(self, p):
        """Weight [out, in] of a projection whose tensors start with p (float, fp8 or quantized)."""
        W, q = self.W, self.f.get("quant")
        if p + ".qweight" in W:
            return gptq_dequant(W, p) if q == "gptq" else awq_dequant(W, p)
        w = self.t(p + ".weight")
        if p + ".weight_scale_inv" in W:
            s = self.t(p + ".weight_scale_inv")  # [ceil(out/128), ceil(in/128)]
            w = w * np.kron(s, np.ones((128, 128)))[:w.shape[0], :w.shape[1]]
        return w

    def router_logits(self, l, x):
        f = self.f
        b = f["block"].format(l=l)
        if f.get("router_quant"):
            return self.lin(b + ".gate") @ x
        w = self.t(b + f["router"])
        if f.get("router_he"):
            w = w.T
        z = w @ x
        if f.get("router_bias"):
            z = z + self.t(b + f["router_bias"])
        return z

    def expert(self, l, e, x):
        f, b = self.f, self.f["block"].format(l=l)
        if f["experts"] == "w123":
            p = f"{b}.experts.{e}"
            return swiglu(x, self.lin(p + ".w1"), self.lin(p + ".w3"), self.lin(p + ".w2"))
        if f["experts"] == "proj":
            p = f"{b}.experts.{e}"
            return swiglu(x, self.lin(p + ".gate_proj"), self.lin(p + ".up_proj"), self.lin(p + ".down_proj"))
        if f["experts"] == "llama4":
            gu = self.t(f"{b}.experts.gate_up_proj")[e]  # [H, 2I]
            d = self.t(f"{b}.experts.down_proj")[e]  # [I, H]
            h = x @ gu
            return (silu(h[:I]) * h[I:]) @ d
        if f["experts"] == "gptoss":
            gu = mxfp4_dequant(self.t(f"{b}.experts.gate_up_proj_blocks")[e], self.t(f"{b}.experts.gate_up_proj_scales")[e])
            d = mxfp4_dequant(self.t(f"{b}.experts.down_proj_blocks")[e], self.t(f"{b}.experts.down_proj_scales")[e])
            h = gu @ x + self.t(f"{b}.experts.gate_up_proj_bias")[e]
            gate, up = np.minimum(h[0::2], 7), np.clip(h[1::2], -7, 7)
            return d @ ((up + 1) * gate * sigmoid(1.702 * gate)) + self.t(f"{b}.experts.down_proj_bias")[e]
        raise ValueError(f["experts"])

    def shared(self, l, x):
        f, b = self.f, self.f["block"].format(l=l)
        s = f.get("shared")
        if not s:
            return 0
        p = f"{b}.{s}"
        y = swiglu(x, self.lin(p + ".gate_proj"), self.lin(p + ".up_proj"), self.lin(p + ".down_proj"))
        if f.get("shared_gate"):
            y = sigmoid(self.t(f"{b}.shared_expert_gate.weight") @ x)[0] * y
        return y

    def cfg_for(self, l):
        f = dict(self.f["routing"])
        if "bias_name" in f:
            f["bias"] = self.t(self.f["block"].format(l=l) + f["bias_name"]).reshape(-1)
        if isinstance(f["k"], list):
            f["k"] = f["k"][l]
        return f

    def forward(self, l, x, router_from=None):
        r = (router_from or self).router_logits(l, x)
        cfg = (router_from or self).cfg_for(l)
        y = 0
        for e, w in route(cfg, r):
            y = y + (self.expert(l, e, x * w) if self.f["experts"] == "llama4" else w * self.expert(l, e, x))
        return y + self.shared(l, x)


# ---------------------------------------------------------------- fixture generation
def rnd(rng, *shape, scale=0.3):
    return rng.normal(0, scale, size=shape)


def fp8_tensor(rng, shape):
    """Random valid E4M3 codes (exponent 4..9, so values 2^-3..2^2, no NaN) and a [1, 1] scale."""
    codes = (rng.integers(0, 2, size=shape) << 7) | (rng.integers(4, 10, size=shape) << 3) | rng.integers(0, 8, size=shape)
    return ("F8_E4M3", shape, codes.astype(np.uint8).tobytes()), f32(np.array([[rng.uniform(0.02, 0.05)]]))


def proj_tensors(rng, fam, p, out_, in_):
    q = fam.get("quant")
    if q == "fp8":
        w, s = fp8_tensor(rng, (out_, in_))
        return {p + ".weight": w, p + ".weight_scale_inv": s}
    if q in ("gptq", "awq"):
        t = (gptq_pack if q == "gptq" else awq_pack)(out_, in_, 16, rng)
        return {f"{p}.{k}": v for k, v in t.items()}
    return {p + ".weight": (bf16 if fam.get("bf16") else f32)(rnd(rng, out_, in_))}


def gen_family(root, name, fam, seed):
    rng = np.random.default_rng(seed)
    d = os.path.join(root, name, "ckpt")
    os.makedirs(d)
    T = {"model.embed_tokens.weight": f32(rnd(rng, 16, H))}
    for l in fam["dense"]:
        for pr, (o, i) in {"gate_proj": (I, H), "up_proj": (I, H), "down_proj": (H, I)}.items():
            T.update(proj_tensors(rng, fam, fam["dense_block"].format(l=l) + "." + pr, o, i))
    for l in fam["moe"] + fam.get("mtp", []):
        b = fam["block"].format(l=l)
        if fam["experts"] in ("w123", "proj"):
            names = {"w1": (I, H), "w3": (I, H), "w2": (H, I)} if fam["experts"] == "w123" else {"gate_proj": (I, H), "up_proj": (I, H), "down_proj": (H, I)}
            for e in range(E):
                for pr, (o, i) in names.items():
                    T.update(proj_tensors(rng, fam, f"{b}.experts.{e}.{pr}", o, i))
        elif fam["experts"] == "llama4":
            T[f"{b}.experts.gate_up_proj"] = bf16(rnd(rng, E, H, 2 * I))
            T[f"{b}.experts.down_proj"] = bf16(rnd(rng, E, I, H))
        elif fam["experts"] == "gptoss":
            T[f"{b}.experts.gate_up_proj_blocks"] = ("U8", (E, 2 * I, H // 32, 16), rng.integers(0, 256, size=(E, 2 * I, H // 32, 16)).astype(np.uint8).tobytes())
            T[f"{b}.experts.gate_up_proj_scales"] = ("U8", (E, 2 * I, H // 32), rng.integers(118, 124, size=(E, 2 * I, H // 32)).astype(np.uint8).tobytes())
            T[f"{b}.experts.gate_up_proj_bias"] = bf16(rnd(rng, E, 2 * I))
            T[f"{b}.experts.down_proj_blocks"] = ("U8", (E, H, I // 32, 16), rng.integers(0, 256, size=(E, H, I // 32, 16)).astype(np.uint8).tobytes())
            T[f"{b}.experts.down_proj_scales"] = ("U8", (E, H, I // 32), rng.integers(118, 124, size=(E, H, I // 32)).astype(np.uint8).tobytes())
            T[f"{b}.experts.down_proj_bias"] = bf16(rnd(rng, E, H))
        if fam.get("router_quant"):
            t = (gptq_pack if fam["quant"] == "gptq" else awq_pack)(E, H, 16, rng)
            T.update({f"{b}.gate.{k}": v for k, v in t.items()})
        else:
            w = rnd(rng, E, H, scale=1.0)
            T[b + fam["router"]] = (bf16 if fam.get("router_bf16") else f32)(w.T if fam.get("router_he") else w)
        if fam.get("router_bias"):
            T[b + fam["router_bias"]] = bf16(rnd(rng, E))
        if "bias_name" in fam["routing"]:
            shape = fam.get("bias_shape", (E,))
            T[b + fam["routing"]["bias_name"]] = f32(rng.uniform(-0.3, 0.3, size=shape))
        if fam.get("shared"):
            for pr, (o, i) in {"gate_proj": (I, H), "up_proj": (I, H), "down_proj": (H, I)}.items():
                T.update(proj_tensors(rng, fam, f"{b}.{fam['shared']}.{pr}", o, i))
        if fam.get("shared_gate"):
            T[f"{b}.shared_expert_gate.weight"] = f32(rnd(rng, 1, H))
        for extra, shape in (fam.get("extra", {}) if l in fam.get("mtp", []) else {}).items():
            T[fam["layer_prefix"].format(l=l) + extra] = f32(rnd(rng, *shape))
    for n, shape in fam.get("other", {}).items():
        T[n] = f32(rnd(rng, *shape))
    T["lm_head.weight"] = f32(rnd(rng, 16, H))
    # shards: layer tensors by layer, embeddings first, lm_head alone (nothing to permute: hard-linked)
    names = list(T)
    layer_of = lambda n: int(n.split("layers.")[1].split(".")[0]) if "layers." in n else -1
    groups = [[n for n in names if layer_of(n) <= min(fam["moe"]) and n != "lm_head.weight"], [n for n in names if layer_of(n) > min(fam["moe"]) and n != "lm_head.weight"], ["lm_head.weight"]]
    groups = [g for g in groups if g]
    weight_map = {}
    for i, g in enumerate(groups):
        fn = f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors"
        write_st(os.path.join(d, fn), [(n,) + T[n] for n in g])
        weight_map.update({n: fn for n in g})
    json.dump({"metadata": {"total_size": 0}, "weight_map": weight_map}, open(os.path.join(d, "model.safetensors.index.json"), "w"))
    if fam.get("config") is not None:
        json.dump(fam["config"], open(os.path.join(d, "config.json"), "w"))
    plan = {"format": "ballast-plan", "version": 1, "numLayers": len(fam["moe"]), "numExperts": E, "numRanks": 2, "ranksPerNode": 2,
            "layerIds": fam["moe"], "phy2log": [fam["perm"](i) for i in range(len(fam["moe"]))]}
    json.dump(plan, open(os.path.join(root, name, "plan.json"), "w"))


ANY = lambda i: [[3, 7, 0, 5, 1, 6, 2, 4], [5, 2, 7, 0, 6, 1, 4, 3]][i % 2]
# groups of 2 (n_group 4): whole groups move between blocks (block 0 <- group 2, ...), and swap inside some
GROUPED = lambda i: [[5, 4, 0, 1, 7, 6, 2, 3], [2, 3, 6, 7, 1, 0, 4, 5]][i % 2]
CROSSING = lambda i: [[1, 2, 0, 3, 4, 5, 6, 7], [0, 1, 2, 3, 4, 5, 6, 7]][i % 2]


def base(model_type, **kw):
    c = {"model_type": model_type, "hidden_size": H, "moe_intermediate_size": I, "num_hidden_layers": 3, "num_experts_per_tok": 2}
    c.update(kw)
    return c


def families():
    proj = dict(experts="proj", block="model.layers.{l}.mlp", router=".gate.weight", dense=[], dense_block="model.layers.{l}.mlp", moe=[0, 1, 2], perm=ANY)
    ds3 = dict(proj, dense=[0], moe=[1, 2], mtp=[3], quant="fp8", router_bf16=True, shared="shared_experts", layer_prefix="model.layers.{l}.",
               extra={"eh_proj.weight": (H, 2 * H), "enorm.weight": (H,), "hnorm.weight": (H,)})
    ds3_cfg = base("deepseek_v3", n_routed_experts=E, n_group=4, topk_group=2, topk_method="noaux_tc", scoring_func="sigmoid", norm_topk_prob=True,
                   routed_scaling_factor=2.5, first_k_dense_replace=1, n_shared_experts=1, num_nextn_predict_layers=1,
                   quantization_config={"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [128, 128]})
    F = {
        "mixtral": dict(proj, experts="w123", block="model.layers.{l}.block_sparse_moe", config=base("mixtral", num_local_experts=E, intermediate_size=I),
                        routing={"route": "mixtral", "k": 2}),
        "qwen2_moe": dict(proj, shared="shared_expert", shared_gate=True, config=base("qwen2_moe", num_experts=E, norm_topk_prob=False), routing={"route": "softmax", "k": 2}),
        "qwen3_moe": dict(proj, config=base("qwen3_moe", num_experts=E, norm_topk_prob=True), routing={"route": "softmax", "k": 2, "norm": True}),
        "qwen3_next": dict(proj, shared="shared_expert", shared_gate=True, config=base("qwen3_next", num_experts=E, norm_topk_prob=True), routing={"route": "softmax", "k": 2, "norm": True}),
        "deepseek_v2": dict(proj, dense=[0], moe=[1, 2], shared="shared_experts", perm=GROUPED,
                            config=base("deepseek_v2", n_routed_experts=E, n_group=4, topk_group=2, topk_method="group_limited_greedy", first_k_dense_replace=1, n_shared_experts=1),
                            routing={"route": "group_limited_greedy", "k": 2, "n_group": 4, "topk_group": 2}),
        "deepseek_v3": dict(ds3, perm=GROUPED, config=ds3_cfg,
                            routing={"route": "noaux_tc", "k": 2, "n_group": 4, "topk_group": 2, "norm": True, "scale": 2.5, "bias_name": ".gate.e_score_correction_bias"}),
        "kimi_k2": dict(ds3, config=dict(ds3_cfg, model_type="kimi_k2", n_group=1, topk_group=1),
                        routing={"route": "noaux_tc", "k": 2, "norm": True, "scale": 2.827, "bias_name": ".gate.e_score_correction_bias"}),
        "glm4_moe": dict(ds3, quant=None, router_bf16=False, bf16=True,
                         config=base("glm4_moe", n_routed_experts=E, n_group=1, topk_group=1, first_k_dense_replace=1, n_shared_experts=1, num_nextn_predict_layers=1, norm_topk_prob=True),
                         routing={"route": "noaux_tc", "k": 2, "norm": True, "scale": 1.0, "bias_name": ".gate.e_score_correction_bias"}),
        "gpt_oss": dict(proj, experts="gptoss", router=".router.weight", router_bias=".router.bias", router_bf16=True,
                        config=base("gpt_oss", num_local_experts=E, num_experts_per_tok=2, intermediate_size=I, quantization_config={"quant_method": "mxfp4"}),
                        routing={"route": "gptoss", "k": 2}),
        "llama4": dict(proj, experts="llama4", block="language_model.model.layers.{l}.feed_forward", router=".router.weight", router_bf16=True,
                       dense=[0, 2], dense_block="language_model.model.layers.{l}.feed_forward", moe=[1, 3], shared="shared_expert",
                       other={"vision_model.model.layers.1.mlp.fc1.weight": (E, H)},
                       config={"model_type": "llama4", "text_config": {"model_type": "llama4_text", "hidden_size": H, "intermediate_size": I, "num_local_experts": E,
                                                                       "num_experts_per_tok": 1, "num_hidden_layers": 4, "interleave_moe_layer_step": 2}},
                       routing={"route": "llama4", "k": 1}),
        "olmoe": dict(proj, config=base("olmoe", num_experts=E, norm_topk_prob=False), routing={"route": "softmax", "k": 2}),
        "hunyuan": dict(proj, router=".gate.wg.weight", shared="shared_mlp", config=base("hunyuan_v1_moe", num_experts=E, moe_topk=[2, 1, 2]),
                        routing={"route": "softmax", "k": [2, 1, 2], "norm": True}),
        "minimax_m2": dict(proj, experts="w123", block="model.layers.{l}.block_sparse_moe",
                           config=base("minimax_m2", num_local_experts=E, scoring_func="sigmoid", use_routing_bias=True),
                           routing={"route": "sigmoid_bias", "k": 2, "norm": True, "bias_name": ".e_score_correction_bias"}),
        "ernie45": dict(proj, dense=[0], moe=[1, 2], shared="shared_experts", bias_shape=(1, E),
                        config=base("ernie4_5_moe", moe_num_experts=E, moe_k=2, moe_layer_start_index=1, moe_num_shared_experts=1),
                        routing={"route": "softmax_bias", "k": 2, "norm": True, "bias_name": ".moe_statics.e_score_correction_bias"}),
        "ernie45_he": dict(proj, dense=[0], moe=[1, 2], shared="shared_experts", bias_shape=(1, E), router_he=True,
                           config=base("ernie4_5_moe", moe_num_experts=E, moe_k=2, moe_layer_start_index=1, moe_num_shared_experts=1),
                           routing={"route": "softmax_bias", "k": 2, "norm": True, "bias_name": ".moe_statics.e_score_correction_bias"}),
        "gptq": dict(proj, quant="gptq", router_quant=True,
                     config=base("qwen3_moe", num_experts=E, norm_topk_prob=True, quantization_config={"quant_method": "gptq", "bits": 4, "group_size": 16, "desc_act": False, "sym": False}),
                     routing={"route": "softmax", "k": 2, "norm": True}),
        "awq": dict(proj, quant="awq", router_quant=True, experts="w123", block="model.layers.{l}.block_sparse_moe",
                    config=base("mixtral", num_local_experts=E, quantization_config={"quant_method": "awq", "bits": 4, "group_size": 16, "version": "gemm", "zero_point": True}),
                    routing={"route": "mixtral", "k": 2}),
    }
    R = {
        "refuse_unknown_type": dict(F["qwen3_moe"], config=base("arctic", num_local_experts=E)),
        "refuse_no_config": dict(F["qwen3_moe"], config=None),
        "refuse_crossing_groups": dict(F["deepseek_v3"], perm=CROSSING),
        "refuse_fp8_router": dict(F["qwen3_moe"], other={"model.layers.1.mlp.gate.weight_scale_inv": (1, 1)}),
        "refuse_hash_layer": dict(F["mixtral"], experts="w123", block="layers.{l}.ffn", moe=[0, 1],
                                  other={"layers.0.ffn.gate.tid2eid": (16, 2)},
                                  config=base("deepseek_v4", n_routed_experts=E, num_hash_layers=1, num_hidden_layers=2)),
    }
    return F, R


def gen(root):
    F, R = families()
    for i, (n, f) in enumerate(list(F.items()) + list(R.items())):
        gen_family(root, n, f, 100 + i)
    json.dump({"families": list(F), "refusals": list(R)}, open(os.path.join(root, "manifest.json"), "w"))


class Permuted(Model):
    """What a rewrite that applies new_to_old to experts, router rows and biases alone would compute."""

    def __init__(self, m, plan, moe):
        self.W, self.f, self.m, self.perm = m.W, m.f, m, {l: plan["phy2log"][i] for i, l in enumerate(moe)}

    def router_logits(self, l, x):
        return self.m.router_logits(l, x)[self.perm[l]]

    def cfg_for(self, l):
        c = self.m.cfg_for(l)
        if "bias" in c:
            c["bias"] = c["bias"][self.perm[l]]
        return c

    def expert(self, l, s, x):
        return self.m.expert(l, self.perm[l][s], x)


def check(root):
    F, R = families()
    rng = np.random.default_rng(7)
    res = {}
    for n, f in F.items():
        out = os.path.join(root, n, "out")
        if not os.path.isdir(out):
            res[n] = {"missing": True}
            continue
        a, b = Model(os.path.join(root, n, "ckpt"), f), Model(out, f)
        plan = json.load(open(os.path.join(root, n, "plan.json")))
        r = {"maxdiff": 0.0, "teeth": 0.0, "scale": 0.0, "moved": 0, "images": True, "layers": []}
        for li, l in enumerate(f["moe"] + f.get("mtp", [])):
            xs = [rng.normal(0, 1, H) for _ in range(24)]
            for x in xs:
                ya, yb = a.forward(l, x), b.forward(l, x)
                r["maxdiff"] = max(r["maxdiff"], float(np.abs(ya - yb).max()))
                r["scale"] = max(r["scale"], float(np.abs(ya).max()))
                r["teeth"] = max(r["teeth"], float(np.abs(ya - b.forward(l, x, router_from=a)).max()))
            if l in f["moe"]:
                n2o = plan["phy2log"][f["moe"].index(l)]
                x = xs[0]
                for s in range(E):
                    eb = b.expert(l, s, x)
                    if np.abs(eb - a.expert(l, s, x)).max() > 1e-9:
                        r["moved"] += 1
                    if np.abs(eb - a.expert(l, n2o[s], x)).max() > 1e-9:
                        r["images"] = False
            r["layers"].append(l)
        res[n] = r
    # The refused crossing plan, carried out naively: experts, router rows and correction bias all permuted.
    f = R["refuse_crossing_groups"]
    a = Model(os.path.join(root, "refuse_crossing_groups", "ckpt"), f)
    p = Permuted(a, json.load(open(os.path.join(root, "refuse_crossing_groups", "plan.json"))), f["moe"])
    res["crossing_naive_maxdiff"] = max(float(np.abs(a.forward(1, x) - p.forward(1, x)).max()) for x in [rng.normal(0, 1, H) for _ in range(200)])
    g = F["deepseek_v3"]
    a = Model(os.path.join(root, "deepseek_v3", "ckpt"), g)
    p = Permuted(a, json.load(open(os.path.join(root, "deepseek_v3", "plan.json"))), g["moe"])
    # the quantized routers of layer 0, dequantised here, for the TypeScript dequantiser of --verify
    res["dequant"] = {
        "gptq": Model(os.path.join(root, "gptq", "ckpt"), F["gptq"]).lin("model.layers.0.mlp.gate").tolist(),
        "awq": Model(os.path.join(root, "awq", "ckpt"), F["awq"]).lin("model.layers.0.block_sparse_moe.gate").tolist(),
    }
    res["grouped_naive_maxdiff"] = max(float(np.abs(a.forward(1, x) - p.forward(1, x)).max()) for x in [rng.normal(0, 1, H) for _ in range(200)])
    print(json.dumps(res))


if __name__ == "__main__":
    {"gen": gen, "check": check}[sys.argv[1]](sys.argv[2])
