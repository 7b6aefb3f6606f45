"""GPU check of the capture agent (issue 11 item 4), driven by bench/gpu-capture.sh.

On the machine's own torch (and transformers, when installed):
  A. transformers families, random-init small configs, float32: counts of the agent (`ballast_agent.capture`)
     against the truth of an eager reference run that counts the ids each `*Experts` module / router
     dispatched (a wrapper written here, not the agent). Modes: eager, torch.compile, torch.compile
     mode="reduce-overhead" (CUDA graphs). Expected: eager exact; compiled modes either exact or refused by
     the agent's one-line self-check -- anything else is reported as WRONG.
  B. the vLLM mirror (capture/python/tests/mirrors.py) with its experts forward registered as a custom op
     (when torch.library.custom_op exists) under torch.compile, and CUDA-graph capture/replay of each
     padded batch size: counts against the mirror's own truth (real tokens only).
  D. the SGLang runner mirror (capture/python/tests/mirrors.py install_sglang_runner_mirror): kernel warm-up,
     decode CUDA graphs captured with torch.cuda.graph (bs 1, 2, 4, 8), padded replays, eager extends and a
     dummy run, counted by the agent's sglang-step-buffer path against the mirror's device truth (real rows);
     C-sglang: its decode-step overhead, graphs captured with the agent against graphs captured without.
  C. step-time overhead, agent against no agent, alternating, >= 30 pairs, mean relative difference
     with a 95% confidence interval (Student t), on B's CUDA-graph replay and on A's eager Mixtral step.

--dry-run (CPU, no CUDA): runs what a CPU can (A eager only when transformers is importable, B eager,
C with few pairs) so the script is exercised; it never claims GPU numbers. Prints one JSON line per
result (`RESULT {...}`) and a summary.
"""
import argparse
import contextlib
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "capture", "python"))
sys.path.insert(0, os.path.join(HERE, "..", "capture", "python", "tests"))

import torch  # noqa: E402

import ballast_agent  # noqa: E402
import mirrors  # noqa: E402

T975 = {5: 2.571, 10: 2.228, 20: 2.086, 29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980}


def t975(df):
    for k in sorted(T975):
        if df <= k:
            return T975[k]
    return 1.96


def result(**kw):
    print("RESULT " + json.dumps(kw))
    sys.stdout.flush()


def ci(diffs):
    m = statistics.mean(diffs)
    h = t975(len(diffs) - 1) * statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
    return m, m - h, m + h


# ------------------------------------------------------------------ A. transformers families
FAMILIES = {
    # model_type: small config overrides (random init; no weights downloaded)
    "mixtral": dict(num_local_experts=8, num_experts_per_tok=2),
    "qwen2_moe": dict(num_experts=8, num_experts_per_tok=2, moe_intermediate_size=32, shared_expert_intermediate_size=32),
    "qwen3_moe": dict(num_experts=8, num_experts_per_tok=2, moe_intermediate_size=32),
    "olmoe": dict(num_experts=8, num_experts_per_tok=2),
    "deepseek_v2": dict(n_routed_experts=8, num_experts_per_tok=2, n_group=4, topk_group=2, topk_method="group_limited_greedy",
                        moe_intermediate_size=32, n_shared_experts=1, first_k_dense_replace=0, q_lora_rank=None,
                        kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=8),
    "deepseek_v3": dict(n_routed_experts=8, num_experts_per_tok=2, n_group=4, topk_group=2, moe_intermediate_size=32,
                        n_shared_experts=1, first_k_dense_replace=0, q_lora_rank=None, kv_lora_rank=16,
                        qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=8),
    "glm4_moe": dict(n_routed_experts=8, num_experts_per_tok=2, n_group=4, topk_group=2, moe_intermediate_size=32,
                     first_k_dense_replace=0),
    "gpt_oss": dict(num_local_experts=8, num_experts_per_tok=2),
    "llama4_text": dict(num_local_experts=8, num_experts_per_tok=1, interleave_moe_layer_step=1),
}
REPS = 3
BASE = dict(hidden_size=64, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            vocab_size=128, max_position_embeddings=256)


