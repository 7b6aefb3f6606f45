"""ballast capture agent: counts MoE routing per layer and expert inside a running PyTorch program.

Loaded by the `sitecustomize.py` next to this package when `ballast run` starts a program with
BALLAST_AGENT=1. Standard library + torch only; Python 3.9+.

How it works
  * When `torch` is first imported, a global forward pre-hook is installed. The first module called
    (the outermost model) is scanned for MoE blocks (HF transformers / vLLM class names, or any module
    with an `experts` child and a `gate`/`router` child) and for standalone `*TopKRouter` modules.
    A forward hook goes on each router; the global hook is then removed.
  * Per router call: top-k (k from the module) on the logits -- or the router's own indices when it
    returns them -- then `scatter_add_` into a persistent device tensor counts[phase][L][E]. No host
    synchronisation, no Python loop over tokens.
  * Once per flush interval (checked at step boundaries, plus an idle flush from the background
    thread): snapshot = counts.clone(); counts.sub_(snapshot); snapshot -> pinned host memory
    (non_blocking) + CUDA event. A background thread polls the events and hands finished windows to
    one sender thread per collector (bounded queues; full -> drop and count).
  * Any internal error disables the agent with one `[ballast]` line on stderr; the host never sees it.

Environment
  BALLAST_AGENT=1             enable
  BALLAST_COLLECTOR=URL[,URL] collector base URLs (http://127.0.0.1:PORT)
  BALLAST_TOKEN               bearer token for the collectors
  BALLAST_FLUSH_MS            flush interval in ms (default 1000)
  BALLAST_SAMPLE_ROUTES=N     also send the routes of 1 token in N (0 = off)
  BALLAST_QUEUE               windows queued per collector before dropping (default 64)
  BALLAST_SESSION             session id sent with every window
  BALLAST_DEBUG=1             print a line per discovered model / sent window
"""
import atexit
import base64
import ctypes
import json
import os
import re
import socket
import sys
import threading
import time
import weakref

__all__ = ["install", "agent"]

PROTOCOL_VERSION = 1
PHASES = (None, "prefill", "decode")  # row 0 of counts[phase] is "unknown"

KNOWN_BLOCKS = frozenset([
    # HF transformers
    "MixtralSparseMoeBlock", "Qwen2MoeSparseMoeBlock", "Qwen3MoeSparseMoeBlock", "OlmoeSparseMoeBlock",
    "PhimoeSparseMoeBlock", "Llama4TextMoe", "DeepseekV3MoE", "DeepseekV2MoE", "JambaSparseMoeBlock",
    "GraniteMoeMoE", "Qwen3NextSparseMoeBlock", "Glm4MoeMoE", "DbrxFFN",
    # vLLM
    "MixtralMoE", "Qwen2MoeSparseMoeBlock", "OlmoeMoE", "PhiMoE", "Llama4MoE", "DeepseekV2MoE",
])
ROUTER_SUFFIXES = ("TopKRouter", "TopkRouter")

_agent = None


def _log(msg):
    try:
        sys.stderr.write("[ballast] %s\n" % msg)
        sys.stderr.flush()
    except Exception:
        pass


def _env_int(name, default):
    try:
        return int(os.environ.get(name, default))
    except Exception:
        return default


def _compiling_check(torch):
    """The installed torch's `is_compiling` function, or one that always says False."""
    try:
        comp = getattr(torch, "compiler", None)
        if comp is not None and hasattr(comp, "is_compiling"):
            return comp.is_compiling
        dyn = getattr(torch, "_dynamo", None)
        if dyn is not None and hasattr(dyn, "is_compiling"):
            return dyn.is_compiling
    except Exception:
        pass
    return lambda: False


def _first_attr(objs, names):
    for o in objs:
        if o is None:
            continue
        for n in names:
            v = getattr(o, n, None)
            if isinstance(v, int) and not isinstance(v, bool) and v > 0:
                return v
    return None


