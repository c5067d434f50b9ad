/**
 * `linear`: a dense layer, y = x · W + b, the shape of every projection in a transformer. Where
 * no gradient is needed and the adapter is a CPU one, it runs on the packed-weight kernel of
 * `src/kernels/linear.ts` (W packed once and cached, the bias added as the result is stored);
 * otherwise it is `matmul` then `add`, recorded for autodiff like those ops.
 *
 * @module
 */

import { needsGrad } from "../autograd/tape.ts";
import { linearApplies, linearInto, linearSettings, type WeightBlock } from "../kernels/linear.ts";
import { sizeOf, type Tensor } from "../tensor.ts";
import { empty } from "./creation.ts";
import { add, gelu, relu } from "./elementwise.ts";
import { concat } from "./indexing.ts";
import { matmul } from "./matmul.ts";
import { contiguous, permute, reshape } from "./movement.ts";

/** A weight as column blocks: [k, n] as is, [h, k, d] read as [k, h·d] (column h·d + j). */
function blockOf(w: Tensor): WeightBlock {
  if (w.rank === 2) {
    return {
      buffer: w.buffer,
      dtype: w.dtype,
      offset: w.offset,
      rows: w.shape[0],
      cols: w.shape[1],
      su: w.strides[0],
      sv: w.strides[1],
      group: w.shape[1],
      sg: 0,
    };
  }
  return {
    buffer: w.buffer,
    dtype: w.dtype,
    offset: w.offset,
    rows: w.shape[1],
    cols: w.shape[0] * w.shape[2],
    su: w.strides[1],
    sv: w.strides[2],
    group: w.shape[2],
    sg: w.strides[0],
  };
}

/** Input rows of a weight ([k, n] or [h, k, d]) and its output columns. */
function dims(w: Tensor): [number, number] {
  return w.rank === 2 ? [w.shape[0], w.shape[1]] : [w.shape[1], w.shape[0] * w.shape[2]];
}

function check(op: string, x: Tensor, ws: readonly Tensor[], bs: readonly (Tensor | null)[]) {
  const bad = (msg: string) => {
    const w = ws.map((t) => t.describe()).join(", ");
    return new RangeError(`Cannot run ${op}: ${msg} (x is ${x.describe()}, W is ${w})`);
  };
  if (x.rank < 1) throw bad("x must have at least one axis");
  const k = x.shape[x.rank - 1];
  ws.forEach((w, i) => {
    if (w.rank !== 2 && w.rank !== 3) throw bad(`weight ${i} must be [k, n] or [heads, k, d]`);
    if (dims(w)[0] !== k) throw bad(`x's last axis (${k}) must equal the weights' input size`);
    const b = bs[i];
    if (b && sizeOf(b.shape) !== dims(w)[1]) {
      throw bad(`bias ${i} is ${b.describe()}, but weight ${i} has ${dims(w)[1]} outputs`);
    }
  });
}

/**
 * Run on the packed-weight kernel, or return null where it does not apply (gradients needed,
 * a GPU adapter, a small product, dtypes or layouts it does not take). `groups` lists, per
 * output, the indices of the weights side by side in it.
 */
