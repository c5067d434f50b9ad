/**
 * Reverse-mode autodiff over the ops recorded by {@link record}: `backward(loss)` fills `.grad`
 * of the leaves that require grad (accumulating, like PyTorch); `gradients(loss, inputs)` returns
 * gradients without touching `.grad`; `grad(fn)` / `valueAndGrad(fn)` are the functional forms.
 *
 * Memory: gradient rules run in scopes and every temporary is freed as soon as it is consumed;
 * `.grad` tensors outlive every open scope (they belong to their tensor: disposing it frees them).
 * Backward must run while the forward's intermediates are alive, so call it inside the same
 * `tidy` as the forward pass (or use `valueAndGrad`, which owns its scope).
 *
 * @module
 */

import { engine as defaultEngine } from "../gpu/engine.ts";
import { DTYPE_BYTES, isFloat } from "../dtype.ts";
import { fmtShape, Tensor } from "../tensor.ts";
import { keep } from "../memory.ts";
import { full } from "../ops/creation.ts";
import { add, cast } from "../ops/elementwise.ts";
import { clone } from "../ops/movement.ts";
import { enableGrad, noGrad } from "./tape.ts";
import { NON_DIFFERENTIABLE, rules, sumToShape } from "./rules.ts";

/** Op name left on a node after its graph was freed by a backward pass. */
export const FREED = "<freed>";

/** Options of {@link backward}. */
export interface BackwardOptions {
  /** Gradient of the loss (its shape); default 1 (the loss must then have one element). */
  grad?: Tensor;
  /** Keep the graph so backward can run through it again (default false, like PyTorch). */
  retainGraph?: boolean;
}

/** Tensors from `loss` back to the leaves, each after all the tensors that use it. */
function topoOrder(loss: Tensor): Tensor[] {
  const post: Tensor[] = [];
  const seen = new Set<Tensor>([loss]);
  const stack: [Tensor, number][] = [[loss, 0]];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [t, k] = top;
    const inputs = t.node?.inputs ?? [];
    if (k < inputs.length) {
      top[1]++;
      const u = inputs[k];
      if (u.requiresGrad && !seen.has(u)) {
        seen.add(u);
        stack.push([u, 0]);
      }
    } else {
      stack.pop();
      post.push(t);
    }
  }
  return post.reverse();
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The seed gradient for `loss`: the given one (checked) or ones. */
function seedFor(op: string, loss: Tensor, grad?: Tensor): Tensor {
  if (grad) {
    if (!sameShape(grad.shape, loss.shape)) {
      throw new RangeError(
        `Cannot run ${op}: grad ${grad.describe()} does not match the shape of ${loss.describe()}`,
      );
    }
    return grad;
  }
  if (loss.size !== 1) {
    throw new RangeError(
      `Cannot run ${op}: ${loss.describe()} has ${loss.size} elements; a gradient can be implied ` +
        `only for a single-element loss (pass { grad } with the loss's shape, or reduce it first)`,
    );
  }
  return full(loss.shape, 1, { dtype: loss.dtype, engine: loss.engine });
}

/**
 * The core pass: gradients of `loss` (seeded with `seed`) with respect to `wanted` tensors
 * (or, when `wanted` is null, every leaf that requires grad). Returns, for each wanted tensor
 * reached, its gradient: a tensor created by this pass or one of `external` (never disposed).
 * Everything else made here is freed. Runs inside its own scope; the returned tensors are left
 * in the caller's scope.
 */
