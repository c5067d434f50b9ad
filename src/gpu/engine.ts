/**
 * The engine: one device, its buffer pool, the pipeline cache, command batching and readback.
 *
 * Work is encoded into one command encoder and submitted only when something must leave the
 * GPU (a readback), when data is uploaded into a recycled buffer, or when the uniform arena is
 * full. Kernels are WGSL strings compiled once per cache key.
 *
 * Binding convention for every kernel: `@group(0)`, bindings numbered in order
 * `[params (uniform, if any), ...inputs (read-only storage), ...outputs (read_write storage)]`.
 *
 * @module
 */

import { type Gpu, requestGpu, type RequestGpuOptions } from "./device.ts";
import { BufferPool, type PoolStats } from "./pool.ts";

/** A buffer binding: a whole buffer or a window of one. */
export type Binding = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

/** One kernel dispatch. */
export interface Dispatch {
  /** Kernel name: pipeline label, and the name errors use. */
  label: string;
  /** Pipeline cache key: everything the WGSL text depends on. */
  key: string;
  /** WGSL source; called only when the key is not cached. */
  code: () => string;
  entryPoint?: string;
  /** Bytes of the uniform params struct (binding 0), if the kernel has one. */
  params?: ArrayBufferView | ArrayBuffer;
  inputs: Binding[];
  outputs: Binding[];
  /** Other resources (texture views, samplers), bound after the outputs. */
  resources?: GPUBindingResource[];
  /** Buffers the kernel writes through `resources` (outputs are counted already). */
  writes?: GPUBuffer[];
  /** Workgroup counts; use {@link Engine.grid} for 1-D work larger than 65535 groups. */
  workgroups: [number, number?, number?];
}

/** Something the engine tracks for scopes (tensors). */
export interface Tracked {
  dispose(): void;
  readonly isDisposed: boolean;
}

/** Memory counters, all public. */
export interface MemoryInfo extends PoolStats {
  /** Tensors created and not yet disposed. */
  liveTensors: number;
  /** Bytes held by live tensors' storage (logical sizes, shared storage counted once). */
  liveBytes: number;
  /** Largest `liveBytes` seen. */
  peakBytes: number;
  /** Pipelines compiled so far. */
  pipelines: number;
  /** Command buffers submitted so far. */
  submits: number;
  /** Kernels dispatched so far. */
  dispatches: number;
}

const ARENA_BYTES = 1 << 20;

/** Error raised when the device is lost: pending and later work is rejected with it. */
export class DeviceLostError extends Error {
  constructor(reason: string, message: string) {
    super(`The GPU device was lost (${reason}): ${message}`);
    this.name = "DeviceLostError";
  }
}

/** A WebGPU validation or compilation error, named by the kernel that caused it. */
export class KernelError extends Error {
  constructor(label: string, stage: string, message: string) {
    super(`Kernel "${label}" failed at ${stage}: ${message}`);
    this.name = "KernelError";
  }
}

/** The engine: a device and everything that runs on it. */
export class Engine {
  readonly gpu: Gpu;
  readonly device: GPUDevice;
  readonly pool: BufferPool;
  /** Set GLASSBOX_PRINT_SHADERS=1 (or this flag) to print each kernel's WGSL when compiled. */
  printShaders = false;

  #pipelines = new Map<string, GPUComputePipeline>();
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #arena: GPUBuffer;
  #arenaData = new Uint8Array(ARENA_BYTES);
  #arenaUsed = 0;
  #align: number;
  #pendingOps = 0;
  #trash: GPUBuffer[] = [];
  #errors: Promise<GPUError | null>[] = [];
  #errorLabels: string[] = [];
  #lost: DeviceLostError | null = null;
  #lostPromise: Promise<never>;
  #scopes: Set<Tracked>[] = [];
  #live = { tensors: 0, bytes: 0, peak: 0 };
  #counts = { submits: 0, dispatches: 0 };
  #generations = new WeakMap<GPUBuffer, number>();
  #generationClock = 0;
  /** Memo of per-adapter decisions (autotune results and the like). */
  readonly tuned = new Map<string, unknown>();

