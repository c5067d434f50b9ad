/**
 * `deno task bundle`: bundle `mod.ts` into `dist/glassbox.js`, one ES module for the browser,
 * with the WGSL kernels inlined as strings.
 *
 * The bundle must not contain Deno-only code: a module under `src/cli/` reached from `mod.ts`,
 * or a bare `Deno.` API call in the output, fails the build with the place it was found.
 * (Guarded access such as `globalThis.Deno?.env` is fine: it is `undefined` in a browser.)
 *
 * @example
 * ```ts
 * import { bundle } from "./src/cli/bundle.ts";
 * const { outfile, bytes } = await bundle("dist/glassbox.js");
 * ```
 *
 * @module
 */

import * as esbuild from "esbuild";

const ROOT = new URL("../../", import.meta.url);

/** What {@link bundle} wrote. */
export interface BundleResult {
  /** Absolute path of the bundle. */
  outfile: string;
  /** Size of the bundle in bytes. */
  bytes: number;
  /** Source files that went into it, relative to the repository root. */
  inputs: string[];
}

/** Marks a resolve call the plugin makes itself, so that it does not map it again. */
const MAPPED = Symbol("glassbox mapped");

/** deno.json's `imports`, so that esbuild resolves bare specifiers the way Deno does. */
function importMap(): Record<string, string> {
  try {
    const json = JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT)));
    return (json.imports ?? {}) as Record<string, string>;
  } catch {
    return {};
  }
}

/** A specifier mapped through `imports` (exact keys, and keys ending in "/" as prefixes). */
export function mapSpecifier(spec: string, imports: Record<string, string>): string | null {
  if (spec in imports) return imports[spec];
  let best = "";
  for (const k of Object.keys(imports)) {
    if (k.endsWith("/") && spec.startsWith(k) && k.length > best.length) best = k;
  }
  return best ? imports[best] + spec.slice(best.length) : null;
}

/** `npm:pkg@1.2.3/sub` -> `pkg/sub`; null when not an npm: specifier. */
export function npmToBare(spec: string): string | null {
  const m = /^npm:\/?(@[^/]+\/[^@/]+|[^@/]+)(?:@[^/]+)?(\/.*)?$/.exec(spec);
  return m ? m[1] + (m[2] ?? "") : null;
}

/**
 * Loads `.wgsl` files as text, resolves bare and `npm:` specifiers through deno.json's import map
 * and node_modules (as Deno does), and keeps Deno-only modules out of the bundle.
 */
const glassboxPlugin: esbuild.Plugin = {
  name: "glassbox",
  setup(build) {
    const root = decodeURIComponent(ROOT.pathname);
    const imports = importMap();
    // An npm package's path inside node_modules. esbuild reads the package's `exports` for
    // `pkg/sub`; Deno's `npm:pkg/sub` names a file path, so try the path when `exports` refuses.
    const resolveNpm = async (bare: string, kind: esbuild.ImportKind, importer: string) => {
      const opts = { kind, resolveDir: root, importer, pluginData: MAPPED };
      const r = await build.resolve(bare, opts);
      if (r.errors.length === 0) return r;
      const direct = await build.resolve(`./node_modules/${bare}`, opts);
      return direct.errors.length === 0 ? direct : r;
    };
    build.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.pluginData === MAPPED) return undefined; // our own re-resolution: esbuild's turn
      if (args.path.startsWith("npm:")) {
        const bare = npmToBare(args.path);
        if (!bare) {
          return { errors: [{ text: `Cannot bundle ${args.path}: unrecognised npm: specifier` }] };
        }
        return resolveNpm(bare, args.kind, args.importer);
      }
      const mapped = mapSpecifier(args.path, imports);
      if (mapped === null) return undefined;
      const bare = npmToBare(mapped);
      if (bare) return resolveNpm(bare, args.kind, args.importer);
      return build.resolve(mapped, {
        kind: args.kind,
        resolveDir: root,
        importer: args.importer,
        pluginData: MAPPED,
      });
    });
    // `import src from "x.wgsl" with { type: "text" }`: the attribute is checked here, so a
    // WGSL import without it (which Deno would reject) is also rejected by the bundle.
    build.onResolve({ filter: /\.wgsl$/ }, (args) => {
      const type = args.with?.type;
      if (type !== "text") {
        return {
          errors: [{
            text: `Cannot bundle ${args.path}: WGSL must be imported with { type: "text" } ` +
              `(got ${type === undefined ? "no import attribute" : `type "${type}"`})`,
          }],
        };
      }
      return undefined; // esbuild resolves the path; the ".wgsl" loader below reads it as text.
    });
    build.onLoad({ filter: /[\\/]src[\\/]cli[\\/]/ }, (args) => ({
      errors: [{
        text:
          `Cannot bundle ${args.path}: src/cli/ is Deno-only and must not be imported by mod.ts`,
      }],
    }));
  },
};