function fused(
  x: Tensor,
  ws: readonly Tensor[],
  bs: readonly (Tensor | null)[],
  groups: number[][],
  epi: { act: "gelu_new" | "relu"; keepPre: boolean } | null = null,
): { outs: Tensor[]; pre: Tensor | null } | null {
  if (needsGrad([x, ...ws, ...bs])) return null;
  const eng = x.engine;
  const k = x.shape[x.rank - 1];
  const m = sizeOf(x.shape) / Math.max(1, k);
  const total = ws.reduce((a, w) => a + dims(w)[1], 0);
  if (!linearApplies(eng, m, k, total) || x.dtype !== "f32") return null;
  if (ws.some((w) => w.dtype !== "f32" && w.dtype !== "f16")) return null;
  if (bs.some((b) => b && (b.dtype !== "f32" || !b.isContiguous))) return null;
  const xc = contiguous(x);
  const outs: Tensor[] = [];
  const temps: Tensor[] = [];
  // With an epilogue (one group), the product before the activation, when kept.
  const pre = epi?.keepPre ? empty([...x.shape.slice(0, -1), total], "f32", eng) : null;
  if (pre) outs.push(pre);
  try {
    const layers = groups.map((g) => {
      const n = g.reduce((a, i) => a + dims(ws[i])[1], 0);
      const out = empty([...x.shape.slice(0, -1), n], "f32", eng);
      outs.push(out);
      let bias: Tensor | null = null;
      if (g.some((i) => bs[i])) {
        if (g.length === 1) bias = bs[g[0]];
        else {
          // One bias vector for the blocks side by side (zeros where a block has none).
          bias = empty([n], "f32", eng);
          temps.push(bias);
          let at = 0;
          for (const i of g) {
            const cols = dims(ws[i])[1];
            const b = bs[i];
            if (b) eng.copy(b.buffer, b.offset * 4, bias.buffer, at * 4, cols * 4);
            else eng.write(bias.buffer, at * 4, new Float32Array(cols));
            at += cols;
          }
        }
      }
      return {
        blocks: g.map((i) => blockOf(ws[i])),
        bias: bias ? { buffer: bias.buffer, offset: bias.offset } : null,
        out: { buffer: out.buffer, offset: out.offset },
        act: epi?.act,
        pre: pre ? { buffer: pre.buffer, offset: pre.offset } : null,
      };
    });
    const ok = linearInto(
      eng,
      { buffer: xc.buffer, dtype: xc.dtype, offset: xc.offset, m, k, sm: k, sk: 1 },
      layers,
    );
    if (!ok) {
      for (const o of outs) o.dispose();
      return null;
    }
    return { outs: pre ? outs.slice(1) : outs, pre };
  } catch (e) {
    for (const o of outs) o.dispose();
    throw e;
  } finally {
    if (xc !== x) xc.dispose();
    for (const t of temps) t.dispose();
  }
}

/** matmul then add, recorded for autodiff; intermediates freed when no gradient is needed. */
function plain(x: Tensor, w: Tensor, b: Tensor | null): Tensor {
  const grad = needsGrad([x, w, b]);
  const [k, n] = dims(w);
  const temps: Tensor[] = [];
  let w2 = w;
  if (w.rank === 3) {
    // [h, k, d] -> [k, h·d]: a copy (the packed-weight kernel reads it in place).
    const p = permute(w, [1, 0, 2]);
    const c = contiguous(p);
    w2 = reshape(c, [k, n]);
    temps.push(p, c, w2);
  }
  const x2 = reshape(x, [-1, k]);
  let out = matmul(x2, w2);
  temps.push(x2);
  if (b) {
    const b1 = reshape(b, [n]);
    const y = out;
    out = add(y, b1);
    temps.push(b1, y);
  }
  const shaped = reshape(out, [...x.shape.slice(0, -1), n]);
  temps.push(out);
  if (!grad) {
    for (const t of new Set(temps)) if (t !== shaped && t !== x && t !== w && t !== b) t.dispose();
  }
  return shaped;
}

/**
 * A dense layer: `x · W + b` over the last axis of `x`, with W as [d_in, d_out] (the
 * TransformerLens layout, e.g. `W_in`, `W_out`, `W_U`) or [heads, d_in, d_head] read as
 * [d_in, heads·d_head]. Without gradients on a CPU adapter the weight is packed once into the
 * matmul kernel's texture layout and kept until the weight changes; with gradients it is the
 * recorded `matmul` then `add`.
 *
 * @example
 * ```ts
 * const logits = linear(resid, W_U, b_U); // [batch, pos, d_model] -> [batch, pos, d_vocab]
 * ```
 */
export function linear(x: Tensor, W: Tensor, b: Tensor | null = null): Tensor {
  check("linear", x, [W], [b]);
  return fused(x, [W], [b], [[0]])?.outs[0] ?? plain(x, W, b);
}

