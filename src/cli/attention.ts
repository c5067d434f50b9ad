/**
 * `deno task glassbox attention`: write an attention-pattern view of a checkpoint on some text
 * (or token ids) as one self-contained HTML file (see `src/viz/attention.ts`), or serve the
 * browser page `examples/attention/index.html`, which computes the patterns with WebGPU in the
 * page from a checkpoint folder the user picks.
 *
 * ```text
 * deno task glassbox attention --model DIR (--text "..." | --tokens 1,2,3) [--prepend-bos]
 *                              [--title TEXT] [--out attn.html]
 * deno task glassbox attention --serve [--port 8000]
 * ```
 *
 * @module
 */

import { init } from "../gpu/engine.ts";
import { CheckpointError } from "../io/checkpoint.ts";
import { loadCheckpoint } from "../io/fs.ts";
import { SafetensorsError } from "../io/safetensors.ts";
import { GPT2Tokenizer } from "../io/tokenizers.ts";
import type { HookedTransformer } from "../model/hooked_transformer.ts";
import { attentionData, attentionViewHtml } from "../viz/attention.ts";
import { parseFlags, UsageError } from "./args.ts";
import { bundle } from "./bundle.ts";

/** Where the command's lines go (stdout and stderr by default); tests capture them. */
export interface CliIO {
  log?: (line: string) => void;
  error?: (line: string) => void;
}

const USAGE =
  `usage: deno task glassbox attention --model DIR (--text "..." | --tokens 1,2,3) [--prepend-bos]
                                     [--title TEXT] [--out attn.html]
       deno task glassbox attention --serve [--port 8000]

  --model DIR      a checkpoint folder: config.json + model.safetensors (Hugging Face GPT-2 or
                   one saved by glassbox)
  --text TEXT      text, tokenized with GPT-2's tokenizer (GPT-2-vocabulary models); for other
                   models, token ids separated by spaces or commas
  --tokens IDS     token ids: 1,2,3
  --prepend-bos    put GPT-2's BOS token (50256, <|endoftext|>) first (GPT-2 vocabulary only)
  --title TEXT     the page's title (default: the folder and the text)
  --out FILE       the HTML file to write (default attn.html)
  --serve          serve examples/attention/index.html (bundled with esbuild) on localhost
  --port N         the port for --serve (default 8000; 0 picks a free one)`;

const FLAGS = {
  model: "string",
  text: "string",
  tokens: "string",
  "prepend-bos": "boolean",
  title: "string",
  out: "string",
  serve: "boolean",
  port: "int",
  help: "boolean",
} as const;

const GPT2_VOCAB = 50257;
const BOS = 50256;

function parseIds(flag: string, v: string): number[] {
  const parts = v.split(/[\s,]+/).filter((s) => s !== "");
  if (parts.length === 0) throw new UsageError(`${flag} gave no tokens`);
  return parts.map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) {
      throw new UsageError(
        `${flag} must be non-negative integer token ids separated by ',' or spaces, got ${
          JSON.stringify(s)
        }`,
      );
    }
    return n;
  });
}

/** Token ids and their strings for the model, from --text / --tokens. */
export function tokensFor(
  model: HookedTransformer,
  input: { text?: string; tokens?: string; prependBos?: boolean },
): { ids: number[]; strs: string[] } {
  const gpt2 = model.cfg.dVocab === GPT2_VOCAB;
  const tok = gpt2 ? new GPT2Tokenizer() : null;
  let ids: number[];
  let how: string;
  if (input.tokens !== undefined) {
    ids = parseIds("--tokens", input.tokens);
    how = "--tokens";
    if (input.prependBos && tok) ids = [BOS, ...ids];
  } else if (input.text !== undefined) {
    how = "--text";
    if (tok) {
      ids = [...tok.toTokens(input.text, { prependBos: input.prependBos ?? false })];
    } else if (/^[\s,\d]+$/.test(input.text)) {
      ids = parseIds("--text", input.text);
    } else {
      throw new UsageError(
        `--text: this model's vocabulary (${model.cfg.dVocab} tokens) has no tokenizer here (GPT-2's ` +
          `needs ${GPT2_VOCAB}); give token ids with --tokens 1,2,3 (or as the text)`,
      );
    }
  } else {
    throw new UsageError("give the input: --text or --tokens");
  }
  if (ids.length === 0) throw new UsageError(`${how} gave no tokens`);
  if (ids.length > model.cfg.nCtx) {
    throw new UsageError(
      `${how}: the sequence has ${ids.length} positions, more than the model's nCtx ${model.cfg.nCtx}`,
    );
  }
  ids.forEach((t, p) => {
    if (t >= model.cfg.dVocab) {
      throw new UsageError(
        `${how}: token id ${t} at position ${p} is outside the model's vocabulary [0, ${model.cfg.dVocab})`,
      );
    }
  });
  const strs = tok ? tok.toStrTokens(ids) : ids.map(String);
  return { ids, strs };
}

