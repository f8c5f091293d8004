"""PyTorch-on-CPU peer of the abacus training-step benchmark (issue 9).

The same post-norm transformer stack and Adam step as jax_step.ts / tfjs_step.ts, built from
PyTorch modules as a CPU user would write it (nn.MultiheadAttention as upstream uses), reading the
same inputs file (see common.ts for the format) and printing the same one JSON line.
Run (Debian python3-torch, OpenMP OpenBLAS):
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/peers/torch_step.py --layers 2 ...
"""

import argparse
import json
import math
import re
import resource
import statistics
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

VOCAB = 19
LN_EPS = 1e-12
ADAM = dict(lr=1e-3, betas=(0.9, 0.98), eps=1e-12, weight_decay=0.0)
MAGIC = b"ABPEER01"


def param_names(layers):
    """Parameter names in the fixed file order (see paramSpecs in common.ts)."""
    names = ["embed.weight", "embed_norm.weight", "embed_norm.bias"]
    for i in range(layers):
        p = f"layers.{i}."
        names += [p + s for s in ("attn.qkv.weight", "attn.out.weight", "norm1.weight",
                                  "norm1.bias", "ffn.in.weight", "ffn.out.weight",
                                  "norm2.weight", "norm2.bias")]
    return names + ["final_norm.weight", "final_norm.bias", "decoder.weight"]


def read_inputs(cfg):
    """Reads the inputs file; returns ({name: float32 ndarray}, tokens (B, T) int64)."""
    with open(cfg.weights, "rb") as f:
        raw = f.read()
    if raw[:8] != MAGIC:
        raise SystemExit(f"{cfg.weights}: not an abacus peer inputs file")
    (n,) = struct.unpack("<I", raw[8:12])
    header = json.loads(raw[12:12 + n].decode())
    for k in ("layers", "hidden", "heads", "batch", "seq", "seed"):
        if header["config"][k] != getattr(cfg, k):
            raise SystemExit(f"{cfg.weights} was made for --{k} {header['config'][k]}")
    out = {}
    for t in header["tensors"]:
        count = math.prod(t["shape"])
        start = 12 + n + t["offset"]
        out[t["name"]] = np.frombuffer(raw, "<f4", count, start).reshape(t["shape"]).copy()
    tokens = out.pop("tokens").astype(np.int64)
    return out, tokens


class Layer(nn.Module):
    """Post-norm layer: x = LN(x + Attn(x)); x = LN(x + W_out GLU_GELU(W_in x)); no biases."""

    def __init__(self, hidden, heads):
        super().__init__()
        self.attn = nn.MultiheadAttention(hidden, heads, bias=False, batch_first=True)
        self.norm1 = nn.LayerNorm(hidden, eps=LN_EPS)
        self.ffn_in = nn.Linear(hidden, 2 * hidden, bias=False)
        self.ffn_out = nn.Linear(hidden, hidden, bias=False)
        self.norm2 = nn.LayerNorm(hidden, eps=LN_EPS)

    def forward(self, x, mask):
        a, _ = self.attn(x, x, x, attn_mask=mask, need_weights=False)
        x = self.norm1(x + a)
        val, gate = self.ffn_in(x).chunk(2, dim=-1)
        return self.norm2(x + self.ffn_out(F.gelu(gate) * val))


class Model(nn.Module):
    """Embedding + LN, N post-norm layers, final LN, decoder Linear(H -> V)."""

    def __init__(self, layers, hidden, heads):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, hidden)
        self.embed_norm = nn.LayerNorm(hidden, eps=LN_EPS)
        self.layers = nn.ModuleList(Layer(hidden, heads) for _ in range(layers))
        self.final_norm = nn.LayerNorm(hidden, eps=LN_EPS)
        self.decoder = nn.Linear(hidden, VOCAB, bias=False)

    def forward(self, tokens, mask):
        x = self.embed_norm(self.embed(tokens))
        for layer in self.layers:
            x = layer(x, mask)
        return self.decoder(self.final_norm(x))

    def load(self, weights):
        """Copies the file's tensors into the modules (file names -> module names)."""
        rename = {"attn.qkv.weight": "attn.in_proj_weight", "attn.out.weight":
                  "attn.out_proj.weight", "ffn.in.weight": "ffn_in.weight",
                  "ffn.out.weight": "ffn_out.weight"}
        state = {}
        for name, value in weights.items():
            for a, b in rename.items():
                if name.endswith(a):
                    name = name[:-len(a)] + b
            state[name] = torch.from_numpy(value)
        self.load_state_dict(state, strict=True)


