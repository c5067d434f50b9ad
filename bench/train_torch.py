"""PyTorch (CPU) baseline for bench/train.ts: training steps of the same models, the same way.

Each step: draw a batch, forward, mean next-token cross-entropy, backward, clip the global
gradient norm to 1, AdamW (lr 1e-3, PyTorch's defaults otherwise). The models are plain
PyTorch versions of glassbox's HookedTransformer (TransformerLens's architecture: learned
positional embedding, pre-LayerNorm blocks, causal attention with per-head W_Q/W_K/W_V [H, D, E]
and W_O [H, E, D], gelu_new MLP, final LayerNorm, unembedding with bias), initialised like
TransformerLens (normal, std 0.8/sqrt(d_model)).

Cases (argv[1]):
  attn2   2-layer attention-only: d_model 64, 4 heads, d_vocab 64, batch 32 x 64, on the
          repeated-run data of src/train/data.ts (BOS + prefix + r + r + filler), drawn with torch.
  gpt2x2  a GPT-2-small-shaped stack of 2 blocks: d_model 768, 12 heads, d_mlp 3072, batch
          4 x 128 random tokens, d_vocab argv[4] (default 512: the time is the blocks').
Further arguments: [seconds (default 10)] [threads (default: every CPU)] [d_vocab].

Prints one JSON line: {"case", "tokens_per_s" (wall clock), "cpu_tokens_per_s" (tokens per
second of process CPU time divided by the machine's core count, as bench/train.ts counts
glassbox's), "cpu_ms_per_step" (process CPU milliseconds per step), "ms_per_step", "steps",
"threads", "torch"}. If torch cannot be imported it prints {"tokens_per_s": null,
"torch_error": "..."} and never a made-up number.

Run with Debian's Python (torch 1.13 + OpenBLAS): /usr/bin/python3 bench/train_torch.py attn2
"""

import json
import math
import os
import sys
import time


def main() -> None:
    case = sys.argv[1] if len(sys.argv) > 1 else "attn2"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else (os.cpu_count() or 1)
    out = {"case": case}
    try:
        import torch
        import torch.nn.functional as F
    except Exception as e:  # noqa: BLE001
        out.update({"tokens_per_s": None, "torch_error": f"{type(e).__name__}: {e}"})
        print(json.dumps(out))
        return
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if case == "attn2":
        L, D, H, V, B, P, MLP = 2, 64, 4, 64, 32, 64, 0
    elif case == "gpt2x2":
        L, D, H, V, B, P, MLP = 2, 768, 12, int(sys.argv[4]) if len(sys.argv) > 4 else 512, 4, 128, 3072
    else:
        raise SystemExit(f"unknown case {case!r} (attn2 or gpt2x2)")
    E = D // H
    std = 0.8 / math.sqrt(D)

    def normal(*s):
        return (torch.randn(*s) * std).requires_grad_()

    def const(v, *s):
        return torch.full(s, float(v)).requires_grad_()

    p = {"W_E": normal(V, D), "W_pos": normal(P, D), "lnf_w": const(1, D), "lnf_b": const(0, D),
         "W_U": normal(D, V), "b_U": const(0, V)}
    for l in range(L):
        for n in ("W_Q", "W_K", "W_V"):
            p[f"{l}{n}"] = normal(H, D, E)
        p[f"{l}W_O"] = normal(H, E, D)
        for n in ("b_Q", "b_K", "b_V"):
            p[f"{l}{n}"] = const(0, H, E)
        p[f"{l}b_O"] = const(0, D)
        p[f"{l}ln1_w"], p[f"{l}ln1_b"] = const(1, D), const(0, D)
        if MLP:
            p[f"{l}ln2_w"], p[f"{l}ln2_b"] = const(1, D), const(0, D)
            p[f"{l}W_in"], p[f"{l}b_in"] = normal(D, MLP), const(0, MLP)
            p[f"{l}W_out"], p[f"{l}b_out"] = normal(MLP, D), const(0, D)
    mask = torch.ones(P, P, dtype=torch.bool).tril()

    def forward(t):
        x = p["W_E"][t] + p["W_pos"][: t.shape[1]]
        for l in range(L):
            h = F.layer_norm(x, (D,), p[f"{l}ln1_w"], p[f"{l}ln1_b"], 1e-5)
            q = torch.einsum("bpd,hde->bhpe", h, p[f"{l}W_Q"]) + p[f"{l}b_Q"][None, :, None]
            k = torch.einsum("bpd,hde->bhpe", h, p[f"{l}W_K"]) + p[f"{l}b_K"][None, :, None]
            v = torch.einsum("bpd,hde->bhpe", h, p[f"{l}W_V"]) + p[f"{l}b_V"][None, :, None]
            s = (q @ k.transpose(-1, -2)) / math.sqrt(E)
            a = s.masked_fill(~mask, float("-inf")).softmax(-1)
            z = a @ v
            x = x + torch.einsum("bhpe,hed->bpd", z, p[f"{l}W_O"]) + p[f"{l}b_O"]
            if MLP:
                h = F.layer_norm(x, (D,), p[f"{l}ln2_w"], p[f"{l}ln2_b"], 1e-5)
                m = F.gelu(h @ p[f"{l}W_in"] + p[f"{l}b_in"], approximate="tanh")
                x = x + m @ p[f"{l}W_out"] + p[f"{l}b_out"]
        x = F.layer_norm(x, (D,), p["lnf_w"], p["lnf_b"], 1e-5)
        return x @ p["W_U"] + p["b_U"]

    def batch():
        if MLP:
            return torch.randint(0, V, (B, P))
        # [BOS=0] + prefix + r + r + filler, run length 8..20, prefix 0..min(20, P-1-2len).
        raw = torch.randint(1, V, (B, P))
        length = torch.randint(8, 21, (B, 1))
        smax = torch.clamp(P - 1 - 2 * length, max=20)
        start = 1 + (torch.rand(B, 1) * (smax + 1).float()).long()
        pos = torch.arange(P)[None, :]
        second = (pos >= start + length) & (pos < start + 2 * length)
        toks = raw.gather(1, torch.where(second, pos - length, pos))
        toks[:, 0] = 0
        return toks

    params = list(p.values())
    opt = torch.optim.AdamW(params, lr=1e-3)

    def step():
        t = batch()
        logits = forward(t)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), t[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss

    for _ in range(3):
        step()
    steps = 0
    c0 = time.process_time()
    t0 = time.perf_counter()
    while True:
        step()
        steps += 1
        wall = time.perf_counter() - t0
        if wall >= seconds and steps >= 3:
            break
    # Process CPU time over every core of the machine, as bench/train.ts counts glassbox's:
    # OpenBLAS runs its own threads beside torch's, so the thread count is not the core count.
    cpu = (time.process_time() - c0) / (os.cpu_count() or 1)
    tokens = steps * B * P
    out.update({
        "tokens_per_s": round(tokens / wall, 1),
        "cpu_tokens_per_s": round(tokens / cpu, 1),
        "ms_per_step": round(1000 * wall / steps, 2),
        "cpu_ms_per_step": round(1000 * cpu * (os.cpu_count() or 1) / steps, 2),
        "steps": steps,
        "threads": torch.get_num_threads(),
        "d_vocab": V,
        "torch": torch.__version__,
    })
    print(json.dumps(out))


if __name__ == "__main__":
    main()
