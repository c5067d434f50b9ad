/// <reference lib="dom" />
/**
 * The live toy-model page (examples/toy/index.html, served by `deno task serve`): a few toy
 * models of superposition train on the browser's WebGPU through glassbox, and the page draws the
 * best instance's feature directions (the columns of W) as they move: 2-D arrows for m = 2, a
 * rotatable 3-D view for m = 3 (camera from wgpu-matrix; drag to rotate).
 *
 * Sliders set the sparsity (1 − S, log scale) and the importance decay (Iᵢ = rⁱ); a change keeps
 * the current weights and trains on with the new data. URL parameters set the start:
 * `?n=5&m=2&p=0.02&decay=1&lr=0.01&batch=256&instances=4&seed=0&maxSteps=0` (maxSteps 0: no
 * limit).
 *
 * `window.toyState` holds what the page shows (for tests and the console): step, W of the best
 * instance (m rows of n), its feature norms and neighbour angles, losses, steps/s.
 *
 * @module
 */

import { mat4, vec3 } from "wgpu-matrix";
import { init } from "../../src/gpu/engine.ts";
import { ToyModel } from "../../src/toy/model.ts";
import { featureNorms } from "../../src/toy/metrics.ts";
import { neighbourAngles } from "../../src/toy/train.ts";
import { importanceColors } from "../../src/viz/toy_report.ts";

/** What the page exposes as `window.toyState`. */
export interface ToyPageState {
  ready: boolean;
  running: boolean;
  error: string | null;
  adapter: string;
  n: number;
  m: number;
  instances: number;
  featureProbability: number;
  importanceDecay: number;
  lr: number;
  batch: number;
  step: number;
  /**
   * The step at which the model began training under the current settings (a slider change
   * takes effect when the chunk of steps in flight ends).
   */
  settingsStep: number;
  stepsPerSecond: number;
  /** Index of the instance drawn (lowest recent loss). */
  best: number;
  /** Recent loss per instance. */
  losses: number[];
  /** The best instance's W: m rows of n. */
  W: number[][];
  featureNorms: number[];
  /** Angles (degrees) between neighbouring represented features, m = 2 only. */
  neighbourAngles: number[];
}