def blas_info():
    """Which BLAS library is mapped into this process, and a quick sgemm rate."""
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            m = re.search(r"(/\S*(?:blas|lapack)\S*\.so\S*)", line)
            if m:
                libs.add(m.group(1))
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    torch.mm(a, b)
    t0 = time.perf_counter()
    for _ in range(10):
        torch.mm(a, b)
    gflops = 10 * 2 * 512 ** 3 / (time.perf_counter() - t0) / 1e9
    return sorted(libs), round(gflops, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for k in ("layers", "hidden", "heads", "batch", "seq", "steps", "seed"):
        ap.add_argument("--" + k, type=int, required=True)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--threads", type=int, default=2)
    cfg = ap.parse_args()
    if cfg.hidden % cfg.heads or cfg.seq < 2 or cfg.steps < 1:
        raise SystemExit("bad shape: --hidden must divide by --heads, --seq >= 2, --steps >= 1")

    t0 = time.perf_counter()
    torch.set_num_threads(cfg.threads)
    weights, tokens_np = read_inputs(cfg)
    model = Model(cfg.layers, cfg.hidden, cfg.heads)
    model.load(weights)
    model.train()
    opt = torch.optim.Adam(model.parameters(), **ADAM)
    tokens = torch.from_numpy(tokens_np)
    targets = tokens.roll(-1, dims=1).clone()
    targets[:, -1] = -100  # last position has no next token
    mask = torch.triu(torch.ones(cfg.seq, cfg.seq, dtype=torch.bool), diagonal=1)
    setup_ms = (time.perf_counter() - t0) * 1000

    losses, step_ms, cpu_ms = [], [], []
    for _ in range(cfg.steps):
        s, c = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        logits = model(tokens, mask)
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1), ignore_index=-100)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        step_ms.append((time.perf_counter() - s) * 1000)
        cpu_ms.append((time.process_time() - c) * 1000)

    libs, gflops = blas_info()
    w = min(cfg.warmup, len(step_ms))
    r = lambda x: round(x, 3)  # noqa: E731
    config = {k: getattr(cfg, k) for k in
              ("layers", "hidden", "heads", "batch", "seq", "steps", "seed", "warmup")}
    report = {
        "framework": "pytorch-cpu",
        "details": {
            "version": torch.__version__,
            "backend": "cpu",
            "threads": torch.get_num_threads(),
            "blas_libraries": libs,
            "sgemm_512_gflops": gflops,
            "step": "eager; nn.MultiheadAttention(bias=False) with a causal bool mask",
            "optimizer": f"torch.optim.Adam lr {ADAM['lr']} betas {ADAM['betas']} "
                         f"eps {ADAM['eps']}, no weight decay",
        },
        "config": config,
        "losses": losses[:10],
        "warmup_ms": r(sum(step_ms[:w])),
        "ms_per_step_median": r(statistics.median(step_ms[w:])) if step_ms[w:] else None,
        "ms_per_step_min": r(min(step_ms[w:])) if step_ms[w:] else None,
        "cpu_ms_per_step": r(sum(cpu_ms[w:]) / len(cpu_ms[w:])) if cpu_ms[w:] else None,
        "peak_rss_mb": r(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "setup_ms": r(setup_ms),
        "step_ms": [r(x) for x in step_ms],
        "final_loss": losses[-1],
    }
    print(json.dumps(report))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
