/**
 * Op benchmarks: glassbox against tfjs-backend-webgpu on the same adapter, in the same run.
 *
 * Cases: softmax over attention-like scores [12·128, 128] and logits [128, 50257], layer norm
 * (with weight and bias) over [128, 768] and [4·128, 768], a last-axis sum over [128, 50257],
 * and the elementwise chain gelu(x·a + b) over [128, 3072] (a, b broadcast [3072]).
 *
 * Method: one batch = 10 ops on the same input, then one readback of the first row of the last
 * output (the readback waits for the whole batch). Two warm-up batches, then the median of 7.
 * Printed per case, one JSON line:
 *
 * ```
 * {"bench":"softmax","shape":[1536,128],"batch":10,"glassbox_ms":…,"tfjs_webgpu_ms":…,
 *  "ratio":…,"adapter":"…"}
 * ```
 *
 * `glassbox_ms` and `tfjs_webgpu_ms` are milliseconds per op (median batch time / 10, the one
 * readback included); `ratio` = glassbox_ms / tfjs_webgpu_ms (below 1: glassbox is faster).
 * tfjs has no fused layer norm or gelu: its side is the composite a tfjs user would write
 * (`tfjs_impl` says which). If tfjs cannot run, its figures are null and `tfjs_error` says why.
 *
 * Run: `XDG_RUNTIME_DIR=/tmp/xdg deno run -A bench/ops.ts` (filter: `--only=softmax,layerNorm`).
 *
 * @module
 */

import { type Engine, init } from "../src/gpu/engine.ts";
import { randn } from "../src/ops/creation.ts";
import { slice } from "../src/ops/movement.ts";
import { add, gelu, mul } from "../src/ops/elementwise.ts";
import { sum } from "../src/ops/reduce.ts";
import { softmax } from "../src/ops/softmax.ts";
import { layerNorm } from "../src/ops/layernorm.ts";
import { readTensors, type Tensor } from "../src/tensor.ts";
import { setupTfjs, type Tf } from "./_tfjs_ops.ts";

const BATCH = 10;
const WARMUP = 2;
const REPS = 7;

type TfTensor = ReturnType<Tf["tensor"]>;

interface Case {
  bench: string;
  shape: number[];
  /** glassbox: make the inputs, return one op and a cleanup. */
  glassbox: (eng: Engine) => { op: () => Tensor; free: Tensor[] };
  /** tfjs: the same. */
  tfjs: (tf: Tf) => { op: () => TfTensor; free: TfTensor[] };
  tfjsImpl?: string;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** One batch of glassbox: BATCH ops, then one readback of the first row of the last output. */
function glassboxBatch(op: () => Tensor): () => Promise<void> {
  return async () => {
    let last: Tensor | null = null;
    for (let i = 0; i < BATCH; i++) {
      const y = op();
      last?.dispose();
      last = y;
    }
    const row = slice(last!, [[0, 1]]);
    await readTensors([row]);
    row.dispose();
    last!.dispose();
  };
}

/** The same for tfjs. */
function tfjsBatch(tf: Tf, op: () => TfTensor): () => Promise<void> {
  return async () => {
    let last: TfTensor | null = null;
    for (let i = 0; i < BATCH; i++) {
      const y = tf.tidy(op);
      last?.dispose();
      last = y;
    }
    const row = tf.slice(last!, 0, 1);
    await row.data();
    row.dispose();
    last!.dispose();
  };
}

/**
 * Milliseconds per op of each batch function: warm-ups, then REPS rounds that run every function
 * once in turn (interleaved, so that load from other processes hits all of them alike); median.
 */
async function timeInterleaved(batches: (() => Promise<void>)[]): Promise<number[]> {
  for (let i = 0; i < WARMUP; i++) for (const b of batches) await b();
  const times: number[][] = batches.map(() => []);
  for (let r = 0; r < REPS; r++) {
    for (let k = 0; k < batches.length; k++) {
      const t0 = performance.now();
      await batches[k]();
      times[k].push(performance.now() - t0);
    }
  }
  return times.map((t) => median(t) / BATCH);
}

/** gelu (tanh approximation, GPT-2's gelu_new) from tfjs primitives. */
function tfGelu(tf: Tf, x: TfTensor): TfTensor {
  const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
}

/** Layer norm from tfjs primitives (tf.moments + arithmetic). */
function tfLayerNorm(tf: Tf, x: TfTensor, w: TfTensor, b: TfTensor, eps: number): TfTensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), w), b);
}

