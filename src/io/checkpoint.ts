/**
 * Checkpoint folders: `config.json` + `model.safetensors`.
 *
 * {@link loadCheckpoint} reads either kind, told apart by `config.json`:
 * - a Hugging Face GPT-2 folder (gpt2, distilgpt2, gpt2-medium, ...: `model_type` "gpt2"),
 *   converted on the way in (see `gpt2.ts`);
 * - a glassbox folder, written by {@link saveCheckpoint}: `config.json` is
 *   `{"format": "glassbox", "format_version": 1, "config": {...HookedTransformerConfig}}` and
 *   `model.safetensors` holds every parameter under its TransformerLens name, F32, readable by
 *   NumPy's and PyTorch's `safetensors`.
 *
 * Files come through a {@link CheckpointSource} and go to a {@link CheckpointSink}, so this
 * module runs in browsers: {@link filesSource} reads `File`s (a folder picked with
 * `<input type="file" webkitdirectory>`), {@link MemorySink} collects `File`s to download. The
 * Deno adapters for folders on disk are in `fs.ts`. Weights stream one tensor at a time: a file
 * is never held whole, in memory or as JS numbers.
 *
 * @module
 */

import { engine as defaultEngine } from "../gpu/engine.ts";
import { type HookedTransformerConfig, makeConfig, paramShapes } from "../model/config.ts";
import { HookedTransformer } from "../model/hooked_transformer.ts";
import {
  type HostStateDict,
  paramGroups,
  processedConfig,
  processStateDict,
  uploadHost,
} from "../model/processing.ts";
import type { Tensor } from "../tensor.ts";
import {
  checkEntry,
  CheckpointError,
  isGpt2Config,
  loadGpt2,
  type LoadOptions,
  processOptionsOf,
  readF32,
} from "./gpt2.ts";
import {
  dtypeByteSize,
  elementCount,
  openSafetensors,
  type SafetensorsDtype,
  SafetensorsError,
  type SafetensorsStream,
} from "./safetensors.ts";

export { CheckpointError, type LoadOptions } from "./gpt2.ts";

/** Random access to the bytes of one file. */
export interface ByteReader {
  /** Size of the file in bytes. */
  readonly size: number;
  /** Exactly `length` bytes at `offset`, in a fresh array. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Release the file (optional). */
  close?(): void | Promise<void>;
}

/** Sequential writing of one file. */
export interface ByteWriter {
  /** Append bytes (the writer may keep no reference once the promise settles). */
  write(bytes: Uint8Array): Promise<void>;
  /** Finish the file. */
  close(): Promise<void>;
}

/** Where a checkpoint's files come from (a folder on disk, picked `File`s, ...). */
export interface CheckpointSource {
  /** Names the checkpoint in messages (a path). */
  readonly name: string;
  /** The text of a small file, or null when there is no such file. */
  readText(file: string): Promise<string | null>;
  /** A reader of a (large) file, or null when there is no such file. */
  open(file: string): Promise<ByteReader | null>;
}

/** Where a checkpoint's files go. */
export interface CheckpointSink {
  /** Names the destination in messages (a path). */
  readonly name: string;
  /** Write a small text file. */
  writeText(file: string, text: string): Promise<void>;
  /** Start a (large) file. */
  create(file: string): Promise<ByteWriter>;
}

/** `format` of a glassbox checkpoint's config.json. */
export const GLASSBOX_FORMAT = "glassbox";
/** `format_version` written by {@link saveCheckpoint}. */
export const GLASSBOX_FORMAT_VERSION = 1;

/** The two kinds of checkpoint folder. */
export type CheckpointKind = "glassbox" | "hf-gpt2";

/**
 * Which kind of checkpoint a parsed config.json describes, or an error saying why neither.
 *
 * @example
 * ```ts
 * checkpointKind({ model_type: "gpt2", n_layer: 12 }); // "hf-gpt2"
 * ```
 */
export function checkpointKind(json: unknown, where = "config.json"): CheckpointKind {
  if (json !== null && typeof json === "object" && !Array.isArray(json)) {
    const j = json as Record<string, unknown>;
    if (j.format === GLASSBOX_FORMAT) return "glassbox";
    if (isGpt2Config(json)) return "hf-gpt2";
    const mt = j.model_type !== undefined
      ? `; its model_type is ${JSON.stringify(j.model_type)}`
      : "";
    throw new CheckpointError(
      `Cannot load ${where}: it is neither a glassbox config ("format": "glassbox") nor a ` +
        `Hugging Face GPT-2 config ("model_type": "gpt2")${mt}`,
    );
  }
  throw new CheckpointError(`Cannot load ${where}: it is not a JSON object`);
}

