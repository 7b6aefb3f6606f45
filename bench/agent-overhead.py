"""Step-time overhead of the ballast capture agent on a MoE forward pass.

Run with /usr/bin/python3 (stdlib + torch; transformers on GPU machines). The agent is attached and
detached in the SAME process, alternating in blocks (A B B A A B B A ...), so drift (thermal, other
load) hits both arms alike; the overhead is the mean of the paired block differences, with a 95%
confidence interval (Student t).

  CPU (no CUDA):  a MoE model with HF class names (Qwen3MoeSparseMoeBlock: gate = nn.Linear(H, E),
                  top_k on the block), batched expert compute via a dense gather-free einsum.
  GPU (nvidia-smi present and torch.cuda.is_available()): a random-init transformers model
                  (Qwen3-MoE by default, --hf mixtral for Mixtral) with real layer sizes and fewer
                  layers; no weights are downloaded. Also runs the agent's hot path under
                  torch.cuda.set_sync_debug_mode('error') to prove it never synchronises.

Usage:
  /usr/bin/python3 bench/agent-overhead.py [--collector http://127.0.0.1:PORT] [--rounds 20] [--steps 10]
  node --import tsx bench/agent-overhead.ts      # starts a collector and runs this script against it
"""
import argparse
import math
import os
import shutil
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "capture", "python"))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

import ballast_agent  # noqa: E402

T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
        12: 2.179, 15: 2.131, 20: 2.086, 25: 2.060, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}


def t975(df):
    best = 1.96
    for k in sorted(T975):
        if df <= k:
            return T975[k]
        best = T975[k]
    return best if df <= 120 else 1.96


# ---------------- CPU model (HF names, batched experts) ----------------
class Qwen3MoeSparseMoeBlock(nn.Module):
    def __init__(self, h, f, e, k):
        super().__init__()
        self.num_experts = e
        self.top_k = k
        self.gate = nn.Linear(h, e, bias=False)
        self.w_up = nn.Parameter(torch.randn(e, h, f) / math.sqrt(h))
        self.w_down = nn.Parameter(torch.randn(e, f, h) / math.sqrt(f))

    def forward(self, hidden_states):
        b, s, h = hidden_states.shape
        x = hidden_states.reshape(-1, h)
        logits = self.gate(x)
        probs = torch.softmax(logits, dim=-1, dtype=torch.float)
        w, idx = torch.topk(probs, self.top_k, dim=-1)
        # Sort token-slots by expert and run each expert on its tokens (no per-token Python loop).
        flat = idx.reshape(-1)
        order = torch.argsort(flat)
        counts = torch.bincount(flat, minlength=self.num_experts).tolist()
        tok = order // self.top_k
        xs = x[tok]
        outs = []
        start = 0
        for e, n in enumerate(counts):
            if n:
                seg = xs[start:start + n]
                outs.append(torch.relu(seg @ self.w_up[e]) @ self.w_down[e])
            start += n
        y = torch.cat(outs, 0) * w.reshape(-1)[order].unsqueeze(-1).to(x.dtype)
        out = torch.zeros_like(x).index_add_(0, tok, y)
        return out.view(b, s, h), logits


class Layer(nn.Module):
    def __init__(self, h, f, e, k):
        super().__init__()
        self.norm = nn.LayerNorm(h)
        self.attn = nn.Linear(h, h, bias=False)
        self.mlp = Qwen3MoeSparseMoeBlock(h, f, e, k)

    def forward(self, x):
        x = x + self.attn(self.norm(x))
        return x + self.mlp(self.norm(x))[0]


class CpuMoe(nn.Module):
    def __init__(self, layers, h, f, e, k):
        super().__init__()
        self.layers = nn.ModuleList([Layer(h, f, e, k) for _ in range(layers)])

    def forward(self, x):
        for l in self.layers:
            x = l(x)
        return x


