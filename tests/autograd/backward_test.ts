/**
 * The backward pass itself: accumulation, un-broadcasting, shared inputs, graph freeing, errors,
 * the functional forms, memory (no leaks over a training loop), and a rule for every op that
 * records itself.
 */

import assert from "node:assert/strict";
import { assertClose, gpuTest } from "../_gpu.ts";
import { ones, randn, tensor, zeros } from "../../src/ops/creation.ts";
import {
  add,
  exp,
  mul,
  relu,
  square,
  sub,
  UNARY,
  unary,
  type UnaryOp,
} from "../../src/ops/elementwise.ts";
import { reshape, slice } from "../../src/ops/movement.ts";
import { mean, sum } from "../../src/ops/reduce.ts";
import { matmul } from "../../src/ops/matmul.ts";
import { crossEntropy } from "../../src/ops/loss.ts";
import { layerNorm } from "../../src/ops/layernorm.ts";
import { softmax } from "../../src/ops/softmax.ts";
import { memory, scope, tidy } from "../../src/memory.ts";
import {
  backward,
  detach,
  grad,
  gradients,
  valueAndGrad,
  zeroGrad,
} from "../../src/autograd/backward.ts";
import { enableGrad, isGradEnabled, noGrad } from "../../src/autograd/tape.ts";
import { NON_DIFFERENTIABLE, rules } from "../../src/autograd/rules.ts";
import { AdamW } from "../../src/optim/optimizers.ts";
import { clipGradNorm } from "../../src/optim/clip.ts";
import type { NestedArray, Tensor } from "../../src/tensor.ts";

const leaf = (data: NestedArray) => tensor(data, undefined, { requiresGrad: true });

gpuTest("backward() accumulates into .grad like PyTorch, and zeroGrad() frees it", async () => {
  await scope(async () => {
    const x = leaf([1, 2, 3]);
    tidy(() => backward(sum(square(x))));
    assert.deepEqual(await x.grad!.toArray(), [2, 4, 6]);
    tidy(() => sum(mul(x, 3)).backward()); // the method form
    assert.deepEqual(await x.grad!.toArray(), [5, 7, 9]);
    const g = x.grad!;
    zeroGrad([x]);
    assert.equal(x.grad, null);
    assert.equal(g.isDisposed, true);
  });
});

gpuTest(
  "backward() sums gradients reaching a tensor by several paths (x·x, x + x, reuse)",
  async () => {
    await scope(async () => {
      const x = leaf([1, -2]);
      tidy(() => {
        const y = exp(x);
        backward(sum(add(mul(x, x), add(add(x, x), mul(y, y)))));
      });
      const e = [Math.exp(2), Math.exp(-4)];
      assertClose(await x.grad!.read(), [2 * 1 + 2 + 2 * e[0], 2 * -2 + 2 + 2 * e[1]], 1e-5, 1e-5);
    });
  },
);

gpuTest("backward() un-broadcasts: gradients are summed back to each input's shape", async () => {
  await scope(async () => {
    const a = leaf([[1], [2], [3]]); // [3, 1]
    const b = leaf([10, 20, 30, 40]); // [4]
    const c = leaf(5); // []
    tidy(() => backward(sum(mul(add(a, b), c))));
    assert.deepEqual(a.grad!.shape, [3, 1]);
    assert.deepEqual(await a.grad!.toArray(), [[20], [20], [20]]);
    assert.deepEqual(await b.grad!.toArray(), [15, 15, 15, 15]);
    assert.deepEqual(await c.grad!.toArray(), 3 * 100 + 4 * 6);
  });
});

gpuTest(
  "each leaf gets its own compact .grad, even when a rule passes one tensor to both",
  async () => {
    await scope(async () => {
      const x = leaf([1, 2, 3, 4]);
      const y = leaf([5, 6, 7, 8]);
      tidy(() => backward(sum(add(x, y))));
      assert.notEqual(x.grad!.buffer, y.grad!.buffer);
      // Clipping scales gradients in place: x's must not change y's.
      clipGradNorm([x], 0.5);
      assert.deepEqual(await y.grad!.toArray(), [1, 1, 1, 1]);
      // A gradient that is a view (slice's zero padding, reshape) is still compact and owned.
      const z = leaf([[1, 2], [3, 4]]);
      tidy(() => backward(sum(reshape(slice(z, [[1, 2]]), [2]))));
      assert.equal(z.grad!.isContiguous, true);
      assert.equal(z.grad!.offset, 0);
      assert.deepEqual(await z.grad!.toArray(), [[0, 0], [1, 1]]);
    });
  },
);

gpuTest("backward() takes a seed gradient for a non-scalar output, and checks it", async () => {
  await scope(async () => {
    const x = leaf([1, 2, 3]);
    const y = square(x);
    assert.throws(() => backward(y), /has 3 elements.*pass \{ grad \}/);
    assert.throws(() => backward(y, { grad: ones([2]) }), /does not match the shape/);
    backward(y, { grad: tensor([1, 0, -1]) });
    assert.deepEqual(await x.grad!.toArray(), [2, 0, -6]);
  });
});

