#!/usr/bin/env python3
"""The default model's LLaMA (RMSNorm, RoPE, grouped-query attention, SwiGLU, tied embeddings) in
PyTorch, timed on the same work as lowbit: training steps of `./lowbit pretrain` (AdamW, batch x
seq-len tokens, gradient clipping) and the full-sequence forward of `./lowbit eval`. Random tokens
and weights: only the speed is compared. Prints one JSON object; run by bench/vs-pytorch.sh."""
import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate(x, cos, sin):  # interleaved pairs (x0, x1), as llama2.c and lowbit rotate them
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)


class Block(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = a.heads, a.kv_heads, a.dim // a.heads
        self.attn_norm, self.mlp_norm = RMSNorm(a.dim, 1e-5), RMSNorm(a.dim, 1e-5)
        self.q = nn.Linear(a.dim, a.dim, bias=False)
        self.k = nn.Linear(a.dim, a.kv_heads * self.head_dim, bias=False)
        self.v = nn.Linear(a.dim, a.kv_heads * self.head_dim, bias=False)
        self.o = nn.Linear(a.dim, a.dim, bias=False)
        self.gate = nn.Linear(a.dim, a.hidden, bias=False)
        self.up = nn.Linear(a.dim, a.hidden, bias=False)
        self.down = nn.Linear(a.hidden, a.dim, bias=False)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        h = self.attn_norm(x)
        q = self.q(h).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k(h).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v(h).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        rep = self.heads // self.kv_heads
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        scores = (q @ k.transpose(-2, -1)) / self.head_dim**0.5  # torch 1.13 has no fused attention
        causal = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
        a = scores.masked_fill(causal, float("-inf")).softmax(-1) @ v
        x = x + self.o(a.transpose(1, 2).reshape(b, t, -1))
        h = self.mlp_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.embed = nn.Embedding(a.vocab, a.dim)
        self.blocks = nn.ModuleList(Block(a) for _ in range(a.layers))
        self.norm = RMSNorm(a.dim, 1e-5)
        half = a.dim // a.heads // 2
        freq = 1.0 / (10000.0 ** (torch.arange(half) / half))
        angle = torch.outer(torch.arange(a.max_seq), freq)
        self.register_buffer("cos", angle.cos(), persistent=False)
        self.register_buffer("sin", angle.sin(), persistent=False)

    def forward(self, tokens):
        t = tokens.shape[1]
        x = self.embed(tokens)
        for blk in self.blocks:
            x = blk(x, self.cos[:t], self.sin[:t])
        return self.norm(x) @ self.embed.weight.T  # tied output head


def timed(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def cpu_capability():  # the SIMD level ATen dispatches to, from the build report (no API for it in 1.x)
    for line in torch.__config__.show().splitlines():
        if "CPU capability usage" in line:
            return line.split(":")[1].strip()
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__)
    for name, default in [("dim", 256), ("hidden", 768), ("layers", 4), ("heads", 8), ("kv-heads", 4),
                          ("vocab", 4096), ("max-seq", 256), ("batch", 8), ("seq-len", 128),
                          ("eval-seq-len", 128), ("eval-batch", 1), ("steps", 20), ("threads", 2)]:
        p.add_argument("--" + name, type=int, default=default)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1234)
    model = Llama(a)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.1)
    tokens = torch.randint(0, a.vocab, (a.batch, a.seq_len + 1))

    def train_step():
        opt.zero_grad(set_to_none=True)
        logits = model(tokens[:, :-1])
        F.cross_entropy(logits.reshape(-1, a.vocab), tokens[:, 1:].reshape(-1)).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    train_s = timed(train_step, 2, a.steps)
    windows = torch.randint(0, a.vocab, (a.eval_batch, a.eval_seq_len))

    def forward():
        with torch.no_grad():
            model(windows)

    forward_s = timed(forward, 2, a.steps)
    print(json.dumps({
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "simd": cpu_capability(),
        "train_tokens_per_s": a.batch * a.seq_len / train_s,
        "forward_tokens_per_s": a.eval_batch * a.eval_seq_len / forward_s,
    }))


if __name__ == "__main__":
    main()