const CASES: Case[] = [
  ...[[12 * 128, 128], [128, 50257]].map((shape): Case => ({
    bench: "softmax",
    shape,
    glassbox: () => {
      const x = randn(shape, { seed: 1 });
      return { op: () => softmax(x, -1), free: [x] };
    },
    tfjs: (tf) => {
      const x = tf.randomNormal(shape, 0, 1, "float32", 1);
      return { op: () => tf.softmax(x, -1), free: [x] };
    },
  })),
  ...[[128, 768], [4 * 128, 768]].map((shape): Case => ({
    bench: "layerNorm",
    shape,
    glassbox: () => {
      const x = randn(shape, { seed: 2 });
      const w = randn([shape[1]], { seed: 3 });
      const b = randn([shape[1]], { seed: 4 });
      return { op: () => layerNorm(x, { weight: w, bias: b, eps: 1e-5 }), free: [x, w, b] };
    },
    tfjs: (tf) => {
      const x = tf.randomNormal(shape, 0, 1, "float32", 2);
      const w = tf.randomNormal([shape[1]], 0, 1, "float32", 3);
      const b = tf.randomNormal([shape[1]], 0, 1, "float32", 4);
      return { op: () => tfLayerNorm(tf, x, w, b, 1e-5), free: [x, w, b] };
    },
    tfjsImpl: "tf.moments + sub/div/sqrt/mul/add",
  })),
  {
    bench: "sum",
    shape: [128, 50257],
    glassbox: () => {
      const x = randn([128, 50257], { seed: 5 });
      return { op: () => sum(x, -1, { keepdims: true }), free: [x] };
    },
    tfjs: (tf) => {
      const x = tf.randomNormal([128, 50257], 0, 1, "float32", 5);
      return { op: () => tf.sum(x, -1, true), free: [x] };
    },
  },
  {
    bench: "gelu(x*a+b)",
    shape: [128, 3072],
    glassbox: () => {
      const x = randn([128, 3072], { seed: 6 });
      const a = randn([3072], { seed: 7 });
      const b = randn([3072], { seed: 8 });
      return {
        op: () => {
          const xa = mul(x, a);
          const z = add(xa, b);
          xa.dispose();
          const y = gelu(z);
          z.dispose();
          return y;
        },
        free: [x, a, b],
      };
    },
    tfjs: (tf) => {
      const x = tf.randomNormal([128, 3072], 0, 1, "float32", 6);
      const a = tf.randomNormal([3072], 0, 1, "float32", 7);
      const b = tf.randomNormal([3072], 0, 1, "float32", 8);
      return { op: () => tfGelu(tf, tf.add(tf.mul(x, a), b)), free: [x, a, b] };
    },
    tfjsImpl: "mul, add, then gelu_new from pow/mul/add/tanh",
  },
];

const onlyArg = Deno.args.find((a) => a.startsWith("--only="));
const only = onlyArg ? new Set(onlyArg.slice(7).split(",")) : null;

const eng = await init();
const adapter = eng.gpu.info.description;
let tf: Tf | null = null;
let tfAdapter: string | null = null;
let tfError: string | null = null;
try {
  ({ tf, adapter: tfAdapter } = await setupTfjs());
} catch (e) {
  tfError = e instanceof Error ? e.message : String(e);
}

for (const c of CASES) {
  if (only && !only.has(c.bench)) continue;
  const g = c.glassbox(eng);
  const t = tf ? c.tfjs(tf) : null;
  const batches = [glassboxBatch(g.op)];
  if (tf && t) batches.push(tfjsBatch(tf, t.op));
  let glassboxMs: number;
  let tfMs: number | null = null;
  let caseError = tfError;
  try {
    const ms = await timeInterleaved(batches);
    glassboxMs = ms[0];
    tfMs = ms[1] ?? null;
  } catch (e) {
    // tfjs failed mid-case: time glassbox alone.
    caseError = e instanceof Error ? e.message : String(e);
    [glassboxMs] = await timeInterleaved([batches[0]]);
  } finally {
    g.free.forEach((x) => x.dispose());
    t?.free.forEach((x) => x.dispose());
  }
  const line: Record<string, unknown> = {
    bench: c.bench,
    shape: c.shape,
    batch: BATCH,
    glassbox_ms: Number(glassboxMs.toFixed(3)),
    tfjs_webgpu_ms: tfMs === null ? null : Number(tfMs.toFixed(3)),
    ratio: tfMs === null ? null : Number((glassboxMs / tfMs).toFixed(3)),
    adapter,
  };
  if (tfAdapter) line.tfjs_adapter = tfAdapter;
  if (c.tfjsImpl) line.tfjs_impl = c.tfjsImpl;
  if (caseError) line.tfjs_error = caseError;
  console.log(JSON.stringify(line));
}
