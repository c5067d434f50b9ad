/**
 * Causal multi-head attention as TransformerLens computes it (`AbstractAttention`):
 *
 * ```
 * q, k, v     = x @ W_{Q,K,V}[h] + b_{Q,K,V}[h]              hook_q, hook_k, hook_v [b, p, h, d_head]
 * attn_scores = q·k / sqrt(d_head), -Infinity where k > q     hook_attn_scores [b, h, q, k]
 * pattern     = softmax(attn_scores)                          hook_pattern [b, h, q, k]
 * z           = pattern @ v                                   hook_z [b, p, h, d_head]
 * result      = z[h] @ W_O[h]     (only with useAttnResult)   hook_result [b, p, h, d_model]
 * out         = Σ_h z[h] @ W_O[h] + b_O
 * ```
 *
 * The projections are batched matmuls over heads (x broadcast, no copy); q, k, v, z and result
 * are strided views of head-major storage, read in place by the next matmul.
 *
 * @module
 */

import { mapKernel } from "../../kernels/elementwise.ts";
import { arange, full } from "../../ops/creation.ts";
import { add, div, ge, where } from "../../ops/elementwise.ts";
import { matmul } from "../../ops/matmul.ts";
import { linearMany } from "../../ops/linear.ts";
import { needsGrad } from "../../autograd/tape.ts";
import { linearApplies } from "../../kernels/linear.ts";
import { linear } from "./mlp.ts";
import { contiguous, permute, reshape } from "../../ops/movement.ts";
import { sum } from "../../ops/reduce.ts";
import { softmax } from "../../ops/softmax.ts";
import type { Tensor } from "../../tensor.ts";
import { getParam, type HookedTransformerConfig } from "../config.ts";
import { type ForwardPass, HookPoint } from "../hooks.ts";

/** TL's `Attention`, e.g. `blocks.0.attn`. */
export class Attention {
  /** Queries. [batch, pos, head_index, d_head] */
  readonly hookQ: HookPoint;
  /** Keys. [batch, pos, head_index, d_head] */
  readonly hookK: HookPoint;
  /** Values. [batch, pos, head_index, d_head] */
  readonly hookV: HookPoint;
  /** Scaled scores, -Infinity where masked, before the softmax. [batch, head_index, query_pos, key_pos] */
  readonly hookAttnScores: HookPoint;
  /** Attention probabilities. [batch, head_index, query_pos, key_pos] */
  readonly hookPattern: HookPoint;
  /** Pattern-weighted values. [batch, pos, head_index, d_head] */
  readonly hookZ: HookPoint;
  /** Each head's output (only with useAttnResult). [batch, pos, head_index, d_model] */
  readonly hookResult: HookPoint | null;

  constructor(readonly cfg: HookedTransformerConfig, readonly prefix: string, layer: number) {
    const hp = (n: string, shape: string) => new HookPoint(`${prefix}.${n}`, shape, layer);
    const bphd = "[batch, pos, head_index, d_head]";
    const bhqk = "[batch, head_index, query_pos, key_pos]";
    this.hookQ = hp("hook_q", bphd);
    this.hookK = hp("hook_k", bphd);
    this.hookV = hp("hook_v", bphd);
    this.hookAttnScores = hp("hook_attn_scores", bhqk);
    this.hookPattern = hp("hook_pattern", bhqk);
    this.hookZ = hp("hook_z", bphd);
    this.hookResult = cfg.useAttnResult
      ? hp("hook_result", "[batch, pos, head_index, d_model]")
      : null;
  }

  hookPoints(): HookPoint[] {
    const hs = [
      this.hookQ,
      this.hookK,
      this.hookV,
      this.hookAttnScores,
      this.hookPattern,
      this.hookZ,
    ];
    return this.hookResult ? [...hs, this.hookResult] : hs;
  }

  /**
   * Attention of `qkIn` (query and key input) and `vIn` (value input), both [batch, pos,
   * d_model] (the same tensor except for shortformer models) → [batch, pos, d_model], before
   * hook_attn_out. The inputs are left to the caller.
   */
  forward(
    pass: ForwardPass,
    params: ReadonlyMap<string, Tensor>,
    qkIn: Tensor,
    vIn: Tensor,
  ): Tensor {
    const p = this.prefix;
    const P = (n: string) => getParam(params, `${p}.${n}`);
    const [q0, k0, v0] = this.#fusedQkv(pass, qkIn, vIn, params) ?? [
      this.#project(pass, qkIn, P("W_Q"), P("b_Q")),
      this.#project(pass, qkIn, P("W_K"), P("b_K")),
      this.#project(pass, vIn, P("W_V"), P("b_V")),
    ];
    const q = pass.hook(this.hookQ, q0);
    const k = pass.hook(this.hookK, k0);
    const v = pass.hook(this.hookV, v0);

