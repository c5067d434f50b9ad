/**
 * Matmul throughput: glassbox vs TensorFlow.js (WebGPU backend) on the same adapter, same run.
 *
 * One JSON line per case:
 * `{"bench":"matmul","m":..,"k":..,"n":..,"glassbox_gflops":..,"tfjs_webgpu_gflops":..,"ratio":..,"adapter":".."}`
 * Each sample times a batch of 10 matmuls ending in one readback (of the last result); the
 * figure is the median of the samples after warm-up, glassbox and tfjs samples alternating so
 * that load from other processes hits both alike. glassbox is autotuned for each shape first.
 *
 * Extra diagnostic fields: `*_cpu_gflops` divide the flops by this process's CPU time over the
 * core count instead of the wall time. On a CPU adapter (lavapipe) the GPU work runs on this
 * process's threads, so on a machine shared with other work these approximate the wall figures
 * of an idle machine; `load_avg` is the 1-minute load average when the case ended.
 *
 * Usage: `deno run -A bench/matmul.ts [--samples N] [--case MxKxN ...] [--variant register|tiled]`
 *
 * @module
 */

import { init } from "../src/gpu/engine.ts";
import { randn } from "../src/ops/creation.ts";
import { matmul, matmulConfigFor, type MatmulVariant, tuneMatmul } from "../src/ops/matmul.ts";
import type { Tensor } from "../src/tensor.ts";
import { tfjsWebgpu } from "./_peers.ts";

const BATCH = 10;

function parseArgs(args: string[]) {
  let samples = 7;
  let variant: MatmulVariant | undefined;
  const cases: [number, number, number][] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--samples") samples = Math.max(5, Number(args[++i]));
    else if (args[i] === "--variant") variant = args[++i] as MatmulVariant;
    else if (args[i] === "--case") {
      const [m, k, n] = args[++i].split("x").map(Number);
      cases.push([m, k, n]);
    } else throw new Error(`bench/matmul.ts: unknown argument ${args[i]}`);
  }
  if (cases.length === 0) {
    cases.push([256, 256, 256], [512, 512, 512], [1024, 1024, 1024], [128, 768, 3072]);
  }
  return { samples, variant, cases };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

const round = (x: number) => Math.round(x * 100) / 100;

const proc = (globalThis as { process?: { cpuUsage?: () => { user: number; system: number } } })
  .process;
const cores = navigator.hardwareConcurrency || 1;
/** Process CPU milliseconds, or NaN where the runtime does not say. */
const cpuMs = () => {
  const u = proc?.cpuUsage?.();
  return u ? (u.user + u.system) / 1000 : NaN;
};

/** Time `fn` (a batch of matmuls): [wall GFLOP/s, CPU-time GFLOP/s]. */
async function measure(flops: number, fn: () => Promise<void>): Promise<[number, number]> {
  const c0 = cpuMs();
  const t0 = performance.now();
  await fn();
  const wall = performance.now() - t0;
  const cpu = (cpuMs() - c0) / cores;
  return [flops / wall / 1e6, flops / cpu / 1e6];
}

function loadAvg(): number | null {
  try {
    return Deno.loadavg()[0];
  } catch {
    return null;
  }
}

const { samples, variant, cases } = parseArgs(Deno.args);
const eng = await init();
const peer = await tfjsWebgpu();

for (const [m, k, n] of cases) {
  const flops = 2 * m * k * n * BATCH;
  const a = randn([m, k], { seed: 1 });
  const b = randn([k, n], { seed: 2 });
  if (!variant) await tuneMatmul(a, b);
  const glassbox = () =>
    measure(flops, async () => {
      const outs: Tensor[] = [];
      for (let i = 0; i < BATCH; i++) outs.push(matmul(a, b, { variant }));
      await outs[BATCH - 1].read();
      outs.forEach((o) => o.dispose());
    });
  let tfjs: (() => Promise<[number, number]>) | null = null;
  let tfA: { dispose(): void } | null = null;
  let tfB: { dispose(): void } | null = null;
  let tfjsError = peer.ok ? "" : peer.error;
  if (peer.ok) {
    const tf = peer.tf;
    const ta = tf.randomNormal([m, k], 0, 1, "float32", 1) as ReturnType<typeof tf.randomNormal>;
    const tb = tf.randomNormal([k, n], 0, 1, "float32", 2) as ReturnType<typeof tf.randomNormal>;
    tfA = ta;
    tfB = tb;
    tfjs = () =>
      measure(flops, async () => {
        const outs = [];
        for (let i = 0; i < BATCH; i++) outs.push(tf.matMul(ta, tb));
        await outs[BATCH - 1].data();
        outs.forEach((o) => o.dispose());
      });
  }
  // Warm-up: compile, allocate, settle.
  await glassbox();
  if (tfjs) {
    try {
      await tfjs();
    } catch (e) {
      tfjsError = `tfjs-webgpu matMul failed: ${(e as Error).message}`;
      tfjs = null;
    }
  }
  const g: [number, number][] = [];
  const t: [number, number][] = [];
  for (let s = 0; s < samples; s++) {
    g.push(await glassbox());
    if (tfjs) t.push(await tfjs());
  }
  const gf = median(g.map((x) => x[0]));
  const tfGf = tfjs ? median(t.map((x) => x[0])) : null;
  const gCpu = median(g.map((x) => x[1]));
  const tCpu = tfjs ? median(t.map((x) => x[1])) : null;
  const line: Record<string, unknown> = {
    bench: "matmul",
    m,
    k,
    n,
    glassbox_gflops: round(gf),
    tfjs_webgpu_gflops: tfGf === null ? null : round(tfGf),
    ratio: tfGf === null ? null : round(gf / tfGf),
    adapter: eng.gpu.info.description,
    glassbox_config: matmulConfigFor(a, b, { variant }),
    samples,
    glassbox_cpu_gflops: Number.isFinite(gCpu) ? round(gCpu) : null,
    tfjs_webgpu_cpu_gflops: tCpu !== null && Number.isFinite(tCpu) ? round(tCpu) : null,
    cpu_ratio: tCpu !== null && Number.isFinite(gCpu / tCpu) ? round(gCpu / tCpu) : null,
    load_avg: loadAvg(),
  };
  if (tfGf === null) line.tfjs_error = tfjsError;
  else if (peer.ok && peer.adapter !== eng.gpu.info.description) line.tfjs_adapter = peer.adapter;
  console.log(JSON.stringify(line));
  a.dispose();
  b.dispose();
  tfA?.dispose();
  tfB?.dispose();
}