/**
 * Run `glassbox attention` with `args` (the words after `attention`); returns the exit code: 0,
 * 2 for bad input (printed to `io.error`), 1 for any other failure.
 *
 * @example
 * ```ts
 * const code = await run(["--model", "gpt2", "--text", "Hello there", "--out", "attn.html"]);
 * ```
 */
export async function run(args: string[], io: CliIO = {}): Promise<number> {
  const log = io.log ?? ((s: string) => console.log(s));
  const error = io.error ?? ((s: string) => console.error(s));
  try {
    return await attention(args, log);
  } catch (e) {
    const bad = e instanceof UsageError || e instanceof CheckpointError ||
      e instanceof SafetensorsError;
    error(`glassbox attention: ${(e as Error).message}`);
    if (
      e instanceof UsageError && /^(unknown flag|unexpected argument|--\S+ needs)/.test(e.message)
    ) {
      error(`\n${USAGE}`);
    }
    return bad ? 2 : 1;
  }
}

async function attention(args: string[], log: (s: string) => void): Promise<number> {
  const f = parseFlags("attention", args, FLAGS);
  if (f.help) {
    log(USAGE);
    return 0;
  }
  if (f.serve) {
    const port = (f.port as number | undefined) ?? 8000;
    const { url, finished } = await serveAttentionPage({ port });
    log(`serving the attention page at ${url} (Ctrl-C to stop)`);
    await finished;
    return 0;
  }
  const dir = f.model as string | undefined;
  if (!dir) throw new UsageError("--model DIR is required (a checkpoint folder)");
  if (f.text !== undefined && f.tokens !== undefined) {
    throw new UsageError("give only one input, not --text and --tokens");
  }
  const out = (f.out as string | undefined) ?? "attn.html";
  await init();
  const model = await loadCheckpoint(dir);
  try {
    const { ids, strs } = tokensFor(model, {
      text: f.text as string | undefined,
      tokens: f.tokens as string | undefined,
      prependBos: f["prepend-bos"] as boolean | undefined,
    });
    const snippet = f.text !== undefined
      ? JSON.stringify(String(f.text).slice(0, 60))
      : `${ids.length} tokens`;
    const title = (f.title as string | undefined) ?? `Attention of ${dir} on ${snippet}`;
    const html = await attentionPageHtml(model, ids, strs, { title });
    try {
      await Deno.writeTextFile(out, html);
    } catch (e) {
      throw new UsageError(`--out ${out}: cannot write it (${(e as Error).message})`);
    }
    const { nLayers, nHeads } = model.cfg;
    log(
      `wrote ${out} (${
        (html.length / 1024).toFixed(1)
      } KiB): ${nLayers} layers × ${nHeads} heads ` +
        `on ${ids.length} tokens`,
    );
    return 0;
  } finally {
    model.dispose();
  }
}

/**
 * The attention view of `model` on one sequence as a whole self-contained HTML document (every
 * head of every layer): what `glassbox attention --out` writes. `strs` are the tokens' labels,
 * one per id; `initial` is the [layer, head] the view opens on.
 *
 * @example
 * ```ts
 * const model = await loadCheckpoint("out/induction/model");
 * const html = await attentionPageHtml(model, [0, 5, 9, 5, 9], ["BOS", "5", "9", "5", "9"]);
 * await Deno.writeTextFile("attention.html", html);
 * model.dispose();
 * ```
 */
