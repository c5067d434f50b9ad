/**
 * `deno task glassbox cache`: run a checkpoint on text or tokens and write the logits and the
 * requested activations to a `.safetensors` file (f32, TransformerLens hook names), readable by
 * NumPy's and PyTorch's `safetensors`.
 *
 * ```text
 * deno task glassbox cache --model DIR (--text "..." | --tokens 1,2,3 | --tokens-npy FILE)
 *                          [--names REGEX] [--prepend-bos] [--process] --out FILE.safetensors
 * ```
 *
 * Bad input (flags, missing files, a checkpoint that disagrees with its config, token ids past
 * the vocabulary, sequences past n_ctx, a --names that matches no hook point) exits with code 2
 * and a message naming the thing.
 *
 * @module
 */

import { init } from "../gpu/engine.ts";
import { CheckpointError, type StreamTensor, writeSafetensorsStream } from "../io/checkpoint.ts";
import { fileWriter, loadCheckpoint } from "../io/fs.ts";
import { NpyError, readNpy } from "../io/npy.ts";
import { SafetensorsError } from "../io/safetensors.ts";
import { GPT2Tokenizer } from "../io/tokenizers.ts";
import { closeNames } from "../model/hooks.ts";
import type { HookedTransformer } from "../model/hooked_transformer.ts";
import type { Tensor } from "../tensor.ts";
import { parseFlags, UsageError } from "./args.ts";

/** Where the command's lines go (stdout and stderr by default); tests capture them. */
export interface CliIO {
  log?: (line: string) => void;
  error?: (line: string) => void;
}

const USAGE =
  `usage: deno task glassbox cache --model DIR (--text "..." | --tokens 1,2,3 | --tokens-npy FILE)
                                 [--names REGEX] [--prepend-bos] [--process] --out FILE.safetensors

  --model DIR        a checkpoint folder: config.json + model.safetensors (Hugging Face GPT-2
                     or one saved by glassbox)
  --text TEXT        text, tokenized with GPT-2's tokenizer
  --tokens IDS       token ids: 1,2,3 (one sequence) or 1,2;3,4 (a batch, ';' between rows)
  --tokens-npy FILE  an integer .npy of token ids, [batch, pos] or [pos]
  --names REGEX      also write every activation whose hook name matches, e.g.
                     'blocks\\.0\\.attn\\.hook_pattern|hook_resid_post$' (default: logits only)
  --prepend-bos      put GPT-2's BOS token (50256, <|endoftext|>) before each sequence
  --process          apply TransformerLens's weight processing (fold layer norms, centre
                     writing weights and unembed, fold value biases), as from_pretrained
  --out FILE         the .safetensors file to write: "logits" and each activation by hook name`;

const FLAGS = {
  model: "string",
  text: "string",
  tokens: "string",
  "tokens-npy": "string",
  names: "string",
  "prepend-bos": "boolean",
  process: "boolean",
  out: "string",
  help: "boolean",
} as const;

/** GPT-2's `<|endoftext|>`, TransformerLens's BOS for GPT-2. */
const BOS = 50256;

function parseTokenText(v: string): number[][] {
  const parts = v.split(";").map((r) => r.trim());
  // A trailing ';' is allowed; an empty --tokens stays one (empty, rejected) row.
  const rows = parts.length > 1 ? parts.filter((r) => r !== "") : parts;
  return rows.map((row, b) => {
    const parts = row.split(",").map((s) => s.trim());
    return parts.map((s) => {
      const n = Number(s);
      if (s === "" || !Number.isInteger(n) || n < 0) {
        throw new UsageError(
          `--tokens must be non-negative integer ids separated by ',' (rows by ';'), got ` +
            `${JSON.stringify(s)} in row ${b}`,
        );
      }
      return n;
    });
  });
}