/**
 * Several dense layers of the same input side by side, as one product: the result's last axis
 * holds `x · W_i + b_i` for each i in order (e.g. `W_Q`, `W_K`, `W_V` at once, like GPT-2's
 * `c_attn`). Each weight is [d_in, n_i] or [heads, d_in, d_head].
 *
 * @example
 * ```ts
 * const qkv = linearConcat(x, [W_Q, W_K, W_V], [b_Q, b_K, b_V]); // [b, p, 3·h·d_head]
 * ```
 */
export function linearConcat(
  x: Tensor,
  weights: readonly Tensor[],
  biases: readonly (Tensor | null)[] = [],
): Tensor {
  if (weights.length === 0) throw new RangeError("Cannot run linearConcat: no weights");
  const bs = weights.map((_, i) => biases[i] ?? null);
  check("linearConcat", x, weights, bs);
  const f = fused(x, weights, bs, [weights.map((_, i) => i)]);
  if (f) return f.outs[0];
  const parts = weights.map((w, i) => plain(x, w, bs[i]));
  if (parts.length === 1) return parts[0];
  const out = concat(parts, -1);
  if (!needsGrad([x, ...weights, ...bs])) { for (const p of parts) p.dispose(); }
  return out;
}

/**
 * Several dense layers of the same input, each its own tensor: `[x · W_i + b_i for each i]`
 * (e.g. `hook_q`, `hook_k`, `hook_v` from `W_Q`, `W_K`, `W_V`). On the packed-weight kernel the
 * input is packed once for all of them. Each weight is [d_in, n_i] or [heads, d_in, d_head]
 * (whose result's last axis is heads·d_head, head-major).
 *
 * @example
 * ```ts
 * const [q, k, v] = linearMany(x, [W_Q, W_K, W_V], [b_Q, b_K, b_V]); // each [b, p, h·d_head]
 * ```
 */
export function linearMany(
  x: Tensor,
  weights: readonly Tensor[],
  biases: readonly (Tensor | null)[] = [],
): Tensor[] {
  if (weights.length === 0) throw new RangeError("Cannot run linearMany: no weights");
  const bs = weights.map((_, i) => biases[i] ?? null);
  check("linearMany", x, weights, bs);
  return fused(x, weights, bs, weights.map((_, i) => [i]))?.outs ??
    weights.map((w, i) => plain(x, w, bs[i]));
}

/** What {@link linearAct} returns. */
export interface LinearActResult {
  /** x · W + b, when asked for (`keepPre`). */
  pre: Tensor | null;
  /** act(x · W + b). */
  post: Tensor;
}

/**
 * A dense layer and its activation in one pass where the packed-weight kernel applies (the
 * activation is applied as the product is stored, and x · W + b is written only if `keepPre`):
 * an MLP's `hook_pre` and `hook_post`. Elsewhere `linear` then the activation op. `act` is
 * "gelu_new" (GPT-2's tanh approximation, as `gelu`) or "relu".
 *
 * @example
 * ```ts
 * const { post } = linearAct(resid, W_in, b_in, "gelu_new"); // [b, p, d_mlp]
 * ```
 */
export function linearAct(
  x: Tensor,
  W: Tensor,
  b: Tensor | null,
  act: "gelu_new" | "relu",
  opts: { keepPre?: boolean } = {},
): LinearActResult {
  if (act !== "gelu_new" && act !== "relu") {
    throw new RangeError(`Cannot run linearAct: act must be "gelu_new" or "relu", got "${act}"`);
  }
  check("linearAct", x, [W], [b]);
  const keep = opts.keepPre ?? false;
  const f = linearSettings.epilogues ? fused(x, [W], [b], [[0]], { act, keepPre: keep }) : null;
  if (f) return { pre: f.pre, post: f.outs[0] };
  const y = linear(x, W, b);
  const post = act === "relu" ? relu(y) : gelu(y);
  if (keep) return { pre: y, post };
  if (!needsGrad([x, W, b])) y.dispose();
  return { pre: null, post };
}
