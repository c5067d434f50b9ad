/**
 * An f64 CPU reference transformer, written from the math (TransformerLens's definitions): it
 * computes every hook point of a {@link HookedTransformer} with the same names and shapes, so the
 * GPU model can be checked activation by activation. Plain TypeScript over Float64Array; slow,
 * for small models.
 *
 * @module
 */

import type { HookedTransformerConfig } from "../model/config.ts";

/** Row-major f64 data with its shape. */
export interface RefActivation {
  data: Float64Array;
  shape: number[];
}

/** Options of {@link refTransformer}. */
export interface RefTransformerOptions {
  /**
   * Called at every hook point with its name and value; return a replacement (same shape) or
   * nothing. Lets tests run the reference with ablations and patches.
   */
  hook?: (name: string, act: RefActivation) => RefActivation | void;
}

/** What {@link refTransformer} returns. */
export interface RefTransformerResult {
  /** [batch, pos, d_vocab] */
  logits: RefActivation;
  /** Every hook point's value (after any replacement by `hook`), by TransformerLens name. */
  acts: Map<string, RefActivation>;
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** erf, to double precision (series near 0, continued fraction beyond). */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2.5) {
    // Maclaurin series: 2/√π Σ (-1)^n x^(2n+1) / (n! (2n+1)).
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 100; n++) {
      term *= -(ax * ax) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  if (ax > 6) return Math.sign(x);
  // erfc by Lentz's continued fraction: erfc(x) = e^(-x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...)))).
  let f = ax;
  let c = ax;
  let d = 0;
  for (let n = 1; n < 200; n++) {
    const an = n / 2;
    d = ax + an * d;
    d = d === 0 ? 1e-300 : 1 / d;
    c = ax + an / c;
    if (c === 0) c = 1e-300;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}

/** The MLP activations in f64. */
export function refAct(act: HookedTransformerConfig["act"], x: number): number {
  switch (act) {
    case "relu":
      return Math.max(x, 0);
    case "gelu":
      return 0.5 * x * (1 + erf(x / Math.SQRT2));
    case "gelu_new":
      return 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
  }
}

function param(
  params: Map<string, ArrayLike<number>>,
  name: string,
  size: number,
): ArrayLike<number> {
  const p = params.get(name);
  if (!p) throw new Error(`refTransformer: parameter "${name}" is missing`);
  if (p.length !== size) {
    throw new Error(`refTransformer: parameter "${name}" has ${p.length} values, expected ${size}`);
  }
  return p;
}

/**
 * Run the transformer in f64 on the CPU. `params` holds each parameter's values row-major in its
 * TransformerLens shape (see `paramShapes`); `tokens` is [batch][pos].
 *
 * @example
 * ```ts
 * const { logits, acts } = refTransformer(cfg, params, [[1, 2, 3]]);
 * acts.get("blocks.0.attn.hook_pattern")!.shape; // [1, n_heads, 3, 3]
 * ```
 */
export function refTransformer(
  cfg: HookedTransformerConfig,
  params: Map<string, ArrayLike<number>>,
  tokens: number[][],
  opts: RefTransformerOptions = {},
): RefTransformerResult {
  const B = tokens.length;
  const P = tokens[0]?.length ?? 0;
  const { dModel: D, nHeads: H, dHead: Dh, dMlp: M, dVocab: V, eps } = cfg;
  const R = B * P; // rows of the residual stream
  const acts = new Map<string, RefActivation>();
  const hook = (name: string, data: Float64Array, shape: number[]): Float64Array => {
    let a: RefActivation = { data, shape };
    if (opts.hook) {
      const rep = opts.hook(name, a);
      if (rep) {
        if (rep.data.length !== data.length || rep.shape.join() !== shape.join()) {
          throw new Error(`refTransformer: hook "${name}" returned shape [${rep.shape}]`);
        }
        a = { data: Float64Array.from(rep.data), shape: [...shape] };
      }
    }
    acts.set(name, a);
    return a.data;
  };

  // Layer norm of rows of width n: returns the normalized rows (hooked) after the hooked scale.
  const layerNorm = (prefix: string, x: Float64Array, n: number): Float64Array => {
    if (cfg.normalization === null) return x;
    const rows = x.length / n;
    const centred = new Float64Array(x.length);
    const scale = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let m = 0;
      for (let j = 0; j < n; j++) m += x[r * n + j];
      m /= n;
      let v = 0;
      for (let j = 0; j < n; j++) {
        const c = x[r * n + j] - m;
        centred[r * n + j] = c;
        v += c * c;
      }
      scale[r] = Math.sqrt(v / n + eps);
    }
    const sc = hook(`${prefix}.hook_scale`, scale, [B, P, 1]);
    const w = cfg.normalization === "LN" ? param(params, `${prefix}.w`, n) : null;
    const b = cfg.normalization === "LN" ? param(params, `${prefix}.b`, n) : null;
    const y = new Float64Array(x.length);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < n; j++) {
        const v = centred[r * n + j] / sc[r];
        y[r * n + j] = w && b ? v * w[j] + b[j] : v;
      }
    }
    return hook(`${prefix}.hook_normalized`, y, [B, P, n]);
  };

  // Embeddings.
  const WE = param(params, "embed.W_E", V * D);
  const embed = new Float64Array(R * D);
  for (let b = 0; b < B; b++) {
    for (let p = 0; p < P; p++) {
      const t = tokens[b][p];
      for (let j = 0; j < D; j++) embed[(b * P + p) * D + j] = WE[t * D + j];
    }
  }
  const e = hook("hook_embed", embed, [B, P, D]);
  let resid: Float64Array = Float64Array.from(e);
  let posEmbed: Float64Array | null = null;
  if (cfg.positionalEmbedding !== "none") {
    const Wpos = param(params, "pos_embed.W_pos", cfg.nCtx * D);
    const pe = new Float64Array(R * D);
    for (let b = 0; b < B; b++) {
      for (let p = 0; p < P; p++) {
        for (let j = 0; j < D; j++) pe[(b * P + p) * D + j] = Wpos[p * D + j];
      }
    }
    posEmbed = hook("hook_pos_embed", pe, [B, P, D]);
    if (cfg.positionalEmbedding === "standard") {
      for (let i = 0; i < resid.length; i++) resid[i] += posEmbed[i];
    }
  }

  for (let l = 0; l < cfg.nLayers; l++) {
    const pre = `blocks.${l}`;
    resid = hook(`${pre}.hook_resid_pre`, resid, [B, P, D]);
    const normed = layerNorm(`${pre}.ln1`, resid, D);
    // Shortformer: the positional embedding joins the query and key inputs only.
    let qkIn = normed;
    if (cfg.positionalEmbedding === "shortformer" && posEmbed) {
      qkIn = new Float64Array(normed.length);
      for (let i = 0; i < normed.length; i++) qkIn[i] = normed[i] + posEmbed[i];
    }
    const proj = (x: Float64Array, w: string, bias: string): Float64Array => {
      const W = param(params, `${pre}.attn.${w}`, H * D * Dh);
      const bb = param(params, `${pre}.attn.${bias}`, H * Dh);
      const out = new Float64Array(R * H * Dh); // [b, p, h, d_head]
      for (let r = 0; r < R; r++) {
        for (let h = 0; h < H; h++) {
          for (let d = 0; d < Dh; d++) {
            let s = bb[h * Dh + d];
            for (let j = 0; j < D; j++) s += x[r * D + j] * W[(h * D + j) * Dh + d];
            out[(r * H + h) * Dh + d] = s;
          }
        }
      }
      return out;
    };
    const q = hook(`${pre}.attn.hook_q`, proj(qkIn, "W_Q", "b_Q"), [B, P, H, Dh]);
    const k = hook(`${pre}.attn.hook_k`, proj(qkIn, "W_K", "b_K"), [B, P, H, Dh]);
    const v = hook(`${pre}.attn.hook_v`, proj(normed, "W_V", "b_V"), [B, P, H, Dh]);
    // Scores [b, h, q, k]: q·k / sqrt(d_head), -Infinity where k > q (TL's IGNORE).
    let scores: Float64Array = new Float64Array(B * H * P * P);
    const scale = Math.sqrt(Dh);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        for (let i = 0; i < P; i++) {
          for (let j = 0; j < P; j++) {
            let s = -Infinity;
            if (j <= i) {
              s = 0;
              for (let d = 0; d < Dh; d++) {
                s += q[((b * P + i) * H + h) * Dh + d] * k[((b * P + j) * H + h) * Dh + d];
              }
              s /= scale;
            }
            scores[((b * H + h) * P + i) * P + j] = s;
          }
        }
      }
    }
    scores = hook(`${pre}.attn.hook_attn_scores`, scores, [B, H, P, P]);
    const pattern = new Float64Array(scores.length);
    for (let row = 0; row < B * H * P; row++) {
      let m = -Infinity;
      for (let j = 0; j < P; j++) m = Math.max(m, scores[row * P + j]);
      let s = 0;
      for (let j = 0; j < P; j++) {
        const x = scores[row * P + j];
        s += x === -Infinity ? 0 : Math.exp(x - m);
      }
      for (let j = 0; j < P; j++) {
        const x = scores[row * P + j];
        // A row with every entry masked gives zeros (TL replaces softmax's NaN by 0).
        pattern[row * P + j] = x === -Infinity || s === 0 ? 0 : Math.exp(x - m) / s;
      }
    }
    const pat = hook(`${pre}.attn.hook_pattern`, pattern, [B, H, P, P]);
    const z = new Float64Array(R * H * Dh); // [b, p, h, d_head]
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        for (let i = 0; i < P; i++) {
          for (let d = 0; d < Dh; d++) {
            let s = 0;
            for (let j = 0; j < P; j++) {
              s += pat[((b * H + h) * P + i) * P + j] * v[((b * P + j) * H + h) * Dh + d];
            }
            z[((b * P + i) * H + h) * Dh + d] = s;
          }
        }
      }
    }
    const zz = hook(`${pre}.attn.hook_z`, z, [B, P, H, Dh]);
    const WO = param(params, `${pre}.attn.W_O`, H * Dh * D);
    const bO = param(params, `${pre}.attn.b_O`, D);
    const attnOut = new Float64Array(R * D);
    if (cfg.useAttnResult) {
      const result = new Float64Array(R * H * D); // [b, p, h, d_model]
      for (let r = 0; r < R; r++) {
        for (let h = 0; h < H; h++) {
          for (let j = 0; j < D; j++) {
            let s = 0;
            for (let d = 0; d < Dh; d++) s += zz[(r * H + h) * Dh + d] * WO[(h * Dh + d) * D + j];
            result[(r * H + h) * D + j] = s;
          }
        }
      }
      const res = hook(`${pre}.attn.hook_result`, result, [B, P, H, D]);
      for (let r = 0; r < R; r++) {
        for (let j = 0; j < D; j++) {
          let s = bO[j];
          for (let h = 0; h < H; h++) s += res[(r * H + h) * D + j];
          attnOut[r * D + j] = s;
        }
      }
    } else {
      for (let r = 0; r < R; r++) {
        for (let j = 0; j < D; j++) {
          let s = bO[j];
          for (let hd = 0; hd < H * Dh; hd++) s += zz[r * H * Dh + hd] * WO[hd * D + j];
          attnOut[r * D + j] = s;
        }
      }
    }
    const ao = hook(`${pre}.hook_attn_out`, attnOut, [B, P, D]);
    const mid = new Float64Array(R * D);
    for (let i = 0; i < mid.length; i++) mid[i] = resid[i] + ao[i];
    if (cfg.attnOnly) {
      resid = hook(`${pre}.hook_resid_post`, mid, [B, P, D]);
      continue;
    }
    const residMid = hook(`${pre}.hook_resid_mid`, mid, [B, P, D]);
    const n2 = layerNorm(`${pre}.ln2`, residMid, D);
    const Win = param(params, `${pre}.mlp.W_in`, D * M);
    const bin = param(params, `${pre}.mlp.b_in`, M);
    const preAct = new Float64Array(R * M);
    for (let r = 0; r < R; r++) {
      for (let m = 0; m < M; m++) {
        let s = bin[m];
        for (let j = 0; j < D; j++) s += n2[r * D + j] * Win[j * M + m];
        preAct[r * M + m] = s;
      }
    }
    const hp = hook(`${pre}.mlp.hook_pre`, preAct, [B, P, M]);
    const post = new Float64Array(R * M);
    for (let i = 0; i < post.length; i++) post[i] = refAct(cfg.act, hp[i]);
    const hpost = hook(`${pre}.mlp.hook_post`, post, [B, P, M]);
    const Wout = param(params, `${pre}.mlp.W_out`, M * D);
    const bout = param(params, `${pre}.mlp.b_out`, D);
    const mlpOut = new Float64Array(R * D);
    for (let r = 0; r < R; r++) {
      for (let j = 0; j < D; j++) {
        let s = bout[j];
        for (let m = 0; m < M; m++) s += hpost[r * M + m] * Wout[m * D + j];
        mlpOut[r * D + j] = s;
      }
    }
    const mo = hook(`${pre}.hook_mlp_out`, mlpOut, [B, P, D]);
    const postResid = new Float64Array(R * D);
    for (let i = 0; i < postResid.length; i++) postResid[i] = residMid[i] + mo[i];
    resid = hook(`${pre}.hook_resid_post`, postResid, [B, P, D]);
  }

  const final = layerNorm("ln_final", resid, D);
  const WU = param(params, "unembed.W_U", D * V);
  const bU = param(params, "unembed.b_U", V);
  const logits = new Float64Array(R * V);
  for (let r = 0; r < R; r++) {
    for (let t = 0; t < V; t++) {
      let s = bU[t];
      for (let j = 0; j < D; j++) s += final[r * D + j] * WU[j * V + t];
      logits[r * V + t] = s;
    }
  }
  return { logits: { data: logits, shape: [B, P, V] }, acts };
}

/**
 * Next-token cross-entropy of reference logits [batch, pos, vocab] against `tokens`: the mean
 * over batch and positions 0..pos-2 of `logsumexp(logits[b, p]) − logits[b, p, tokens[b][p+1]]`.
 *
 * @example
 * ```ts
 * const loss = refLoss(refTransformer(cfg, params, tokens).logits, tokens);
 * ```
 */
export function refLoss(logits: RefActivation, tokens: number[][]): number {
  const [B, P, V] = logits.shape;
  let total = 0;
  for (let b = 0; b < B; b++) {
    for (let p = 0; p < P - 1; p++) {
      const base = (b * P + p) * V;
      let m = -Infinity;
      for (let t = 0; t < V; t++) m = Math.max(m, logits.data[base + t]);
      let s = 0;
      for (let t = 0; t < V; t++) s += Math.exp(logits.data[base + t] - m);
      total += m + Math.log(s) - logits.data[base + tokens[b][p + 1]];
    }
  }
  return total / (B * (P - 1));
}
