/**
 * A pool of GPU storage buffers, by size class. Freed buffers wait here for the next tensor of
 * the same class, so a training loop allocates nothing after its first step.
 *
 * @module
 */

/** Round a byte count up to its size class: 256-byte steps below 4 KiB, then 8 classes per octave. */
export function sizeClass(bytes: number): number {
  const b = Math.max(16, bytes);
  if (b <= 4096) return Math.ceil(b / 256) * 256;
  const octave = 2 ** Math.floor(Math.log2(b));
  const step = octave / 8;
  return Math.ceil(b / step) * step;
}

/** Counters of the pool's GPU memory. */
export interface PoolStats {
  /** Bytes of GPU buffers that exist, in use or waiting in the pool. */
  gpuBytes: number;
  /** Largest `gpuBytes` seen. */
  peakGpuBytes: number;
  /** Bytes waiting in the pool. */
  freeBytes: number;
  /** Number of buffers that exist. */
  buffers: number;
}

export const STORAGE_USAGE = 0x80 /* STORAGE */ | 0x4 /* COPY_SRC */ | 0x8 /* COPY_DST */;

/** Size-class pool of storage buffers. */
export class BufferPool {
  #free = new Map<number, GPUBuffer[]>();
  #stats: PoolStats = { gpuBytes: 0, peakGpuBytes: 0, freeBytes: 0, buffers: 0 };
  /** Most bytes kept waiting; beyond it freed buffers are destroyed. */
  maxFreeBytes = 1 << 30;

  constructor(private device: GPUDevice) {}

  /** A buffer of at least `bytes` bytes (its size is the size class). */
  acquire(bytes: number, label?: string): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.#free.get(size);
    const reused = list?.pop();
    if (reused) {
      this.#stats.freeBytes -= size;
      return reused;
    }
    const buffer = this.device.createBuffer({ size, usage: STORAGE_USAGE, label });
    this.#stats.gpuBytes += size;
    this.#stats.buffers++;
    if (this.#stats.gpuBytes > this.#stats.peakGpuBytes) {
      this.#stats.peakGpuBytes = this.#stats.gpuBytes;
    }
    return buffer;
  }

  /** Give a buffer back for reuse. */
  release(buffer: GPUBuffer): void {
    const size = buffer.size;
    if (this.#stats.freeBytes + size > this.maxFreeBytes) {
      buffer.destroy();
      this.#stats.gpuBytes -= size;
      this.#stats.buffers--;
      return;
    }
    let list = this.#free.get(size);
    if (!list) this.#free.set(size, list = []);
    list.push(buffer);
    this.#stats.freeBytes += size;
  }

  /** Destroy every waiting buffer. */
  purge(): void {
    for (const list of this.#free.values()) {
      for (const b of list) {
        this.#stats.gpuBytes -= b.size;
        this.#stats.buffers--;
        b.destroy();
      }
    }
    this.#free.clear();
    this.#stats.freeBytes = 0;
  }

  stats(): PoolStats {
    return { ...this.#stats };
  }
}