class _Layer(object):
    __slots__ = ("index", "layer_id", "name", "block", "router", "top_k", "experts", "grouped",
                 "n_group", "topk_group", "scoring", "bias_owner")

    def __init__(self, index, layer_id, name, block, router):
        self.index = index
        self.layer_id = layer_id
        self.name = name
        self.block = block
        self.router = router
        self.top_k = None
        self.experts = None
        self.grouped = False
        self.n_group = 1
        self.topk_group = 1
        self.scoring = "softmax"
        self.bias_owner = None


class _Sender(object):
    """One collector destination: a bounded queue and a daemon thread doing HTTP POSTs."""

    def __init__(self, url, token, maxsize):
        import queue
        self.url = url.rstrip("/")
        m = re.match(r"^(?:http://)?([^/:]+|\[[^\]]+\]):(\d+)(/.*)?$", self.url)
        if not m:
            raise ValueError("collector address %r is not http://HOST:PORT" % url)
        self.host = m.group(1).strip("[]")
        self.port = int(m.group(2))
        self.path = (m.group(3) or "") + "/api/v1/windows"
        self.token = token
        self.q = queue.Queue(maxsize=maxsize)
        self.dropped = 0
        self.sent = 0
        self.failing = False
        self.conn = None
        self.thread = threading.Thread(target=self._run, name="ballast-sender", daemon=True)
        self.thread.start()

    def offer(self, payload):
        try:
            self.q.put_nowait(payload)
        except Exception:
            self.dropped += 1

    def _post(self, body):
        import http.client
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        for attempt in (0, 1):
            reused = self.conn is not None
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
            try:
                self.conn.request("POST", self.path, body=body, headers=headers)
                resp = self.conn.getresponse()
                resp.read()
                break
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected,
                    http.client.BadStatusLine) as e:
                self._close()
                if reused and attempt == 0:
                    continue  # the server closed an idle keep-alive connection: retry once, fresh
                raise e
            except Exception:
                self._close()
                raise
        if resp.status == 401 or resp.status == 403:
            raise RuntimeError("collector refused the token (HTTP %d)" % resp.status)
        if resp.status >= 300:
            raise RuntimeError("collector answered HTTP %d" % resp.status)

    def _close(self):
        try:
            if self.conn is not None:
                self.conn.close()
        except Exception:
            pass
        self.conn = None

    def _run(self):
        while True:
            payload = self.q.get()
            try:
                if payload is None:
                    return
                payload["dropped"] = self.dropped
                body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
                self._post(body)
                self.sent += 1
                if self.failing:
                    self.failing = False
                    _log("collector %s reachable again" % self.url)
            except Exception as e:
                self.dropped += 1
                if not self.failing:
                    self.failing = True
                    _log("cannot send to collector %s (%s); dropping windows until it answers" % (self.url, e))
            finally:
                self.q.task_done()