function run(
  op: string,
  loss: Tensor,
  seed: Tensor,
  wanted: Set<Tensor> | null,
  retainGraph: boolean,
): { finals: Map<Tensor, Tensor>; external: Set<Tensor> } {
  if (loss.isDisposed) {
    throw new Error(`Cannot run ${op}: the loss ${loss.describe()} was disposed`);
  }
  if (!loss.requiresGrad) {
    throw new Error(
      `Cannot run ${op}: ${loss.describe()} does not require grad (no input of the ops that made ` +
        `it has requiresGrad, or it was computed under noGrad)`,
    );
  }
  const order = topoOrder(loss);
  const external = new Set<Tensor>(order);
  external.add(seed);
  // A tensor is useful when a wanted tensor can be reached from it.
  const useful = new Set<Tensor>();
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i];
    const isTarget = wanted ? wanted.has(t) : !t.node;
    if (isTarget || t.node?.inputs.some((u) => useful.has(u))) useful.add(t);
  }

  const eng = loss.engine;
  const slots = new Map<Tensor, Tensor>();
  const refs = new Map<Tensor, number>();
  const finals = new Map<Tensor, Tensor>();
  const inc = (v: Tensor) => refs.set(v, (refs.get(v) ?? 0) + 1);
  const dec = (v: Tensor) => {
    const n = (refs.get(v) ?? 0) - 1;
    if (n > 0) refs.set(v, n);
    else {
      refs.delete(v);
      if (!external.has(v)) v.dispose();
    }
  };
  const put = (t: Tensor, v: Tensor) => {
    inc(v);
    const old = slots.get(t);
    slots.set(t, v);
    if (old) dec(old);
  };
  const drop = (t: Tensor) => {
    const v = slots.get(t);
    slots.delete(t);
    if (v) dec(v);
  };

  eng.beginScope();
  try {
    put(loss, seed);
    for (const t of order) {
      const g = slots.get(t);
      if (!g) continue;
      const isTarget = wanted ? wanted.has(t) : !t.node;
      if (isTarget) {
        finals.set(t, g);
        inc(g);
      }
      const node = t.node;
      if (node?.op === FREED) {
        throw new Error(
          `Cannot run ${op}: the graph through ${t.describe()} was freed by an earlier backward(); ` +
            `pass { retainGraph: true } to the first call to run backward through it twice`,
        );
      }
      if (!node || !node.inputs.some((u) => useful.has(u))) {
        drop(t);
        continue;
      }
      if (NON_DIFFERENTIABLE.has(node.op)) {
        drop(t);
        continue;
      }
      const rule = rules[node.op];
      if (!rule) {
        throw new Error(
          `Cannot run ${op}: no gradient rule for op "${node.op}" (which made ${t.describe()})`,
        );
      }
      for (const u of node.inputs) {
        if (u.isDisposed) {
          throw new Error(
            `Cannot run ${op}: ${u.describe()}, an input of ${node.op} (which made ${t.describe()}), ` +
              `was disposed; run backward inside the tidy/scope of the forward pass`,
          );
        }
      }
      eng.beginScope();
      try {
        const res = noGrad(() => rule(g, t, node.inputs, node.attrs, node.saved));
        node.inputs.forEach((u, i) => {
          let r = res[i];
          if (!r || !u.requiresGrad || !useful.has(u) || !isFloat(u.dtype)) return;
          r = noGrad(() => {
            let s = sumToShape(r!, u.shape);
            if (s.dtype !== u.dtype) s = cast(s, u.dtype);
            return s;
          });
          const prev = slots.get(u);
          put(u, prev ? noGrad(() => add(prev, r!)) : r);
        });
      } finally {
        eng.endScope(new Set(refs.keys()));
      }
      drop(t);
    }
  } catch (e) {
    eng.endScope(new Set());
    throw e;
  }
  eng.endScope(new Set(finals.values()));
  if (!retainGraph) {
    for (const t of order) {
      if (!t.node) continue;
      for (const s of t.node.saved) s.dispose();
      t.node = { op: FREED, inputs: [], attrs: {}, saved: [] };
    }
  }
  return { finals, external };
}

/** Whether `t` owns compact storage alone (so it can be stored as a `.grad` and updated in place). */
function ownsCompact(t: Tensor): boolean {
  const s = t.storageOrThrow();
  return s.refs === 1 && t.offset === 0 && t.isContiguous &&
    s.bytes === t.size * DTYPE_BYTES[t.dtype];
}

