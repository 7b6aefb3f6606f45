"""Minimal Python/torch implementation of the published DeepSeek EPLB algorithm (deepseek-ai/EPLB, eplb.py),
written independently for ballast's benchmarks: the baseline the TypeScript port is timed against and
cross-checked with. Same structure as the reference: per-layer Python loops over torch tensors.

Usage: /usr/bin/python3 bench/eplb_reference.py IN.json OUT.json
  IN:  {"weight": [L][E], "num_replicas": P, "num_groups": g, "num_nodes": n, "num_gpus": G, "repeat": k}
  OUT: {"phy2log": [L][P], "seconds": [k timings]}
"""
import json
import sys
import time

import torch


def balanced_packing(weight, num_packs):
    layers, items = weight.shape
    per = items // num_packs
    if per == 1:
        idx = torch.arange(items, dtype=torch.int64).expand(layers, items)
        return idx, torch.zeros_like(idx)
    order = weight.float().sort(dim=-1, descending=True, stable=True).indices
    pack_index = torch.full_like(order, -1)
    rank_in_pack = torch.full_like(order, -1)
    for i in range(layers):
        load = [0] * num_packs
        count = [0] * num_packs
        for item in order[i].tolist():
            pack = min((p for p in range(num_packs) if count[p] < per), key=load.__getitem__)
            pack_index[i, item] = pack
            rank_in_pack[i, item] = count[pack]
            load[pack] += weight[i, item]
            count[pack] += 1
    return pack_index, rank_in_pack


def replicate(weight, num_phy):
    layers, num_log = weight.shape
    phy2log = torch.arange(num_phy, dtype=torch.int64).repeat(layers, 1)
    cnt = torch.ones(layers, num_log, dtype=torch.int64)
    rows = torch.arange(layers)
    for i in range(num_log, num_phy):
        best = (weight / cnt).max(dim=-1).indices
        phy2log[:, i] = best
        cnt[rows, best] += 1
    return phy2log, cnt


def inverse(perm):
    inv = torch.empty_like(perm)
    inv.scatter_(1, perm, torch.arange(perm.size(1), dtype=torch.int64).expand(perm.shape))
    return inv


def hierarchical(weight, num_phy, num_groups, num_nodes, num_gpus):
    layers, num_log = weight.shape
    group_size = num_log // num_groups
    groups_per_node = num_groups // num_nodes
    per_gpu = num_phy // num_gpus
    group_w = weight.unflatten(-1, (num_groups, group_size)).sum(-1)
    gpack, grank = balanced_packing(group_w, num_nodes)
    log2mlog = (((gpack * groups_per_node + grank) * group_size).unsqueeze(-1)
                + torch.arange(group_size, dtype=torch.int64)).flatten(-2)
    mlog2log = inverse(log2mlog)
    mlog_w = weight.gather(-1, mlog2log).view(-1, num_log // num_nodes)
    phy2mlog, mlogcnt = replicate(mlog_w, num_phy // num_nodes)
    phy_w = (mlog_w / mlogcnt).gather(-1, phy2mlog)
    pack, rin = balanced_packing(phy_w, num_gpus // num_nodes)
    pphy2phy = inverse(pack * per_gpu + rin)
    pphy2mlog = phy2mlog.gather(-1, pphy2phy)
    pphy2mlog = (pphy2mlog.view(layers, num_nodes, -1)
                 + torch.arange(0, num_log, num_log // num_nodes, dtype=torch.int64).view(1, -1, 1)).flatten(-2)
    return mlog2log.gather(-1, pphy2mlog)


def rebalance(weight, num_phy, num_groups, num_nodes, num_gpus):
    weight = weight.float().cpu()
    if num_groups % num_nodes == 0:
        return hierarchical(weight, num_phy, num_groups, num_nodes, num_gpus)
    return hierarchical(weight, num_phy, 1, 1, num_gpus)


def main():
    torch.set_num_threads(1)
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    w = torch.tensor(spec["weight"], dtype=torch.float64)
    times = []
    out = None
    for _ in range(spec.get("repeat", 1)):
        t0 = time.perf_counter()
        out = rebalance(w, spec["num_replicas"], spec["num_groups"], spec["num_nodes"], spec["num_gpus"])
        times.append(time.perf_counter() - t0)
    with open(sys.argv[2], "w") as f:
        json.dump({"phy2log": out.tolist(), "seconds": times}, f)


if __name__ == "__main__":
    main()
