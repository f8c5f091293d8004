"""PyTorch peer of `deno task bench gpu` (tasks/bench/gpu.ts): abacus's training step in PyTorch.

The model is the one `deno task train` builds for the paper's presets, written with PyTorch modules
as an upstream user would (nn.MultiheadAttention with a causal mask, as in bench/peers/torch_step.py):
word + Abacus position embedding and LayerNorm, a block of post-norm layers (GELU-GLU feed-forward,
no biases) run as `n` recurrences without gradient then `k` with gradient, each after adding the
embedded input, then the FFN head, final LayerNorm, adapter and decoder; AdamW; cross-entropy.

Protocol (so that the driver can alternate with abacus in one invocation): the shape comes as
flags; the script prints one JSON line {"ready": ...} once the model is built, then answers each
line "fp32 STEPS" or "bf16 STEPS" on stdin (bf16: torch.autocast, as upstream trains with
autocast) with one JSON line {"mode", "ms"} of per-step wall milliseconds (the device synchronised
after each step), or {"mode", "error"} when the step fails in that mode (e.g. bf16 autocast on an
old CPU build); "quit" or end of input stops it. The first command of each mode adds two warm-up
steps.
"""

import argparse
import json
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

VOCAB = 19
POSITIONS = 512
LN_EPS = 1e-12


class Ffn(nn.Module):
    """dense_in (H -> I), GELU-GLU (value * gelu(gate), halves of I), dense_out (I/2 -> H)."""

    def __init__(self, hidden, intermed):
        super().__init__()
        self.dense_in = nn.Linear(hidden, intermed, bias=False)
        self.dense_out = nn.Linear(intermed // 2, hidden, bias=False)

    def forward(self, x):
        val, gate = self.dense_in(x).chunk(2, dim=-1)
        return self.dense_out(F.gelu(gate) * val)


class Layer(nn.Module):
    """Post-norm layer: x = LN(x + Attn(x)); x = LN(x + Ffn(x))."""

    def __init__(self, hidden, intermed, heads):
        super().__init__()
        self.attn = nn.MultiheadAttention(hidden, heads, bias=False, batch_first=True)
        self.norm1 = nn.LayerNorm(hidden, eps=LN_EPS)
        self.ffn = Ffn(hidden, intermed)
        self.norm2 = nn.LayerNorm(hidden, eps=LN_EPS)

    def forward(self, x, mask):
        a, _ = self.attn(x, x, x, attn_mask=mask, need_weights=False)
        x = self.norm1(x + a)
        return self.norm2(x + self.ffn(x))


class Model(nn.Module):
    """Embeddings + LN, a recurrent block with additive input injection, FFN head, LN, adapter."""

    def __init__(self, layers, hidden, intermed, heads):
        super().__init__()
        self.word = nn.Embedding(VOCAB, hidden)
        self.abacus = nn.Embedding(POSITIONS, hidden)
        self.embed_norm = nn.LayerNorm(hidden, eps=LN_EPS)
        self.layers = nn.ModuleList(Layer(hidden, intermed, heads) for _ in range(layers))
        self.head = Ffn(hidden, intermed)
        self.final_norm = nn.LayerNorm(hidden, eps=LN_EPS)
        self.adapter = nn.Linear(hidden, hidden, bias=False)
        self.decoder = nn.Linear(hidden, VOCAB, bias=False)

    def recur(self, state, x, mask):
        state = state + x
        for layer in self.layers:
            state = layer(state, mask)
        return state

    def forward(self, tokens, positions, mask, n, k):
        x = self.embed_norm(self.word(tokens) + self.abacus(positions))
        state = torch.randn_like(x) * 0.02
        with torch.no_grad():
            for _ in range(n):
                state = self.recur(state, x, mask)
        for _ in range(k):
            state = self.recur(state, x, mask)
        h = self.final_norm(self.head(state))
        return self.decoder(self.adapter(h))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for key in ("layers", "hidden", "intermed", "heads", "batch", "seq", "n", "k"):
        ap.add_argument("--" + key, type=int, required=True)
    ap.add_argument("--device", default="auto", help="cuda, cpu or auto (cuda when available)")
    cfg = ap.parse_args()
    cuda = torch.cuda.is_available() if cfg.device == "auto" else cfg.device == "cuda"
    device = torch.device("cuda" if cuda else "cpu")
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32 (TF32 is reported apart)
        torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(1)
    model = Model(cfg.layers, cfg.hidden, cfg.intermed, cfg.heads).to(device)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-12,
                            weight_decay=0.01)
    gen = torch.Generator().manual_seed(7)
    tokens = torch.randint(4, 18, (cfg.batch, cfg.seq), generator=gen).to(device)
    positions = torch.arange(cfg.seq, device=device).remainder(POSITIONS).expand(cfg.batch, -1)
    targets = tokens.roll(-1, dims=1).clone()
    targets[:, -1] = -100
    mask = torch.triu(torch.ones(cfg.seq, cfg.seq, dtype=torch.bool, device=device), diagonal=1)

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def step(bf16):
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(tokens, positions, mask, cfg.n, cfg.k)
            loss = F.cross_entropy(logits.reshape(-1, VOCAB).float(), targets.reshape(-1),
                                   ignore_index=-100)
        loss.backward()
        opt.step()
        return loss.item()

    name = torch.cuda.get_device_name(0) if cuda else "cpu"
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"ready": True, "torch": torch.__version__, "device": name,
                      "cuda": cuda, "params": params}), flush=True)
    warm = set()
    for line in sys.stdin:
        parts = line.split()
        if not parts or parts[0] == "quit":
            break
        mode, steps = parts[0], int(parts[1])
        bf16 = mode == "bf16"
        try:
            if mode not in warm:
                step(bf16)  # compiles kernels, allocates the caches and optimizer state
                step(bf16)
                warm.add(mode)
            times, loss = [], None
            for _ in range(steps):
                sync()
                t0 = time.perf_counter()
                loss = step(bf16)
                sync()
                times.append((time.perf_counter() - t0) * 1000)
        except Exception as e:  # noqa: BLE001 - reported to the driver, which goes on
            lines = str(e).strip().splitlines() or [type(e).__name__]
            print(json.dumps({"mode": mode, "error": f"{type(e).__name__}: {lines[-1]}"}),
                  flush=True)
            continue
        peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else None
        print(json.dumps({"mode": mode, "ms": times, "loss": loss, "peak_mib": peak}),
              flush=True)


if __name__ == "__main__":
    main()