async function readTokensNpy(path: string): Promise<number[][]> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UsageError(`--tokens-npy ${path}: there is no such file`);
    }
    throw new UsageError(`--tokens-npy ${path}: cannot read it (${(e as Error).message})`);
  }
  let arr;
  try {
    arr = readNpy(bytes);
  } catch (e) {
    throw new UsageError(`--tokens-npy ${path}: ${(e as Error).message}`);
  }
  if (arr.dtype !== "<i4" && arr.dtype !== "<i8" && arr.dtype !== "<u4") {
    throw new UsageError(
      `--tokens-npy ${path} has dtype ${arr.dtype}; token ids must be int32 (<i4), int64 or uint32`,
    );
  }
  const shape = arr.shape.length === 1 ? [1, arr.shape[0]] : arr.shape;
  if (shape.length !== 2) {
    throw new UsageError(
      `--tokens-npy ${path} has shape [${arr.shape.join(", ")}]; it must be [batch, pos] or [pos]`,
    );
  }
  const [B, P] = shape;
  const data = arr.data as Int32Array | Uint32Array;
  return Array.from({ length: B }, (_, b) => Array.from(data.subarray(b * P, (b + 1) * P)));
}

/** Check token rows against the model: equal lengths, ids in the vocabulary, ≤ nCtx positions. */
function checkTokens(rows: number[][], model: HookedTransformer, dir: string, how: string): void {
  const { dVocab, nCtx } = model.cfg;
  if (rows.length === 0 || rows[0].length === 0) {
    throw new UsageError(`${how} gave no tokens`);
  }
  const P = rows[0].length;
  rows.forEach((r, b) => {
    if (r.length !== P) {
      throw new UsageError(
        `${how}: every sequence must have the same length (row 0 has ${P}, row ${b} has ${r.length})`,
      );
    }
  });
  if (P > nCtx) {
    throw new UsageError(
      `${how}: the sequence has ${P} positions, more than the model's nCtx ${nCtx} (${dir})`,
    );
  }
  rows.forEach((r, b) =>
    r.forEach((t, p) => {
      if (!Number.isInteger(t) || t < 0 || t >= dVocab) {
        throw new UsageError(
          `${how}: token id ${t} at [${b}, ${p}] is outside the model's vocabulary [0, ${dVocab}) (${dir})`,
        );
      }
    })
  );
}

/**
 * Hook names close to `pattern`: compared with every name and every dotted suffix of it
 * ("blocks.0.attn.hook_z", "attn.hook_z", "hook_z"), so a partial name finds its layers.
 */
function closeHookNames(pattern: string, names: readonly string[], n = 5): string[] {
  const owners = new Map<string, string[]>();
  for (const name of names) {
    const parts = name.split(".");
    for (let i = 0; i < parts.length; i++) {
      const suffix = parts.slice(i).join(".");
      if (!owners.has(suffix)) owners.set(suffix, []);
      owners.get(suffix)!.push(name);
    }
  }
  const out: string[] = [];
  for (const s of closeNames(pattern, owners.keys(), owners.size)) {
    for (const name of owners.get(s)!) if (!out.includes(name)) out.push(name);
    if (out.length >= n) break;
  }
  return out.slice(0, n);
}