def truth_wrappers(model):
    """Count, in an eager run, the ids each experts module / router dispatched (independent of the agent)."""
    counts = {}
    undo = []
    for name, m in model.named_modules():
        exp = getattr(m, "experts", None)
        if exp is None or isinstance(exp, torch.nn.ModuleList):
            continue
        orig = exp.forward
        key = name

        def fwd(*a, _orig=orig, _key=key, **k):
            ids = k.get("top_k_index", k.get("router_indices"))
            if ids is None and len(a) > 1 and torch.is_tensor(a[1]) and not a[1].is_floating_point():
                ids = a[1]
            if ids is not None:
                c = counts.setdefault(_key, {})
                for e in ids.reshape(-1).tolist():
                    c[e] = c.get(e, 0) + 1
            return _orig(*a, **k)
        exp.forward = fwd
        undo.append(exp)
    return counts, undo


def as_rows(counts, n):
    return [[counts[k].get(e, 0) for e in range(n)] for k in sorted(counts, key=lambda s: [int(x) for x in s.split(".") if x.isdigit()])]


def part_a(dev, dry):
    try:
        import transformers
        from transformers import AutoConfig, AutoModelForCausalLM
    except Exception as e:
        result(part="A", skipped="transformers not importable (%r)" % (e,))
        return
    modes = ["eager"] if dry else ["eager", "compile", "reduce-overhead"]
    for fam, over in FAMILIES.items():
        try:
            cfg = AutoConfig.for_model(fam, **dict(BASE, **over))
            torch.manual_seed(0)
            model = AutoModelForCausalLM.from_config(cfg).to(dev).float().eval()
        except Exception as e:
            result(part="A", family=fam, skipped="cannot build: %r" % (e,))
            continue
        ids = torch.randint(0, 128, (2, 12), device=dev)
        counts, undo = truth_wrappers(model)
        with torch.no_grad():
            model(ids)
        for exp in undo:
            del exp.forward
        n = max((max(c) for c in counts.values() if c), default=-1) + 1
        truth = [[REPS * v for v in row] for row in as_rows(counts, n)] if counts else None
        for mode in modes:
            run = model if mode == "eager" else torch.compile(model, mode=None if mode == "compile" else "reduce-overhead")
            with ballast_agent.capture(model, flush_ms=600000, quiet=True) as cap:
                with torch.no_grad():
                    for _ in range(REPS):  # CUDA graphs (reduce-overhead) record on early calls, replay later
                        run(ids)
            got = cap.counts
            agent = cap.agent
            if agent.check_result == "failed" or not agent.enabled:
                verdict = "refused"
            elif truth is None:
                verdict = "no-truth (experts module not hookable here)"
            else:
                verdict = "exact" if [r[:n] for r in got] == truth else "WRONG"
            result(part="A", family=fam, mode=mode, transformers=transformers.__version__, torch=torch.__version__,
                   path=agent.capture_path(), verdict=verdict)


# ------------------------------------------------------------------ B. vLLM mirror, compile + CUDA graphs
def vllm_mirror_runner(dev, graphs):
    m = mirrors.install_vllm_mirror()
    torch.manual_seed(2)
    model = m.VModel("deepseek", 4, 64, 16, 4).to(dev).eval()
    sizes = (1, 2, 4, 8, 16, 32, 64)
    runner = m.GPUModelRunner(model, max_num_tokens=64, capture_sizes=sizes)
    if graphs:
        static_ids = torch.zeros(64, dtype=torch.long, device=dev)
        graphs_by_size = {}

        def capture_model():
            m.ctx.dummy = True
            try:
                for s in reversed(sizes):
                    with torch.no_grad():
                        model(static_ids[:s])  # warm-up
                    g = torch.cuda.CUDAGraph()
                    with torch.cuda.graph(g), torch.no_grad():
                        model(static_ids[:s])
                    graphs_by_size[s] = g
            finally:
                m.ctx.dummy = False

        def execute_model(scheduler_output, input_ids=None):
            n = scheduler_output.total_num_scheduled_tokens
            s = runner._pad(n)
            static_ids.zero_()
            static_ids[:n] = input_ids
            graphs_by_size[s].replay()

        runner.capture_model = capture_model
        type(runner).execute_model = lambda self, so, input_ids=None: execute_model(so, input_ids)
    return m, model, runner