export async function attentionPageHtml(
  model: HookedTransformer,
  ids: readonly number[],
  strs: readonly string[],
  opts: { title?: string; initial?: [number, number] } = {},
): Promise<string> {
  const data = await attentionData(model, ids, strs, { title: opts.title });
  return attentionViewHtml(data, { title: opts.title, initial: opts.initial });
}

// ------------------------------------------------------------------------------ the page

const ROOT = new URL("../../", import.meta.url);
const PAGE_DIR = new URL("examples/attention/", ROOT);

/**
 * Bundle `examples/attention/app.ts` (glassbox and the view, with esbuild, as `deno task
 * bundle` does for mod.ts) to `outfile` (default `dist/attention/app.js`).
 *
 * @example
 * ```ts
 * const js = await buildAttentionApp();
 * ```
 */
export async function buildAttentionApp(outfile?: string): Promise<string> {
  const root = decodeURIComponent(ROOT.pathname);
  const out = outfile ?? `${root}dist/attention/app.js`;
  const r = await bundle(out, { entryPoint: `${decodeURIComponent(PAGE_DIR.pathname)}app.ts` });
  return r.outfile;
}

/** What {@link serveAttentionPage} returns. */
export interface AttentionServer {
  /** The page's address. */
  url: string;
  /** The port listened on. */
  port: number;
  /** Resolves when the server has stopped. */
  finished: Promise<void>;
  /** Stop the server. */
  close(): Promise<void>;
  /** Paths requested that were not found (for tests). */
  notFound: string[];
}

function contentType(path: string): string {
  if (path.endsWith(".html")) return "text/html; charset=utf-8";
  if (path.endsWith(".js")) return "text/javascript; charset=utf-8";
  if (path.endsWith(".json") || path.endsWith(".map")) return "application/json";
  return "application/octet-stream";
}

/**
 * Bundle the attention page's script and serve the page on `hostname` (default 127.0.0.1;
 * browse it as http://localhost:PORT/, a secure context, so WebGPU is available). `files` adds
 * extra files by URL path (tests serve a checkpoint that way).
 *
 * @example
 * ```ts
 * const srv = await serveAttentionPage({ port: 0 });
 * console.log(srv.url);
 * await srv.close();
 * ```
 */
export async function serveAttentionPage(
  opts: { port?: number; hostname?: string; files?: Record<string, string> } = {},
): Promise<AttentionServer> {
  const js = await buildAttentionApp();
  const ac = new AbortController();
  const notFound: string[] = [];
  const routes = new Map<string, string>([
    ["/", decodeURIComponent(new URL("index.html", PAGE_DIR).pathname)],
    ["/index.html", decodeURIComponent(new URL("index.html", PAGE_DIR).pathname)],
    ["/app.js", js],
    ["/app.js.map", `${js}.map`],
    ...Object.entries(opts.files ?? {}),
  ]);
  let ready: (port: number) => void;
  const listening = new Promise<number>((r) => (ready = r));
  const server = Deno.serve(
    {
      hostname: opts.hostname ?? "127.0.0.1",
      port: opts.port ?? 8000,
      signal: ac.signal,
      onListen: ({ port }) => ready(port),
    },
    async (req) => {
      const path = new URL(req.url).pathname;
      const file = routes.get(path);
      if (!file) {
        if (path === "/favicon.ico") return new Response(null, { status: 204 });
        notFound.push(path);
        return new Response("not found", { status: 404 });
      }
      try {
        return new Response(await Deno.readFile(file), {
          headers: { "content-type": contentType(file), "cache-control": "no-store" },
        });
      } catch {
        notFound.push(path);
        return new Response("not found", { status: 404 });
      }
    },
  );
  const port = await listening;
  return {
    url: `http://localhost:${port}/`,
    port,
    finished: server.finished,
    notFound,
    close: async () => {
      ac.abort();
      await server.finished;
    },
  };
}

if (import.meta.main) {
  Deno.exit(await run(Deno.args));
}
