/**
 * `deno task serve`: bundle each browser example (`examples/<name>/app.ts` →
 * `dist/examples/<name>/app.js`, with esbuild through {@link bundle}: WGSL inlined, npm packages
 * from node_modules) and serve `examples/` on localhost (a secure context, so `navigator.gpu`
 * exists). `/<name>/app.js` comes from the bundle; everything else from `examples/`.
 *
 * ```text
 * deno task serve [--port 8000] [--hostname 127.0.0.1] [--no-bundle]
 * ```
 *
 * @example
 * ```ts
 * import { buildExamples, serveExamples } from "./serve.ts";
 * await buildExamples();
 * const server = serveExamples({ port: 0 });
 * console.log(`http://localhost:${server.addr.port}/toy/`);
 * await server.shutdown();
 * ```
 *
 * @module
 */

import { bundle } from "./bundle.ts";
import { parseFlags, UsageError } from "./args.ts";

const ROOT = new URL("../../", import.meta.url);
const EXAMPLES = new URL("examples/", ROOT);
const DIST = new URL("dist/examples/", ROOT);

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json",
  map: "application/json",
  svg: "image/svg+xml",
  png: "image/png",
  wgsl: "text/plain; charset=utf-8",
};

/** The Content-Type for a path, by extension. */
export function contentType(path: string): string {
  return TYPES[path.slice(path.lastIndexOf(".") + 1).toLowerCase()] ?? "application/octet-stream";
}

/** Names of the examples with a browser app: folders `examples/<name>/` holding `app.ts`. */
export async function browserExamples(): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(EXAMPLES)) {
    if (!e.isDirectory) continue;
    try {
      await Deno.stat(new URL(`${e.name}/app.ts`, EXAMPLES));
      out.push(e.name);
    } catch {
      // not a browser example
    }
  }
  return out.sort();
}

/**
 * Bundle every browser example (or the ones named) into `dist/examples/<name>/app.js`.
 *
 * @returns the bundles written, with their sizes
 * @throws when a bundle fails (the message names the file and place)
 */
export async function buildExamples(
  names?: string[],
): Promise<{ name: string; outfile: string; bytes: number }[]> {
  const list = names ?? await browserExamples();
  const out = [];
  for (const name of list) {
    const entry = decodeURIComponent(new URL(`${name}/app.ts`, EXAMPLES).pathname);
    const outfile = decodeURIComponent(new URL(`${name}/app.js`, DIST).pathname);
    const r = await bundle(outfile, { entryPoint: entry });
    out.push({ name, outfile: r.outfile, bytes: r.bytes });
  }
  return out;
}

/** Resolve a request path to a file URL under examples/ or dist/examples/, or null. */
export function resolvePath(pathname: string): URL | null {
  let path: string;
  try {
    path = decodeURIComponent(pathname);
  } catch {
    return null;
  }
  if (path.includes("\0") || path.split("/").some((seg) => seg === "..")) return null;
  if (path.endsWith("/")) path += "index.html";
  const rel = path.replace(/^\/+/, "");
  if (/^[^/]+\/app\.js(\.map)?$/.test(rel)) return new URL(rel, DIST);
  return new URL(rel, EXAMPLES);
}

async function indexPage(): Promise<Response> {
  const names: string[] = [];
  for await (const e of Deno.readDir(EXAMPLES)) {
    if (!e.isDirectory) continue;
    try {
      await Deno.stat(new URL(`${e.name}/index.html`, EXAMPLES));
      names.push(e.name);
    } catch {
      // no page
    }
  }
  const items = names.sort().map((n) => `<li><a href="/${n}/">${n}</a></li>`).join("");
  return new Response(
    `<!doctype html><meta charset="utf-8"><title>glassbox examples</title>` +
      `<h1>glassbox examples</h1><ul>${items}</ul>`,
    { headers: { "content-type": TYPES.html } },
  );
}

/** Options of {@link serveExamples}. */
export interface ServeOptions {
  /** Port (default 8000; 0 picks a free one). */
  port?: number;
  hostname?: string;
  signal?: AbortSignal;
  /** Called for each request path that was not found. */
  onNotFound?: (path: string) => void;
}

/** Serve `examples/` (and the bundled apps) over HTTP on localhost. */
export function serveExamples(opts: ServeOptions = {}): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({
    hostname: opts.hostname ?? "127.0.0.1",
    port: opts.port ?? 8000,
    signal: opts.signal,
    onListen() {},
  }, async (req) => {
    const { pathname } = new URL(req.url);
    if (pathname === "/" || pathname === "/index.html") {
      try {
        await Deno.stat(new URL("index.html", EXAMPLES));
      } catch {
        return indexPage();
      }
    }
    if (pathname === "/favicon.ico") return new Response(null, { status: 204 });
    const file = resolvePath(pathname);
    if (file) {
      try {
        const st = await Deno.stat(file);
        if (st.isDirectory) {
          return Response.redirect(new URL(pathname + "/", req.url), 301);
        }
        return new Response(await Deno.readFile(file), {
          headers: { "content-type": contentType(file.pathname), "cache-control": "no-store" },
        });
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
    }
    opts.onNotFound?.(pathname);
    const hint = /\/app\.js$/.test(pathname)
      ? " (bundles are built by `deno task serve`; run it without --no-bundle)"
      : "";
    return new Response(`not found: ${pathname}${hint}`, { status: 404 });
  });
}

const USAGE = "usage: deno task serve [--port 8000] [--hostname 127.0.0.1] [--no-bundle]";

if (import.meta.main) {
  try {
    const f = parseFlags("serve", Deno.args, {
      port: "int",
      hostname: "string",
      "no-bundle": "boolean",
      help: "boolean",
    });
    if (f.help) {
      console.log(USAGE);
      Deno.exit(0);
    }
    const port = (f.port as number | undefined) ?? 8000;
    if (port < 0 || port > 65535) throw new UsageError(`--port must be in [0, 65535], got ${port}`);
    if (!f["no-bundle"]) {
      // One example that fails to bundle is reported; the others are still served.
      for (const name of await browserExamples()) {
        try {
          const [b] = await buildExamples([name]);
          console.log(
            `bundled examples/${name}/app.ts → ${b.outfile} (${(b.bytes / 1024).toFixed(0)} KiB)`,
          );
        } catch (e) {
          console.error(`serve: examples/${name}/app.ts was not bundled: ${(e as Error).message}`);
        }
      }
    }
    const server = serveExamples({ port, hostname: f.hostname as string | undefined });
    const host = server.addr.hostname === "127.0.0.1" ? "localhost" : server.addr.hostname;
    console.log(`serving examples/ on http://${host}:${server.addr.port}/ (toy page: /toy/)`);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`serve: ${e.message}\n${USAGE}`);
      Deno.exit(2);
    }
    console.error((e as Error).message);
    Deno.exit(1);
  }
}
