"""Run every capture case on the mirrors (mirrors.py) in one Python process; print one `CASE <json>` line each.

Each case runs a mirror model under `ballast_agent.capture(...)` and reports what the agent counted next to
the truth the mirror counted where it dispatched, plus the agent's `[ballast]` lines. The Node test
(src/capture/mirrors.test.ts) asserts on them. Usage: run_cases.py [case-name-substring ...]
"""
import io
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

import torch  # noqa: E402

import ballast_agent  # noqa: E402
import mirrors  # noqa: E402

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def _run(name, body):
    err = io.StringIO()
    old = sys.stderr
    sys.stderr = err
    res = {"name": name}
    try:
        res.update(body())
    except Exception as e:  # a case that raises is reported, never hidden
        res["error"] = repr(e)
    finally:
        sys.stderr = old
    res["log"] = [l for l in err.getvalue().splitlines() if l.startswith("[ballast]")]
    print("CASE " + json.dumps(res))
    sys.stdout.flush()


def hf_steps(model, set_truth, layers, experts, batch=2, prompt=5, decode=3, seed=1):
    truth = mirrors.new_truth(layers, experts)
    set_truth(truth)
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 50, (batch, prompt), generator=g)
    with torch.no_grad():
        for step in range(decode + 1):
            inp = ids if step == 0 else ids[:, -1:]
            logits = model(inp)
            ids = torch.cat([ids, logits[:, -1].argmax(-1, keepdim=True)], 1)
    return truth


def hf_case(family, bias=0.0, path=None, tag=None):
    def body():
        model, set_truth = mirrors.hf_model(family, bias=bias)
        with ballast_agent.capture(model, flush_ms=60000, _path=path) as cap:
            truth = hf_steps(model, set_truth, 3, 8)
        return {"counts": cap.counts, "truth": truth, "path": cap.agent.capture_path(), "check": cap.agent.check_result,
                "layer_ids": cap.layer_ids, "engine": cap.agent.engine, "num_hidden_layers": cap.num_hidden_layers}
    return (tag or family), body


for fam in ("mixtral", "qwen3_moe", "olmoe", "deepseek_v2", "gpt_oss", "gpt_oss_mxfp4", "llama4"):
    case(hf_case(fam))
case(hf_case("deepseek_v3", bias=0.5, tag="deepseek_v3_bias_above_0"))
case(hf_case("deepseek_v3", bias=-2.0, tag="deepseek_v3_bias_below_0"))
# The re-selection from logits (router-hook path) must mask dropped groups with 0.0 as transformers does.
case(hf_case("deepseek_v3", bias=-2.0, path="router-hook", tag="deepseek_v3_bias_below_0_router_hook"))


def decoder_layers_case(tag, family, dense_first, config):
    """num_hidden_layers read from the model config and sent with the windows (None: not sent)."""
    def body():
        model, set_truth = mirrors.hf_model(family, dense_first=dense_first, config=config)
        with ballast_agent.capture(model, flush_ms=60000) as cap:
            truth = hf_steps(model, set_truth, 3, 8)
        return {"counts": cap.counts, "truth": truth, "path": cap.agent.capture_path(), "check": cap.agent.check_result,
                "layer_ids": cap.layer_ids, "num_hidden_layers": cap.num_hidden_layers}
    return tag, body


# DeepSeek-V2 style: decoder layer 0 dense (first_k_dense_replace=1), MoE layers 1..3, num_hidden_layers 4.
case(decoder_layers_case("deepseek_v2_dense_first", "deepseek_v2", 1,
                         {"model_type": "deepseek_v2", "num_hidden_layers": 4, "first_k_dense_replace": 1}))
# Llama 4 style: the decoder count sits in text_config (the vision tower has its own num_hidden_layers).
case(decoder_layers_case("llama4_text_config", "llama4", 0,
                         {"model_type": "llama4", "text_config": mirrors.Cfg(num_hidden_layers=6),
                          "vision_config": mirrors.Cfg(num_hidden_layers=34)}))
# A config that contradicts the layer names (2 decoder layers, MoE layer ids 0..2): not sent, one line.
case(decoder_layers_case("num_hidden_layers_below_layer_ids", "mixtral", 0, {"num_hidden_layers": 2}))


@case
def tp_plan_refused():
    def body():
        model, set_truth = mirrors.hf_model("mixtral")
        model.tp_size = 2  # what transformers sets when tp_plan shards the model
        with ballast_agent.capture(model, flush_ms=60000) as cap:
            hf_steps(model, set_truth, 3, 8)
        return {"enabled": cap.agent.enabled, "counts": cap.counts}
    return "transformers_tp_plan_refused", body