/**
 * Turn the pass's results into tensors the caller owns alone: each compact, with its own storage,
 * of the tensor's dtype. Copies only when needed; frees what is not handed out.
 */
function finalize(
  finals: Map<Tensor, Tensor>,
  external: Set<Tensor>,
  targets: Iterable<Tensor>,
): Map<Tensor, Tensor> {
  const out = new Map<Tensor, Tensor>();
  const handed = new Set<Tensor>();
  noGrad(() => {
    for (const t of targets) {
      const g = finals.get(t);
      if (!g || out.has(t)) continue;
      let r = g;
      if (external.has(g) || handed.has(g) || !ownsCompact(g)) r = clone(g);
      if (r.dtype !== t.dtype) {
        const c = cast(r, t.dtype);
        if (r !== g) r.dispose();
        r = c;
      }
      handed.add(r);
      out.set(t, r);
    }
  });
  for (const g of new Set(finals.values())) {
    if (!handed.has(g) && !external.has(g)) g.dispose();
  }
  return out;
}

/**
 * Backpropagate from `loss`: add d(loss)/d(t) into `t.grad` for every leaf `t` with
 * `requiresGrad` that the loss depends on (creating `.grad` when it is null, like PyTorch).
 * `.grad` tensors outlive every open scope; {@link zeroGrad} frees them. The graph is freed
 * afterwards unless `retainGraph`. Call it inside the `tidy` of the forward pass.
 *
 * @example
 * ```ts
 * const w = randn([3, 2], { requiresGrad: true });
 * tidy(() => backward(sum(square(matmul(x, w)))));
 * await w.grad!.print();
 * ```
 */
export function backward(loss: Tensor, opts: BackwardOptions = {}): void {
  const seed = seedFor("backward", loss, opts.grad);
  let finals: Map<Tensor, Tensor>;
  let external: Set<Tensor>;
  try {
    ({ finals, external } = run("backward", loss, seed, null, opts.retainGraph ?? false));
  } finally {
    if (seed !== opts.grad && !seed.isDisposed) seed.dispose();
  }
  const owned = finalize(finals, external, finals.keys());
  noGrad(() => {
    for (const [t, g] of owned) {
      if (t.grad && !t.grad.isDisposed) {
        if (!sameShape(t.grad.shape, t.shape)) {
          throw new RangeError(
            `Cannot run backward: ${t.describe()} has a .grad of shape ${
              fmtShape(t.grad.shape)
            }; set it to null first`,
          );
        }
        const sum = add(t.grad, g);
        t.grad.dispose();
        g.dispose();
        t.grad = keep(sum);
      } else {
        t.grad = keep(g);
      }
    }
  });
}

/**
 * Gradients of `loss` with respect to `inputs` (like `torch.autograd.grad`), without touching
 * any `.grad`. An input the loss does not depend on gets zeros. The results belong to the
 * caller's scope.
 *
 * @example
 * ```ts
 * const [dx] = gradients(sum(square(x)), [x]); // 2x
 * ```
 */
export function gradients(
  loss: Tensor,
  inputs: readonly Tensor[],
  opts: BackwardOptions = {},
): Tensor[] {
  const seed = seedFor("gradients", loss, opts.grad);
  let finals: Map<Tensor, Tensor>;
  let external: Set<Tensor>;
  try {
    ({ finals, external } = run(
      "gradients",
      loss,
      seed,
      new Set(inputs),
      opts.retainGraph ?? false,
    ));
  } finally {
    if (seed !== opts.grad && !seed.isDisposed) seed.dispose();
  }
  const owned = finalize(finals, external, inputs);
  const used = new Set<Tensor>();
  return inputs.map((t) => {
    let g = owned.get(t);
    if (!g || used.has(g)) {
      g = g ? noGrad(() => clone(g!)) : full(t.shape, 0, { dtype: t.dtype, engine: t.engine });
    }
    used.add(g);
    return g;
  });
}

/**
 * Free the `.grad` of each tensor and set it to null (PyTorch's `zero_grad(set_to_none=True)`).
 *
 * @example
 * ```ts
 * zeroGrad([w, b]);
 * ```
 */
