#!/usr/bin/python3
"""PyTorch side of duet-bench-train: the same Llama model (written from the
Hugging Face Llama definition: RMSNorm, rotate-half RoPE, causal attention,
SwiGLU MLP, untied LM head), the same shape, AdamW, float32 on the CPU with
torch.set_num_threads(--threads). Prints one line:
    torch tokens/s <value> step_ms <value>
Run by duet-bench-train in the same run (Debian's python3-torch)."""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Block(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.nh, self.nkv, self.hd = a.heads, a.kv_heads, a.dim // a.heads
        self.input_layernorm, self.post_attention_layernorm = RMSNorm(a.dim), RMSNorm(a.dim)
        self.q_proj = nn.Linear(a.dim, self.nh * self.hd, bias=False)
        self.k_proj = nn.Linear(a.dim, self.nkv * self.hd, bias=False)
        self.v_proj = nn.Linear(a.dim, self.nkv * self.hd, bias=False)
        self.o_proj = nn.Linear(self.nh * self.hd, a.dim, bias=False)
        self.gate_proj = nn.Linear(a.dim, a.hidden, bias=False)
        self.up_proj = nn.Linear(a.dim, a.hidden, bias=False)
        self.down_proj = nn.Linear(a.hidden, a.dim, bias=False)

    def forward(self, h, cos, sin, mask):
        B, T, C = h.shape
        x = self.input_layernorm(h)
        q = self.q_proj(x).view(B, T, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        if self.nkv != self.nh:
            k = k.repeat_interleave(self.nh // self.nkv, dim=1)
            v = v.repeat_interleave(self.nh // self.nkv, dim=1)
        att = torch.softmax(q @ k.transpose(2, 3) / math.sqrt(self.hd) + mask, dim=-1)
        h = h + self.o_proj((att @ v).transpose(1, 2).reshape(B, T, C))
        x = self.post_attention_layernorm(h)
        return h + self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Llama(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.embed_tokens = nn.Embedding(a.vocab, a.dim)
        self.layers = nn.ModuleList(Block(a) for _ in range(a.layers))
        self.norm = RMSNorm(a.dim)
        self.lm_head = nn.Linear(a.dim, a.vocab, bias=False)
        hd = a.dim // a.heads
        inv = 1.0 / (10000.0 ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
        emb = torch.cat([torch.outer(torch.arange(a.seq, dtype=torch.float32), inv)] * 2, dim=-1)
        self.cos, self.sin = emb.cos(), emb.sin()
        self.mask = torch.full((a.seq, a.seq), float("-inf")).triu(1)

    def forward(self, tok, tgt):
        h = self.embed_tokens(tok)
        for layer in self.layers:
            h = layer(h, self.cos, self.sin, self.mask)
        logits = self.lm_head(self.norm(h))
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), tgt.view(-1))


def main():
    p = argparse.ArgumentParser()
    for k, v in dict(dim=288, layers=6, heads=6, kv_heads=6, hidden=768, vocab=256, seq=256, batch=8,
                     steps=10, warmup=2, threads=2).items():
        p.add_argument("--" + k.replace("_", "-"), type=int, default=v)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = Llama(a)
    decay = [q for q in model.parameters() if q.dim() == 2]
    other = [q for q in model.parameters() if q.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
                            lr=3e-4, betas=(0.9, 0.95), eps=1e-8)
    gen = torch.Generator().manual_seed(1)

    def step():
        tok = torch.randint(0, a.vocab, (a.batch, a.seq), generator=gen)
        tgt = torch.randint(0, a.vocab, (a.batch, a.seq), generator=gen)
        opt.zero_grad(set_to_none=True)
        loss = model(tok, tgt)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    dt = (time.perf_counter() - t0) / a.steps
    print(f"torch tokens/s {a.batch * a.seq / dt:.1f} step_ms {dt * 1e3:.2f}", flush=True)


if __name__ == "__main__":
    main()