/** Throw if the bundled code calls a `Deno.` API (the bundle is for browsers). */
export function assertNoDeno(code: string, where = "bundle"): void {
  const re = /\bDeno\.[A-Za-z_$]/g;
  const hits: string[] = [];
  for (const m of code.matchAll(re)) {
    const line = code.slice(0, m.index).split("\n").length;
    const start = code.lastIndexOf("\n", m.index) + 1;
    const end = code.indexOf("\n", m.index);
    hits.push(
      `  line ${line}: ${code.slice(start, end < 0 ? undefined : end).trim().slice(0, 160)}`,
    );
    if (hits.length >= 10) break;
  }
  if (hits.length > 0) {
    throw new Error(
      `The ${where} uses Deno APIs, which do not exist in a browser; ` +
        `guard them (globalThis.Deno?.x) or keep that module out of mod.ts:\n${hits.join("\n")}`,
    );
  }
}

/**
 * Bundle `mod.ts` into one browser ES module (default `dist/glassbox.js`, plus a `.map`).
 * A relative `outfile` is taken from the repository root. `opts.entryPoint` bundles another
 * file instead of `mod.ts` (for tests).
 *
 * @example
 * ```ts
 * await bundle(); // writes dist/glassbox.js
 * ```
 * @throws when esbuild fails or the output uses a `Deno.` API.
 */
export async function bundle(
  outfile?: string,
  opts: { entryPoint?: string } = {},
): Promise<BundleResult> {
  const root = decodeURIComponent(ROOT.pathname);
  const out = outfile ?? `${root}dist/glassbox.js`;
  try {
    const result = await esbuild.build({
      absWorkingDir: root,
      entryPoints: [opts.entryPoint ?? `${root}mod.ts`],
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      loader: { ".wgsl": "text" },
      plugins: [glassboxPlugin],
      sourcemap: "linked",
      metafile: true,
      write: false,
      outfile: out,
      logLevel: "silent",
    });
    const js = result.outputFiles.find((f) => f.path.endsWith(".js"));
    if (!js) throw new Error("esbuild produced no .js output");
    assertNoDeno(js.text, `bundle ${out}`);
    for (const f of result.outputFiles) {
      await Deno.mkdir(f.path.slice(0, f.path.lastIndexOf("/")) || "/", { recursive: true });
      await Deno.writeFile(f.path, f.contents);
    }
    return {
      outfile: js.path,
      bytes: js.contents.byteLength,
      inputs: Object.keys(result.metafile.inputs).sort(),
    };
  } catch (e) {
    const err = e as { errors?: esbuild.Message[]; message: string };
    if (err.errors?.length) {
      const lines = err.errors.map((m) =>
        `  ${
          m.location ? `${m.location.file}:${m.location.line}:${m.location.column}: ` : ""
        }${m.text}`
      );
      throw new Error(`Cannot bundle ${opts.entryPoint ?? "mod.ts"}:\n${lines.join("\n")}`);
    }
    throw e;
  } finally {
    await esbuild.stop();
  }
}

if (import.meta.main) {
  try {
    const r = await bundle(Deno.args[0]);
    console.log(
      `wrote ${r.outfile} (${(r.bytes / 1024).toFixed(1)} KiB, ${r.inputs.length} files)`,
    );
  } catch (e) {
    console.error((e as Error).message);
    Deno.exit(1);
  }
}