const params = new URLSearchParams(location.search);
function param(name: string, def: number, lo: number, hi: number, int = false): number {
  const raw = params.get(name);
  const v = raw === null ? def : Number(raw);
  if (!Number.isFinite(v) || v < lo || v > hi || (int && !Number.isInteger(v))) {
    throw new Error(
      `URL parameter ${name}=${raw} must be ${int ? "an integer" : "a number"} in [${lo}, ${hi}]`,
    );
  }
  return v;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const state: ToyPageState = {
  ready: false,
  running: false,
  error: null,
  adapter: "",
  n: 5,
  m: 2,
  instances: 4,
  featureProbability: 0.02,
  importanceDecay: 1,
  lr: 0.01,
  batch: 256,
  step: 0,
  settingsStep: 0,
  stepsPerSecond: 0,
  best: 0,
  losses: [],
  W: [],
  featureNorms: [],
  neighbourAngles: [],
};
(globalThis as unknown as { toyState: ToyPageState }).toyState = state;

let seed = 0;
let maxSteps = 0;
let model: ToyModel | null = null;
/** A change of settings waiting for the training loop. */
let pending: { rebuild: boolean } | null = null;
/** The camera's yaw and pitch (radians) for m = 3. */
const view = { yaw: 0.6, pitch: 0.35 };

// ------------------------------------------------------------------ model

function makeModel(from: ToyModel | null): ToyModel {
  const next = new ToyModel({
    nInstances: state.instances,
    nFeatures: state.n,
    nHidden: state.m,
    featureProbability: state.featureProbability,
    importance: state.importanceDecay,
    seed,
  });
  if (
    from && from.nFeatures === next.nFeatures && from.nHidden === next.nHidden &&
    from.nInstances === next.nInstances
  ) {
    // Same shapes: carry the weights, Adam's moments and the step count over, so that the
    // directions move on from where they are under the new sparsity or importance.
    const eng = next.engine;
    for (const k of ["params", "moments"] as const) {
      const a = from[k], b = next[k];
      eng.copy(a.buffer, a.offset * 4, b.buffer, b.offset * 4, a.size * 4);
    }
    next.steps = from.steps;
  }
  from?.dispose();
  return next;
}

async function trainLoop(): Promise<void> {
  let chunk = 20;
  const recent: number[][] = [];
  while (true) {
    if (pending) {
      const rebuild = pending.rebuild;
      pending = null;
      model = makeModel(rebuild ? null : model);
      recent.length = 0;
      state.step = model.steps;
      state.settingsStep = model.steps;
    }
    if (!state.running || (maxSteps > 0 && state.step >= maxSteps)) {
      state.running = state.running && !(maxSteps > 0 && state.step >= maxSteps);
      updateText();
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    const m = model!;
    const steps = maxSteps > 0 ? Math.min(chunk, maxSteps - state.step) : chunk;
    const t0 = performance.now();
    const r = await m.train({
      steps,
      batch: state.batch,
      lr: state.lr,
      logEvery: Math.max(1, Math.floor(steps / 4)),
    });
    const ws = await m.readWeights();
    const ms = performance.now() - t0;
    // Aim at ~150 ms per chunk, so that the picture moves smoothly.
    chunk = Math.max(
      5,
      Math.min(2000, Math.round(chunk * Math.min(2, Math.max(0.5, 150 / Math.max(ms, 1))))),
    );
    recent.push(...r.losses);
    recent.splice(0, Math.max(0, recent.length - 20));
    const losses = ws.map((_, i) =>
      recent.reduce((a, l) => a + l[i], 0) / Math.max(1, recent.length)
    );
    const best = losses.reduce((bi, l, i) => (l < losses[bi] ? i : bi), 0);
    state.step = m.steps;
    state.stepsPerSecond = (steps / ms) * 1000;
    state.losses = losses;
    state.best = best;
    state.W = ws[best].W;
    state.featureNorms = featureNorms(state.W);
    state.neighbourAngles = state.m === 2 ? neighbourAngles(state.W) : [];
    draw();
    updateText();
  }
}

// ------------------------------------------------------------------ drawing

function canvasContext(): { ctx: CanvasRenderingContext2D; w: number; h: number } {
  const canvas = $<HTMLCanvasElement>("view");
  const dpr = globalThis.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr)) canvas.width = Math.round(w * dpr);
  if (canvas.height !== Math.round(h * dpr)) canvas.height = Math.round(h * dpr);
  const ctx = canvas.getContext("2d")!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  return { ctx, w, h };
}

function arrow(
  ctx: CanvasRenderingContext2D,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  color: string,
  width = 3,
): void {
  const len = Math.hypot(x1 - x0, y1 - y0);
  ctx.strokeStyle = ctx.fillStyle = color;
  if (len < 2) {
    ctx.beginPath();
    ctx.arc(x0, y0, 3, 0, 2 * Math.PI);
    ctx.fill();
    return;
  }
  const ux = (x1 - x0) / len, uy = (y1 - y0) / len, h = Math.min(12, len * 0.5);
  ctx.lineWidth = width;
  ctx.beginPath();
  ctx.moveTo(x0, y0);
  ctx.lineTo(x1 - ux * h, y1 - uy * h);
  ctx.stroke();
  ctx.beginPath();
  ctx.moveTo(x1, y1);
  ctx.lineTo(x1 - ux * h - uy * h * 0.5, y1 - uy * h + ux * h * 0.5);
  ctx.lineTo(x1 - ux * h + uy * h * 0.5, y1 - uy * h - ux * h * 0.5);
  ctx.closePath();
  ctx.fill();
}

function colors(): string[] {
  return importanceColors(Array.from({ length: state.n }, (_, i) => state.importanceDecay ** i));
}

function draw(): void {
  if (state.W.length === 0) return;
  if (state.m === 2) draw2d();
  else draw3d();
}