/**
 * A reader over a `Blob` / `File` (browsers, and Deno).
 *
 * @example
 * ```ts
 * const r = blobReader(file);
 * const head = await r.read(0, 8);
 * ```
 */
export function blobReader(blob: Blob): ByteReader {
  return {
    size: blob.size,
    read: async (offset, length) =>
      new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer()),
  };
}

/**
 * A source over `File`s (e.g. a folder picked in a browser): files are matched by base name.
 *
 * @example
 * ```ts
 * const model = await loadCheckpoint(filesSource(input.files!));
 * ```
 */
export function filesSource(
  files: Iterable<File> | ArrayLike<File>,
  name = "the chosen files",
): CheckpointSource {
  const list = Symbol.iterator in Object(files)
    ? [...(files as Iterable<File>)]
    : Array.from(files as ArrayLike<File>);
  const find = (file: string) => list.find((f) => f.name.split("/").pop() === file) ?? null;
  return {
    name,
    readText: async (file) => {
      const f = find(file);
      return f ? await f.text() : null;
    },
    open: (file) => {
      const f = find(file);
      return Promise.resolve(f ? blobReader(f) : null);
    },
  };
}

/**
 * A sink that keeps the files in memory, as `Blob` parts (for a browser download).
 *
 * @example
 * ```ts
 * const sink = new MemorySink();
 * await saveCheckpoint(model, sink);
 * const files = sink.files(); // [config.json, model.safetensors]
 * ```
 */
export class MemorySink implements CheckpointSink {
  readonly name: string;
  #files = new Map<string, BlobPart[]>();
  constructor(name = "memory") {
    this.name = name;
  }
  writeText(file: string, text: string): Promise<void> {
    this.#files.set(file, [text]);
    return Promise.resolve();
  }
  create(file: string): Promise<ByteWriter> {
    const parts: BlobPart[] = [];
    this.#files.set(file, parts);
    return Promise.resolve({
      write: (bytes: Uint8Array) => {
        parts.push(bytes.slice() as Uint8Array<ArrayBuffer>);
        return Promise.resolve();
      },
      close: () => Promise.resolve(),
    });
  }
  /** The files written so far. */
  files(): File[] {
    return [...this.#files].map(([n, parts]) => new File(parts, n));
  }
}

// ---------------------------------------------------------------------------- safetensors out

/** One tensor for {@link writeSafetensorsStream}: its data is produced only when written. */
export interface StreamTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: readonly number[];
  /** The little-endian elements, asked for once, in file order. */
  data: () => ArrayBufferView | Promise<ArrayBufferView>;
}

/** The reference writer's dtype order (larger elements first); see safetensors.ts. */
const WRITE_RANK: Readonly<Record<SafetensorsDtype, number>> = {
  BOOL: 0,
  U8: 1,
  I8: 2,
  F16: 3,
  BF16: 4,
  I32: 5,
  U32: 6,
  F32: 7,
  F64: 8,
  I64: 9,
};