def build_gpu_model(kind, layers):
    import transformers
    if kind == "mixtral":
        cfg = transformers.MixtralConfig(hidden_size=4096, intermediate_size=14336, num_local_experts=8,
                                         num_experts_per_tok=2, num_hidden_layers=layers, num_attention_heads=32,
                                         num_key_value_heads=8, vocab_size=32000)
        model = transformers.MixtralForCausalLM(cfg)
    else:
        cfg = transformers.Qwen3MoeConfig(hidden_size=2048, moe_intermediate_size=768, intermediate_size=6144,
                                          num_experts=128, num_experts_per_tok=8, num_hidden_layers=layers,
                                          num_attention_heads=32, num_key_value_heads=4, vocab_size=151936,
                                          decoder_sparse_step=1, mlp_only_layers=[])
        model = transformers.Qwen3MoeForCausalLM(cfg)
    return model.to(dtype=torch.bfloat16, device="cuda").eval(), cfg


def sync_check(agent, model_device, experts, top_k, steps=50):
    """Run the agent's hot path (router hook + flushes) with CUDA sync debugging set to 'error'."""
    lay = agent.layers[0]
    logits = torch.randn(256, experts, device=model_device, dtype=torch.bfloat16)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for i in range(steps):
            for l in agent.layers:
                agent._on_router(l, logits)
            if i % 10 == 9:
                with agent.lock:
                    agent._flush(time.monotonic())
    finally:
        torch.cuda.set_sync_debug_mode(0)
    return lay is not None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--collector", default=os.environ.get("BALLAST_COLLECTOR", ""))
    ap.add_argument("--rounds", type=int, default=16, help="A/B pairs")
    ap.add_argument("--steps", type=int, default=8, help="forward steps per block")
    ap.add_argument("--flush-ms", type=int, default=1000, help="agent flush interval (production default 1000)")
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--hf", default="qwen3moe", choices=["qwen3moe", "mixtral"])
    ap.add_argument("--mode", default="prefill", choices=["prefill", "decode"])
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--hidden", type=int, default=512, help="CPU model hidden size")
    ap.add_argument("--ffn", type=int, default=512, help="CPU model expert FFN size")
    args = ap.parse_args()

    os.environ["BALLAST_COLLECTOR"] = args.collector
    os.environ["BALLAST_FLUSH_MS"] = str(args.flush_ms)
    gpu = shutil.which("nvidia-smi") is not None and torch.cuda.is_available()
    torch.manual_seed(0)
    if gpu:
        model, cfg = build_gpu_model(args.hf, args.layers)
        batch, seq = (8, 512) if args.mode == "prefill" else (64, 1)
        inp = torch.randint(0, cfg.vocab_size, (batch, seq), device="cuda")
        desc = "GPU %s, transformers %s random init, %d layers, %s batch %dx%d, bf16" % (
            torch.cuda.get_device_name(0), args.hf, args.layers, args.mode, batch, seq)

        def step():
            with torch.inference_mode():
                model(inp)
            torch.cuda.synchronize()
    else:
        torch.set_num_threads(args.threads)
        h, f, e, k = args.hidden, args.ffn, 32, 4
        model = CpuMoe(args.layers, h, f, e, k).eval()
        batch, seq = (2, 64) if args.mode == "prefill" else (32, 1)
        inp = torch.randn(batch, seq, h)
        desc = "CPU (%d torch thread(s)), HF-named MoE: %d layers, H=%d, F=%d, E=%d, top-%d, %s batch %dx%d, fp32" % (
            args.threads, args.layers, h, f, e, k, args.mode, batch, seq)

        def step():
            with torch.no_grad():
                model(inp)

    agent = ballast_agent.Agent(torch)
    # Direct attribution: time spent inside the agent's router hook (perf_counter around each call).
    hook_ns = [0]
    inner = agent._on_router

    def timed_on_router(lay, out):
        t = time.perf_counter_ns()
        try:
            inner(lay, out)
        finally:
            hook_ns[0] += time.perf_counter_ns() - t

    agent._on_router = timed_on_router
    n = agent.attach(model)
    if n == 0:
        print("the agent found no MoE layers in the benchmark model", file=sys.stderr)
        return 2
    agent.detach()
    for _ in range(3):
        step()  # warm-up

    on_steps = [0]

    def block(on):
        if on:
            agent.attach(model)
            on_steps[0] += args.steps
        t0 = time.perf_counter()
        c0 = time.process_time()  # CPU time of every thread of this process (agent threads included)
        m0 = time.thread_time()   # CPU time of the model thread only
        for _ in range(args.steps):
            step()
        wall = (time.perf_counter() - t0) / args.steps
        cpu = (time.process_time() - c0) / args.steps
        mcpu = (time.thread_time() - m0) / args.steps
        if on:
            agent.detach()
        return wall, cpu, mcpu

    res_wall = {False: [], True: []}
    res_cpu = {False: [], True: []}
    d_wall = []
    d_cpu = []
    d_mcpu = []
    for r in range(args.rounds):
        order = (False, True) if r % 2 == 0 else (True, False)
        res = {}
        for on in order:
            res[on] = block(on)
        for on in (False, True):
            res_wall[on].append(res[on][0])
            res_cpu[on].append(res[on][1])
        d_wall.append((res[True][0] - res[False][0]) / res[False][0])
        d_cpu.append((res[True][1] - res[False][1]) / res[False][1])
        d_mcpu.append((res[True][2] - res[False][2]) / res[False][2])

    def ci(d):
        mean = statistics.mean(d)
        sd = statistics.stdev(d) if len(d) > 1 else 0.0
        half = t975(len(d) - 1) * sd / math.sqrt(len(d))
        return mean * 100, (mean - half) * 100, (mean + half) * 100

    print("model: %s" % desc)
    print("agent: %d MoE layers hooked, flush every %d ms, collector %s" % (n, args.flush_ms, args.collector or "(none)"))
    print("blocks: %d A/B pairs x %d steps, alternating order" % (args.rounds, args.steps))
    print("wall step time: without agent median %.3f ms, with agent median %.3f ms" % (
        statistics.median(res_wall[False]) * 1e3, statistics.median(res_wall[True]) * 1e3))
    print("CPU time/step:  without agent median %.3f ms, with agent median %.3f ms" % (
        statistics.median(res_cpu[False]) * 1e3, statistics.median(res_cpu[True]) * 1e3))
    print("overhead (wall): %+.3f%% of step time (95%% CI %+.3f%% .. %+.3f%%), target < 0.5%%" % ci(d_wall))
    print("overhead (CPU, all threads):  %+.3f%% of step CPU time (95%% CI %+.3f%% .. %+.3f%%)" % ci(d_cpu))
    print("overhead (CPU, model thread): %+.3f%% of step CPU time (95%% CI %+.3f%% .. %+.3f%%)" % ci(d_mcpu))
    per_step = hook_ns[0] / 1e9 / max(1, on_steps[0])
    print("time inside the agent's hooks: %.1f us per step (%.1f us per layer) = %.3f%% of the median step "
          "(direct attribution, includes the per-layer topk + scatter_add on this device)" % (
              per_step * 1e6, per_step * 1e6 / n, 100 * per_step / statistics.median(res_wall[False])))
    # Let the last windows go out, then report what the agent sent.
    agent.shutdown()
    sent = sum(s.sent for s in (agent.senders or []))
    dropped = sum(s.dropped for s in (agent.senders or []))
    print("windows sent: %d, dropped: %d, agent enabled: %s" % (sent, dropped, agent.enabled))
    if gpu:
        a2 = ballast_agent.Agent(torch)
        a2.attach(model)
        E = a2.num_experts
        ok = sync_check(a2, "cuda", E, a2.layers[0].top_k)
        a2.detach()
        print("sync check: agent hot path + flush ran under set_sync_debug_mode('error') without a sync: %s" % ok)
    return 0


if __name__ == "__main__":
    sys.exit(main())
