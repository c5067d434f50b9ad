"""PyTorch (CPU) reference timing for glassbox's toy models of superposition (bench/toy.ts).

Trains ARENA 1.3.1's toy model exactly as ARENA does: W [inst, m, n] (Xavier normal), b_final
[inst, n], batch generated every step with torch.rand, forward ReLU(WᵀW x + b), importance-weighted
squared error (mean over the batch, summed over instances), Adam(lr=1e-3). Prints one JSON object.
Never prints a fake number: if torch is missing it prints {"torch_steps_per_s": null, "torch_error": ...}.

usage: /usr/bin/python3 bench/toy_torch.py INSTANCES FEATURES HIDDEN BATCH [SECONDS] [THREADS]
THREADS 0 (the default) keeps torch's own default thread count.
"""

import json
import math
import sys
import time


def main() -> None:
    inst, n, m, batch = (int(a) for a in sys.argv[1:5])
    seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 3.0
    threads = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    out = {"instances": inst, "features": n, "hidden": m, "batch": batch}
    try:
        import torch
    except Exception as e:  # noqa: BLE001
        out.update({"torch_steps_per_s": None, "torch_error": f"{type(e).__name__}: {e}"})
        print(json.dumps(out))
        return
    if threads > 0:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    # Per-instance feature probability 1 - S = 20^-linspace(0, 1) and importance 0.9^i, as
    # bench/toy.ts gives glassbox.
    prob = (20.0 ** -torch.linspace(0, 1, inst))[:, None].expand(inst, n)
    importance = (0.9 ** torch.arange(n, dtype=torch.float32))[None, :].expand(inst, n)
    W = torch.nn.Parameter(torch.randn(inst, m, n) * math.sqrt(2.0 / (n + m)))
    b = torch.nn.Parameter(torch.zeros(inst, n))
    opt = torch.optim.Adam([W, b], lr=1e-3)

    def step() -> torch.Tensor:
        shape = (batch, inst, n)
        mask = torch.rand(shape) <= prob
        x = torch.where(mask, torch.rand(shape), torch.zeros(()))
        h = torch.einsum("bif,ihf->bih", x, W)
        y = torch.relu(torch.einsum("bih,ihf->bif", h, W) + b)
        loss = ((importance * (x - y) ** 2).mean(0)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    for _ in range(5):
        step()
    steps = 0
    c0 = time.process_time()
    t0 = time.perf_counter()
    while True:
        step()
        steps += 1
        el = time.perf_counter() - t0
        if el >= seconds and steps >= 3:
            break
    out.update({
        "torch_steps_per_s": steps / el,
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_steps": steps,
        "torch_cpu_s_per_step": (time.process_time() - c0) / steps,
    })
    print(json.dumps(out))


if __name__ == "__main__":
    main()