/** Compare strings by code point (UTF-8 byte order). */
function byCodePoint(a: string, b: string): number {
  const x = Array.from(a, (c) => c.codePointAt(0)!);
  const y = Array.from(b, (c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/**
 * Write a safetensors file to `writer` one tensor at a time (each tensor's data is asked for
 * just before it is written), byte-identical to `writeSafetensors` of the same tensors:
 * tensors in the reference dtype order then by name, header padded to a multiple of 8.
 *
 * @example
 * ```ts
 * await writeSafetensorsStream(writer, [
 *   { name: "logits", dtype: "F32", shape: [1, 3, 50], data: () => logits.read() },
 * ], { format: "pt" });
 * ```
 */
export async function writeSafetensorsStream(
  writer: ByteWriter,
  tensors: readonly StreamTensor[],
  metadata?: Readonly<Record<string, string>>,
): Promise<void> {
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name) || t.name === "__metadata__") {
      throw new SafetensorsError(
        "bad-entry",
        `Cannot write safetensors: tensor name ${JSON.stringify(t.name)} is repeated or reserved`,
        { key: t.name },
      );
    }
    seen.add(t.name);
  }
  const items = [...tensors].sort((a, b) =>
    WRITE_RANK[b.dtype] - WRITE_RANK[a.dtype] || byCodePoint(a.name, b.name)
  );
  const parts: string[] = [];
  if (metadata) {
    const kv = Object.keys(metadata).sort(byCodePoint).map((k) =>
      `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`
    );
    parts.push(`"__metadata__":{${kv.join(",")}}`);
  }
  let offset = 0;
  const sizes: number[] = [];
  for (const it of items) {
    const bytes = elementCount(it.shape) * dtypeByteSize(it.dtype);
    sizes.push(bytes);
    parts.push(
      `${JSON.stringify(it.name)}:{"dtype":"${it.dtype}","shape":[${
        it.shape.join(",")
      }],"data_offsets":[${offset},${offset + bytes}]}`,
    );
    offset += bytes;
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const headerSize = json.length + ((8 - (json.length % 8)) % 8);
  const head = new Uint8Array(8 + headerSize);
  const dv = new DataView(head.buffer);
  dv.setUint32(0, headerSize, true);
  dv.setUint32(4, 0, true);
  head.set(json, 8);
  head.fill(0x20, 8 + json.length);
  await writer.write(head);
  for (let i = 0; i < items.length; i++) {
    const d = await items[i].data();
    if (d.byteLength !== sizes[i]) {
      throw new SafetensorsError(
        "shape-mismatch",
        `Cannot write safetensors: tensor ${JSON.stringify(items[i].name)} has ${d.byteLength} ` +
          `bytes of data but shape [${items[i].shape.join(", ")}] of ${items[i].dtype} needs ${
            sizes[i]
          }`,
        { key: items[i].name },
      );
    }
    await writer.write(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
}

// ---------------------------------------------------------------------------- save

/**
 * The config.json text of a glassbox checkpoint.
 *
 * @example
 * ```ts
 * JSON.parse(glassboxConfigJson(model.cfg)).format; // "glassbox"
 * ```
 */
export function glassboxConfigJson(cfg: HookedTransformerConfig): string {
  return JSON.stringify(
    { format: GLASSBOX_FORMAT, format_version: GLASSBOX_FORMAT_VERSION, config: cfg },
    null,
    2,
  ) + "\n";
}

/**
 * Write `model` as a glassbox checkpoint: `config.json` and `model.safetensors` (F32, TL
 * names, `{"format": "pt"}` metadata), reading the parameters back one at a time.
 *
 * @example
 * ```ts
 * const sink = new MemorySink();
 * await saveCheckpoint(model, sink);
 * const again = await loadCheckpoint(filesSource(sink.files()));
 * ```
 */
export async function saveCheckpoint(
  model: HookedTransformer,
  sink: CheckpointSink,
): Promise<void> {
  const cfg = model.cfg;
  const params = model.stateDict();
  const tensors: StreamTensor[] = [...paramShapes(cfg)].map(([name, shape]) => ({
    name,
    dtype: "F32",
    shape,
    data: async () => {
      const t = params.get(name)!;
      return await t.read();
    },
  }));
  await sink.writeText("config.json", glassboxConfigJson(cfg));
  const w = await sink.create("model.safetensors");
  try {
    await writeSafetensorsStream(w, tensors, { format: "pt" });
  } finally {
    await w.close();
  }
}

// ---------------------------------------------------------------------------- load

/**
 * A parsed glassbox config.json → its config (validated by `makeConfig`; errors name `where`).
 *
 * @example
 * ```ts
 * const cfg = glassboxConfig(JSON.parse(text), "model/config.json");
 * ```
 */
export function glassboxConfig(json: unknown, where = "config.json"): HookedTransformerConfig {
  const j = json as Record<string, unknown>;
  if (j.format_version !== undefined && j.format_version !== GLASSBOX_FORMAT_VERSION) {
    throw new CheckpointError(
      `Cannot load ${where}: format_version ${JSON.stringify(j.format_version)} is not ` +
        `supported (this glassbox reads version ${GLASSBOX_FORMAT_VERSION})`,
    );
  }
  const c = j.config;
  if (c === null || typeof c !== "object" || Array.isArray(c)) {
    throw new CheckpointError(`Cannot load ${where}: "config" is missing or not an object`);
  }
  try {
    return makeConfig(c as HookedTransformerConfig);
  } catch (e) {
    throw new CheckpointError(`Cannot load ${where}: ${(e as Error).message}`);
  }
}

/** Load a glassbox checkpoint's weights from an opened model.safetensors. */
async function loadGlassbox(
  st: SafetensorsStream,
  cfg: HookedTransformerConfig,
  opts: LoadOptions,
  where: string,
): Promise<HookedTransformer> {
  const shapes = paramShapes(cfg);
  const against = "config.json";
  const unexpected = st.tensors.map((e) => e.name).filter((n) => !shapes.has(n));
  for (const [name, shape] of shapes) {
    if (!st.has(name)) {
      const missing = [...shapes.keys()].filter((n) => !st.has(n));
      throw new CheckpointError(
        `Cannot load ${where}: ${missing.length} parameter(s) that config.json needs are ` +
          `missing: ${missing.slice(0, 8).join(", ")}${missing.length > 8 ? ", ..." : ""}`,
        name,
      );
    }
    checkEntry(st.entry(name), shape, where, against);
  }
  if (unexpected.length > 0) {
    throw new CheckpointError(
      `Cannot load ${where}: ${unexpected.length} tensor(s) are not parameters of config.json's ` +
        `model: ${unexpected.slice(0, 8).join(", ")}${unexpected.length > 8 ? ", ..." : ""}`,
      unexpected[0],
    );
  }
  const eng = opts.engine ?? defaultEngine();
  const proc = processOptionsOf(opts.process);
  const out = new Map<string, Tensor>();
  try {
    for (const group of paramGroups(cfg)) {
      const sd: HostStateDict = new Map();
      for (const name of group) {
        sd.set(name, { data: await readF32(st, name), shape: shapes.get(name)! });
      }
      if (proc) processStateDict(cfg, sd, proc);
      uploadHost(eng, sd, out);
    }
    return HookedTransformer.fromStateDict(proc ? processedConfig(cfg, proc) : cfg, out);
  } catch (e) {
    for (const t of out.values()) t.dispose();
    throw e;
  }
}

/**
 * Load a checkpoint folder (Hugging Face GPT-2 or glassbox, told apart by config.json) into a
 * {@link HookedTransformer}, streaming the weights into GPU buffers. `opts.process` applies TL's
 * weight processing on the way (default: none). Errors are {@link CheckpointError}s (missing
 * files, unknown configs, weights that disagree with the config: the key, the expected and the
 * actual shape) or `SafetensorsError`s (a damaged file).
 *
 * @example
 * ```ts
 * const model = await loadCheckpoint(filesSource(input.files!), { process: true });
 * ```
 */
export async function loadCheckpoint(
  source: CheckpointSource | Iterable<File> | ArrayLike<File>,
  opts: LoadOptions = {},
): Promise<HookedTransformer> {
  const src = isSource(source) ? source : filesSource(source);
  const text = await src.readText("config.json");
  if (text === null) throw new CheckpointError(`Cannot load ${src.name}: it has no config.json`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(
      `Cannot load ${src.name}/config.json: it is not valid JSON (${(e as Error).message})`,
    );
  }
  const kind = checkpointKind(json, `${src.name}/config.json`);
  // Check the config before touching the weights.
  const cfg = kind === "glassbox" ? glassboxConfig(json, `${src.name}/config.json`) : null;
  const reader = await src.open("model.safetensors");
  if (reader === null) {
    throw new CheckpointError(
      `Cannot load ${src.name}: it has no model.safetensors (PyTorch .bin checkpoints are not ` +
        `read: save the model with safe_serialization=True)`,
    );
  }
  try {
    const st = await openSafetensors((o, l) => reader.read(o, l), reader.size);
    const where = `${src.name}/model.safetensors`;
    return kind === "glassbox"
      ? await loadGlassbox(st, cfg!, opts, where)
      : await loadGpt2(st, json, opts, src.name);
  } finally {
    await reader.close?.();
  }
}

function isSource(x: unknown): x is CheckpointSource {
  return x !== null && typeof x === "object" &&
    typeof (x as CheckpointSource).readText === "function" &&
    typeof (x as CheckpointSource).open === "function";
}