function draw2d(): void {
  const { ctx, w, h } = canvasContext();
  const W = state.W, cols = colors();
  const cx = w / 2, cy = h / 2;
  const longest = Math.max(1, ...state.featureNorms);
  const r = (Math.min(w, h) / 2 - 24) / (longest * 1.05);
  ctx.strokeStyle = "#ddd";
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(8, cy);
  ctx.lineTo(w - 8, cy);
  ctx.moveTo(cx, 8);
  ctx.lineTo(cx, h - 8);
  ctx.stroke();
  ctx.setLineDash([4, 4]);
  ctx.strokeStyle = "#aaa";
  ctx.beginPath();
  ctx.arc(cx, cy, r, 0, 2 * Math.PI);
  ctx.stroke();
  ctx.setLineDash([]);
  const order = state.featureNorms.map((_, i) => i).sort((a, b) =>
    state.featureNorms[b] - state.featureNorms[a]
  );
  ctx.font = "12px system-ui, sans-serif";
  for (const i of order) {
    const x = cx + W[0][i] * r, y = cy - W[1][i] * r;
    arrow(ctx, cx, cy, x, y, cols[i]);
    const len = Math.hypot(x - cx, y - cy) || 1;
    ctx.fillStyle = "#333";
    ctx.fillText(String(i), x + ((x - cx) / len) * 12 - 3, y + ((y - cy) / len) * 12 + 4);
  }
}

function draw3d(): void {
  const { ctx, w, h } = canvasContext();
  const W = state.W, cols = colors();
  const dist = 4.2 * Math.max(1, ...state.featureNorms);
  const eye = vec3.create(
    dist * Math.cos(view.pitch) * Math.sin(view.yaw),
    dist * Math.sin(view.pitch),
    dist * Math.cos(view.pitch) * Math.cos(view.yaw),
  );
  const proj = mat4.perspective(Math.PI / 5, w / h, 0.1, 100);
  const camera = mat4.lookAt(eye, vec3.create(0, 0, 0), vec3.create(0, 1, 0));
  const viewProj = mat4.multiply(proj, camera);
  const toScreen = (p: [number, number, number]) => {
    const c = vec3.transformMat4(vec3.create(...p), viewProj); // NDC (divided by w)
    return { x: (c[0] * 0.5 + 0.5) * w, y: (0.5 - c[1] * 0.5) * h, z: c[2] };
  };
  const o = toScreen([0, 0, 0]);
  // Unit circles in the three coordinate planes, and the axes.
  ctx.lineWidth = 1;
  for (const plane of [0, 1, 2]) {
    ctx.strokeStyle = "#ccc";
    ctx.setLineDash([3, 4]);
    ctx.beginPath();
    for (let k = 0; k <= 64; k++) {
      const a = (2 * Math.PI * k) / 64;
      const p: [number, number, number] = plane === 0
        ? [Math.cos(a), Math.sin(a), 0]
        : plane === 1
        ? [Math.cos(a), 0, Math.sin(a)]
        : [0, Math.cos(a), Math.sin(a)];
      const s = toScreen(p);
      if (k === 0) ctx.moveTo(s.x, s.y);
      else ctx.lineTo(s.x, s.y);
    }
    ctx.stroke();
  }
  ctx.setLineDash([]);
  ctx.font = "11px system-ui, sans-serif";
  ["h0", "h1", "h2"].forEach((name, k) => {
    const p: [number, number, number] = [0, 0, 0];
    p[k] = 1.25;
    const s = toScreen(p);
    ctx.strokeStyle = "#bbb";
    ctx.beginPath();
    ctx.moveTo(o.x, o.y);
    ctx.lineTo(s.x, s.y);
    ctx.stroke();
    ctx.fillStyle = "#999";
    ctx.fillText(name, s.x + 3, s.y - 3);
  });
  // Arrows far to near, so that nearer ones are drawn on top.
  const tips = Array.from({ length: state.n }, (_, i) => ({
    i,
    s: toScreen([W[0][i], W[1][i], W[2][i]]),
  })).sort((a, b) => b.s.z - a.s.z);
  ctx.font = "12px system-ui, sans-serif";
  for (const { i, s } of tips) {
    arrow(ctx, o.x, o.y, s.x, s.y, cols[i]);
    ctx.fillStyle = "#333";
    ctx.fillText(String(i), s.x + 5, s.y - 5);
  }
}

