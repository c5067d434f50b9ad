/**
 * tfjs with its WebGPU backend for the op benchmarks (bench/ops.ts), loaded lazily so that a
 * failure becomes a reported error instead of a crash. To be replaced by the shared setup in
 * bench/_peers.ts once that exists.
 *
 * @module
 */

/** The tfjs-core namespace. */
export type Tf = typeof import("@tensorflow/tfjs-core");

/** Load tfjs-core and tfjs-backend-webgpu, select the WebGPU backend and wait until ready. */
export async function setupTfjs(): Promise<{ tf: Tf; adapter: string | null }> {
  const tf = await import("@tensorflow/tfjs-core");
  await import("@tensorflow/tfjs-backend-webgpu");
  const ok = await tf.setBackend("webgpu");
  if (!ok) throw new Error(`tf.setBackend("webgpu") failed (backend is ${tf.getBackend()})`);
  await tf.ready();
  if (tf.getBackend() !== "webgpu") {
    throw new Error(`tfjs fell back to the ${tf.getBackend()} backend`);
  }
  // The backend keeps the adapter's vendor/architecture in private fields: best effort only.
  const info = (tf.backend() as unknown as { adapterInfo?: Record<string, unknown> }).adapterInfo;
  const parts = info
    ? [info.vendor, info.architecture].filter((v) => typeof v === "string" && v)
    : [];
  return { tf, adapter: parts.length ? parts.join(" ") : null };
}