def part_b(dev, dry):
    graphs = dev.type == "cuda" and not dry
    m, model, runner = vllm_mirror_runner(dev, graphs)
    try:
        with ballast_agent.capture(model, flush_ms=600000, quiet=True) as cap:
            runner.profile_run()
            runner.capture_model()
            g = torch.Generator().manual_seed(3)
            ns = [3, 5, 1, 13, 64, 7] * 5
            for n in ns:
                runner.execute_model(m.sched(n), torch.randint(1, 50, (n,), generator=g).to(dev))
        # Truth: the same batches through the mirror eagerly (its experts count real tokens only).
        mirrors.uninstall_mirrors()
        m2, model2, runner2 = vllm_mirror_runner(dev, False)
        model2.load_state_dict(model.state_dict())
        truth = mirrors.new_truth(4, 16)
        for b, t in zip(model2.blocks, truth):
            b.experts.truth = t
        g = torch.Generator().manual_seed(3)
        for n in ns:
            runner2.execute_model(m2.sched(n), torch.randint(1, 50, (n,), generator=g).to(dev))
        result(part="B", mode="cuda-graph replay" if graphs else "eager (dry run)", torch=torch.__version__,
               path=cap.agent.capture_path(), check=cap.agent.check_result,
               verdict="exact" if cap.counts == truth else "WRONG")
    finally:
        mirrors.uninstall_mirrors()


# ------------------------------------------------------------------ C. overhead
def part_c(dev, dry, pairs):
    graphs = dev.type == "cuda" and not dry
    m, model, runner = vllm_mirror_runner(dev, graphs)
    try:
        runner.profile_run()
        sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
        g = torch.Generator().manual_seed(5)
        batch = [torch.randint(1, 50, (n,), generator=g).to(dev) for n in (7, 16, 33, 64)]

        def block(steps=20):
            sync()
            t0 = time.perf_counter()
            for i in range(steps):
                ids = batch[i % len(batch)]
                runner.execute_model(m.sched(ids.shape[0]), ids)
            sync()
            return time.perf_counter() - t0

        diffs = []
        for i in range(pairs):
            order = (False, True) if i % 2 == 0 else (True, False)
            t = {}
            for with_agent in order:
                if with_agent:
                    with ballast_agent.capture(model, flush_ms=1000, quiet=True):
                        if graphs:
                            runner.capture_model()  # graphs recorded with the agent's capture fn
                        t[True] = block()
                else:
                    if graphs:
                        runner.capture_model()
                    t[False] = block()
            diffs.append((t[True] - t[False]) / t[False])
        mean, lo, hi = ci(diffs)
        result(part="C", mode="cuda-graph replay" if graphs else "eager (dry run, not a GPU figure)", pairs=pairs,
               overhead_pct=round(100 * mean, 3), ci95_pct=[round(100 * lo, 3), round(100 * hi, 3)])
    finally:
        mirrors.uninstall_mirrors()


# ------------------------------------------------------------------ D. SGLang runner mirror, real CUDA graphs
@contextlib.contextmanager
def sglang_runner_mirror(dev, dry, part):
    """The SGLang ModelRunner mirror (real CUDA graphs on a GPU, simulated in a dry run) with a seeded
    3-layer, 16-expert model on `dev`: yields (mirror module, model, runner, graphs), or None when this
    torch cannot put the mirror's tensors on the GPU (said as `part` skipped). Restores the default
    device and uninstalls the mirror on the way out."""
    graphs = dev.type == "cuda" and not dry
    m = mirrors.install_sglang_runner_mirror(graph_factory=mirrors.RealCudaGraph if graphs else None)
    set_dev = getattr(torch, "set_default_device", None)
    moved = False
    try:
        if graphs and set_dev is None:
            result(part=part, skipped="torch %s has no torch.set_default_device" % torch.__version__)
            yield None
            return
        if graphs:
            set_dev(dev)
            moved = True
        torch.manual_seed(4)
        model = m.Model(3, 16, 16, 3).to(dev).eval()
        yield m, model, m.ModelRunner(model), graphs
    finally:
        if moved:
            set_dev("cpu")
        mirrors.uninstall_mirrors()