@case
def layer_missing():
    def body():
        model, set_truth = mirrors.hf_model("qwen3_moe")
        blk = model.layers[2].mlp
        # A block that stops dispatching through its experts module (the agent's capture point).
        with ballast_agent.capture(model, flush_ms=60000) as cap:
            blk.forward = lambda h: h * 0
            hf_steps(model, set_truth, 3, 8)
        return {"check": cap.agent.check_result}
    return "layer_missing_reported", body


@case
def compiled_refused():
    def body():
        model, set_truth = mirrors.hf_model("mixtral")
        with ballast_agent.capture(model, flush_ms=60000) as cap:
            cap.agent.is_compiling = lambda: True  # what torch.compile tracing looks like from a hook
            hf_steps(model, set_truth, 3, 8)
        return {"check": cap.agent.check_result, "counts": cap.counts}
    return "torch_compile_refused", body


def vllm_case(kind, tag):
    def body():
        m = mirrors.install_vllm_mirror()
        try:
            torch.manual_seed(2)
            model = m.VModel(kind, 3, 16, 8, 2).eval()
            runner = m.GPUModelRunner(model)
            truth = mirrors.new_truth(3, 8)
            with ballast_agent.capture(model, flush_ms=60000) as cap:
                runner.profile_run()        # dummy run at max tokens (also where the agent finds the model)
                runner.capture_model()      # CUDA-graph capture sizes: dummy runs
                for b, t in zip(model.blocks, truth):
                    b.experts.truth = t
                g = torch.Generator().manual_seed(3)
                for n in (3, 5, 1, 13, 64, 7):  # padded to 4, 8, 1, 16, 64, 8
                    runner.execute_model(m.sched(n), torch.randint(1, 50, (n,), generator=g))
                runner._dummy_run(8)        # a DP idle rank's dummy batch: not counted
            return {"counts": cap.counts, "truth": truth, "path": cap.agent.capture_path(), "check": cap.agent.check_result,
                    "tokens": cap.tokens, "engine": cap.agent.engine, "engine_version": cap.agent.engine_version}
        finally:
            mirrors.uninstall_mirrors()
    return tag, body


case(vllm_case("mixtral", "vllm_capture_fn_padded_and_dummy"))
case(vllm_case("deepseek", "vllm_capture_fn_grouped"))


@case
def vllm_runner_model_config():
    def body():
        m = mirrors.install_vllm_mirror()
        try:
            torch.manual_seed(2)
            # Decoder layer 0 is dense (not in the mirror); MoE layers 1..3. The model has no num_hidden_layers
            # of its own here, so the agent reads GPUModelRunner.model_config.hf_text_config.
            model = m.VModel("mixtral", 3, 16, 8, 2, layer_offset=1).eval()
            runner = m.GPUModelRunner(model)
            runner.model_config = mirrors.Cfg(hf_config=mirrors.Cfg(num_hidden_layers=4),
                                              hf_text_config=mirrors.Cfg(num_hidden_layers=4))
            with ballast_agent.capture(model, flush_ms=60000) as cap:
                runner.profile_run()
                g = torch.Generator().manual_seed(3)
                for n in (3, 5):
                    runner.execute_model(m.sched(n), torch.randint(1, 50, (n,), generator=g))
            return {"layer_ids": cap.layer_ids, "num_hidden_layers": cap.num_hidden_layers, "check": cap.agent.check_result}
        finally:
            mirrors.uninstall_mirrors()
    return "vllm_runner_model_config", body


@case
def vllm_chain_and_dbo():
    def body():
        import types
        m = mirrors.install_vllm_mirror()
        try:
            torch.manual_seed(2)
            model = m.VModel("mixtral", 2, 16, 8, 2).eval()
            runner = m.GPUModelRunner(model)
            seen = []  # vLLM's own capturer (--enable-return-routed-experts) already bound
            for b in model.blocks:
                b.experts.router.set_capture_fn(lambda ids: seen.append(int(ids.shape[0])))
            with ballast_agent.capture(model, flush_ms=60000) as cap:
                runner.profile_run()
                runner.execute_model(m.sched(3), torch.ones(3, dtype=torch.long))
                ub = types.ModuleType("vllm.v1.worker.ubatching")
                ub.dbo_current_ubatch_id = lambda: 1  # a second micro-batch of a dual-batch-overlap step
                sys.modules[ub.__name__] = ub
                runner.execute_model(m.sched(3), torch.ones(3, dtype=torch.long))
            return {"chained_calls": seen, "enabled": cap.agent.enabled}
        finally:
            mirrors.uninstall_mirrors()
    return "vllm_capture_fn_chained_and_dbo_refused", body