function fmtBytes(n: number): string {
  return n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

/**
 * Run `glassbox cache` with `args` (the words after `cache`); returns the exit code: 0, 2 for
 * bad input (printed to `io.error`), 1 for any other failure.
 *
 * @example
 * ```ts
 * const code = await run(["--model", "gpt2", "--text", "Hello", "--out", "acts.safetensors"]);
 * ```
 */
export async function run(args: string[], io: CliIO = {}): Promise<number> {
  const log = io.log ?? ((s: string) => console.log(s));
  const error = io.error ?? ((s: string) => console.error(s));
  try {
    return await cache(args, log);
  } catch (e) {
    const bad = e instanceof UsageError || e instanceof CheckpointError ||
      e instanceof SafetensorsError || e instanceof NpyError;
    error(`glassbox cache: ${(e as Error).message}`);
    if (
      e instanceof UsageError && /^(unknown flag|unexpected argument|--\S+ needs)/.test(e.message)
    ) {
      error(`\n${USAGE}`);
    }
    return bad ? 2 : 1;
  }
}

async function cache(args: string[], log: (s: string) => void): Promise<number> {
  const f = parseFlags("cache", args, FLAGS);
  if (f.help) {
    log(USAGE);
    return 0;
  }
  const dir = f.model as string | undefined;
  const out = f.out as string | undefined;
  if (!dir) throw new UsageError("--model DIR is required (a checkpoint folder)");
  if (!out) throw new UsageError("--out FILE.safetensors is required");
  const sources = (["text", "tokens", "tokens-npy"] as const).filter((k) => f[k] !== undefined);
  if (sources.length !== 1) {
    throw new UsageError(
      sources.length === 0
        ? "give the input: --text, --tokens or --tokens-npy"
        : `give only one input, not ${sources.map((s) => `--${s}`).join(" and ")}`,
    );
  }
  let names: RegExp | null = null;
  if (f.names !== undefined) {
    try {
      names = new RegExp(f.names as string);
    } catch (e) {
      throw new UsageError(
        `--names ${JSON.stringify(f.names)} is not a valid regular expression: ${
          (e as Error).message
        }`,
      );
    }
  }
  // Inputs that need no GPU are read first, so their errors come fast.
  let rows: number[][] | null = null;
  let how = "";
  if (f.tokens !== undefined) {
    rows = parseTokenText(f.tokens as string);
    how = "--tokens";
  } else if (f["tokens-npy"] !== undefined) {
    rows = await readTokensNpy(f["tokens-npy"] as string);
    how = `--tokens-npy ${f["tokens-npy"]}`;
  }
  const outDir = out.includes("/") ? out.slice(0, out.lastIndexOf("/")) || "/" : ".";
  try {
    if (!(await Deno.stat(outDir)).isDirectory) throw new Error("not a folder");
  } catch {
    throw new UsageError(`--out ${out}: the folder ${outDir} does not exist`);
  }

  await init();
  const model = await loadCheckpoint(dir, { process: !!f.process });
  let logits: Tensor | null = null;
  let cached: [string, Tensor][] = [];
  try {
    if (f.text !== undefined) {
      rows = [Array.from(new GPT2Tokenizer().toTokens(f.text as string, { prependBos: false }))];
      how = "--text (GPT-2 tokenizer)";
    }
    if (f["prepend-bos"]) rows = rows!.map((r) => [BOS, ...r]);
    checkTokens(rows!, model, dir, how);
    const hookNames = model.hookNames();
    let wanted: string[] = [];
    if (names) {
      const re = names;
      wanted = hookNames.filter((n) => re.test(n));
      if (wanted.length === 0) {
        throw new UsageError(
          `--names ${
            JSON.stringify(re.source)
          } matches no hook point of this model; close names: ` +
            closeHookNames(re.source, hookNames).join(", "),
        );
      }
    }
    if (wanted.length > 0) {
      const res = model.runWithCache(rows!, { names: wanted });
      logits = res.logits;
      cached = res.cache.entries();
    } else {
      logits = model.forward(rows!);
    }
    const all: [string, Tensor][] = [["logits", logits], ...cached];
    const tensors: StreamTensor[] = all.map(([name, t]) => ({
      name,
      dtype: "F32",
      shape: t.shape,
      data: async () => await t.read(),
    }));
    const w = await fileWriter(out);
    try {
      await writeSafetensorsStream(w, tensors, { format: "pt" });
    } catch (e) {
      await w.close();
      await Deno.remove(out).catch(() => {});
      throw e;
    }
    await w.close();
    const bytes = all.reduce((a, [, t]) => a + t.size * 4, 0);
    log(
      `wrote ${all.length} tensor(s), ${fmtBytes(bytes)}, to ${out}: ` +
        all.slice(0, 6).map(([n, t]) => `${n} [${t.shape.join(", ")}]`).join(", ") +
        (all.length > 6 ? `, ... (${all.length - 6} more)` : ""),
    );
    return 0;
  } finally {
    logits?.dispose();
    for (const [, t] of cached) t.dispose();
    model.dispose();
  }
}

if (import.meta.main) {
  Deno.exit(await run(Deno.args));
}
