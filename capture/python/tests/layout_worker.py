"""Parallel layouts across processes, on the vLLM mirror (mirrors.py), for `ballast run` tests.

  layout_worker.py launch pp|spdp   start the worker processes of one layout (they inherit the agent's
                                    environment from `ballast run`), wait, and print `TRUTH <json>`: the
                                    engine's true totals for the whole deployment, [layer id] -> [E] counts.
  layout_worker.py work             one rank (MIRROR_* environment variables say which)

Layouts (what vLLM does, vllm-project/vllm vllm/distributed/parallel_state.py, FusedMoE
is_sequence_parallel / use_sequence_parallel_moe):
  pp    pipeline parallel, 2 stages: stage 0 holds MoE layers 0, 1; stage 1 holds layers 2, 3; both route
        the same tokens. True totals: each layer's counts from the stage that holds it.
  spdp  sequence-parallel MoE with TP=2 in DP rank 0 (each TP rank routes its own half of the tokens)
        plus DP rank 1 (other requests). True totals: the sum over all three processes.
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

E, K, H = 8, 2, 16


def work():
    import torch
    import mirrors
    env = os.environ
    m = mirrors.install_vllm_mirror()
    m.state.update(tp_rank=int(env.get("MIRROR_TP_RANK", 0)), pp_rank=int(env.get("MIRROR_PP_RANK", 0)),
                   pp_size=int(env.get("MIRROR_PP_SIZE", 1)), dp_rank=int(env.get("MIRROR_DP_RANK", 0)))
    torch.manual_seed(7)  # same weights in every process
    pp = m.state["pp_size"] > 1
    offset = 2 * m.state["pp_rank"] if pp else 0
    model = m.VModel("mixtral", 2 if pp else 3, H, E, K, layer_offset=offset,
                     sequence_parallel=env.get("MIRROR_SP") == "1").eval()
    if pp:
        torch.manual_seed(100 + m.state["pp_rank"])  # different layer weights per stage
        for b in model.blocks:
            b.gate.weight.data.normal_()
    runner = m.GPUModelRunner(model)
    truth = mirrors.new_truth(len(model.blocks), E)
    runner.profile_run()
    for b, t in zip(model.blocks, truth):
        b.experts.truth = t
    g = torch.Generator().manual_seed(int(env.get("MIRROR_SEED", 0)))
    for n in (5, 3, 9, 1):
        runner.execute_model(m.sched(n), torch.randint(1, 50, (n,), generator=g))
    ids = [int(k) for k in model.layers.keys()]
    print("RANKTRUTH " + json.dumps({"layer_ids": ids, "counts": truth}))


def launch(layout):
    if layout == "pp":
        ranks = [dict(MIRROR_PP_RANK="0", MIRROR_PP_SIZE="2", MIRROR_SEED="1", RANK="0"),
                 dict(MIRROR_PP_RANK="1", MIRROR_PP_SIZE="2", MIRROR_SEED="1", RANK="1")]
    else:
        ranks = [dict(MIRROR_SP="1", MIRROR_TP_RANK="0", MIRROR_DP_RANK="0", MIRROR_SEED="1", RANK="0"),
                 dict(MIRROR_SP="1", MIRROR_TP_RANK="1", MIRROR_DP_RANK="0", MIRROR_SEED="2", RANK="1"),
                 dict(MIRROR_SP="1", MIRROR_TP_RANK="0", MIRROR_DP_RANK="1", MIRROR_SEED="3", RANK="2")]
    procs = [subprocess.Popen([sys.executable, __file__, "work"], env=dict(os.environ, **r), stdout=subprocess.PIPE,
                              universal_newlines=True) for r in ranks]
    total = {}
    for p in procs:
        out, _ = p.communicate(timeout=120)
        if p.returncode != 0:
            sys.exit("worker failed with %d" % p.returncode)
        t = json.loads([l for l in out.splitlines() if l.startswith("RANKTRUTH ")][0][10:])
        for lid, row in zip(t["layer_ids"], t["counts"]):
            acc = total.setdefault(lid, [0] * E)
            for e, v in enumerate(row):
                acc[e] += v
    ids = sorted(total)
    print("TRUTH " + json.dumps({"layer_ids": ids, "counts": [total[i] for i in ids]}))


if __name__ == "__main__":
    if sys.argv[1] == "work":
        work()
    else:
        launch(sys.argv[2])
