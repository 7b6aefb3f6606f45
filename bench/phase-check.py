#!/usr/bin/env python3
"""Independent check of bench/phase-aware.ts: busiest-GPU activated experts per step, recomputed
from the raw ESFT files (or the sampled OLMoE routes the bench dumped) and the dumped plans, with
numpy only -- no ballast code (no replay, no readers).

Definition (the quantity decode time follows): cut the scored tokens [s0, s1) into consecutive
batches of n tokens (last partial batch dropped). For each batch and MoE layer, each (token, choice)
goes to replica (i mod c_e) of its expert e, i = the token's index counted from s0 and c_e the
expert's replica count, replicas in slot order (vLLM's replica rule applied per token); a slot is
active when it gets a token; a GPU holds slots [r*S, (r+1)*S), S = P/G. Per batch take the mean over
layers of max over GPUs of active slots; report the mean over batches.

Run: /usr/bin/python3 bench/phase-check.py DUMP.json [...]   (dumps from phase-aware.ts --dump DIR)
"""
import io
import json
import re
import sys
import tarfile

import numpy as np


def esft_routes(path):
    """[T][L][k] int array from an ESFT raw .tgz: expert_weights_<layer>.txt, one line per sequence,
    ids then weights separated by two tabs, k = 6 ids per token."""
    k = 6
    layers = {}
    with tarfile.open(path, "r:gz") as tf:
        for m in tf.getmembers():
            mm = re.search(r"expert_weights_(\d+)\.txt$", m.name)
            if not mm or not m.isfile():
                continue
            text = tf.extractfile(m).read().decode()
            seqs = [line.split("\t\t")[0].split("\t") for line in text.split("\n") if line]
            layers[int(mm.group(1))] = np.concatenate([np.array(s, dtype=np.int64) for s in seqs]).reshape(-1, k)
    ids = sorted(layers)
    return np.stack([layers[i] for i in ids], axis=1)  # [T][L][k]


def activated_max(routes, row, G, s0, s1, n):
    """Mean over batches of mean over layers of max over GPUs of active slots (see module doc)."""
    T, L, k = routes.shape
    B = (s1 - s0) // n
    total = 0.0
    for b in range(B):
        per_layer = []
        for l in range(L):
            phy = np.array(row[l])
            P = len(phy)
            S = P // G
            E = int(phy.max()) + 1
            slots_of = [np.nonzero(phy == e)[0] for e in range(E)]
            t0 = s0 + b * n
            active = np.zeros(P, dtype=bool)
            for o in range(n):
                i = t0 + o - s0
                for e in routes[t0 + o, l]:
                    sl = slots_of[e]
                    active[sl[i % len(sl)]] = True
            per_gpu = active.reshape(G, S).sum(axis=1)
            per_layer.append(per_gpu.max())
        total += float(np.mean(per_layer))
    return total / B, B


def main():
    for dump in sys.argv[1:]:
        d = json.load(open(dump))
        label = d["label"]
        if d.get("phased"):
            print(f"{label}: phase recorded, each phase scored on its own tokens: not rechecked here")
            continue
        if d.get("routes"):
            r = d["routes"]
            routes = np.array(r["experts"], dtype=np.int64).reshape(-1, r["numLayers"], r["topK"])
        else:
            routes = esft_routes(re.sub(r" \(reversed\)$", "", label))
        G = d["G"]
        s0, s1 = d["split"]["score"]
        print(f"{label}: scored tokens {s0}..{s1}")
        for phase in ("prefill", "decode"):
            n = d["steps"][phase]
            for name, replay_val in d["replay"][phase].items():
                key = {"ballast": f"ballast-{phase}"}.get(name, name)
                if key not in d["plans"]:
                    continue  # periodic / oracle policies change plans per batch: not rechecked
                v, B = activated_max(routes, d["plans"][key], G, s0, s1, n)
                ok = "ok" if abs(v - replay_val) < 1e-9 else "DIFFERS"
                print(f"  {phase:7s} n={n:5d} B={B:3d} {name:12s} independent {v:.6f}  replay {replay_val:.6f}  {ok}")


if __name__ == "__main__":
    main()
