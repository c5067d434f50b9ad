import assert from "node:assert/strict";
import { NoAdapterError, requestGpu } from "../../src/gpu/device.ts";

function withGpu<T>(gpu: unknown, fn: () => Promise<T>): Promise<T> {
  const desc = Object.getOwnPropertyDescriptor(navigator, "gpu") ??
    Object.getOwnPropertyDescriptor(Object.getPrototypeOf(navigator), "gpu");
  Object.defineProperty(navigator, "gpu", { value: gpu, configurable: true });
  return fn().finally(() => {
    delete (navigator as unknown as Record<string, unknown>).gpu;
    if (desc && !Object.getOwnPropertyDescriptor(Object.getPrototypeOf(navigator), "gpu")) {
      Object.defineProperty(navigator, "gpu", desc);
    }
  });
}

Deno.test("requestGpu() without an adapter says how to get one", async () => {
  await withGpu({ requestAdapter: () => Promise.resolve(null) }, async () => {
    await assert.rejects(
      requestGpu(),
      (e: Error) =>
        e instanceof NoAdapterError && /requestAdapter\(\) returned null/.test(e.message) &&
        /mesa-vulkan-drivers/.test(e.message),
    );
  });
});

Deno.test("requestGpu() without WebGPU at all says so", async () => {
  await withGpu(undefined, async () => {
    await assert.rejects(requestGpu(), /navigator\.gpu is missing/);
  });
});
