/**
 * Deno-only file adapters for checkpoints: folders on disk as a {@link CheckpointSource} /
 * {@link CheckpointSink}, random-access file readers, streaming file writers, and
 * `loadCheckpoint` / `saveCheckpoint` taking a folder path. The browser bundle never imports
 * this module (use `filesSource` and `MemorySink` from `checkpoint.ts` there).
 *
 * @module
 */

import type { HookedTransformer } from "../model/hooked_transformer.ts";
import {
  type ByteReader,
  type ByteWriter,
  CheckpointError,
  type CheckpointSink,
  type CheckpointSource,
  loadCheckpoint as loadFrom,
  type LoadOptions,
  saveCheckpoint as saveTo,
} from "./checkpoint.ts";

function join(dir: string, file: string): string {
  return dir.endsWith("/") ? dir + file : `${dir}/${file}`;
}

/**
 * A random-access reader of a file on disk (reads are serialised; each returns a fresh array).
 *
 * @example
 * ```ts
 * const r = await fileReader("gpt2/model.safetensors");
 * const prefix = await r.read(0, 8);
 * r.close();
 * ```
 */
export async function fileReader(path: string): Promise<ByteReader & { close(): void }> {
  const file = await Deno.open(path, { read: true });
  let size: number;
  try {
    size = (await file.stat()).size;
  } catch (e) {
    file.close();
    throw e;
  }
  let chain: Promise<unknown> = Promise.resolve();
  let closed = false;
  const readAt = async (offset: number, length: number): Promise<Uint8Array> => {
    const out = new Uint8Array(length);
    await file.seek(offset, Deno.SeekMode.Start);
    let at = 0;
    while (at < length) {
      const n = await file.read(out.subarray(at));
      if (n === null) break;
      at += n;
    }
    return at === length ? out : out.subarray(0, at);
  };
  return {
    size,
    read: (offset, length) => {
      const p = chain.then(() => readAt(offset, length));
      chain = p.catch(() => {});
      return p;
    },
    close: () => {
      if (!closed) file.close();
      closed = true;
    },
  };
}

/**
 * A streaming writer of a file on disk (created or truncated).
 *
 * @example
 * ```ts
 * const w = await fileWriter("out.safetensors");
 * await w.write(bytes);
 * await w.close();
 * ```
 */
export async function fileWriter(path: string): Promise<ByteWriter> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  let closed = false;
  return {
    write: async (bytes) => {
      let at = 0;
      while (at < bytes.length) at += await file.write(bytes.subarray(at));
    },
    close: () => {
      if (!closed) file.close();
      closed = true;
      return Promise.resolve();
    },
  };
}

/** Whether `path` exists and is a folder; throws a CheckpointError naming it otherwise. */
async function checkDir(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new CheckpointError(`Cannot load ${path}: there is no such folder`);
    }
    throw e;
  }
  if (!info.isDirectory) {
    throw new CheckpointError(
      `Cannot load ${path}: it is a file, not a checkpoint folder (config.json + model.safetensors)`,
    );
  }
}

/**
 * A checkpoint folder on disk as a source (missing files read as null).
 *
 * @example
 * ```ts
 * const model = await loadCheckpoint(dirSource("gpt2"));
 * ```
 */
export function dirSource(dir: string): CheckpointSource {
  return {
    name: dir,
    readText: async (file) => {
      try {
        return await Deno.readTextFile(join(dir, file));
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return null;
        throw e;
      }
    },
    open: async (file) => {
      try {
        return await fileReader(join(dir, file));
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return null;
        throw e;
      }
    },
  };
}

/**
 * A folder on disk as a sink (created, with parents, on first write).
 *
 * @example
 * ```ts
 * await saveCheckpoint(model, dirSink("out/model"));
 * ```
 */
export function dirSink(dir: string): CheckpointSink {
  return {
    name: dir,
    writeText: async (file, text) => {
      await Deno.mkdir(dir, { recursive: true });
      await Deno.writeTextFile(join(dir, file), text);
    },
    create: async (file) => {
      await Deno.mkdir(dir, { recursive: true });
      return await fileWriter(join(dir, file));
    },
  };
}

/**
 * Load a checkpoint folder (Hugging Face GPT-2 or glassbox) from disk; see `loadCheckpoint` in
 * `checkpoint.ts`.
 *
 * @example
 * ```ts
 * const model = await loadCheckpoint("models/gpt2", { process: true });
 * ```
 */
export async function loadCheckpoint(
  dir: string | CheckpointSource,
  opts: LoadOptions = {},
): Promise<HookedTransformer> {
  if (typeof dir !== "string") return await loadFrom(dir, opts);
  await checkDir(dir);
  return await loadFrom(dirSource(dir), opts);
}

/**
 * Save `model` as a glassbox checkpoint folder on disk (config.json + model.safetensors).
 *
 * @example
 * ```ts
 * await saveCheckpoint(model, "out/my-model");
 * ```
 */
export async function saveCheckpoint(
  model: HookedTransformer,
  dir: string | CheckpointSink,
): Promise<void> {
  await saveTo(model, typeof dir === "string" ? dirSink(dir) : dir);
}
