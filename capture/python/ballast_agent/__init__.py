"""ballast capture agent: counts MoE routing per layer and expert inside a running PyTorch program.

Loaded by the `sitecustomize.py` next to this package when `ballast run` starts a program with
BALLAST_AGENT=1. Standard library + torch only; Python 3.9+.

How it works
  * When `torch` is first imported, a global forward pre-hook is installed. The first module called
    (the outermost model) is scanned for MoE blocks (HF transformers / vLLM class names, or any module
    with an `experts` child and a `gate`/`router` child) and for standalone `*TopKRouter` modules.
    Each layer gets one capture point (docs/capture.md, "Capture point, per layer"): vLLM's router
    capture fn (ids copied into a device buffer inside the moe_forward op, counted after each real
    step, so compiled/CUDA-graph mode, dummy runs and padding are handled), else a wrapper on the
    experts module that receives the dispatched ids (transformers v5, GPT-OSS incl. MXFP4, SGLang; under
    SGLang's ModelRunner the wrapper only copies the ids into a step buffer, recorded into its CUDA graphs,
    and rows [0, real tokens) are counted after each real ModelRunner.forward: sglang-step-buffer),
    else a forward hook on the router. The global hook is then removed.
  * Per call: `scatter_add_`/`index_add_` into a persistent device tensor counts[phase][L][E] (top-k on
    the logits first on the router-hook path). No host synchronisation, no Python loop over tokens.
  * Each window is checked: per layer, assignments == tokens x top-k, else one `check failed` line.
  * Once per flush interval (checked at step boundaries, plus an idle flush from the background
    thread): snapshot = counts.clone(); counts.sub_(snapshot); snapshot -> pinned host memory
    (non_blocking) + CUDA event. A background thread polls the events and hands finished windows to
    one sender thread per collector (bounded queues; full -> drop and count).
  * Any internal error disables the agent with one `[ballast]` line on stderr; the host never sees it.
  * `capture(model, out=...)` does the same from a script or notebook (context manager, summary at exit).

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

__all__ = ["install", "agent", "capture", "Capture"]

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
                 "n_group", "topk_group", "scoring", "bias_owner", "path", "experts_mod", "fused_shared",
                 "expected", "calls", "mask_value")

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
        self.path = "router-hook"   # or "dispatch-hook", "vllm-capture-fn", "eplb-load-view", "sglang-step-buffer"
        self.experts_mod = None
        self.fused_shared = 0       # SGLang/vLLM fused shared-expert slots (ids >= experts, dropped)
        self.expected = 0           # tokens x top-k routed through this layer since the last flush
        self.calls = 0
        self.mask_value = float("-inf")


# ----- capture points (engine-specific, chosen per layer at discovery) -----
# Argument names under which an experts module receives the dispatched expert ids:
#   top_k_index       transformers v5 `*Experts.forward(hidden_states, top_k_index, top_k_weights)`
#                     (huggingface/transformers src/transformers/models/deepseek_v2/modeling_deepseek_v2.py
#                     @0233e509531ace915c8241b4c16c8032a583279c; Mixtral, Qwen2/3-MoE, OLMoE, DeepSeek-V3, ...)
#   router_indices    transformers GPT-OSS `GptOssExperts.forward(hidden_states, router_indices, routing_weights)`
#   routing_data      transformers GPT-OSS MXFP4 `Mxfp4GptOssExperts.forward(hidden_states, routing_data, ...)`,
#                     a triton_kernels RoutingData whose `expt_hist` is the per-expert histogram
#                     (src/transformers/integrations/mxfp4.py @0189b1d09a03a87ec4f59831acb93cc1832d14e7)
#   topk_output       SGLang `FusedMoE.forward(hidden_states, topk_output)`: StandardTopKOutput.topk_ids,
#                     after the TopK module's grouping/bias; fused shared-expert slots have ids >= n_routed
DISPATCH_ARGS = ("top_k_index", "router_indices", "routing_data", "topk_output", "topk_ids", "top_k_indices",
                 "selected_experts", "expert_indices")


def _dispatch_param(mod, method="forward"):
    """(position after self, name) of the argument carrying expert ids in mod.<method>, else None."""
    try:
        import inspect
        params = list(inspect.signature(getattr(type(mod), method)).parameters.values())[1:]
    except Exception:
        return None
    for i, p in enumerate(params):
        if p.name in DISPATCH_ARGS:
            return (i, p.name)
    return None


def _engine_info():
    """(engine, version) of the serving stack loaded in this process."""
    for name in ("vllm", "sglang", "transformers"):
        m = sys.modules.get(name)
        if m is not None:
            return name, str(getattr(m, "__version__", "") or "")
    t = sys.modules.get("torch")
    return "torch", str(getattr(t, "__version__", "") or "")


def _parallel_info(layers):
    """Pipeline / data / sequence-parallel facts from vLLM or SGLang parallel state, when loaded."""
    info = {"pp_rank": None, "pp_size": None, "dp_rank": None, "sequence_parallel": False}
    for modname in ("vllm.distributed.parallel_state", "sglang.srt.distributed.parallel_state"):
        ps = sys.modules.get(modname)
        if ps is None:
            continue
        try:
            g = ps.get_pp_group()
            info["pp_rank"] = int(g.rank_in_group)
            info["pp_size"] = int(g.world_size)
        except Exception:
            pass
        try:
            g = ps.get_dp_group()
            info["dp_rank"] = int(g.rank_in_group)
        except Exception:
            pass
        break
    for lay in layers:
        for o in (lay.block, getattr(lay.block, "experts", None) if lay.block is not None else None):
            # vLLM: `is_sequence_parallel` on the MoE block and FusedMoE (parallel_config.use_sequence_parallel_moe):
            # each TP rank routes its own chunk of the tokens, so every TP rank's counts are real.
            if o is not None and getattr(o, "is_sequence_parallel", False) is True:
                info["sequence_parallel"] = True
    return info


def _config_layers(cfg):
    """num_hidden_layers of a model config (its text part first: Llama 4 / VL configs keep the decoder in
    `text_config`, vLLM's ModelConfig names it `hf_text_config`), or None."""
    if cfg is None:
        return None
    for sub in (getattr(cfg, "hf_text_config", None), getattr(cfg, "text_config", None), getattr(cfg, "hf_config", None), cfg):
        if sub is None:
            continue
        v = getattr(sub, "num_hidden_layers", None)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return None


def _decoder_layers(root):
    """Decoder layers of the model (dense layers included) from the config the engine built it from, or None.

    transformers: `model.config.num_hidden_layers`, or `config.text_config.num_hidden_layers` (Llama 4:
      huggingface/transformers src/transformers/models/llama4/configuration_llama4.py
      @b17cfe48c5a9631dcf9f57f3865a055903800f81, Llama4Config.text_config).
    vLLM: the model classes keep `self.config = vllm_config.model_config.hf_config` (vllm-project/vllm
      vllm/model_executor/models/deepseek_v2.py @b863fe5bf4e19680572603b4e166faefc5725551,
      DeepseekV2ForCausalLM.__init__); the runner's
      `model_config.hf_text_config` is read at the first step when the model has none (_patch_vllm_runner).
    SGLang: the model classes keep `self.config = config` (sgl-project/sglang
      python/sglang/srt/models/deepseek_v2.py @3e4a39ee73308590c5c753108bdcb8d333f7f1c6,
      DeepseekV2ForCausalLM.__init__), the config SGLang's
      expert-location code reads `num_hidden_layers` from (python/sglang/srt/eplb/expert_location.py
      @6270b01498692d05d29267efe96d0eb7d9824545)."""
    for owner in (root, getattr(root, "model", None), getattr(root, "language_model", None)):
        if owner is None:
            continue
        for attr in ("config", "model_config"):
            v = _config_layers(getattr(owner, attr, None))
            if v is not None:
                return v
    return None


def _layout_refusal(root, layers):
    """A reason to refuse capture for this model layout, or None."""
    if "vllm" in sys.modules or "sglang" in sys.modules:
        return None
    for attr in ("tp_size", "_tp_size"):
        v = getattr(root, attr, None)
        if isinstance(v, int) and not isinstance(v, bool) and v > 1:
            return ("transformers tensor parallel (tp_plan, %s=%d) hands the experts rank-local expert ids, so counts "
                    "would be wrong; capture without tp_plan (one GPU or device_map), or under vLLM/SGLang" % (attr, v))
    for attr in ("device_mesh", "_device_mesh"):
        if getattr(root, attr, None) is not None:
            return ("transformers tensor parallel (tp_plan, device mesh set) hands the experts rank-local expert ids, "
                    "so counts would be wrong; capture without tp_plan (one GPU or device_map), or under vLLM/SGLang")
    return None


def _choose_path(agent, lay):
    """Pick the capture point of one layer: vLLM router capture fn > experts dispatch > router hook."""
    nn = agent.torch.nn
    if getattr(agent, "force_path", None) == "router-hook":
        lay.path = "router-hook"
        return
    exp = getattr(lay.block, "experts", None) if lay.block is not None else None
    vr = getattr(exp, "router", None) if exp is not None else None
    if vr is not None and callable(getattr(vr, "set_capture_fn", None)):
        # vLLM FusedMoE.router (FusedMoERouter): select_experts calls capture_fn(topk_ids) with logical ids
        # before EPLB mapping (vllm-project/vllm vllm/model_executor/layers/fused_moe/router/base_router.py
        # @b9f290edc622f8126056e49e7afe03f0cb0c5347), inside the moe_forward custom op.
        lay.path = "vllm-capture-fn"
        lay.experts_mod = vr
        if lay.top_k is None:
            lay.top_k = _first_attr([vr], ("top_k",))
        for o in (vr, exp, lay.block):
            v = getattr(o, "num_fused_shared_experts", None)
            if isinstance(v, int) and v > 0:
                lay.fused_shared = v
                break
        return
    if (agent.engine == "vllm" and exp is not None and getattr(exp, "enable_eplb", False) is True
            and getattr(agent, "force_path", None) != "router-hook"):
        # A vLLM without the router capture fn, launched with --enable-eplb: FusedMoE(enable_eplb=True) counts
        # every routed (token, k) pair per physical replica into EplbState.expert_load_pass, which the agent
        # reads at real step ends (Agent._patch_eplb_state). Approximate: CUDA-graph padding rows included.
        lay.path = "eplb-load-view"
        return
    if exp is not None and isinstance(exp, nn.Module) and not isinstance(exp, nn.ModuleList) and _dispatch_param(exp):
        lay.path = "dispatch-hook"
        lay.experts_mod = exp
        for o in (lay.block, exp):
            v = getattr(o, "num_fused_shared_experts", None)
            if isinstance(v, int) and v > 0:
                lay.fused_shared = v
                break
        tk = getattr(lay.block, "topk", None)  # SGLang TopK module: top_k counts the fused shared slots
        if lay.top_k is None and isinstance(getattr(tk, "top_k", None), int):
            lay.top_k = tk.top_k - lay.fused_shared
        # The router's weight rows are the routed experts (SGLang's experts module also holds fused shared ones).
        w = getattr(lay.router, "weight", None)
        if w is not None and getattr(w, "dim", lambda: 0)() == 2:
            lay.experts = int(w.shape[0])
        return
    lay.path = "router-hook"


class _AttrRestore(object):
    """A hook handle that removes an instance attribute the agent set (a wrapped forward)."""

    def __init__(self, obj, name):
        self.obj = obj
        self.name = name

    def remove(self):
        try:
            if self.name in self.obj.__dict__:
                del self.obj.__dict__[self.name]
        except Exception:
            pass



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
        self.engine, self.engine_version = None, None
        self.parallel = {}
        self.compiled_seen = False
        self.check_result = None     # None until the first check, then "ok" or "failed"
        self.window_sinks = []       # in-process consumers of emitted windows (capture() context manager)
        self.vllm_runner = False     # True once vLLM's GPUModelRunner is wrapped (step boundaries known)
        self.vbuf = None             # vLLM path: ids of the current step [L][cap][k] (-1 = none)
        self.vllm_wrapped = False    # vLLM's execute_model is wrapped: count only inside real steps
        self.vllm_in_step = False
        self.vllm_steps = 0
        self.num_hidden_layers = None  # decoder layers of the model (config), sent with every window when known
        self.ids_from_names = False
        self.nhl_runner_read = False
        self._eplb_carry = None      # vLLM EPLB view: a profile step's load left in the pass, subtracted next step
        # SGLang step-buffer path (sglang-step-buffer): ids copied into sbuf inside what CUDA graphs record,
        # counted after each real ModelRunner.forward
        self.sg_runner = False       # ModelRunner.forward is wrapped (real steps known)
        self.sg_checked = False      # the first real step's server args were checked
        self.sg_in_step = False
        self.sg_steps = 0
        self.sbuf = None             # [L][cap][k] int32 ids of the current step (-1 = none), eager writes
        self.sbuf_graph = None       # the buffer captured CUDA graphs write into
        self.sg_written = None       # buffer an eager call wrote in this real step
        self.sg_max_rows = 0         # rows written by eager calls in this real step
        self.sg_replayed = None      # rows of the CUDA graph replayed in this real step, else None
        self.sg_piecewise = False    # this real step ran SGLang's piecewise (torch.compile) CUDA graph
        self.sg_piecewise_seen = False
        self.sg_stale = False        # warm-up / capture / dummy runs wrote rows outside real steps
        self.sg_fallback = False     # layout refused: counted at dispatch in eager real steps; replays only flagged
        self.sg_impl_wrapped = False # SGLang FusedMoE.forward_impl wrapped (seen inside piecewise CUDA graphs too)
        self.sg_graph_bufs = []      # distinct step buffers CUDA graphs were captured writing into
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
        ids_from_names = not (None in layer_ids or len(set(layer_ids)) != len(layer_ids))
        if not ids_from_names:
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
            # Grouped / bias-corrected routing (DeepSeek-V2/V3 style). Only used where the agent has to
            # re-select from logits (router-hook path); the dispatch and capture-fn paths read the ids.
            for o in (exp, block, router):
                if o is None:
                    continue
                # vLLM FusedMoE: use_grouped_topk/num_expert_group/topk_group, dropped groups masked with
                # -inf (vllm-project/vllm vllm/model_executor/layers/fused_moe/router/grouped_topk_router.py
                # @5568166686c79f69c2a6c1a0534c9595baf2a988). HF transformers DeepSeek: n_group (v4) or
                # num_group (v5) and topk_group, masked with 0.0 (huggingface/transformers
                # src/transformers/models/deepseek_v2/modeling_deepseek_v2.py @0233e509531ace915c8241b4c16c8032a583279c).
                if getattr(o, "use_grouped_topk", False):
                    n_group = getattr(o, "num_expert_group", None)
                    lay.mask_value = float("-inf")
                else:
                    n_group = getattr(o, "n_group", None)
                    if not isinstance(n_group, int):
                        n_group = getattr(o, "num_group", None)
                    lay.mask_value = 0.0
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
        refusal = _layout_refusal(root, layers)
        if refusal:
            self.disable(refusal)
            return
        self.model = root
        self.layers = layers
        self.last_index = len(layers) - 1
        self.moe_parallel = self._moe_parallel(layers)
        self.num_experts = max(l.experts for l in layers)
        self.model_name = self._model_name(root)
        self.engine, self.engine_version = _engine_info()
        self.parallel = _parallel_info(layers)
        # Decoder ids are only known when the layer ids came from the module names.
        self.ids_from_names = ids_from_names
        self.num_hidden_layers = None
        self._set_decoder_layers(_decoder_layers(root) if ids_from_names else None, "the model config")
        for lay in layers:
            _choose_path(self, lay)
        self._install_paths(layers)
        if not self.enabled:
            return
        first = layers[0]
        if first.block is not None and first.path not in ("vllm-capture-fn", "sglang-step-buffer"):
            self.handles.append(first.block.register_forward_pre_hook(self._phase_hook))
        if self.sample_n and len(set(l.top_k for l in layers)) != 1:
            _log("route sampling needs one top-k for every layer; sampling is off")
            self.sample_n = 0
        self.route_chunks = [[] for _ in layers]
        if getattr(self, "_announced", False):
            return
        self._announced = True
        _log("capturing %d MoE layers x %d experts (top-%s) in %s, rank %d, via %s (%s %s)"
             % (len(layers), self.num_experts, self._top_k_label(), self.model_name, self.rank(),
                self.capture_path(), self.engine, self.engine_version or "version unknown"))

    def _set_decoder_layers(self, n, where):
        """Keep num_hidden_layers `n` (from `where`) for the windows when it is above every MoE layer id."""
        if n is None or not self.layers:
            return
        top = max(l.layer_id for l in self.layers)
        if n <= top:
            _log("num_hidden_layers %d in %s is not above the largest MoE layer id %d; the trace will not record it"
                 % (n, where, top))
            return
        self.num_hidden_layers = n

    # ----- capture paths -----
    def capture_path(self):
        paths = sorted(set(l.path for l in self.layers)) if self.layers else []
        return "+".join(paths) if paths else "none"

    def _install_paths(self, layers):
        self.num_experts = max(l.experts for l in layers)
        for lay in layers:
            if lay.path == "vllm-capture-fn":
                self._install_vllm(lay)
            elif lay.path == "dispatch-hook":
                self._install_dispatch(lay)
            elif lay.path == "eplb-load-view":
                pass  # read from vLLM's EplbState at step ends, nothing placed on the layer
            else:
                self.handles.append(lay.router.register_forward_hook(self._make_router_hook(lay)))
        if self.engine == "vllm":
            self._patch_vllm_runner()
            if any(l.path == "eplb-load-view" for l in layers):
                if any(l.path != "eplb-load-view" for l in layers):
                    self.disable("vLLM %s: only some MoE layers have EPLB on; capture is off (relaunch with "
                                 "--enforce-eager so the eager hooks run)" % (self.engine_version or ""))
                    return
                if not self.vllm_runner or not self._patch_eplb_state():
                    self.disable("vLLM %s has no router capture hook and its EPLB state (EplbState.step in "
                                 "vllm.distributed.eplb.eplb_state, GPUModelRunner.execute_model) was not found; "
                                 "capture is off (relaunch with --enforce-eager so the eager hooks run)"
                                 % (self.engine_version or ""))
                    return
                _log("this vLLM %s has no router capture hook (FusedMoERouter.set_capture_fn); counting from "
                     "its EPLB load view instead (--enable-eplb): approximate, CUDA-graph padding tokens are "
                     "included and all-to-all EP backends miss pairs bound for other ranks; for exact counts use a "
                     "vLLM with the hook or --enforce-eager"
                     % (self.engine_version or ""))
            if any(l.path == "vllm-capture-fn" for l in layers) and not self.vllm_runner:
                # Without step boundaries, profile/dummy runs and CUDA-graph padding would be counted.
                self.disable("vLLM %s: GPUModelRunner.execute_model not found in vllm.v1.worker.gpu_model_runner, so "
                             "real steps cannot be told from dummy runs and padding; capture is off (please report "
                             "this vLLM version)" % (self.engine_version or ""))
                return
        if self.engine == "sglang" and any(l.path == "dispatch-hook" for l in layers):
            self._patch_sglang_runner(layers)
        if self.sample_n and (self.vllm_runner or self.sg_runner):
            _log("route sampling is not available on the vLLM capture-fn and SGLang step-buffer paths; sampling is off")
            self.sample_n = 0

    def _note_compiled(self):
        if not self.compiled_seen:
            self.compiled_seen = True

    def _install_dispatch(self, lay):
        exp = lay.experts_mod
        method = "forward"
        if self.engine == "sglang" and callable(getattr(type(exp), "forward_impl", None)) \
                and _dispatch_param(exp, "forward_impl"):
            # SGLang FusedMoE.forward(hidden_states, topk_output) calls self.forward_impl(hidden_states,
            # topk_output), or, inside piecewise CUDA graphs (torch.compile), the opaque custom op
            # moe_forward_piecewise_cuda_graph_impl, which calls moe_layer.forward_impl with the same ids
            # (sgl-project/sglang python/sglang/srt/layers/moe/fused_moe_triton/layer.py, the version holding
            # moe_forward_piecewise_cuda_graph_impl): wrapping forward_impl sees both.
            method = "forward_impl"
            self.sg_impl_wrapped = True
        pos, name = _dispatch_param(exp, method)
        orig = getattr(exp, method)
        agent = self

        def forward(*args, **kwargs):
            if agent.enabled:
                if agent.is_compiling():
                    agent.compiled_seen = True
                else:
                    try:
                        obj = kwargs[name] if name in kwargs else (args[pos] if len(args) > pos else None)
                        hidden = args[0] if args else kwargs.get("hidden_states")
                        agent._on_dispatch(lay, obj, hidden)
                    except Exception as e:
                        agent.disable("in layer %s: %r" % (lay.name, e))
            return orig(*args, **kwargs)

        setattr(exp, method, forward)
        self.handles.append(_AttrRestore(exp, method))

    def _on_dispatch(self, lay, obj, hidden):
        torch = self.torch
        if isinstance(obj, torch.Tensor):
            ids = obj
        elif obj is not None and isinstance(getattr(obj, "topk_ids", None), torch.Tensor):
            ids = obj.topk_ids
        elif obj is not None and isinstance(getattr(obj, "expt_hist", None), torch.Tensor):
            return self._on_hist(lay, obj, hidden)
        else:
            raise TypeError("the experts module got %s, not expert ids" % type(obj).__name__)
        if ids.dim() == 1:
            ids = ids.unsqueeze(-1)
        ids2 = ids.reshape(-1, ids.shape[-1])
        if lay.path == "sglang-step-buffer":
            self._sg_ids(lay, ids2)
            return
        self._count(lay, ids2, ids2.shape[-1] - lay.fused_shared, checked=True)

    def _on_hist(self, lay, rd, hidden):
        """GPT-OSS MXFP4: the routing histogram the kernels dispatch with (already per expert)."""
        torch = self.torch
        if self.vllm_wrapped and not self.vllm_in_step:
            return
        hist = rd.expt_hist
        if hist.shape[0] != lay.experts:
            raise ValueError("the MXFP4 routing histogram covers %d of %d experts (experts split across ranks); "
                             "this layout is not supported" % (hist.shape[0], lay.experts))
        k = int(getattr(rd, "n_expts_act", 0) or 0) or lay.top_k
        if not k:
            raise ValueError("cannot tell top-k for %s" % lay.name)
        ntok = int(hidden.reshape(-1, hidden.shape[-1]).shape[0]) if hidden is not None else 0
        dev = hist.device
        if lay.index == 0:
            self._step_begin(ntok, dev)
        rows = self.rows.get(dev)
        if rows is None:
            rows = self._alloc(dev)
        rows[self.phase_row][lay.index][:hist.shape[0]].add_(hist.to(torch.int64))
        lay.expected += ntok * k
        lay.calls += 1
        self.dirty = True
        if lay.index == self.last_index:
            self.in_forward = False

    def _count(self, lay, idx2, k, checked=False):
        """Add one call's ids [T][k'] to counts[phase][layer]. checked: drop ids outside [0, experts)."""
        if (self.vllm_wrapped and not self.vllm_in_step) or (self.sg_fallback and not self.sg_in_step):
            return  # a vLLM profile / dummy / graph-capture run, an SGLang warm-up or dummy run: synthetic tokens
        torch = self.torch
        dev = idx2.device
        ntok = idx2.shape[0]
        if lay.index == 0:
            self._step_begin(ntok, dev)
        rows = self.rows.get(dev)
        if rows is None:
            rows = self._alloc(dev)
        flat = idx2.reshape(-1)
        if flat.dtype != torch.int64:
            flat = flat.long()
        row = rows[self.phase_row][lay.index]
        if checked:
            valid = (flat >= 0) & (flat < lay.experts)
            row.index_add_(0, flat.clamp(0, lay.experts - 1), valid.long())
        else:
            n = flat.shape[0]
            ones = self.ones.get((dev, n))
            if ones is None:
                ones = self._ones(dev, n)
            row.scatter_add_(0, flat, ones)
        lay.expected += ntok * k
        lay.calls += 1
        self.dirty = True
        if self.sample_n and not self.routes_bad:
            start = (-self.token_counter_at_step) % self.sample_n
            cols = idx2[:, :idx2.shape[1] - lay.fused_shared] if lay.fused_shared else idx2  # SGLang: shared slot last
            self.route_chunks[lay.index].append(cols[start::self.sample_n])
        if lay.index == self.last_index:
            self.in_forward = False

    # ----- vLLM: router capture fn, counted at step boundaries -----
    def _install_vllm(self, lay):
        r = lay.experts_mod
        prev = getattr(r, "capture_fn", None)
        agent = self

        def capture_fn(topk_ids):
            if prev is not None:
                prev(topk_ids)  # keep vLLM's own capturer (--enable-return-routed-experts) working
            if agent.enabled:
                try:
                    agent._on_vllm_ids(lay, topk_ids)
                except Exception as e:
                    agent.disable("in layer %s: %r" % (lay.name, e))

        r.set_capture_fn(capture_fn)

        class _Undo(object):
            def remove(self_inner):
                try:
                    r.set_capture_fn(prev)
                except Exception:
                    pass
        self.handles.append(_Undo())

    def _dp_slice(self, ids2):
        """Under vLLM data parallel with tokens gathered across DP ranks, this rank's own rows, sliced as
        vLLM's RoutedExpertsCapturer.capture does (vllm-project/vllm
        vllm/model_executor/layers/fused_moe/routed_experts_capturer.py @00bd1493b3e82d6c13c68ee8a0e1c5a96707e190)."""
        fc = sys.modules.get("vllm.forward_context")
        dp_rank = self.parallel.get("dp_rank")
        if fc is None or dp_rank is None:
            return ids2
        try:
            ctx = fc.get_forward_context()
        except Exception:
            return ids2
        dpm = getattr(ctx, "dp_metadata", None)
        if dpm is None:
            return ids2
        per = [int(x) for x in dpm.num_tokens_across_dp_cpu.tolist()]
        if sum(per) != ids2.shape[0]:
            return ids2  # not gathered: these rows are this rank's own
        end = sum(per[:dp_rank + 1])
        return ids2[end - per[dp_rank]:end]

    def _on_vllm_ids(self, lay, topk_ids):
        ub = sys.modules.get("vllm.v1.worker.ubatching")
        if ub is not None and getattr(ub, "dbo_current_ubatch_id", None) is not None and ub.dbo_current_ubatch_id() != 0:
            # Dual-batch overlap runs each step as two micro-batches through the same layers; their rows
            # would overwrite each other in the per-step buffer. Refuse rather than count a mixture.
            raise RuntimeError("vLLM dual-batch overlap (--enable-dbo) splits steps into micro-batches, which the "
                               "capture-fn path cannot place; relaunch without --enable-dbo")
        ids2 = self._dp_slice(topk_ids.reshape(-1, topk_ids.shape[-1]))
        if not self.vllm_runner:
            # No step boundaries known (model run outside vLLM's GPUModelRunner): count as it comes.
            self._count(lay, ids2, ids2.shape[-1] - lay.fused_shared, checked=True)
            return
        T, k = ids2.shape[0], ids2.shape[1]
        buf = self.vbuf
        if buf is None or buf.shape[1] < T or buf.shape[2] != k or buf.device != ids2.device:
            if self._capturing():
                raise RuntimeError("a CUDA graph was captured for %d tokens before the agent saw a larger batch" % T)
            torch = self.torch
            cap = max(T, int(getattr(self, "vllm_max_tokens", 0) or 0), 256)
            with torch.inference_mode(False):
                buf = torch.full((len(self.layers), cap, k), -1, dtype=torch.int32, device=ids2.device)
            self.vbuf = buf
            if ids2.device not in self.rows:
                self._alloc(ids2.device)
        # A copy into a persistent buffer: recorded into CUDA graphs and replayed with them. Counting
        # happens after the step, outside any graph, on the real (unpadded) rows only.
        buf[lay.index, :T].copy_(ids2)

    def _vllm_step_end(self, n):
        """After a real vLLM forward (outside any graph): count rows [0, n) of every layer (real tokens;
        CUDA-graph padding rows come after them) and reset them to -1."""
        if self.vbuf is None or n <= 0:
            return
        with self.lock:
            self._count_rows(self.vbuf, n, n)

    def _count_rows(self, buf, n, clear):
        """Count rows [0, n) of the ids buffer buf [L][cap][k] into counts[phase] (ids outside [0, experts)
        of a layer, i.e. -1 and fused shared-expert slots, are not counted), add n x routed top-k to every
        layer's expected assignments, and reset rows [0, clear) to -1. Device ops only, no host sync.
        Caller holds self.lock."""
        torch = self.torch
        n = min(n, buf.shape[1])
        clear = min(max(clear, n), buf.shape[1])
        L, E = len(self.layers), self.num_experts
        dev = buf.device
        if dev not in self.bufs:
            self._alloc(dev)
        if getattr(self, "_vbase", None) is None or self._vbase.device != dev:
            with torch.inference_mode(False):
                self._vlim = torch.tensor([l.experts for l in self.layers], device=dev).view(L, 1, 1)
                self._vbase = (torch.arange(L, device=dev) * E).view(L, 1, 1)
        if n > 0:
            ids = buf[:, :n].long()
            valid = (ids >= 0) & (ids < self._vlim)
            flat = ids.clamp(0, E - 1) + self._vbase + self.phase_row * L * E
            self.bufs[dev].view(-1).index_add_(0, flat.reshape(-1), valid.reshape(-1).long())
        if clear > 0:
            buf[:, :clear].fill_(-1)
        self._add_expected(n, buf.shape[2])

    def _add_expected(self, n, k):
        for lay in self.layers:
            lay.expected += n * (k - lay.fused_shared)
            lay.calls += 1
        self.dirty = True
        self.in_forward = False

    def _patch_vllm_runner(self):
        """Wrap vLLM's GPUModelRunner.execute_model to learn real steps and their token counts. Profile,
        dummy and CUDA-graph capture runs go through _dummy_run, never through execute_model, so they are
        never counted (vllm-project/vllm vllm/v1/worker/gpu_model_runner.py @4e1790651fc758c06c7a903dd4cd82364ac91b27:
        execute_model(scheduler_output, intermediate_tensors=None), scheduler_output.total_num_scheduled_tokens,
        real tokens first and CUDA-graph padding after them; _dummy_run from profile_run / capture_model)."""
        mod = sys.modules.get("vllm.v1.worker.gpu_model_runner")
        cls = getattr(mod, "GPUModelRunner", None) if mod is not None else None
        if cls is None or not hasattr(cls, "execute_model"):
            return
        self.vllm_max_tokens = None
        self.vllm_runner = any(l.path in ("vllm-capture-fn", "eplb-load-view") for l in self.layers)
        self.vllm_wrapped = True
        _VLLM_AGENTS.append(self)
        if getattr(cls, "_ballast_wrapped", False):
            return
        orig = cls.execute_model

        def execute_model(runner, scheduler_output, *args, **kwargs):
            agent = _live_agent(runner)
            n = 0
            if agent is not None:
                try:
                    n = int(getattr(scheduler_output, "total_num_scheduled_tokens", 0) or 0)
                    if agent.num_hidden_layers is None and not agent.nhl_runner_read:
                        # GPUModelRunner keeps vllm_config.model_config (vllm/v1/worker/gpu_model_runner.py
                        # @4e1790651fc758c06c7a903dd4cd82364ac91b27); its hf_text_config has the decoder count.
                        agent.nhl_runner_read = True
                        if agent.ids_from_names:
                            agent._set_decoder_layers(_config_layers(getattr(runner, "model_config", None)),
                                                      "vLLM's model_config")
                    if agent.vllm_runner and n > 0:
                        if agent.vllm_max_tokens is None:
                            agent.vllm_max_tokens = getattr(runner, "max_num_tokens", None)
                        agent._step_begin(n, None)
                except Exception as e:
                    agent.disable("before a vLLM step: %r" % (e,))
                agent.vllm_in_step = n > 0
            try:
                out = orig(runner, scheduler_output, *args, **kwargs)
            finally:
                if agent is not None:
                    agent.vllm_in_step = False
            if agent is not None and n > 0:
                try:
                    if agent.vllm_runner:
                        agent._vllm_step_end(n)
                    agent.vllm_steps += 1
                    if agent.vllm_steps == 3 and not any(l.calls for l in agent.layers):
                        agent._report_nothing("3 vLLM steps")
                except Exception as e:
                    agent.disable("after a vLLM step: %r" % (e,))
            return out

        execute_model.__wrapped__ = orig
        cls.execute_model = execute_model
        cls._ballast_wrapped = True

    # ----- vLLM without the capture fn, --enable-eplb: the EPLB load view -----
    def _patch_eplb_state(self):
        """Wrap vLLM's EplbState.step to read expert_load_pass of each real step before vLLM zeroes it.

        Written against vllm-project/vllm vllm/distributed/eplb/eplb_state.py @0014ec6c58e1b74e660a1e6d059b5689716183ff
        (a version without FusedMoERouter.set_capture_fn): expert_load_pass is int32 [num_moe_layers]
        [num_local_physical_experts]; FusedMoE.select_experts (vllm/model_executor/layers/fused_moe/layer.py,
        same era) maps each logical top-k id to a physical replica, masks it to this rank's slots with
        expert_map and scatter_adds 1 per (token, k) pair, padding rows included; GPUModelRunner.eplb_step
        calls step(model, is_dummy, is_profile) after execute_model (is_dummy=True from _dummy_run), and
        step zeroes the pass (dummy: without recording; else after copying it into the load window), except
        for is_profile (profile_run), which returns first: that load is subtracted from the next real step.
        physical_to_logical_map is [num_moe_layers][num_physical_experts]; rank r holds physical slots
        [r*local, (r+1)*local). Returns False when the class is not there."""
        mod = sys.modules.get("vllm.distributed.eplb.eplb_state")
        cls = getattr(mod, "EplbState", None) if mod is not None else None
        if cls is None or not callable(getattr(cls, "step", None)):
            return False
        if getattr(cls, "_ballast_wrapped", False):
            return True
        import inspect
        orig = cls.step
        sig = inspect.signature(orig)

        def step(state, *args, **kwargs):
            agent = _live_agent()
            if agent is not None and agent.layers and agent.layers[0].path == "eplb-load-view":
                try:
                    b = sig.bind(state, *args, **kwargs)
                    b.apply_defaults()
                    if b.arguments.get("is_profile"):
                        # step(is_profile=True) returns before zeroing the pass: the profile run's load would
                        # be read with the next real step. Keep it, to subtract then.
                        agent._eplb_carry = state.expert_load_pass.clone()
                    elif b.arguments.get("is_dummy"):
                        agent._eplb_carry = None  # vLLM zeroes the pass of a dummy step
                    elif agent.vllm_in_step:
                        agent._on_eplb_pass(state)
                        agent._eplb_carry = None
                except Exception as e:
                    agent.disable("reading vLLM's EPLB load view: %r" % (e,))
            return orig(state, *args, **kwargs)

        step.__wrapped__ = orig
        cls.step = step
        cls._ballast_wrapped = True
        return True

    def _ep_rank_size(self):
        ps = sys.modules.get("vllm.distributed.parallel_state")
        try:
            g = ps.get_ep_group()
            return int(g.rank_in_group), int(g.world_size)
        except Exception:
            return 0, 1

    def _on_eplb_pass(self, state):
        """Add one real step's physical loads [L][local] to counts[phase][L][logical E] through
        physical_to_logical_map. Each EP rank adds only its own physical slots, so the ranks' windows sum
        to the EP world's total once (sent with sum_ranks, so the collector adds every rank)."""
        torch = self.torch
        load = state.expert_load_pass
        p2l = state.physical_to_logical_map
        L = len(self.layers)
        if load.dim() != 2 or p2l.dim() != 2 or load.shape[0] != L or p2l.shape[0] != L:
            raise ValueError("EPLB load view has %s rows for %d announced MoE layers" % (tuple(load.shape), L))
        local, phys = int(load.shape[1]), int(p2l.shape[1])
        ep_rank, ep_size = self._ep_rank_size()
        if local * ep_size != phys:
            raise ValueError("EPLB load view: %d local slots x %d EP ranks != %d physical experts (a vLLM whose "
                             "load view is not per local slot); relaunch with --enforce-eager" % (local, ep_size, phys))
        slots = p2l[:, ep_rank * local:(ep_rank + 1) * local].long()
        carry = getattr(self, "_eplb_carry", None)
        if carry is not None and carry.shape == load.shape:
            load = load - carry
        with self.lock:
            dev = load.device
            if dev not in self.bufs:
                self._alloc(dev)
            self.bufs[dev][self.phase_row].scatter_add_(1, slots.to(dev), load.to(torch.int64))
            for lay in self.layers:
                lay.calls += 1
            self.dirty = True
            self.in_forward = False

    # ----- SGLang: ids copied into a step buffer inside what CUDA graphs record, counted per real step -----
    # Written against sgl-project/sglang:
    #   python/sglang/srt/model_executor/model_runner.py (ModelRunner.forward(forward_batch, ...) ->
    #     _forward_raw: `graph_runner.replay(forward_batch)` when forward_mode.is_cuda_graph() and
    #     graph_runner.can_run(...), else forward_decode / forward_extend (piecewise_cuda_graph_runner.replay
    #     when it can run) / forward_idle, each calling self.model.forward(input_ids, positions, forward_batch);
    #     _dummy_run (kernel warm-up) calls self.model.forward directly; the version whose forward ends with
    #     get_global_experts_capturer().on_forward_end(forward_batch, can_run_graph, cuda_graph_batch=graph_runner.bs));
    #   python/sglang/srt/model_executor/cuda_graph_runner.py @21514ff5bdad2ae598bf3070d3a583aa4fa35ae7
    #     (capture(): for bs in reversed(capture_bs): capture_one_batch_size -> run_once() = model.forward on
    #     static buffers, twice eagerly, then under torch.cuda.graph; replay(): raw_bs = forward_batch.batch_size,
    #     bs = capture_bs[bisect_left(capture_bs, raw_bs)], input_ids[:raw_bs].copy_(...), padding rows keep
    #     stale ids, graph.replay(), outputs [:raw_bs]);
    #   python/sglang/srt/layers/moe/routed_experts_capturer.py @d4d0fc58371761f9f0da007a4ef4f0ad2bd19658
    #     (SGLang's own capturer: copies topk_ids into a device buffer inside the forward, reads rows
    #     [0, out_cache_loc.shape[0]) after the step; under DP attention a rank-padded slice);
    #   python/sglang/srt/layers/moe/topk.py @06c48ca8da0b2c8aac15df74a768e6a012444064 (TopK -> StandardTopKOutput
    #     .topk_ids; fused shared-expert slots get ids >= the routed experts; with expert_location_dispatch_info
    #     (EPLB, redundant experts) the ids are already physical).
    def _patch_sglang_runner(self, layers):
        """Switch the SGLang dispatch-hook layers to the step-buffer path when ModelRunner.forward is there."""
        mod = sys.modules.get("sglang.srt.model_executor.model_runner")
        cls = getattr(mod, "ModelRunner", None) if mod is not None else None
        if cls is None or not callable(getattr(cls, "forward", None)):
            _log("SGLang %s: ModelRunner.forward not found in sglang.srt.model_executor.model_runner, so real steps "
                 "cannot be told from CUDA-graph capture and padding; counting at dispatch instead, exact only with "
                 "--disable-cuda-graph (the self-check reports otherwise)" % (self.engine_version or ""))
            return
        for lay in layers:
            if lay.path == "dispatch-hook":
                lay.path = "sglang-step-buffer"
        self.sg_runner = True
        _SG_AGENTS.append(self)
        if getattr(cls, "_ballast_wrapped", False):
            return
        orig = cls.forward

        def forward(runner, forward_batch, *args, **kwargs):
            agent = _live_sg_agent(runner)
            if agent is None:
                return orig(runner, forward_batch, *args, **kwargs)
            n = 0
            try:
                n = agent._sg_step_begin(runner, forward_batch)
            except Exception as e:
                agent.disable("before an SGLang step: %r" % (e,))
            agent.sg_in_step = n > 0
            try:
                out = orig(runner, forward_batch, *args, **kwargs)
            finally:
                agent.sg_in_step = False
            if n > 0 and agent.enabled and agent.sg_runner:
                try:
                    agent._sg_step_end(n)
                except Exception as e:
                    agent.disable("after an SGLang step: %r" % (e,))
            return out

        forward.__wrapped__ = orig
        cls.forward = forward
        cls._ballast_wrapped = True

    def _sg_refusal(self, runner):
        """(reason, disable) when the step-buffer rows cannot be placed for this server's layout, else None."""
        sa = getattr(runner, "server_args", None)
        g = lambda name, default=None: getattr(sa, name, default) if sa is not None else default
        nred = g("ep_num_redundant_experts", 0)
        if g("enable_eplb", False) is True or (isinstance(nred, int) and nred > 0):
            return ("SGLang EPLB / redundant experts (--enable-eplb, --ep-num-redundant-experts) hand the experts "
                    "physical expert ids (topk_ids_logical_to_physical), not logical ones; capture is off (use "
                    "`ballast capture --sglang URL`, which records logical ids)", True)
        if g("enable_dp_attention", False) is True:
            return ("SGLang DP attention (--enable-dp-attention): the MoE layers route tokens gathered across DP "
                    "ranks in a rank-padded layout the agent does not place", False)
        a2a = g("moe_a2a_backend", None)
        if g("enable_deepep_moe", False) is True or (isinstance(a2a, str) and a2a not in ("none", "")):
            return ("SGLang MoE all-to-all backend (--moe-a2a-backend %s): each rank routes its own scattered "
                    "tokens, a layout the agent does not place" % (a2a or "deepep"), False)
        if g("enable_two_batch_overlap", False) is True:
            return ("SGLang two-batch overlap (--enable-two-batch-overlap) runs each step as two micro-batches "
                    "whose rows overwrite each other", False)
        if g("enable_pdmux", False) is True:
            return ("SGLang PD multiplexing (--enable-pdmux) runs a step's layers in several calls", False)
        return None

    def _sg_first_step(self, runner):
        self.sg_checked = True
        r = self._sg_refusal(runner)
        if r is not None and r[1]:
            self.disable(r[0])
            return
        if r is not None:
            # Count at dispatch in eager real steps only; a step the agent cannot see (a CUDA-graph replay)
            # still adds its tokens x top-k to the expected assignments, so the self-check says so.
            _log("%s; counting at dispatch instead, exact only with --disable-cuda-graph (the self-check reports "
                 "otherwise), or use `ballast capture --sglang URL`" % r[0])
            self.sg_fallback = True
            for lay in self.layers:
                if lay.path == "sglang-step-buffer":
                    lay.path = "dispatch-hook"
        agent = self
        for attr, piecewise in (("graph_runner", False), ("cuda_graph_runner", False),
                                ("piecewise_cuda_graph_runner", True)):
            gr = getattr(runner, attr, None)
            if gr is None or not callable(getattr(gr, "replay", None)) or "replay" in getattr(gr, "__dict__", {}):
                continue
            orig = gr.replay

            def replay(*a, _orig=orig, _gr=gr, _pw=piecewise, **k):
                out = _orig(*a, **k)
                if agent.sg_in_step:
                    if _pw:
                        agent.sg_piecewise = True
                    else:
                        bs = getattr(_gr, "bs", None)
                        per = getattr(_gr, "num_tokens_per_bs", 1)
                        agent.sg_replayed = (int(bs) * int(per or 1)) if isinstance(bs, int) else -1
                return out
            gr.replay = replay
            self.handles.append(_AttrRestore(gr, "replay"))
        if self.num_hidden_layers is None and self.ids_from_names:
            # ModelRunner keeps model_config (SGLang ModelConfig) with hf_text_config / hf_config
            self._set_decoder_layers(_config_layers(getattr(runner, "model_config", None)), "SGLang's model_config")

    def _sg_step_begin(self, runner, fb):
        """Before a real ModelRunner.forward: its real token count (before any padding) and phase."""
        if getattr(runner, "model", None) is not self.model or not self.enabled or not self.sg_runner:
            return 0
        if not self.sg_checked:
            self._sg_first_step(runner)
            if not self.enabled or not self.sg_runner:
                return 0
        t = getattr(fb, "input_ids", None)
        if isinstance(t, self.torch.Tensor) and t.dim() >= 1:
            n = int(t.shape[0])
        else:
            loc = getattr(fb, "out_cache_loc", None)
            n = int(loc.shape[0]) if isinstance(loc, self.torch.Tensor) else 0
        if n <= 0:
            return 0
        self.sg_written, self.sg_max_rows, self.sg_replayed, self.sg_piecewise = None, 0, None, False
        row = 0
        fm = getattr(fb, "forward_mode", None)
        try:
            if fm is not None and fm.is_decode():
                row = 2
            elif fm is not None and fm.is_extend():
                row = 1
        except Exception:
            row = 0
        self.next_phase_row = row
        if self.sg_fallback:
            return n  # the dispatch path starts the step at its first layer
        if self.sg_stale and not self._capturing():
            # Rows written by warm-up, graph-capture or dummy runs: never counted, cleared once here.
            for b in (self.sbuf, self.sbuf_graph):
                if b is not None:
                    b.fill_(-1)
            self.sg_stale = False
        self._step_begin(n, None)
        return n

    def _sg_ids(self, lay, ids2):
        """Copy one layer's ids [T][k] into rows [0, T) of the step buffer (recorded into a CUDA graph when
        captured, replayed with it); count nothing here."""
        torch = self.torch
        T, k = int(ids2.shape[0]), int(ids2.shape[1])
        capturing = self._capturing()
        buf = self.sbuf
        if buf is not None and buf.shape[2] != k:
            raise RuntimeError("MoE layers with different top-k (%d and %d) cannot share the step buffer"
                               % (buf.shape[2], k))
        if buf is None or buf.shape[1] < T or buf.device != ids2.device:
            if capturing:
                raise RuntimeError("a CUDA graph was captured for %d tokens before the agent saw a forward pass" % T)
            cap = max(T, self._sg_cap_hint() if buf is None else 2 * buf.shape[1])
            with torch.inference_mode(False):
                buf = torch.full((len(self.layers), cap, k), -1, dtype=torch.int32, device=ids2.device)
            self.sbuf = buf  # graphs captured earlier keep writing into self.sbuf_graph
        buf[lay.index, :T].copy_(ids2)
        if capturing:
            if not any(b is buf for b in self.sg_graph_bufs):
                self.sg_graph_bufs.append(buf)
                if len(self.sg_graph_bufs) > 1:
                    raise RuntimeError("CUDA graphs were captured writing into two step buffers (a larger forward "
                                       "pass came between captures), so a replay cannot be placed; please report "
                                       "the SGLang version and launch flags")
            self.sbuf_graph = buf
            self.sg_stale = True
        elif self.sg_in_step:
            self.sg_written = buf
            if T > self.sg_max_rows:
                self.sg_max_rows = T
        else:
            self.sg_stale = True

    def _sg_cap_hint(self):
        """Rows for the first step buffer: the most tokens one forward pass may carry by SGLang's server args
        (chunked prefill, piecewise CUDA-graph tokens, decode graph batch), at least 8192, so that no graph is
        captured before a larger pass forces a second buffer."""
        cap = 8192
        sa = None
        try:
            m = sys.modules.get("sglang.srt.server_args")
            f = getattr(m, "get_global_server_args", None) if m is not None else None
            sa = f() if callable(f) else None
        except Exception:
            sa = None
        for name in ("chunked_prefill_size", "piecewise_cuda_graph_max_tokens", "cuda_graph_max_bs", "max_prefill_tokens"):
            v = getattr(sa, name, None) if sa is not None else None
            if isinstance(v, int) and not isinstance(v, bool) and cap < v <= 65536:
                cap = v
        return cap

    def _sg_step_end(self, n):
        """After a real ModelRunner.forward (outside any graph): count rows [0, n) of the buffer that step
        wrote (the replayed graph's, else the eager calls'); padding rows come after them."""
        with self.lock:
            self.sg_steps += 1
            if self.sg_fallback:
                if self.sg_replayed is not None or self.sg_piecewise:
                    self.sg_piecewise_seen = self.sg_piecewise_seen or self.sg_piecewise
                    self._add_expected(n, (self.layers[0].top_k or 1) + self.layers[0].fused_shared)
                return
            if self.sg_piecewise and self.sg_impl_wrapped and self.sbuf_graph is not None:
                # Prefill replayed from SGLang's piecewise CUDA graphs: the opaque MoE custom op ran forward_impl
                # at their capture, so the copy into the step buffer is replayed with them (real tokens first).
                self._count_rows(self.sbuf_graph, n, n)
                return
            if self.sg_piecewise:
                # The layers ran inside SGLang's piecewise (torch.compile) CUDA graph, where the agent's wrapper
                # is not traced: nothing to count; the expected assignments make the self-check say so.
                self.sg_piecewise_seen = True
                self._add_expected(n, self.sbuf.shape[2] if self.sbuf is not None else (self.layers[0].top_k or 1))
                return
            if self.sg_replayed is not None:
                buf, clear = self.sbuf_graph, max(self.sg_replayed, n)
            else:
                buf, clear = self.sg_written, self.sg_max_rows
            if buf is None:
                k = self.sbuf.shape[2] if self.sbuf is not None else (self.layers[0].top_k or 1) + self.layers[0].fused_shared
                self._add_expected(n, k)
                return
            self._count_rows(buf, n, clear)

    # ----- never silently wrong -----
    def _advice(self):
        if self.engine == "sglang" and self.sg_piecewise_seen:
            return ("SGLang ran prefill in its piecewise CUDA graphs (torch.compile), where the agent's wrapper is "
                    "not traced: relaunch with --disable-piecewise-cuda-graph, or record with `ballast capture "
                    "--sglang URL`")
        if self.engine == "sglang" and any(l.path == "sglang-step-buffer" for l in self.layers):
            return ("please report the SGLang version and launch flags; meanwhile record with `ballast capture "
                    "--sglang URL`")
        if self.engine == "sglang":
            return ("SGLang replays CUDA graphs without the agent's Python bookkeeping on this path: relaunch with "
                    "--disable-cuda-graph, or record with `ballast capture --sglang URL`")
        if self.engine == "vllm" and not any(l.path == "vllm-capture-fn" for l in self.layers):
            return ("this vLLM %s has no router capture hook (FusedMoERouter.set_capture_fn); relaunch with "
                    "--enforce-eager so the eager hooks run" % (self.engine_version or ""))
        if self.compiled_seen:
            return ("torch.compile traced these layers, so the agent's hooks did not run in the compiled code; "
                    "capture with the model run eagerly (no torch.compile / static-cache compile)")
        return "please report the model class; counts for those layers are not trustworthy"

    def _report_nothing(self, after):
        _log("check failed: after %s none of the %d announced MoE layers recorded routing; %s"
             % (after, len(self.layers), self._advice()))
        self.check_result = "failed"

    def _check(self, expected, assigned):
        """Compare each layer's recorded assignments with tokens x top-k routed through it (one window)."""
        if self.check_result == "failed" or (sum(expected) == 0 and sum(assigned) == 0):
            return
        if self.layers and self.layers[0].path == "eplb-load-view":
            # The EPLB view includes CUDA-graph padding rows and, per rank, only its own slots: never "ok".
            missing = [l.layer_id for i, l in enumerate(self.layers) if assigned[i] == 0]
            if missing and sum(assigned) > 0 and self.check_result != "failed":
                self.check_result = "failed"
                _log("check failed: layers %s recorded no load in vLLM's EPLB view; %s" % (missing, self._advice()))
            elif self.check_result is None:
                self.check_result = "approximate"
            return
        missing = [l.layer_id for i, l in enumerate(self.layers) if expected[i] == 0 and assigned[i] == 0]
        wrong = ["%d (%d of %d)" % (l.layer_id, assigned[i], expected[i]) for i, l in enumerate(self.layers)
                 if assigned[i] != expected[i] and l.layer_id not in missing]
        if not missing and not wrong:
            if self.check_result is None and self.debug:
                _log("check ok: every layer recorded tokens x top-k assignments")
            self.check_result = "ok"
            return
        self.check_result = "failed"
        def few(xs):
            xs = [str(x) for x in xs]
            return ", ".join(xs) if len(xs) <= 6 else "%s, ... (%d layers)" % (", ".join(xs[:5]), len(xs))
        parts = []
        if missing:
            parts.append("layers %s recorded no routing" % few(missing))
        if wrong:
            parts.append("layers %s recorded assignments != tokens x top-k" % few(wrong))
        _log("check failed: %s (of %d announced); the trace is incomplete: %s"
             % ("; ".join(parts), len(self.layers), self._advice()))

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
            self.compiled_seen = True
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
            if not self.enabled:
                return None
            if self.is_compiling():
                self.compiled_seen = True
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
            scores = g.masked_fill(~keep.unsqueeze(-1), lay.mask_value).view(t, e)
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
        if (type(lay.router).__name__ == "Llama4Router" and isinstance(out, (tuple, list)) and len(out) == 2
                and isinstance(out[1], torch.Tensor)):
            # transformers Llama4Router returns (sigmoid of the scattered top-k, router_logits): top-k of the
            # logits with the router's own k is exactly its selection.
            logits, idx = out[1], None
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
        self._count(lay, idx2, idx2.shape[-1])

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
        expected = [l.expected for l in self.layers]
        for l in self.layers:
            l.expected = 0
        win = {
            "expected": expected,
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
        try:
            self._check(win.get("expected") or [0] * L, total.to(self.torch.int64).sum(dim=2).sum(dim=0).tolist())
        except Exception as e:
            _log("check skipped: %r" % (e,))
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
            "capture": {"path": self.capture_path(), "engine": self.engine, "engine_version": self.engine_version,
                        "check": self.check_result},
            "pp_rank": self.parallel.get("pp_rank"),
            "pp_size": self.parallel.get("pp_size"),
            "sequence_parallel": bool(self.parallel.get("sequence_parallel")),
            "sum_ranks": bool(self.layers and self.layers[0].path == "eplb-load-view"),
            "num_hidden_layers": self.num_hidden_layers,
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
        for sink in self.window_sinks:
            try:
                sink(payload, total)
            except Exception as e:
                _log("window consumer failed: %r" % (e,))
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
            if self.enabled and self.model is not None and self.layers and not any(l.calls for l in self.layers) \
                    and self.check_result != "failed" and (self.compiled_seen or self.vllm_steps or self.sg_steps):
                self._report_nothing("the whole run")
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


_VLLM_AGENTS = []  # agents that count through the vLLM runner wrapper (installed once per class)
_SG_AGENTS = []    # agents that count through the SGLang ModelRunner.forward wrapper


def _live_sg_agent(runner):
    """The newest enabled agent of this process counting `runner`'s model through the step buffer."""
    m = getattr(runner, "model", None)
    for a in reversed(_SG_AGENTS):
        if a.enabled and a.sg_runner and a.layers and a.model is not None and a.model is m:
            return a
    return None


def _live_agent(runner=None):
    """The newest enabled agent of this process that tracks a vLLM model."""
    for a in reversed(_VLLM_AGENTS):
        if a.enabled and a.layers and a.model is not None:  # detach() clears model
            return a
    return None


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


# ----- capture from a script or notebook -----
class Capture(object):
    """What `capture()` yields: the running totals of the windows emitted so far (call after the block
    for the final totals). counts: [L][E] token-expert assignments; layer_ids: [L]; tokens: first-layer tokens;
    num_hidden_layers: the model's decoder layers as sent with the windows (None when not known)."""

    def __init__(self, agent, out):
        self.agent = agent
        self.out = out
        self.layer_ids = []
        self.experts = 0
        self.counts = []
        self.tokens = 0
        self.windows = 0
        self.path = None
        self.check = None
        self.num_hidden_layers = None

    def _on_window(self, payload, total):
        L = len(payload["layer_ids"])
        E = payload["experts"]
        if not self.counts:
            self.layer_ids = list(payload["layer_ids"])
            self.experts = E
            self.counts = [[0] * E for _ in range(L)]
        rows = total.to(self.agent.torch.int64).sum(dim=0).tolist()
        for l in range(L):
            row = self.counts[l]
            for e, v in enumerate(rows[l]):
                row[e] += v
        self.tokens += sum(p["tokens"] for p in payload["parts"])
        self.windows += 1
        self.path = payload["capture"]["path"]
        self.num_hidden_layers = payload.get("num_hidden_layers")

    def summary(self):
        a = self.agent
        assigned = sum(sum(r) for r in self.counts)
        return ("captured %d tokens, %d assignments over %d MoE layers x %d experts via %s (%s %s); self-check: %s%s"
                % (self.tokens, assigned, len(self.layer_ids) or len(a.layers), self.experts or getattr(a, "num_experts", 0),
                   a.capture_path(), a.engine, a.engine_version or "", a.check_result or "not run (no windows)",
                   ("; trace " + self.out) if self.out else ""))


def _start_collector(out):
    """Start `ballast collect --port 0 --out OUT` and return (process, url). BALLAST_CLI names the command
    (default: `ballast` on PATH, else this checkout's bin/ballast.js under node)."""
    import shlex
    import shutil
    import subprocess
    cli = os.environ.get("BALLAST_CLI")
    if cli:
        cmd = shlex.split(cli)
    elif shutil.which("ballast"):
        cmd = ["ballast"]
    else:
        here = os.path.dirname(os.path.abspath(__file__))
        js = os.path.normpath(os.path.join(here, "..", "..", "..", "bin", "ballast.js"))
        if not os.path.exists(js) or not shutil.which("node"):
            raise RuntimeError("writing %s needs the ballast CLI (set BALLAST_CLI or put `ballast` on PATH)" % out)
        cmd = ["node", js]
    proc = subprocess.Popen(cmd + ["collect", "--port", "0", "--out", out], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    line = b""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        m = re.search(rb"listening on (http://\S+)", line)
        if m:
            # Keep draining its stderr so that it never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, m.group(1).decode()
        sys.stderr.write(line.decode(errors="replace"))
    proc.kill()
    raise RuntimeError("the ballast collector did not start (%s)" % line.decode(errors="replace").strip())


class _CaptureContext(object):
    def __init__(self, model, out=None, collector=None, flush_ms=1000, quiet=False, _path=None):
        self.model, self.out, self.collector, self.flush_ms, self.quiet = model, out, collector, flush_ms, quiet
        self.force_path = _path
        self.proc = None
        self.agent = None
        self.handle = None

    def __enter__(self):
        import torch
        g = _agent
        if g is not None and g.model is self.model and g.enabled:
            raise RuntimeError("this model is already captured by `ballast run`; capture() would count it twice")
        urls = []
        if self.collector:
            urls.extend(u.strip() for u in self.collector.split(",") if u.strip())
        if self.out:
            self.proc, url = _start_collector(os.path.abspath(self.out))
            urls.append(url)
        ag = Agent(torch)
        ag.urls = urls
        ag.flush_s = max(0.01, self.flush_ms / 1000.0)
        ag.force_path = self.force_path
        self.agent = ag
        self.handle = Capture(ag, self.out)
        ag.window_sinks.append(self.handle._on_window)
        ag._scan(self.model)
        if not ag.layers:
            if ag.enabled:
                _log("capture(): no MoE layers found in %s; nothing is counted" % type(self.model).__name__)
        return self.handle

    def __exit__(self, *exc):
        ag = self.agent
        try:
            if ag is not None:
                ag.shutdown()
                ag.detach()
        finally:
            if self.proc is not None:
                try:
                    self.proc.terminate()
                    self.proc.wait(timeout=30)
                except Exception:
                    self.proc.kill()
        if ag is not None and ag.layers and ag.enabled and not self.quiet:
            _log(self.handle.summary())  # a disabled agent has already said why, in one line
        return False


def capture(model, out=None, collector=None, flush_ms=1000, quiet=False, _path=None):
    """Count the MoE routing of `model` inside a `with` block, with the same capture paths, checks and
    trace format as `ballast run`:

        with ballast_agent.capture(model, out="run.ballast") as cap:
            model.generate(...)
        cap.counts   # [L][E] token-expert assignments

    out: write a ballast trace there (starts `ballast collect`); collector: also/instead send windows to
    running collectors (HOST:PORT, comma-separated). Prints a one-line summary at exit (quiet=False)."""
    return _CaptureContext(model, out, collector, flush_ms, quiet, _path)