gpuTest("backward() errors: no grad required, freed graph, disposed intermediates", async () => {
  await scope(async () => {
    const c = tensor([1, 2]);
    assert.throws(() => backward(sum(c)), /does not require grad/);
    const x = leaf([1, 2]);
    const loss = sum(square(x));
    backward(loss);
    assert.throws(() => backward(loss), /freed by an earlier backward\(\).*retainGraph/);
    const kept = sum(exp(x));
    backward(kept, { retainGraph: true });
    backward(kept);
    assertClose(await x.grad!.read(), [2 + 2 * Math.E, 4 + 2 * Math.exp(2)], 1e-5, 1e-5);
    // The forward's intermediates are gone once its tidy ends.
    const outer = tidy(() => sum(exp(square(x))));
    assert.throws(() => backward(outer), /was disposed; run backward inside the tidy/);
  });
});

gpuTest(
  "noGrad() records nothing, enableGrad() records again, detach() cuts the graph",
  async () => {
    await scope(async () => {
      const x = leaf([1, 2]);
      const y = noGrad(() => mul(x, 2));
      assert.equal(y.requiresGrad, false);
      assert.equal(y.node, null);
      assert.equal(noGrad(() => isGradEnabled()), false);
      const z = noGrad(() => enableGrad(() => mul(x, 2)));
      assert.equal(z.requiresGrad, true);
      const d = detach(z);
      assert.equal(d.requiresGrad, false);
      backward(sum(add(mul(d, x), z)));
      // d is a constant (2x = [2, 4]) plus z's 2
      assert.deepEqual(await x.grad!.toArray(), [4, 6]);
    });
  },
);

gpuTest(
  "gradients() returns d loss/d inputs without touching .grad; unreached inputs get zeros",
  async () => {
    await scope(async () => {
      const x = leaf([1, 2]);
      const w = leaf([3, 4]);
      const u = leaf([7]);
      const h = mul(x, w); // not a leaf: gradients() can target it too
      const [gx, gh, gu] = gradients(sum(square(h)), [x, h, u]);
      assert.deepEqual(await gx.toArray(), [2 * 3 * 3, 2 * 8 * 4]);
      assert.deepEqual(await gh.toArray(), [6, 16]);
      assert.deepEqual(await gu.toArray(), [0]);
      assert.equal(x.grad, null);
      assert.equal(w.grad, null);
    });
  },
);

gpuTest(
  "valueAndGrad() and grad() return the value and gradients and free everything else",
  async () => {
    await scope(async () => {
      const x = tensor([1, 2, 3]);
      const w = tensor([0.5, -1, 2]);
      const f = (a: Tensor, b: Tensor) => sum(mul(square(a), b));
      const before = memory();
      const { value, grads } = valueAndGrad(f)(x, w);
      assert.equal(memory().liveTensors, before.liveTensors + 3);
      assert.equal(value.requiresGrad, false);
      assert.equal(value.node, null);
      assert.equal(x.requiresGrad, false, "requiresGrad is restored");
      assertClose(await value.read(), [0.5 - 4 + 18], 1e-6, 1e-6);
      assert.deepEqual(await grads[0].toArray(), [1, -4, 12]);
      assert.deepEqual(await grads[1].toArray(), [1, 4, 9]);
      const [dx] = grad((a: Tensor) => mean(exp(a)))(x);
      assertClose(await dx.read(), [1, 2, 3].map((v) => Math.exp(v) / 3), 1e-6, 1e-5);
      for (const t of [value, ...grads, dx]) t.dispose();
      assert.equal(memory().liveTensors, before.liveTensors);
      assert.equal(memory().liveBytes, before.liveBytes);
      assert.throws(() => valueAndGrad((a: Tensor) => mul(a, 2))(x), /single-element loss/);
      assert.equal(memory().liveTensors, before.liveTensors, "an error frees too");
    });
  },
);

gpuTest(
  "backward() frees every temporary: live tensors grow only by the new .grad tensors",
  () => {
    tidy(() => {
      const w = randn([5, 4], { seed: 1, requiresGrad: true });
      const b = zeros([4], { requiresGrad: true });
      const x = randn([3, 5], { seed: 2 });
      const before = memory();
      tidy(() => {
        const h = layerNorm(relu(add(matmul(x, w), b)));
        backward(mean(square(sub(softmax(h), 0.25))));
      });
      const after = memory();
      assert.equal(after.liveTensors, before.liveTensors + 2);
      assert.equal(after.liveBytes, before.liveBytes + (20 + 4) * 4);
    });
  },
);

