"""PyTorch (CPU) baseline for bench/forward.ts: a plain GPT-2-shaped forward pass.

Random weights (normal, std 0.02), the same shape as the glassbox bench model: 12 layers,
d_model 768, 12 heads, d_mlp 3072, vocab 50257, n_ctx 1024; pre-LayerNorm blocks, causal
attention, gelu (tanh approximation), final LayerNorm, untied unembedding with bias.

Prints one JSON line: {"torch_ms": median ms per forward, "threads": ..., "runs": ...}.
Run with Debian's Python (torch 1.13 with OpenBLAS): /usr/bin/python3 bench/forward_torch.py
Arguments: [batch] [pos] [runs].
"""

import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

N_LAYERS, D_MODEL, N_HEADS, D_MLP, D_VOCAB, N_CTX = 12, 768, 12, 3072, 50257, 1024
D_HEAD = D_MODEL // N_HEADS


def make_params(gen):
    def normal(*shape):
        return torch.randn(*shape, generator=gen) * 0.02

    p = {"W_E": normal(D_VOCAB, D_MODEL), "W_pos": normal(N_CTX, D_MODEL), "blocks": []}
    for _ in range(N_LAYERS):
        p["blocks"].append({
            "ln1_w": torch.ones(D_MODEL), "ln1_b": torch.zeros(D_MODEL),
            "W_QKV": normal(D_MODEL, 3 * D_MODEL), "b_QKV": torch.zeros(3 * D_MODEL),
            "W_O": normal(D_MODEL, D_MODEL), "b_O": torch.zeros(D_MODEL),
            "ln2_w": torch.ones(D_MODEL), "ln2_b": torch.zeros(D_MODEL),
            "W_in": normal(D_MODEL, D_MLP), "b_in": torch.zeros(D_MLP),
            "W_out": normal(D_MLP, D_MODEL), "b_out": torch.zeros(D_MODEL),
        })
    p["lnf_w"], p["lnf_b"] = torch.ones(D_MODEL), torch.zeros(D_MODEL)
    p["W_U"], p["b_U"] = normal(D_MODEL, D_VOCAB), torch.zeros(D_VOCAB)
    return p


def forward(p, tokens):
    b, n = tokens.shape
    x = p["W_E"][tokens] + p["W_pos"][:n]
    mask = torch.ones(n, n, dtype=torch.bool).tril()
    for blk in p["blocks"]:
        h = F.layer_norm(x, (D_MODEL,), blk["ln1_w"], blk["ln1_b"], 1e-5)
        qkv = torch.addmm(blk["b_QKV"], h.reshape(b * n, D_MODEL), blk["W_QKV"])
        q, k, v = qkv.view(b, n, 3, N_HEADS, D_HEAD).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(D_HEAD)
        scores = scores.masked_fill(~mask, float("-inf"))
        z = scores.softmax(-1) @ v
        z = z.transpose(1, 2).reshape(b * n, D_MODEL)
        x = x + torch.addmm(blk["b_O"], z, blk["W_O"]).view(b, n, D_MODEL)
        h = F.layer_norm(x, (D_MODEL,), blk["ln2_w"], blk["ln2_b"], 1e-5)
        m = F.gelu(torch.addmm(blk["b_in"], h.reshape(b * n, D_MODEL), blk["W_in"]), approximate="tanh")
        x = x + torch.addmm(blk["b_out"], m, blk["W_out"]).view(b, n, D_MODEL)
    h = F.layer_norm(x, (D_MODEL,), p["lnf_w"], p["lnf_b"], 1e-5)
    return torch.addmm(p["b_U"], h.reshape(b * n, D_MODEL), p["W_U"]).view(b, n, D_VOCAB)


def main():
    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    pos = int(sys.argv[2]) if len(sys.argv) > 2 else 128
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    gen = torch.Generator().manual_seed(0)
    p = make_params(gen)
    tokens = torch.randint(0, D_VOCAB, (batch, pos), generator=gen)
    times = []
    with torch.no_grad():
        forward(p, tokens)  # warm-up
        for _ in range(runs):
            t0 = time.perf_counter()
            logits = forward(p, tokens)
            times.append((time.perf_counter() - t0) * 1000)
    assert logits.shape == (batch, pos, D_VOCAB)
    print(json.dumps({
        "torch_ms": round(statistics.median(times), 1),
        "threads": torch.get_num_threads(),
        "runs": runs,
    }))


if __name__ == "__main__":
    main()