@case
def vllm_unknown_runner():
    def body():
        m = mirrors.install_vllm_mirror(version="9.9.9-mirror")
        try:
            del sys.modules["vllm.v1.worker.gpu_model_runner"]  # a vLLM whose runner lives elsewhere
            model = m.VModel("mixtral", 2, 16, 8, 2).eval()
            with ballast_agent.capture(model, flush_ms=60000) as cap:
                with torch.no_grad():
                    model(torch.ones(4, dtype=torch.long))
            return {"enabled": cap.agent.enabled, "counts": cap.counts}
        finally:
            mirrors.uninstall_mirrors()
    return "vllm_unknown_runner_refused", body


@case
def vllm_old_eplb():
    def body():
        m = mirrors.install_vllm_mirror(version="0.10.1-mirror", with_capture_fn=False, eplb_redundant=4)
        try:
            torch.manual_seed(2)
            model = m.VModel("mixtral", 3, 16, 8, 2).eval()
            st = m.build_eplb(8)            # 8 logical experts on 12 physical slots (4 replicas)
            runner = m.GPUModelRunner(model)
            truth, padded = mirrors.new_truth(3, 8), mirrors.new_truth(3, 8)
            res = {}
            with ballast_agent.capture(model, flush_ms=60000) as cap:
                runner.profile_run()        # dummy + profile: vLLM zeroes the pass without recording
                cap.agent.is_compiling = lambda: True  # vLLM's default: the model runs compiled
                runner.capture_model()
                for b, t, tp in zip(model.blocks, truth, padded):
                    b.experts.truth, b.experts.truth_with_padding = t, tp
                g = torch.Generator().manual_seed(3)
                for n in (4, 8, 16, 64, 2):  # CUDA-graph sizes: no padding
                    runner.execute_model(m.sched(n), torch.randint(1, 50, (n,), generator=g))
                for n in (3, 13):            # padded to 4 and 16: padding rows are routed and counted by EPLB
                    runner.execute_model(m.sched(n), torch.randint(1, 50, (n,), generator=g))
                runner._dummy_run(8)
            res.update({"counts": cap.counts, "truth": truth, "truth_with_padding": padded,
                        "physical": int(st.physical_to_logical_map.shape[1]),
                        "path": cap.agent.capture_path(), "check": cap.agent.check_result,
                        "tokens": cap.tokens, "engine": cap.agent.engine, "engine_version": cap.agent.engine_version})
            return res
        finally:
            mirrors.uninstall_mirrors()
    return "vllm_without_capture_fn_eplb_load_view", body


@case
def vllm_old_eplb_two_ranks():
    def body():
        out = {"counts": [], "truth_with_padding": None, "checks": [], "sum_ranks": []}
        total = mirrors.new_truth(3, 8)
        for rank in (0, 1):  # two EP ranks (one after the other here), each holding 6 of the 12 physical slots
            m = mirrors.install_vllm_mirror(version="0.10.1-mirror", with_capture_fn=False, eplb_redundant=4,
                                            ep=(rank, 2))
            try:
                torch.manual_seed(2)
                model = m.VModel("mixtral", 3, 16, 8, 2).eval()
                m.build_eplb(8)
                runner = m.GPUModelRunner(model)
                mine = mirrors.new_truth(3, 8)
                sent = []
                with ballast_agent.capture(model, flush_ms=60000) as cap:
                    cap.agent.window_sinks.append(lambda payload, t: sent.append(payload.get("sum_ranks")))
                    runner.profile_run()
                    for b, t in zip(model.blocks, mine):
                        b.experts.truth, b.experts.truth_with_padding = mirrors.new_truth(1, 8)[0], t
                    g = torch.Generator().manual_seed(3)
                    for n in (4, 3, 16, 13):
                        runner.execute_model(m.sched(n), torch.randint(1, 50, (n,), generator=g))
                out["counts"].append(cap.counts)
                out["checks"].append(cap.agent.check_result)
                out["sum_ranks"].extend(sent)
                for l in range(3):
                    for e in range(8):
                        total[l][e] += mine[l][e]
            finally:
                mirrors.uninstall_mirrors()
        out["truth_with_padding"] = total
        return out
    return "vllm_eplb_load_view_two_ep_ranks", body