class Agent(object):
    def __init__(self, torch):
        self.torch = torch
        self.enabled = True
        self.is_compiling = _compiling_check(torch)
        self.flush_s = max(0.01, _env_int("BALLAST_FLUSH_MS", 1000) / 1000.0)
        self.sample_n = max(0, _env_int("BALLAST_SAMPLE_ROUTES", 0))
        self.queue_size = max(1, _env_int("BALLAST_QUEUE", 64))
        self.session = os.environ.get("BALLAST_SESSION", "")
        self.debug = os.environ.get("BALLAST_DEBUG", "") not in ("", "0")
        self.urls = [u.strip() for u in os.environ.get("BALLAST_COLLECTOR", "").split(",") if u.strip()]
        self.token = os.environ.get("BALLAST_TOKEN", "")
        self.global_handle = None
        self.scanned = weakref.WeakSet()
        self.hook_calls = 0
        self.layers = []
        self.model = None
        self.moe_parallel = None
        self.handles = []
        self._reset_runtime()

    # ----- per-process runtime state (reset after fork) -----
    def _reset_runtime(self):
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.bufs = {}          # device -> tensor [3][L][E] int64
        self.rows = {}          # device -> [phase][layer] views of bufs[device]
        self.streams = {}       # device -> stream the model counts on
        self.ones = {}          # device -> ones buffer
        self.pool = {}          # device -> list of free host buffers
        self.pending = []       # windows waiting for their copies
        self.pending_lock = threading.Lock()
        self.senders = None
        self.poller = None
        self.seq = 0
        self.step = 0
        self.in_forward = False
        self.phase_row = 0
        self.next_phase_row = 0
        self.next_flush = time.monotonic() + self.flush_s
        self.last_activity = time.monotonic()
        self.dirty = False
        self.win_steps = [0, 0, 0]
        self.win_tokens = [0, 0, 0]
        self.win_first_step = None
        self.token_counter = 0
        self.token_counter_at_step = 0
        self.route_chunks = None
        self.route_meta = []    # (n_sampled, phase_row) per step
        self.routes_bad = False
        self.stopping = False

    def after_fork(self):
        try:
            self._reset_runtime()
            if self.layers:
                self.route_chunks = [[] for _ in self.layers]
        except Exception as e:
            self.disable("after fork: %s" % e)

    def disable(self, why):
        if self.enabled:
            self.enabled = False
            _log("capture disabled: %s" % why)

    # ----- discovery -----
    def install_global_hook(self):
        mod = self.torch.nn.modules.module
        self.global_handle = mod.register_module_forward_pre_hook(self._global_pre_hook)

    def _remove_global_hook(self):
        h = self.global_handle
        self.global_handle = None
        if h is not None:
            try:
                h.remove()
            except Exception:
                pass

    def _global_pre_hook(self, module, args):
        if self.is_compiling():
            return None  # never trace agent code into a torch.compile graph
        try:
            if not self.enabled or self.model is not None:
                return None
            self.hook_calls += 1
            if self.hook_calls > 200000:
                # A program that runs no MoE model: stop looking, so the hook costs nothing.
                self._remove_global_hook()
                return None
            if module in self.scanned:
                return None
            self._scan(module)
        except Exception as e:
            self.disable("while looking for MoE layers: %r" % (e,))
        return None

    def _scan(self, root):
        nn = self.torch.nn
        found = []
        claimed = []
        for name, m in root.named_modules():
            try:
                self.scanned.add(m)
            except TypeError:
                pass
            if any(name.startswith(p) for p in claimed):
                continue
            cls = type(m).__name__
            experts = getattr(m, "experts", None)
            router = None
            for attr in ("gate", "router"):
                r = getattr(m, attr, None)
                if isinstance(r, nn.Module):
                    router = r
                    break
            if router is not None and (cls in KNOWN_BLOCKS or isinstance(experts, nn.Module)):
                found.append((name, m, router))
                claimed.append(name + "." if name else "")
            elif cls.endswith(ROUTER_SUFFIXES):
                found.append((name, None, m))
                claimed.append(name + "." if name else "")
        if not found:
            return
        layer_ids = []
        for name, _, _ in found:
            nums = re.findall(r"(?:^|\.)(\d+)(?=\.|$)", name)
            layer_ids.append(int(nums[-1]) if nums else None)
        if None in layer_ids or len(set(layer_ids)) != len(layer_ids):
            layer_ids = list(range(len(found)))
        layers = []
        for i, (name, block, router) in enumerate(found):
            lay = _Layer(i, layer_ids[i], name, block, router)
            exp = getattr(block, "experts", None) if block is not None else None
            owners = [block, exp, router, getattr(block, "config", None) if block is not None else None]
            lay.top_k = _first_attr(owners, ("top_k", "num_experts_per_tok", "topk", "moe_topk"))
            lay.experts = _first_attr(
                [router, block, exp],
                ("out_features", "output_size", "num_experts", "n_routed_experts", "num_local_experts",
                 "global_num_experts"))
            if lay.experts is None:
                w = getattr(router, "weight", None)
                if w is not None and getattr(w, "dim", lambda: 0)() == 2:
                    lay.experts = int(w.shape[0])
            if lay.experts is None and isinstance(exp, nn.ModuleList):
                lay.experts = len(exp)
            # Grouped / bias-corrected routing (DeepSeek-V2/V3 style in vLLM's FusedMoE).
            for o in (exp, block, router):
                if o is None:
                    continue
                # vLLM FusedMoE: use_grouped_topk/num_expert_group/topk_group; HF DeepSeek: n_group/topk_group.
                n_group = getattr(o, "num_expert_group", None) if getattr(o, "use_grouped_topk", False) else getattr(o, "n_group", None)
                topk_group = getattr(o, "topk_group", None)
                if isinstance(n_group, int) and isinstance(topk_group, int) and n_group > 1 and topk_group >= 1:
                    lay.grouped = True
                    lay.n_group = n_group
                    lay.topk_group = topk_group
                    break
            for o in (router, exp, block):
                if o is not None and isinstance(getattr(o, "e_score_correction_bias", None), self.torch.Tensor):
                    lay.bias_owner = o
                    lay.scoring = "sigmoid"  # DeepSeek-V3 style unless scoring_func says otherwise
                    break
            for o in (exp, block, router):
                if o is not None and isinstance(getattr(o, "scoring_func", None), str):
                    lay.scoring = o.scoring_func
                    break
            layers.append(lay)
        if any(l.experts is None for l in layers):
            self.disable("could not tell the number of experts of %s" % [l.name for l in layers if l.experts is None][0])
            return
        self.model = root
        self.layers = layers
        self.last_index = len(layers) - 1
        self.moe_parallel = self._moe_parallel(layers)
        self.num_experts = max(l.experts for l in layers)
        self.model_name = self._model_name(root)
        for lay in layers:
            self.handles.append(lay.router.register_forward_hook(self._make_router_hook(lay)))
        first = layers[0]
        if first.block is not None:
            self.handles.append(first.block.register_forward_pre_hook(self._phase_hook))
        if self.sample_n and len(set(l.top_k for l in layers)) != 1:
            _log("route sampling needs one top-k for every layer; sampling is off")
            self.sample_n = 0
        self.route_chunks = [[] for _ in layers]
        if getattr(self, "_announced", False):
            return
        self._announced = True
        _log("capturing %d MoE layers x %d experts (top-%s) in %s, rank %d"
             % (len(layers), self.num_experts, self._top_k_label(), self.model_name, self.rank()))

    @staticmethod
    def _moe_parallel(layers):
        """'ep' or 'tp' when the experts module says how the MoE layers are sharded (vLLM's FusedMoE:
        use_ep, tp_size), else None (HF transformers on one device, or not told)."""
        for lay in layers:
            exp = getattr(lay.block, "experts", None) if lay.block is not None else None
            for o in (exp, lay.block):
                use_ep = getattr(o, "use_ep", None) if o is not None else None
                if isinstance(use_ep, bool):
                    if use_ep:
                        return "ep"
                    tp = getattr(o, "tp_size", 1)
                    return "tp" if isinstance(tp, int) and tp > 1 else None
        return None

    def attach(self, model):
        """Hook the MoE layers of `model` now (instead of waiting for its first forward). Returns the layer count."""
        self._scan(model)
        return len(self.layers) if self.model is model else 0

    def detach(self):
        """Remove every hook this agent placed (counts already taken are kept)."""
        for h in self.handles:
            try:
                h.remove()
            except Exception:
                pass
        self.handles = []
        self.model = None
        self._remove_global_hook()

    def _top_k_label(self):
        ks = sorted(set(l.top_k for l in self.layers if l.top_k))
        return "/".join(str(k) for k in ks) if ks else "from router"

    @staticmethod
    def _model_name(root):
        cfg = getattr(root, "config", None)
        for attr in ("_name_or_path", "name_or_path", "model_type"):
            v = getattr(cfg, attr, None) if cfg is not None else None
            if isinstance(v, str) and v:
                return v
        return type(root).__name__

    # ----- hot path -----
    def _phase_hook(self, module, args):
        if self.is_compiling():
            return None
        try:
            if not self.enabled:
                return None
            x = args[0] if args else None
            if x is not None and hasattr(x, "dim") and x.dim() == 3:
                self.next_phase_row = 1 if x.shape[1] > 1 else 2
            else:
                self.next_phase_row = 0
        except Exception as e:
            self.disable("phase hook: %r" % (e,))
        return None

    def _make_router_hook(self, lay):
        def hook(module, inputs, output):
            # Under torch.compile tracing: do nothing at all (no side effects, no graph breaks).
            if self.is_compiling() or not self.enabled:
                return None
            try:
                self._on_router(lay, output)
            except Exception as e:
                self.disable("in layer %s: %r" % (lay.name, e))
            return None
        return hook

    def _select(self, lay, logits):
        torch = self.torch
        k = lay.top_k
        if lay.bias_owner is None and not lay.grouped:
            return logits.topk(k, dim=-1, sorted=False).indices
        scores = logits.sigmoid() if lay.scoring == "sigmoid" else logits.softmax(dim=-1)
        if lay.bias_owner is not None:
            scores = scores + lay.bias_owner.e_score_correction_bias.to(scores.dtype)
        if lay.grouped and lay.n_group > 1:
            t, e = scores.shape
            g = scores.view(t, lay.n_group, e // lay.n_group)
            if lay.bias_owner is not None:
                gscore = g.topk(2, dim=-1).values.sum(dim=-1)
            else:
                gscore = g.max(dim=-1).values
            gi = gscore.topk(lay.topk_group, dim=-1, sorted=False).indices
            keep = torch.zeros_like(gscore, dtype=torch.bool).scatter_(1, gi, True)
            scores = g.masked_fill(~keep.unsqueeze(-1), float("-inf")).view(t, e)
        return scores.topk(k, dim=-1, sorted=False).indices

    def _on_router(self, lay, out):
        torch = self.torch
        idx = None
        logits = None
        if isinstance(out, torch.Tensor):
            logits = out
        elif isinstance(out, (tuple, list)):
            first = out[0] if len(out) else None
            if isinstance(first, torch.Tensor) and first.is_floating_point() and len(out) == 2 and not isinstance(out[1], torch.Tensor):
                logits = first  # vLLM (logits, None): the common case, decided without a scan
            else:
                for t in out:
                    if isinstance(t, torch.Tensor) and not t.is_floating_point() and t.dim() >= 1:
                        idx = t
                        break
                if idx is None:
                    for t in out:
                        if isinstance(t, torch.Tensor) and t.is_floating_point():
                            logits = t
                            break
        if idx is None and logits is None:
            raise TypeError("router output %s has no logits or indices" % type(out).__name__)
        if idx is not None:
            k = idx.shape[-1] if idx.dim() >= 2 else 1
            idx2 = idx.reshape(-1, k)
            dev = idx.device
        else:
            if logits.requires_grad:
                logits = logits.detach()
            E = logits.shape[-1]
            if E != lay.experts:
                raise ValueError("router gave %d logits, expected %d experts" % (E, lay.experts))
            k = lay.top_k
            if k is None:
                raise ValueError("cannot tell top-k for %s (no top_k/num_experts_per_tok attribute)" % lay.name)
            if lay.bias_owner is None and not lay.grouped:
                idx2 = logits.reshape(-1, E).topk(k, -1, True, False)[1]
            else:
                idx2 = self._select(lay, logits.reshape(-1, E))
            dev = logits.device
        ntok = idx2.shape[0]
        if lay.index == 0:
            self._step_begin(ntok, dev)
        rows = self.rows.get(dev)
        if rows is None:
            rows = self._alloc(dev)
        flat = idx2.reshape(-1)
        if flat.dtype != torch.int64:
            flat = flat.long()
        n = flat.shape[0]
        ones = self.ones.get((dev, n))
        if ones is None:
            ones = self._ones(dev, n)
        rows[self.phase_row][lay.index].scatter_add_(0, flat, ones)
        self.dirty = True
        if self.sample_n and not self.routes_bad:
            start = (-self.token_counter_at_step) % self.sample_n
            self.route_chunks[lay.index].append(idx2[start::self.sample_n])
        if lay.index == self.last_index:
            self.in_forward = False

    def _alloc(self, dev):
        """Counts [3][L][E] on `dev` and per-(phase, layer) row views of it."""
        torch = self.torch
        # A normal (not inference-mode) tensor, so that it can be updated in and out of inference mode.
        with torch.inference_mode(False):
            buf = torch.zeros((3, len(self.layers), self.num_experts), dtype=torch.int64, device=dev)
            rows = [[buf[p, l] for l in range(len(self.layers))] for p in range(3)]
        self.bufs[dev] = buf
        self.rows[dev] = rows
        if dev.type == "cuda":
            self.streams[dev] = torch.cuda.current_stream(dev)
        return rows

    def _ones(self, dev, n):
        """A ones vector of length n on dev (views of one shared buffer, cached per length)."""
        torch = self.torch
        big = self.ones.get(dev)
        if big is None or big.shape[0] < n:
            with torch.inference_mode(False):
                big = torch.ones(max(n, 4096), dtype=torch.int64, device=dev)
            self.ones = {dev: big}
        if len(self.ones) > 64:
            self.ones = {dev: big}
        v = big[:n]
        self.ones[(dev, n)] = v
        return v

    def _step_begin(self, ntok, dev):
        with self.lock:
            self.in_forward = True
            now = time.monotonic()
            self.last_activity = now
            if self.global_handle is not None:
                self._remove_global_hook()
            if self.senders is None:
                self._ensure_threads()  # first step, or first step after a fork
            if now >= self.next_flush and self.dirty:
                self._flush(now)
            self.phase_row = self.next_phase_row
            self.next_phase_row = 0
            self.step += 1
            if self.win_first_step is None:
                self.win_first_step = self.step
            self.win_steps[self.phase_row] += 1
            self.win_tokens[self.phase_row] += ntok
            self.token_counter_at_step = self.token_counter
            if self.sample_n:
                start = (-self.token_counter) % self.sample_n
                ns = len(range(start, ntok, self.sample_n))
                self.route_meta.append((ns, self.phase_row))
            self.token_counter += ntok

    # ----- flushing -----
    def _capturing(self):
        torch = self.torch
        try:
            return torch.cuda.is_available() and torch.cuda.is_current_stream_capturing()
        except Exception:
            return False

    def _flush(self, now, final=False):
        """Snapshot and reset the device counts (caller holds self.lock). Non-blocking."""
        torch = self.torch
        if self._capturing():
            return
        self.next_flush = now + self.flush_s
        parts = []
        ok = True
        for dev, buf in list(self.bufs.items()):
            free = self.pool.setdefault(dev, [])
            if dev.type == "cuda":
                if not free and len(self.pending) < 8:
                    free.append(torch.empty(buf.shape, dtype=torch.int32, pin_memory=True))
                if not free:
                    ok = False
                    break
        if not ok:
            return  # every host buffer is in flight: keep accumulating, flush next time
        for dev, buf in list(self.bufs.items()):
            if dev.type == "cuda":
                stream = self.streams.get(dev) or torch.cuda.current_stream(dev)
                with torch.cuda.stream(stream):
                    snap = buf.clone()
                    buf.sub_(snap)  # not zero_(): increments enqueued meanwhile are kept
                    host = self.pool[dev].pop()
                    host.copy_(snap.to(torch.int32), non_blocking=True)
                    ev = torch.cuda.Event()
                    ev.record(stream)
                parts.append((dev, host, ev))
            else:
                snap = buf.clone()
                buf.sub_(snap)
                parts.append((dev, snap.to(torch.int32), None))
        routes = None
        if self.sample_n and self.route_meta and self.route_chunks is not None:
            routes = self._take_routes()
        win = {
            "seq": self.seq,
            "first_step": self.win_first_step,
            "step": self.step,
            "steps": list(self.win_steps),
            "tokens": list(self.win_tokens),
            "time_ms": int(time.time() * 1000),
            "final": final,
        }
        self.seq += 1
        self.win_steps = [0, 0, 0]
        self.win_tokens = [0, 0, 0]
        self.win_first_step = None
        self.dirty = False
        with self.pending_lock:
            self.pending.append((win, parts, routes))
        self._ensure_threads()

    def _take_routes(self):
        torch = self.torch
        meta = self.route_meta
        self.route_meta = []
        chunks = self.route_chunks
        self.route_chunks = [[] for _ in self.layers]
        want = sum(n for n, _ in meta)
        if any(len(c) == 0 for c in chunks):
            return None
        per_layer = [torch.cat(c, 0) for c in chunks]
        if any(p.shape[0] != want for p in per_layer) or len(set(p.device for p in per_layer)) != 1:
            if not self.routes_bad:
                self.routes_bad = True
                _log("sampled routes disagree across layers (layers on several devices?); route sampling is off")
            return None
        ids = torch.stack(per_layer, 0).transpose(0, 1).contiguous()  # [Ts][L][k]
        ids = ids.to(torch.int16 if self.num_experts <= 32767 else torch.int32)
        ev = None
        if ids.device.type == "cuda":
            host = torch.empty(ids.shape, dtype=ids.dtype, pin_memory=True)
            host.copy_(ids, non_blocking=True)
            ev = torch.cuda.Event()
            ev.record()
            ids = host
        phase = []
        for n, row in meta:
            phase.extend([row] * n)
        return (ids, ev, phase)

    def _idle_flush(self):
        """Flush from the background thread when the model has been idle for a flush interval."""
        if not self.dirty or self.in_forward:
            return
        now = time.monotonic()
        if now < self.next_flush or now - self.last_activity < self.flush_s:
            return
        if not self.lock.acquire(False):
            return
        try:
            if not self.in_forward and self.dirty:
                self._flush(now)
        finally:
            self.lock.release()

    def _ensure_threads(self):
        if self.senders is not None:
            return
        self.senders = []
        for u in self.urls:
            try:
                self.senders.append(_Sender(u, self.token, self.queue_size))
            except Exception as e:
                _log("collector %s ignored: %s" % (u, e))
        if not self.stopping:
            self.poller = threading.Thread(target=self._poll_loop, name="ballast-poller", daemon=True)
            self.poller.start()

    def _poll_loop(self):
        interval = min(0.25, max(0.005, self.flush_s / 4))
        while not self.stopping:
            try:
                self._drain_ready()
                if self.enabled:
                    self._idle_flush()
            except Exception as e:
                self.disable("background thread: %r" % (e,))
                return
            time.sleep(interval)

    def _drain_ready(self, wait_s=0.0):
        deadline = time.monotonic() + wait_s
        while True:
            with self.pending_lock:
                if not self.pending:
                    return True
                win, parts, routes = self.pending[0]
                ready = all(ev is None or ev.query() for _, _, ev in parts)
                if ready and routes is not None and routes[1] is not None:
                    ready = routes[1].query()
                if not ready:
                    if time.monotonic() >= deadline:
                        return False
                else:
                    self.pending.pop(0)
            if not ready:
                time.sleep(0.005)
                continue
            self._emit(win, parts, routes)

    def _emit(self, win, parts, routes):
        L = len(self.layers)
        E = self.num_experts
        total = None
        for dev, host, ev in parts:
            t = host if ev is None else host.clone()
            if ev is not None:
                self.pool.setdefault(dev, []).append(host)
            total = t if total is None else total + t
        if total is None:
            return
        # One summed row per phase; the rows are [L][E] int32. Encoded as base64 of little-endian
        # bytes (a memcpy), not a JSON list, so that the GIL is held for microseconds, not milliseconds.
        nonzero = (total.reshape(3, -1) != 0).any(dim=1).tolist()
        payload_parts = []
        for row in range(3):
            steps = win["steps"][row]
            if steps == 0 and not nonzero[row]:
                continue
            rowt = total[row].contiguous()
            p = {"phase": PHASES[row], "steps": steps, "tokens": win["tokens"][row]}
            if sys.byteorder == "little":
                raw = ctypes.string_at(rowt.data_ptr(), rowt.numel() * 4)
                p["counts_b64"] = base64.b64encode(raw).decode("ascii")
                p["counts_dtype"] = "i32"
            else:
                p["counts"] = rowt.reshape(-1).tolist()
            payload_parts.append(p)
        if not payload_parts:
            return
        payload = {
            "v": PROTOCOL_VERSION,
            "session": self.session,
            "pid": self.pid,
            "host": socket.gethostname(),
            "rank": self.rank(),
            "tp_rank": self.tp_rank(),
            "model": self.model_name,
            "layer_ids": [l.layer_id for l in self.layers],
            "experts": E,
            "top_k": self.layers[0].top_k,
            "moe_parallel": self.moe_parallel,
            "seq": win["seq"],
            "first_step": win["first_step"],
            "step": win["step"],
            "time_ms": win["time_ms"],
            "final": win["final"],
            "flush_ms": int(self.flush_s * 1000),
            "parts": payload_parts,
        }
        if routes is not None:
            ids, _, phase = routes
            import array
            arr = array.array("h" if ids.dtype == self.torch.int16 else "i", ids.reshape(-1).tolist())
            if sys.byteorder != "little":
                arr.byteswap()
            payload["routes"] = {
                "tokens": int(ids.shape[0]), "top_k": int(ids.shape[2]), "every": self.sample_n,
                "id_type": "i16" if arr.typecode == "h" else "i32",
                "ids_b64": base64.b64encode(arr.tobytes()).decode("ascii"),
                "phase": phase,
            }
        if self.debug:
            _log("window %d: %d parts" % (win["seq"], len(payload_parts)))
        for s in self.senders or []:
            s.offer(dict(payload))

    def rank(self):
        try:
            dist = self.torch.distributed
            if dist.is_available() and dist.is_initialized():
                return int(dist.get_rank())
        except Exception:
            pass
        for name in ("RANK", "LOCAL_RANK"):
            v = os.environ.get(name)
            if v is not None:
                try:
                    return int(v)
                except ValueError:
                    pass
        return 0

    @staticmethod
    def tp_rank():
        for modname in ("vllm.distributed.parallel_state", "sglang.srt.distributed.parallel_state"):
            ps = sys.modules.get(modname)
            if ps is None:
                continue
            try:
                return int(ps.get_tensor_model_parallel_rank())
            except Exception:
                continue
        return None

    # ----- exit -----
    def shutdown(self):
        """Flush the last window and give the senders a bounded time to deliver it.

        Runs at interpreter exit. The poller thread is stopped and joined first, so that no agent
        thread is inside torch while the interpreter finalises (that can abort the process).
        """
        if os.getpid() != self.pid:
            return
        try:
            self.stopping = True
            poller = self.poller
            if poller is not None and poller.is_alive():
                poller.join(timeout=2.0)
                if poller.is_alive():
                    _log("at exit: the background thread did not stop; the last window is dropped")
                    return
            if self.enabled and self.dirty and self.model is not None:
                if self.lock.acquire(timeout=1.0):
                    try:
                        self._flush(time.monotonic(), final=True)
                    finally:
                        self.lock.release()
            if self.senders is None:
                return
            deadline = time.monotonic() + float(os.environ.get("BALLAST_EXIT_TIMEOUT_S", "3"))
            self._drain_ready(wait_s=max(0.0, deadline - time.monotonic()))
            for s in self.senders:
                while s.q.unfinished_tasks and not s.failing and time.monotonic() < deadline:
                    time.sleep(0.01)
        except Exception as e:
            _log("at exit: %r" % (e,))


def agent():
    return _agent


def install(torch_module=None):
    """Attach the agent (idempotent). Never raises."""
    global _agent
    if _agent is not None:
        return _agent
    try:
        torch = torch_module
        if torch is None:
            import torch  # noqa: F401
        _agent = Agent(torch)
        _agent.install_global_hook()
        atexit.register(_agent.shutdown)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_agent.after_fork)
    except Exception as e:
        _log("capture disabled: could not attach: %r" % (e,))
    return _agent


class _TorchImportHook(object):
    """sys.meta_path finder that attaches the agent right after `torch` finishes importing."""

    def __init__(self):
        self.busy = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "torch" or self.busy:
            return None
        self.busy = True
        try:
            import importlib.util
            spec = importlib.util.find_spec("torch")
        except Exception:
            spec = None
        finally:
            self.busy = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        loader = spec.loader
        hook = self
        original = loader.exec_module

        def exec_module(module):
            try:
                original(module)
            finally:
                try:
                    del loader.exec_module
                except AttributeError:
                    pass
                try:
                    sys.meta_path.remove(hook)
                except ValueError:
                    pass
            install(module)

        loader.exec_module = exec_module
        return spec


def install_on_torch_import():
    """Attach now if torch is loaded, else as soon as it is. Never raises."""
    try:
        if "torch" in sys.modules:
            install(sys.modules["torch"])
        else:
            sys.meta_path.insert(0, _TorchImportHook())
    except Exception as e:
        _log("capture disabled: %r" % (e,))