def part_d(dev, dry):
    with sglang_runner_mirror(dev, dry, "D") as mirror:
        if mirror is None:
            return
        m, model, runner, graphs = mirror
        truth, padded = mirrors.new_truth(3, 16), mirrors.new_truth(3, 16)
        g = torch.Generator().manual_seed(5)
        steps = (("extend", 6), ("decode", 3), ("decode", 5), ("decode", 8), ("extend", 9), ("decode", 1),
                 ("dummy", 4), ("decode", 3), ("decode", 2), ("decode", 12))
        with ballast_agent.capture(model, flush_ms=600000, quiet=True) as cap:
            runner._dummy_run(8)
            runner.init_device_graphs()
            m.discard(model)
            for kind, n in steps:
                if kind == "dummy":
                    runner._dummy_run(n)
                    m.discard(model)
                    continue
                runner.forward(m.batch(kind, n, g, dev))
                m.harvest(model, truth, padded)
        agent = cap.agent
        verdict = "exact" if cap.counts == truth and agent.check_result == "ok" else (
            "refused" if agent.check_result == "failed" or not agent.enabled else "WRONG")
        result(part="D", mode="cuda-graph replay" if graphs else "simulated graphs (dry run)", torch=torch.__version__,
               path=agent.capture_path(), tokens=cap.tokens, padding_differs=padded != truth, verdict=verdict)


def part_c_sglang(dev, dry, pairs):
    """Step-time overhead of the sglang-step-buffer path: decode steps replayed from CUDA graphs captured with
    the agent (its copy recorded in them) against graphs captured without it, alternating."""
    with sglang_runner_mirror(dev, dry, "C-sglang") as mirror:
        if mirror is None:
            return
        m, model, runner, graphs = mirror
        sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
        g = torch.Generator().manual_seed(5)
        batches = [m.batch("decode", n, g, dev) for n in (3, 5, 8, 2)]

        def block(steps=20):
            sync()
            t0 = time.perf_counter()
            for i in range(steps):
                runner.forward(batches[i % len(batches)])
            sync()
            return time.perf_counter() - t0

        runner._dummy_run(8)
        diffs = []
        for i in range(pairs):
            order = (False, True) if i % 2 == 0 else (True, False)
            t = {}
            for with_agent in order:
                if with_agent:
                    with ballast_agent.capture(model, flush_ms=1000, quiet=True):
                        runner._dummy_run(8)          # the agent's buffer exists before any capture
                        runner.init_device_graphs()   # graphs recorded with the agent's copy
                        t[True] = block()
                else:
                    runner.init_device_graphs()
                    t[False] = block()
            diffs.append((t[True] - t[False]) / t[False])
        mean, lo, hi = ci(diffs)
        result(part="C-sglang", mode="cuda-graph replay" if graphs else "simulated graphs (dry run, not a GPU figure)",
               pairs=pairs, overhead_pct=round(100 * mean, 3), ci95_pct=[round(100 * lo, 3), round(100 * hi, 3)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("--pairs", type=int, default=30)
    args = ap.parse_args()
    dev = torch.device("cuda" if torch.cuda.is_available() and not args.dry_run else "cpu")
    if dev.type != "cuda" and not args.dry_run:
        sys.exit("no CUDA device: run with --dry-run (CPU) or on a GPU machine")
    t0 = time.time()
    for part in (part_a, part_b, part_d):
        part(dev, args.dry_run)
    part_c(dev, args.dry_run, args.pairs if not args.dry_run else min(args.pairs, 4))
    part_c_sglang(dev, args.dry_run, args.pairs if not args.dry_run else min(args.pairs, 4))
    print("done in %.1f s on %s (torch %s)%s" % (time.time() - t0, torch.cuda.get_device_name() if dev.type == "cuda" else "CPU",
                                                 torch.__version__, " -- DRY RUN, no GPU figures" if args.dry_run else ""))


if __name__ == "__main__":
    main()