export function zeroGrad(params: Iterable<Tensor>): void {
  for (const p of params) {
    if (p.grad) {
      p.grad.dispose();
      p.grad = null;
    }
  }
}

/**
 * A view of `x` that shares its storage but is cut from the graph (no gradient flows through).
 *
 * @example
 * ```ts
 * const target = detach(y);
 * ```
 */
export function detach(x: Tensor): Tensor {
  return x.view(x.shape, x.strides, x.offset);
}

/** What {@link valueAndGrad}'s function returns. */
export interface ValueAndGrad {
  /** The loss, detached (no graph), owned by the caller. */
  value: Tensor;
  /** d(value)/d(param) for each argument, in order. */
  grads: Tensor[];
}

/**
 * The functional form: `valueAndGrad(fn)(...params)` runs `fn(...params)` with the params
 * treated as requiring grad, backpropagates, frees every intermediate, and returns the loss and
 * the gradients (owned by the caller's scope; no `.grad` is touched). `fn` must return a
 * single-element tensor and be synchronous.
 *
 * @example
 * ```ts
 * const f = valueAndGrad((w: Tensor, b: Tensor) => mean(square(add(matmul(x, w), b))));
 * const { value, grads: [dw, db] } = f(w, b);
 * ```
 */
export function valueAndGrad(
  fn: (...params: Tensor[]) => Tensor,
): (...params: Tensor[]) => ValueAndGrad {
  return (...params: Tensor[]) => {
    const eng = params[0]?.engine ?? defaultEngine();
    const prev = params.map((p) => p.requiresGrad);
    let value: Tensor | undefined;
    let grads: Tensor[] = [];
    eng.beginScope();
    try {
      for (const p of params) p.requiresGrad = true;
      const out = enableGrad(() => fn(...params));
      if (!out || typeof out !== "object" || !("shape" in out)) {
        throw new TypeError("Cannot run valueAndGrad: the function must return a tensor");
      }
      if (out.size !== 1) {
        throw new RangeError(
          `Cannot run valueAndGrad: the function returned ${out.describe()}; it must return a ` +
            `single-element loss`,
        );
      }
      if (out.requiresGrad) {
        grads = gradients(out, params);
      } else {
        grads = params.map((p) => full(p.shape, 0, { dtype: p.dtype, engine: p.engine }));
      }
      // The value, detached: a one-element copy, so the caller owns it alone.
      value = noGrad(() => clone(out));
      value.requiresGrad = false;
    } catch (e) {
      params.forEach((p, i) => (p.requiresGrad = prev[i]));
      eng.endScope(new Set());
      throw e;
    }
    params.forEach((p, i) => (p.requiresGrad = prev[i]));
    eng.endScope(new Set([value, ...grads]));
    return { value, grads };
  };
}

/**
 * `grad(fn)(...params)`: the gradients of `fn` at `params` (see {@link valueAndGrad}); the value
 * is freed.
 *
 * @example
 * ```ts
 * const [dx] = grad((x: Tensor) => sum(square(x)))(x); // 2x
 * ```
 */
export function grad(fn: (...params: Tensor[]) => Tensor): (...params: Tensor[]) => Tensor[] {
  const vg = valueAndGrad(fn);
  return (...params: Tensor[]) => {
    const { value, grads } = vg(...params);
    value.dispose();
    return grads;
  };
}

declare module "../tensor.ts" {
  interface Tensor {
    /**
     * `backward(this, opts)`: backpropagate from this tensor into the `.grad` of the leaves
     * (see {@link backward}). Available once src/autograd/backward.ts is loaded (mod.ts loads it).
     *
     * @example
     * ```ts
     * tidy(() => mean(square(sub(pred(w), y))).backward());
     * ```
     */
    backward(opts?: BackwardOptions): void;
  }
}

Tensor.prototype.backward = function (this: Tensor, opts?: BackwardOptions): void {
  backward(this, opts);
};