    // [batch, head_index, query_pos, key_pos]
    const qh = permute(q, [0, 2, 1, 3]);
    const kh = permute(k, [0, 2, 1, 3]);
    const raw = matmul(qh, kh, { transB: true });
    pass.free(qh, kh, q, k);
    const scores = pass.hook(this.hookAttnScores, this.#scaleAndMask(pass, raw));
    pass.free(raw);
    const pattern0 = softmax(scores, -1);
    pass.free(scores);
    const pattern = pass.hook(this.hookPattern, pattern0);

    // z [batch, pos, head_index, d_head], a view of [batch, head_index, pos, d_head] storage.
    const vh = permute(v, [0, 2, 1, 3]);
    const zh = matmul(pattern, vh);
    pass.free(vh, v, pattern);
    const z0 = permute(zh, [0, 2, 1, 3]);
    pass.free(zh);
    const z = pass.hook(this.hookZ, z0);

    const WO = P("W_O"); // [head_index, d_head, d_model]
    const bO = P("b_O");
    let out: Tensor;
    if (this.hookResult) {
      // result[b, p, h] = z[b, p, h] @ W_O[h]: one batched matmul, viewed as [b, p, h, d_model].
      const zb = permute(z, [0, 2, 1, 3]);
      const rh = matmul(zb, WO); // [batch, head_index, pos, d_model]
      pass.free(zb, z);
      const r0 = permute(rh, [0, 2, 1, 3]);
      pass.free(rh);
      const result = pass.hook(this.hookResult, r0);
      const summed = sum(result, 2);
      pass.free(result);
      out = add(summed, bO);
      pass.free(summed);
    } else {
      // Σ_h z[h] @ W_O[h] as one matmul: [b·p, h·d_head] @ [h·d_head, d_model].
      const [B, Pn, H, D] = z.shape;
      const zc = contiguous(z);
      const z2 = reshape(zc, [B * Pn, H * D]);
      if (zc !== z) pass.free(zc);
      pass.free(z);
      const w2 = reshape(WO, [H * D, WO.shape[2]]);
      const ob = linear(pass, z2, w2, bO);
      pass.free(z2, w2);
      out = reshape(ob, [B, Pn, WO.shape[2]]);
      pass.free(ob);
    }
    return out; // [batch, pos, d_model]
  }

  /**
   * x [b, p, d_model] → x @ W[h] + b[h] for every head at once, as a [b, p, h, d_head] view of
   * head-major [h, b, p, d_head] storage.
   */
  /**
   * Inference on adapters where the packed-weight linear kernel applies: Q, K and V as three
   * products sharing one packing of their input (two when the query/key and value inputs
   * differ), each a contiguous [batch, pos, head_index, d_head]. Null where it does not apply.
   */
  #fusedQkv(
    pass: ForwardPass,
    qkIn: Tensor,
    vIn: Tensor,
    params: ReadonlyMap<string, Tensor>,
  ): [Tensor, Tensor, Tensor] | null {
    if (pass.recording || needsGrad([qkIn, vIn])) return null;
    const P = (n: string) => getParam(params, `${this.prefix}.${n}`);
    const [B, Pn, Dm] = qkIn.shape;
    const [H, , Dh] = P("W_Q").shape;
    const hd = H * Dh;
    const same = qkIn === vIn;
    if (!linearApplies(qkIn.engine, B * Pn, Dm, (same ? 3 : 2) * hd)) return null;
    const out = same
      ? linearMany(qkIn, [P("W_Q"), P("W_K"), P("W_V")], [P("b_Q"), P("b_K"), P("b_V")])
      : [
        ...linearMany(qkIn, [P("W_Q"), P("W_K")], [P("b_Q"), P("b_K")]),
        ...linearMany(vIn, [P("W_V")], [P("b_V")]),
      ];
    // [batch, pos, head_index, d_head] views covering each result's storage.
    const [q, k, v] = out.map((t) => t.view([B, Pn, H, Dh], [Pn * hd, hd, Dh, 1], t.offset));
    pass.free(...out);
    return [q, k, v];
  }

  #project(pass: ForwardPass, x: Tensor, W: Tensor, b: Tensor): Tensor {
    const [B, Pn, Dm] = x.shape;
    const [H, , Dh] = W.shape;
    const x2 = reshape(x, [B * Pn, Dm]);
    const y = matmul(x2, W); // [h, b·p, d_head]
    const b3 = reshape(b, [H, 1, Dh]);
    const yb = add(y, b3);
    pass.free(x2, y, b3);
    const y4 = reshape(yb, [H, B, Pn, Dh]);
    pass.free(yb);
    const out = permute(y4, [1, 2, 0, 3]); // [b, p, h, d_head]
    pass.free(y4);
    return out;
  }

  /** scores / sqrt(d_head), with -Infinity where key > query (TL's causal mask and IGNORE). */
  #scaleAndMask(pass: ForwardPass, raw: Tensor): Tensor {
    const n = raw.shape[raw.rank - 1];
    const scale = Math.sqrt(this.cfg.dHead);
    if (!pass.recording) {
      // One fused elementwise pass over the contiguous [b, h, q, k] scores: i is the flat
      // index, so key = i % n and query = (i / n) % n.
      return mapKernel(raw.engine, {
        op: "attnScaleMask",
        expr: `select(s2, a / s, (i % ${n}u) <= ((i / ${n}u) % ${n}u))`,
        inputs: [raw],
        outShape: raw.shape,
        outDtype: "f32",
        scalar: scale,
        scalar2: -Infinity,
        scalarType: "f32",
      });
    }
    // Recorded for autograd: the same values from differentiable ops.
    // The mask is made on the GPU (query >= key), so a training step uploads nothing.
    const pos = arange(n, undefined, 1, { dtype: "i32", engine: raw.engine });
    const mask = ge(reshape(pos, [n, 1]), pos); // [query, key], u32
    const ignore = full([], -Infinity, { engine: raw.engine });
    return where(mask, div(raw, scale), ignore);
  }
}
