/**
 * Peers for benchmarks: TensorFlow.js with its WebGPU backend (`@tensorflow/tfjs-core` +
 * `@tensorflow/tfjs-backend-webgpu`, 4.22), run in the same Deno process on an adapter requested
 * the way glassbox requests its own.
 *
 * @module
 */

// deno-lint-ignore-file no-explicit-any

/** The tfjs module object (`@tensorflow/tfjs-core`). */
export type Tf = typeof import("@tensorflow/tfjs-core");

/** A ready tfjs-webgpu, or why there is none. */
export type TfjsPeer =
  | { ok: true; tf: Tf; version: string; adapter: string }
  | { ok: false; error: string };

let cached: Promise<TfjsPeer> | null = null;

function describe(info: any): string {
  return String(info?.description || info?.device || info?.vendor || "unknown adapter");
}

/**
 * Start tfjs with the WebGPU backend on the adapter `navigator.gpu.requestAdapter` gives for
 * `powerPreference` (glassbox's default is "high-performance", as is tfjs's), with that adapter's
 * limits. Resolves to the tf object and the adapter's description, or to a clear reason it could
 * not (never throws). Later calls return the same peer.
 *
 * @example
 * ```ts
 * const peer = await tfjsWebgpu();
 * if (peer.ok) console.log(peer.adapter, peer.tf.matMul(peer.tf.ones([2, 2]), peer.tf.ones([2, 2])).arraySync());
 * else console.log("no tfjs:", peer.error);
 * ```
 */
export function tfjsWebgpu(
  powerPreference: GPUPowerPreference = "high-performance",
): Promise<TfjsPeer> {
  cached ??= start(powerPreference);
  return cached;
}

async function start(powerPreference: GPUPowerPreference): Promise<TfjsPeer> {
  let stage = "importing @tensorflow/tfjs-core";
  try {
    const tf: Tf = await import("@tensorflow/tfjs-core");
    stage = "importing @tensorflow/tfjs-backend-webgpu";
    const webgpu: any = await import("@tensorflow/tfjs-backend-webgpu");
    const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
    if (!nav?.gpu) {
      return { ok: false, error: "navigator.gpu is missing (no WebGPU in this runtime)" };
    }
    stage = "requesting the adapter";
    let adapterName = "";
    // Replace the backend's own factory with one that records which adapter it got.
    tf.removeBackend("webgpu");
    tf.registerBackend("webgpu", async () => {
      const adapter = await nav.gpu!.requestAdapter({ powerPreference });
      if (!adapter) throw new Error("requestAdapter() returned null");
      const info: any = (adapter as any).info ?? {};
      adapterName = describe(info);
      const requiredFeatures: GPUFeatureName[] = [];
      if (adapter.features.has("timestamp-query")) requiredFeatures.push("timestamp-query");
      const l = adapter.limits;
      const device = await adapter.requestDevice({
        requiredFeatures,
        requiredLimits: {
          maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
          maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
          maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
          maxBufferSize: l.maxBufferSize,
          maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
          maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
        },
      });
      return new webgpu.WebGPUBackend(device, info);
    }, 3);
    stage = "setting the webgpu backend";
    const ok = await tf.setBackend("webgpu");
    await tf.ready();
    if (!ok || tf.getBackend() !== "webgpu") {
      return { ok: false, error: `tf.setBackend("webgpu") failed (backend is ${tf.getBackend()})` };
    }
    stage = "running a 2x2 matMul";
    const check = tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([1, 0, 0, 1], [2, 2]));
    const v = await check.data();
    check.dispose();
    if (v[0] !== 1 || v[3] !== 4) {
      return { ok: false, error: `tfjs-webgpu computed a wrong 2x2 product (${v})` };
    }
    return { ok: true, tf, version: tf.version_core, adapter: adapterName };
  } catch (e) {
    return { ok: false, error: `tfjs-webgpu failed while ${stage}: ${(e as Error)?.message ?? e}` };
  }
}