@case
def vllm_old_compiled():
    def body():
        m = mirrors.install_vllm_mirror(version="0.8.0-mirror", with_capture_fn=False)
        try:
            model = m.VModel("mixtral", 3, 16, 8, 2).eval()
            runner = m.GPUModelRunner(model)
            with ballast_agent.capture(model, flush_ms=60000) as cap:
                runner.profile_run()
                cap.agent.is_compiling = lambda: True  # vLLM's default: the model runs compiled
                for n in (3, 5, 2):
                    runner.execute_model(m.sched(n), torch.ones(n, dtype=torch.long))
            return {"path": cap.agent.capture_path(), "check": cap.agent.check_result}
        finally:
            mirrors.uninstall_mirrors()
    return "vllm_without_capture_fn_compiled_refused", body


@case
def sglang_fused_shared():
    def body():
        m = mirrors.install_sglang_mirror()
        try:
            torch.manual_seed(4)
            model = m.SModel(3, 16, 16, 3).eval()
            truth = mirrors.new_truth(3, 16)
            for b, t in zip(model.blocks, truth):
                b.experts.truth = t
            with ballast_agent.capture(model, flush_ms=60000) as cap:
                with torch.no_grad():
                    for n in (6, 1, 1, 9):
                        model(torch.randint(0, 50, (n,)))
            return {"counts": cap.counts, "truth": truth, "path": cap.agent.capture_path(), "check": cap.agent.check_result,
                    "experts": cap.experts, "engine": cap.agent.engine, "num_hidden_layers": cap.num_hidden_layers}
        finally:
            mirrors.uninstall_mirrors()
    return "sglang_topk_grouped_fused_shared", body


SG_STEPS = (("extend", 6), ("decode", 3), ("decode", 5), ("decode", 8), ("extend", 9), ("decode", 1),
            ("dummy", 4), ("decode", 3), ("decode", 2), ("decode", 12))
# real tokens: 6+3+5+8+9+1+3+2+12 = 49; decode 3->4, 5->8, 3->4 run padded graphs, 12 (> max bs 8) runs eagerly


def sglang_graph_body(server_args=None, with_runner=True, version="0.5.4-mirror", piecewise=False, forward_impl=True):
    m = mirrors.install_sglang_runner_mirror(version=version, with_runner=with_runner, with_forward_impl=forward_impl)
    try:
        torch.manual_seed(4)
        model = m.Model(3, 16, 16, 3).eval()
        runner = m.ModelRunner(model)
        if server_args:
            runner.server_args.__dict__.update(server_args)
        truth, padded = mirrors.new_truth(3, 16), mirrors.new_truth(3, 16)
        g = torch.Generator().manual_seed(5)
        with ballast_agent.capture(model, flush_ms=60000) as cap:
            runner._dummy_run(8)            # kernel warm-up: model.forward directly
            runner.init_device_graphs()     # bs 8, 4, 2, 1: two eager warm-ups + one capture each
            if piecewise:
                def toggled(value):
                    def run(fn):
                        saved = cap.agent.is_compiling
                        cap.agent.is_compiling = lambda: value  # how traced / opaque code looks to the agent
                        try:
                            return fn()
                        finally:
                            cap.agent.is_compiling = saved
                    return run
                runner.piecewise_cuda_graph_runner = m.PiecewiseCudaGraphRunner(runner, toggled(True), toggled(False))
            m.discard(model)
            for kind, n in SG_STEPS:
                if kind == "dummy":
                    runner._dummy_run(n)
                    m.discard(model)
                    continue
                runner.forward(m.batch(kind, n, g))
                m.harvest(model, truth, padded)
        return {"counts": cap.counts, "truth": truth, "truth_with_padding": padded, "path": cap.agent.capture_path(),
                "check": cap.agent.check_result, "tokens": cap.tokens, "engine": cap.agent.engine,
                "engine_version": cap.agent.engine_version, "enabled": cap.agent.enabled,
                "experts": cap.experts, "num_hidden_layers": cap.num_hidden_layers}
    finally:
        mirrors.uninstall_mirrors()


case(("sglang_cuda_graph_padded_and_warmup", lambda: sglang_graph_body()))
case(("sglang_dp_attention_refused", lambda: sglang_graph_body({"enable_dp_attention": True})))
case(("sglang_eplb_refused", lambda: sglang_graph_body({"enable_eplb": True})))
case(("sglang_piecewise_prefill", lambda: sglang_graph_body(piecewise=True)))
case(("sglang_piecewise_without_forward_impl_flagged", lambda: sglang_graph_body(piecewise=True, forward_impl=False)))
case(("sglang_without_model_runner", lambda: sglang_graph_body(with_runner=False, version="0.3.0-mirror")))


def main():
    want = sys.argv[1:]
    for fn in CASES:
        name, body = fn() if callable(fn) else fn
        if want and not any(w in name for w in want):
            continue
        _run(name, body)


if __name__ == "__main__":
    main()