gpuTest(
  "100 training steps leak nothing: live tensors and bytes stay flat after the first",
  async () => {
    await scope(async () => {
      const params = [
        randn([6, 16], { seed: 3, std: 0.3, requiresGrad: true, name: "w1" }),
        zeros([16], { requiresGrad: true, name: "b1" }),
        randn([16, 4], { seed: 4, std: 0.3, requiresGrad: true, name: "w2" }),
      ];
      const [w1, b1, w2] = params;
      const x = randn([8, 6], { seed: 5 });
      const y = tensor(new Int32Array([0, 1, 2, 3, 0, 1, 2, 3]), [8]);
      const opt = new AdamW(params, { lr: 1e-2 });
      let first: ReturnType<typeof memory> | null = null;
      const losses: Tensor[] = [];
      for (let step = 0; step < 100; step++) {
        const loss = tidy(() => {
          const logits = matmul(relu(add(matmul(x, w1), b1)), w2);
          const l = crossEntropy(logits, y);
          backward(l);
          return detach(l);
        });
        clipGradNorm(params, 1.0).dispose();
        opt.step();
        opt.zeroGrad();
        if (step === 0 || step === 99) losses.push(loss);
        else loss.dispose();
        if (step === 0) first = memory();
        else {
          assert.equal(
            memory().liveTensors,
            first!.liveTensors + (step === 99 ? 1 : 0),
            `step ${step}`,
          );
          assert.equal(
            memory().liveBytes,
            first!.liveBytes + (step === 99 ? 4 : 0),
            `step ${step}`,
          );
        }
      }
      const [l0, l99] = await Promise.all(losses.map((l) => l.read()));
      assert.ok(l99[0] < l0[0] * 0.5, `the loss falls (${l0[0]} -> ${l99[0]})`);
      opt.dispose();
    });
  },
);

gpuTest("every unary and binary op records a name that has a gradient rule", () => {
  const x = tensor([0.5, 1.5], undefined, { requiresGrad: true });
  const names = new Set<string>();
  tidy(() => {
    for (const op of Object.keys(UNARY) as UnaryOp[]) names.add(unary(op, x).node!.op);
    for (const f of [add, sub, mul]) {
      names.add(f(x, x).node!.op);
      names.add(f(x, 2).node!.op);
      names.add(f(2, x).node!.op);
    }
  });
  x.dispose();
  for (const n of names) {
    assert.ok(n in rules || NON_DIFFERENTIABLE.has(n), `op "${n}" has no gradient rule`);
  }
});

/**
 * The op names each src/ops file records through a variable rather than a literal (e.g.
 * `record(out, op, ...)`): keep in step with those files; the test fails when a file gains or
 * loses such a call so this list is revisited.
 */
const DYNAMIC: Record<string, { calls: number; names: string[] }> = {
  "elementwise.ts": {
    calls: 3,
    names: [
      ...Object.keys(UNARY),
      ...[
        "add",
        "sub",
        "mul",
        "div",
        "pow",
        "maximum",
        "minimum",
        "eq",
        "ne",
        "lt",
        "le",
        "gt",
        "ge",
      ]
        .flatMap((o) => [o, `${o}Scalar`]),
    ],
  },
  "reduce.ts": { calls: 1, names: ["sum", "mean", "max", "min", "var", "std"] },
  "softmax.ts": { calls: 1, names: ["softmax", "logSoftmax"] },
};

/** The top-level arguments (as text) of every `record(...)` call in `src`. */
function recordCalls(src: string): string[][] {
  const out: string[][] = [];
  for (const m of src.matchAll(/\brecord\(/g)) {
    const args: string[] = [];
    let depth = 0;
    let cur = "";
    for (let i = m.index! + m[0].length; i < src.length; i++) {
      const ch = src[i];
      if (depth === 0 && (ch === "," || ch === ")")) {
        args.push(cur.trim());
        cur = "";
        if (ch === ")") break;
        continue;
      }
      if ("([{".includes(ch)) depth++;
      if (")]}".includes(ch)) depth--;
      cur += ch;
    }
    out.push(args);
  }
  return out;
}

gpuTest(
  "every op name recorded in src/ops/*.ts has a gradient rule or is marked non-differentiable",
  async () => {
    const dir = new URL("../../src/ops/", import.meta.url);
    const missing: string[] = [];
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.name.endsWith(".ts")) continue;
      // Drop comments so documentation mentioning record(...) does not count.
      const src = (await Deno.readTextFile(new URL(entry.name, dir)))
        .replace(/\/\*[\s\S]*?\*\//g, "")
        .replace(/\/\/.*$/gm, "");
      const calls = recordCalls(src).map((args) => args[1] ?? "");
      const literal = calls.filter((c) => /^["'`][A-Za-z]+["'`]$/.test(c)).map((c) =>
        c.slice(1, -1)
      );
      const dynamic = calls.filter((c) => !/^["'`][A-Za-z]+["'`]$/.test(c));
      const dyn = DYNAMIC[entry.name];
      assert.equal(
        dynamic.length,
        dyn?.calls ?? 0,
        `src/ops/${entry.name} records ${dynamic.length} op(s) by variable (${
          dynamic.join(", ")
        }); ` +
          `list their names in DYNAMIC`,
      );
      for (const n of [...literal, ...(dyn?.names ?? [])]) {
        if (!(n in rules) && !NON_DIFFERENTIABLE.has(n)) {
          missing.push(`${n} (src/ops/${entry.name})`);
        }
      }
    }
    assert.deepEqual(missing, [], `ops without a gradient rule: ${missing.join(", ")}`);
  },
);