function updateText(): void {
  $("stats").textContent = `${state.adapter} · step ${state.step} · ` +
    `${
      state.stepsPerSecond.toFixed(0)
    } steps/s · ${state.instances} instances, showing #${state.best} ` +
    `(loss ${state.losses[state.best]?.toExponential(2) ?? "–"})` +
    (state.running ? "" : maxSteps > 0 && state.step >= maxSteps ? " · done" : " · paused");
  const angles = state.neighbourAngles.length
    ? ` · neighbour angles ${state.neighbourAngles.map((a) => a.toFixed(0)).join("°, ")}°`
    : "";
  $("geometry").textContent = `‖Wᵢ‖ = ${
    state.featureNorms.map((v) => v.toFixed(2)).join(", ")
  }${angles}`;
}

// ------------------------------------------------------------------ controls

function readControls(): void {
  const t = Number($<HTMLInputElement>("sparsity").value);
  state.featureProbability = 10 ** t;
  state.importanceDecay = Number($<HTMLInputElement>("decay").value);
  $("sparsity-value").textContent = `1 − S = ${state.featureProbability.toPrecision(2)}`;
  $("decay-value").textContent = `Iᵢ = ${state.importanceDecay.toFixed(2)}ⁱ`;
}

function setupControls(): void {
  const sp = $<HTMLInputElement>("sparsity");
  sp.value = String(Math.log10(state.featureProbability));
  $<HTMLInputElement>("decay").value = String(state.importanceDecay);
  $<HTMLSelectElement>("features").value = String(state.n);
  $<HTMLSelectElement>("hidden").value = String(state.m);
  readControls();
  const onData = () => {
    readControls();
    pending = pending ?? { rebuild: false };
  };
  sp.addEventListener("input", onData);
  $("decay").addEventListener("input", onData);
  const onShape = () => {
    state.n = Number($<HTMLSelectElement>("features").value);
    state.m = Number($<HTMLSelectElement>("hidden").value);
    state.W = [];
    pending = { rebuild: true };
  };
  $("features").addEventListener("change", onShape);
  $("hidden").addEventListener("change", onShape);
  $("restart").addEventListener("click", () => {
    seed++;
    pending = { rebuild: true };
    state.running = true;
  });
  $("pause").addEventListener("click", () => {
    state.running = !state.running;
    $("pause").textContent = state.running ? "pause" : "resume";
  });
  // Drag to rotate (m = 3).
  const canvas = $<HTMLCanvasElement>("view");
  let drag: { x: number; y: number } | null = null;
  canvas.addEventListener("pointerdown", (e) => {
    drag = { x: e.clientX, y: e.clientY };
    canvas.setPointerCapture(e.pointerId);
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!drag) return;
    view.yaw -= (e.clientX - drag.x) * 0.01;
    view.pitch = Math.max(-1.5, Math.min(1.5, view.pitch + (e.clientY - drag.y) * 0.01));
    drag = { x: e.clientX, y: e.clientY };
    if (state.m === 3) draw();
  });
  canvas.addEventListener("pointerup", () => (drag = null));
}

async function main(): Promise<void> {
  state.n = param("n", 5, 2, 16, true);
  state.m = param("m", 2, 2, 3, true);
  state.featureProbability = param("p", 0.02, 1e-3, 1);
  state.importanceDecay = param("decay", 1, 0.5, 1);
  state.lr = param("lr", 0.01, 1e-5, 1);
  state.batch = param("batch", 256, 1, 65536, true);
  state.instances = param("instances", 4, 1, 64, true);
  seed = param("seed", 0, 0, 2 ** 31, true);
  maxSteps = param("maxSteps", 0, 0, 1e9, true);
  setupControls();
  if (!("gpu" in navigator)) {
    throw new Error(
      "this browser has no WebGPU (navigator.gpu); try Chrome or Edge, or Chromium with --enable-unsafe-webgpu",
    );
  }
  const eng = await init();
  const info = eng.gpu.info;
  state.adapter = info.description || [info.vendor, info.architecture].filter(Boolean).join(" ") ||
    "WebGPU";
  model = makeModel(null);
  state.ready = true;
  state.running = true;
  await trainLoop();
}

main().catch((e) => {
  state.error = String((e as Error)?.stack ?? e);
  $("stats").textContent = `error: ${(e as Error)?.message ?? e}`;
  console.error(e);
});
