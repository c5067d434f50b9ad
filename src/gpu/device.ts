/**
 * Getting a WebGPU device, in Deno and in a browser, with the adapter's largest useful limits
 * and the optional features glassbox can use (`shader-f16`, `subgroups`, `timestamp-query`).
 *
 * @module
 */

/** What the adapter and device turned out to be. */
export interface GpuInfo {
  /** Adapter description, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  description: string;
  vendor: string;
  architecture: string;
  /** Backend as far as it can be told ("vulkan", "gl", "webgpu" in a browser, ...). */
  backend: string;
  /** True for software adapters (lavapipe, llvmpipe, SwiftShader, WARP): they prefer CPU-shaped kernels. */
  isCpu: boolean;
  /** Optional features that were turned on. */
  features: string[];
  /** The limits the device was created with (the ones glassbox cares about). */
  limits: Record<string, number>;
}

/** Options for {@link requestGpu}. */
export interface RequestGpuOptions {
  /** "high-performance" by default. */
  powerPreference?: GPUPowerPreference;
  /** Turn off optional features even where present (for testing the fallbacks). */
  disableFeatures?: string[];
}

/** A device plus what glassbox learned about it. */
export interface Gpu {
  adapter: GPUAdapter;
  device: GPUDevice;
  info: GpuInfo;
  /** Resolves when the device is lost; glassbox rejects pending work then. */
  lost: Promise<GPUDeviceLostInfo>;
  /** Set once the device is lost. */
  lostInfo: GPUDeviceLostInfo | null;
}

const WANTED_FEATURES = ["shader-f16", "subgroups", "timestamp-query"] as const;

/** Limits raised to the adapter's maximum where the adapter offers more than the default. */
const WANTED_LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxStorageBuffersPerShaderStage",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupSizeZ",
  "maxComputeWorkgroupsPerDimension",
  "maxUniformBufferBindingSize",
  "maxBindGroups",
  "maxTextureDimension2D",
  "maxSampledTexturesPerShaderStage",
] as const;

/** Thrown when no WebGPU adapter can be had; the message says how to get one. */
export class NoAdapterError extends Error {
  constructor(detail: string) {
    const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
    const how = isDeno
      ? "In Deno on a machine without a GPU, install Mesa's software Vulkan driver " +
        "(`apt-get install -y mesa-vulkan-drivers`), or force the OpenGL ES path with " +
        "DENO_WEBGPU_BACKEND=gl"
      : "In a browser, use one with WebGPU enabled; headless Chromium needs " +
        "--enable-unsafe-webgpu, and the page must be served from a secure context (https or localhost)";
    super(`Cannot get a WebGPU adapter: ${detail}. ${how}`);
    this.name = "NoAdapterError";
  }
}

function guessBackend(description: string): string {
  const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
  if (!isDeno) return "webgpu";
  const env = (globalThis as { Deno?: { env: { get(k: string): string | undefined } } }).Deno;
  let forced: string | undefined;
  try {
    forced = env?.env.get("DENO_WEBGPU_BACKEND");
  } catch {
    forced = undefined;
  }
  if (forced) return forced.toLowerCase();
  // Deno picks Vulkan where a driver exists, else OpenGL ES; the adapter does not say which.
  return /llvmpipe|lavapipe/i.test(description) ? "vulkan or gl (wgpu default)" : "wgpu default";
}

function isSoftware(desc: string, vendor: string, arch: string, fallback: boolean): boolean {
  if (fallback) return true;
  return /llvmpipe|lavapipe|swiftshader|software|warp|cpu/i.test(`${desc} ${vendor} ${arch}`);
}

/**
 * Get a WebGPU device with the adapter's largest useful limits and the optional features
 * glassbox uses, and report what was got.
 *
 * @example
 * ```ts
 * const gpu = await requestGpu();
 * console.log(gpu.info.description, gpu.info.features);
 * ```
 * @throws {NoAdapterError} when WebGPU or an adapter is missing; the message says how to get one.
 */
export async function requestGpu(opts: RequestGpuOptions = {}): Promise<Gpu> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (!nav?.gpu) throw new NoAdapterError("navigator.gpu is missing (no WebGPU in this runtime)");
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await nav.gpu.requestAdapter({
      powerPreference: opts.powerPreference ?? "high-performance",
    });
  } catch (e) {
    throw new NoAdapterError(`requestAdapter() failed (${(e as Error).message})`);
  }
  if (!adapter) throw new NoAdapterError("requestAdapter() returned null");

  const disabled = new Set(opts.disableFeatures ?? []);
  const features = WANTED_FEATURES.filter((f) =>
    adapter!.features.has(f) && !disabled.has(f)
  ) as GPUFeatureName[];
  const requiredLimits: Record<string, number> = {};
  const al = adapter.limits as unknown as Record<string, number>;
  for (const k of WANTED_LIMITS) {
    const v = al[k];
    if (typeof v === "number") requiredLimits[k] = v;
  }
  const device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits });

  // Adapter info: `adapter.info` in current specs, `requestAdapterInfo()` in older ones.
  // deno-lint-ignore no-explicit-any
  const a = adapter as any;
  const raw = a.info ??
    (typeof a.requestAdapterInfo === "function" ? await a.requestAdapterInfo() : {});
  const description = String(raw.description || raw.device || raw.vendor || "unknown adapter");
  const vendor = String(raw.vendor ?? "");
  const architecture = String(raw.architecture ?? "");
  const limits: Record<string, number> = {};
  const dl = device.limits as unknown as Record<string, number>;
  for (const k of WANTED_LIMITS) if (typeof dl[k] === "number") limits[k] = dl[k];
  limits.minUniformBufferOffsetAlignment = dl.minUniformBufferOffsetAlignment ?? 256;
  limits.minStorageBufferOffsetAlignment = dl.minStorageBufferOffsetAlignment ?? 256;
  if (typeof raw.subgroupMinSize === "number") limits.subgroupMinSize = raw.subgroupMinSize;
  if (typeof raw.subgroupMaxSize === "number") limits.subgroupMaxSize = raw.subgroupMaxSize;

  const gpu: Gpu = {
    adapter,
    device,
    info: {
      description,
      vendor,
      architecture,
      backend: guessBackend(description),
      isCpu: isSoftware(description, vendor, architecture, raw.isFallbackAdapter === true),
      features: [...device.features].map(String).sort(),
      limits,
    },
    lost: device.lost,
    lostInfo: null,
  };
  device.lost.then((info) => {
    gpu.lostInfo = info;
  });
  return gpu;
}