  constructor(gpu: Gpu) {
    this.gpu = gpu;
    this.device = gpu.device;
    this.pool = new BufferPool(this.device);
    this.#align = gpu.info.limits.minUniformBufferOffsetAlignment ?? 256;
    this.#arena = this.device.createBuffer({
      size: ARENA_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: "glassbox uniform arena",
    });
    this.#lostPromise = gpu.lost.then((info) => {
      this.#lost = new DeviceLostError(info.reason ?? "unknown", info.message);
      throw this.#lost;
    });
    this.#lostPromise.catch(() => {});
    try {
      this.printShaders = (globalThis as { Deno?: { env: { get(k: string): string | undefined } } })
        .Deno?.env.get("GLASSBOX_PRINT_SHADERS") === "1";
    } catch { /* no env permission */ }
  }

  /**
   * Loop iterations one kernel invocation may run in all: llvmpipe (CPU adapters) silently ends
   * every loop of an invocation after 65535 iterations, so kernels whose loop length grows with
   * the data (matmul's k, scatterAdd's index list, the training kernels' rows) plan passes that
   * stay below this, with a margin for their other loops. Infinity on GPUs.
   */
  get loopBudget(): number {
    return this.gpu.info.isCpu ? 49152 : Infinity;
  }

  /** Throws if the device has been lost. */
  checkAlive(): void {
    if (this.#lost) throw this.#lost;
  }

  get limits(): Record<string, number> {
    return this.gpu.info.limits;
  }

  /** Largest storage binding in bytes. */
  get maxBinding(): number {
    return this.gpu.info.limits.maxStorageBufferBindingSize ?? 128 << 20;
  }

  hasFeature(f: string): boolean {
    return this.gpu.info.features.includes(f);
  }

  // ---------------------------------------------------------------- pipelines

  /** The compiled pipeline for a key, compiling it on first use. */
  pipeline(
    label: string,
    key: string,
    code: () => string,
    entryPoint = "main",
  ): GPUComputePipeline {
    const cacheKey = `${key}#${entryPoint}`;
    let p = this.#pipelines.get(cacheKey);
    if (p) return p;
    const src = code();
    if (this.printShaders) console.log(`// ---- ${label} (${key})\n${src}`);
    this.device.pushErrorScope("validation");
    const module = this.device.createShaderModule({ code: src, label });
    p = this.device.createComputePipeline({
      layout: "auto",
      compute: { module, entryPoint },
      label,
    });
    this.#trackErrors(label, "pipeline creation");
    this.#pipelines.set(cacheKey, p);
    return p;
  }

  /** Compile WGSL and return the compiler's messages (for tests and `doctor`). */
  async compile(label: string, code: string): Promise<GPUCompilationMessage[]> {
    const module = this.device.createShaderModule({ code, label });
    const info = await module.getCompilationInfo();
    return [...info.messages];
  }

  #trackErrors(label: string, stage: string) {
    const p = this.device.popErrorScope();
    this.#errors.push(p);
    this.#errorLabels.push(`${label}\u0000${stage}`);
  }

  /** Wait for every validation error check so far; throw the first as a {@link KernelError}. */
  async checkErrors(): Promise<void> {
    const errs = this.#errors;
    const labels = this.#errorLabels;
    this.#errors = [];
    this.#errorLabels = [];
    const results = await Promise.all(errs);
    for (let i = 0; i < results.length; i++) {
      const e = results[i];
      if (e) {
        const [label, stage] = labels[i].split("\u0000");
        throw new KernelError(label, stage, e.message);
      }
    }
  }

  // ---------------------------------------------------------------- encoding

  #encoderNow(): GPUCommandEncoder {
    if (!this.#encoder) {
      this.#encoder = this.device.createCommandEncoder({ label: "glassbox batch" });
    }
    return this.#encoder;
  }

  #passNow(): GPUComputePassEncoder {
    if (!this.#pass) this.#pass = this.#encoderNow().beginComputePass({ label: "glassbox pass" });
    return this.#pass;
  }

  #endPass() {
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
  }

  /** Workgroup counts for `n` invocations of a 1-D kernel with `wg` threads per group. */
  grid(n: number, wg: number): [number, number, number] {
    const groups = Math.max(1, Math.ceil(n / wg));
    const maxDim = this.limits.maxComputeWorkgroupsPerDimension ?? 65535;
    if (groups <= maxDim) return [groups, 1, 1];
    const y = Math.ceil(groups / maxDim);
    return [Math.ceil(groups / y), y, 1];
  }

  /** Encode one kernel dispatch (nothing is submitted). */
  run(d: Dispatch): void {
    this.checkAlive();
    const pipeline = this.pipeline(d.label, d.key, d.code, d.entryPoint);
    const entries: GPUBindGroupEntry[] = [];
    let binding = 0;
    if (d.params) {
      const bytes = d.params instanceof ArrayBuffer
        ? new Uint8Array(d.params)
        : new Uint8Array(d.params.buffer, d.params.byteOffset, d.params.byteLength);
      const size = Math.max(16, Math.ceil(bytes.byteLength / 16) * 16);
      if (this.#arenaUsed + size > ARENA_BYTES) this.flush();
      const offset = this.#arenaUsed;
      this.#arenaData.set(bytes, offset);
      this.#arenaUsed = Math.ceil((offset + size) / this.#align) * this.#align;
      entries.push({ binding: binding++, resource: { buffer: this.#arena, offset, size } });
    }
    for (const b of [...d.inputs, ...d.outputs]) {
      entries.push({ binding: binding++, resource: this.#resource(b) });
    }
    for (const r of d.resources ?? []) entries.push({ binding: binding++, resource: r });
    for (const b of d.outputs) {
      this.wrote("buffer" in b && !(b instanceof GPUBuffer) ? b.buffer : b);
    }
    for (const b of d.writes ?? []) this.wrote(b);
    this.device.pushErrorScope("validation");
    const bindGroup = this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries,
      label: d.label,
    });
    const pass = this.#passNow();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    const [x, y = 1, z = 1] = d.workgroups;
    if (x > 0 && y > 0 && z > 0) pass.dispatchWorkgroups(x, y, z);
    this.#trackErrors(d.label, "dispatch");
    this.#pendingOps++;
    this.#counts.dispatches++;
  }

  #resource(b: Binding): GPUBufferBinding {
    if ("buffer" in b && !(b instanceof GPUBuffer)) {
      const size = b.size ?? Math.min(b.buffer.size - (b.offset ?? 0), this.maxBinding);
      return { buffer: b.buffer, offset: b.offset ?? 0, size };
    }
    const buf = b as GPUBuffer;
    return { buffer: buf, offset: 0, size: Math.min(buf.size, this.maxBinding & ~3) };
  }

  /** Encode a buffer-to-buffer copy. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.checkAlive();
    this.#endPass();
    this.#encoderNow().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
    this.#pendingOps++;
    this.wrote(dst);
  }

  /**
   * Note that `buffer`'s contents change (every dispatch output, copy and write calls this), so
   * anything derived from its earlier contents is stale. Kernels that write a buffer some other
   * way call it themselves.
   */
  wrote(buffer: GPUBuffer): void {
    this.#generations.set(buffer, ++this.#generationClock);
  }

  /**
   * The write generation of a buffer: changes whenever its contents may have changed (see
   * {@link Engine.wrote}). Caches of derived data (packed weight textures) compare it.
   */
  generation(buffer: GPUBuffer): number {
    return this.#generations.get(buffer) ?? 0;
  }

  /** Encode a buffer-to-texture copy, in order with the work around it. */
  copyToTexture(
    src: GPUTexelCopyBufferInfo,
    dst: GPUTexelCopyTextureInfo,
    size: GPUExtent3D,
  ): void {
    this.checkAlive();
    this.#endPass();
    this.#encoderNow().copyBufferToTexture(src, dst, size);
    this.#pendingOps++;
  }

  /** Submit everything encoded so far. */
  flush(): void {
    this.#endPass();
    if (!this.#encoder) return;
    if (this.#arenaUsed > 0) {
      this.device.queue.writeBuffer(this.#arena, 0, this.#arenaData, 0, this.#arenaUsed);
    }
    this.device.queue.submit([this.#encoder.finish()]);
    this.#encoder = null;
    this.#arenaUsed = 0;
    this.#pendingOps = 0;
    this.#counts.submits++;
    for (const b of this.#trash) b.destroy();
    this.#trash = [];
  }

  /** Write bytes into a buffer, in order with the work encoded before it. */
  write(buffer: GPUBuffer, offset: number, data: ArrayBufferView): void {
    this.checkAlive();
    this.wrote(buffer);
    const src = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    const padded = Math.ceil(src.byteLength / 4) * 4;
    if (this.#pendingOps === 0) {
      // Nothing encoded yet: queue.writeBuffer is ordered correctly.
      if (padded === src.byteLength) this.device.queue.writeBuffer(buffer, offset, src);
      else {
        const tmp = new Uint8Array(padded);
        tmp.set(src);
        this.device.queue.writeBuffer(buffer, offset, tmp);
      }
      return;
    }
    // Work is pending that may still read this (recycled) buffer; queue.writeBuffer would run
    // before it. Stage the bytes and copy them in order instead.
    const staging = this.device.createBuffer({
      size: Math.max(4, padded),
      usage: GPUBufferUsage.COPY_SRC,
      mappedAtCreation: true,
      label: "glassbox upload",
    });
    new Uint8Array(staging.getMappedRange()).set(src);
    staging.unmap();
    this.copy(staging, 0, buffer, offset, padded);
    this.#trash.push(staging);
  }

  /**
   * Read several byte ranges back with one submit and one map. The ranges are copied in order
   * with the work encoded before this call.
   */
  async readRanges(
    ranges: { buffer: GPUBuffer; offset: number; bytes: number }[],
  ): Promise<ArrayBuffer[]> {
    this.checkAlive();
    // Copies must start and end on 4-byte boundaries: widen each range, slice it back after.
    const slots = ranges.map((r) => {
      const start = r.offset & ~3;
      return {
        start,
        skew: r.offset - start,
        len: Math.ceil((r.offset - start + r.bytes) / 4) * 4,
      };
    });
    const total = slots.reduce((a, s) => a + s.len, 0);
    const staging = this.device.createBuffer({
      size: Math.max(4, total),
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      label: "glassbox readback",
    });
    this.#endPass();
    const enc = this.#encoderNow();
    let at = 0;
    for (let i = 0; i < ranges.length; i++) {
      const s = slots[i];
      if (s.len > 0) enc.copyBufferToBuffer(ranges[i].buffer, s.start, staging, at, s.len);
      at += s.len;
    }
    this.flush();
    const errors = this.checkErrors();
    try {
      try {
        await Promise.race([staging.mapAsync(GPUMapMode.READ), this.#lostPromise]);
      } catch (e) {
        // A lost device makes mapAsync fail with a generic error; report the loss instead.
        await Promise.race([this.#lostPromise, new Promise((r) => setTimeout(r, 200))]).catch(
          () => {},
        );
        if (this.#lost) throw this.#lost;
        throw e;
      }
      await errors;
      const mapped = staging.getMappedRange();
      const out: ArrayBuffer[] = [];
      at = 0;
      for (let i = 0; i < ranges.length; i++) {
        const s = slots[i];
        out.push(mapped.slice(at + s.skew, at + s.skew + ranges[i].bytes));
        at += s.len;
      }
      staging.unmap();
      return out;
    } finally {
      staging.destroy();
    }
  }

  /** Wait until the GPU has finished everything submitted. */
  async sync(): Promise<void> {
    this.flush();
    await Promise.race([this.device.queue.onSubmittedWorkDone(), this.#lostPromise]);
    await this.checkErrors();
  }

  // ---------------------------------------------------------------- memory

  /** Count a new live tensor holding `bytes` of new storage (0 for a view). */
  track(t: Tracked, newBytes: number): void {
    this.#live.tensors++;
    this.addBytes(newBytes);
    const top = this.#scopes[this.#scopes.length - 1];
    if (top) top.add(t);
  }

  /** Count a tensor disposed. */
  untrack(t: Tracked): void {
    this.#live.tensors--;
    for (const s of this.#scopes) s.delete(t);
  }

  /** Adjust live storage bytes (storage freed: negative). */
  addBytes(bytes: number): void {
    this.#live.bytes += bytes;
    if (this.#live.bytes > this.#live.peak) this.#live.peak = this.#live.bytes;
  }

  /** Reset the peak counters to the present values. */
  resetPeak(): void {
    this.#live.peak = this.#live.bytes;
  }

  memory(): MemoryInfo {
    return {
      ...this.pool.stats(),
      liveTensors: this.#live.tensors,
      liveBytes: this.#live.bytes,
      peakBytes: this.#live.peak,
      pipelines: this.#pipelines.size,
      submits: this.#counts.submits,
      dispatches: this.#counts.dispatches,
    };
  }

  /** Open a scope: tensors created until the matching {@link endScope} belong to it. */
  beginScope(): void {
    this.#scopes.push(new Set());
  }

  /** Close a scope, disposing what it created except `keep`; kept ones move to the parent scope. */
  endScope(keep: Set<Tracked>): void {
    const s = this.#scopes.pop();
    if (!s) throw new Error("Cannot end scope: no scope is open");
    const parent = this.#scopes[this.#scopes.length - 1];
    for (const t of s) {
      if (keep.has(t)) {
        parent?.add(t);
      } else if (!t.isDisposed) t.dispose();
    }
  }

  /** Remove a tensor from every open scope (it outlives them). */
  keep(t: Tracked): void {
    for (const s of this.#scopes) s.delete(t);
  }
}

let current: Engine | null = null;
let pending: Promise<Engine> | null = null;

/**
 * Start glassbox: get a device (see {@link requestGpu}) and make it the default engine.
 * Calling it again returns the same engine.
 *
 * @example
 * ```ts
 * const engine = await init();
 * console.log(engine.gpu.info.description);
 * ```
 */
export function init(opts: RequestGpuOptions = {}): Promise<Engine> {
  if (current) return Promise.resolve(current);
  if (!pending) {
    pending = requestGpu(opts).then((gpu) => (current = new Engine(gpu))).catch((e) => {
      pending = null;
      throw e;
    });
  }
  return pending;
}

/** The default engine; throws if {@link init} has not finished. */
export function engine(): Engine {
  if (!current) {
    throw new Error("glassbox has no GPU device yet: call `await init()` before making tensors");
  }
  return current;
}

/** The default engine, or null before {@link init}. */
export function maybeEngine(): Engine | null {
  return current;
}
