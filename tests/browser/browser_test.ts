/**
 * The browser bundle end to end: `bundle()` writes dist/glassbox.js, a local server serves it
 * with tests/browser/page.html, and headless Chromium (Debian's /usr/bin/chromium, driven by
 * playwright-core) runs init, add, exp, matmul, softmax and layerNorm on its WebGPU adapter
 * (SwiftShader here), comparing each with an f64 reference computed in the page.
 *
 * Without Chromium the browser test is ignored with the reason printed; GLASSBOX_REQUIRE_BROWSER=1
 * (set by CI) turns that into a failure. GLASSBOX_CHROMIUM overrides the browser path.
 */

import type { Browser } from "playwright-core";
import { browserTest, env, launchChromium } from "./_chromium.ts";
import assert from "node:assert/strict";
import { assertNoDeno, bundle } from "../../src/cli/bundle.ts";
import {
  generatedInstances,
  type Instance,
  instances,
  loadShaders,
  SHADER_GENERATORS,
} from "../_shaders.ts";
import { init } from "../../src/gpu/engine.ts";

const ROOT = new URL("../../", import.meta.url);
const PAGE = new URL("./page.html", import.meta.url);

/** Ops the page must run; each must report a result. */
const OPS = ["add", "exp", "matmul", "softmax", "layerNorm"];

Deno.test("bundle() writes dist/glassbox.js with the WGSL inlined and no Deno APIs", async () => {
  const r = await bundle();
  const js = await Deno.readTextFile(r.outfile);
  assert.ok(r.outfile.endsWith("/dist/glassbox.js"), `bundle went to ${r.outfile}`);
  assertNoDeno(js);
  assert.ok(
    js.includes("@compute"),
    "the bundle holds no WGSL source: is the .wgsl text loader on?",
  );
  const cli = r.inputs.filter((f) => f.includes("src/cli/"));
  assert.deepEqual(cli, [], `Deno-only files in the bundle: ${cli.join(", ")}`);
  for (const name of ["init", "tensor", "tidy", "memory", "add"]) {
    assert.match(js, new RegExp(`\\b${name}\\b`), `the bundle does not export ${name}`);
  }
});

Deno.test("bundle() fails loudly when the output calls a Deno API", async () => {
  const dir = await Deno.makeTempDir({ prefix: "glassbox_bundle_" });
  try {
    await Deno.writeTextFile(
      `${dir}/entry.ts`,
      `export const home = () => Deno.env.get("HOME");\n`,
    );
    await assert.rejects(
      () => bundle(`${dir}/out.js`, { entryPoint: `${dir}/entry.ts` }),
      /uses Deno APIs[\s\S]*Deno\.env\.get/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

interface PageResult {
  name: string;
  ok: boolean;
  detail: string;
}

interface PageState {
  done: boolean;
  adapter: Record<string, unknown> | null;
  results: PageResult[];
  error: string | null;
}

function contentType(path: string): string {
  if (path.endsWith(".html")) return "text/html; charset=utf-8";
  if (path.endsWith(".js")) return "text/javascript; charset=utf-8";
  if (path.endsWith(".map")) return "application/json";
  return "application/octet-stream";
}

/** A shader instance as sent to the page. */
interface PageShader {
  name: string;
  code: string;
  feature?: string;
}

/**
 * Compile shader modules in the page with the engine's device (Tint parses and validates them
 * there); returns error lines. Pipelines are not created: SwiftShader's backend compile takes
 * seconds per large kernel, and tests/shaders_test.ts creates them on Deno's adapters.
 */
function compileInPage(list: PageShader[]): Promise<{ errors: string[]; compiled: number }> {
  // Runs in the browser: page.html stored the glassbox module on window.
  return (async () => {
    // deno-lint-ignore no-explicit-any
    const gb = (globalThis as any).__glassboxModule;
    const eng = await gb.init();
    const device = eng.device as GPUDevice;
    const todo = list.filter((s) => !s.feature || eng.hasFeature(s.feature));
    const results = await Promise.all(todo.map(async (s) => {
      const errors: string[] = [];
      device.pushErrorScope("validation");
      const module = device.createShaderModule({ code: s.code, label: s.name });
      const scoped = device.popErrorScope();
      const info = await module.getCompilationInfo();
      const msgs = info.messages.filter((m) => m.type === "error");
      const lines = s.code.split("\n");
      for (const m of msgs) {
        errors.push(
          `${s.name}: line ${m.lineNum}:${m.linePos}: ${m.message}\n    ${m.lineNum} | ${
            lines[m.lineNum - 1] ?? ""
          }`,
        );
      }
      const scopedError = await scoped;
      if (msgs.length === 0 && scopedError) errors.push(`${s.name}: ${scopedError.message}`);
      return errors;
    }));
    return { errors: results.flat(), compiled: todo.length };
  })();
}

browserTest(
  "glassbox.js (bundle()) runs in headless Chromium: ops match references, every shader compiles",
  "Browser test",
  async (t) => {
    await bundle();
    const dist = new URL("dist/", ROOT);
    const notFound: string[] = [];
    const ac = new AbortController();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
      async (req) => {
        const path = new URL(req.url).pathname;
        let file: URL | null = null;
        if (path === "/" || path === "/page.html") file = PAGE;
        else if (path === "/glassbox.js" || path === "/glassbox.js.map") {
          file = new URL(path.slice(1), dist);
        }
        if (!file) {
          if (path === "/favicon.ico") return new Response(null, { status: 204 });
          notFound.push(path);
          return new Response("not found", { status: 404 });
        }
        return new Response(await Deno.readFile(file), {
          headers: { "content-type": contentType(path), "cache-control": "no-store" },
        });
      },
    );
    let browser: Browser | null = null;
    const consoleErrors: string[] = [];
    const context = () =>
      [
        consoleErrors.length
          ? `Page console:\n  ${consoleErrors.join("\n  ")}`
          : "Page console: no errors",
        notFound.length ? `Not found on the test server: ${notFound.join(", ")}` : "",
      ].filter(Boolean).join("\n");
    try {
      browser = await launchChromium();
      const page = await browser.newPage();
      page.on("console", (m) => {
        if (m.type() === "error" || m.type() === "warning") {
          consoleErrors.push(`console.${m.type()}: ${m.text()}`);
        }
      });
      page.on("pageerror", (e) => consoleErrors.push(`page error: ${e.message}`));
      page.on(
        "requestfailed",
        (r) => consoleErrors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`),
      );
      // localhost is a secure context, so navigator.gpu exists there.
      await page.goto(`http://localhost:${server.addr.port}/page.html`);
      try {
        // SwiftShader compiles each pipeline slowly: allow minutes, not seconds.
        await page.waitForFunction(
          () => (globalThis as { __glassbox?: PageState }).__glassbox?.done === true,
          null,
          {
            timeout: 240_000,
          },
        );
      } catch (e) {
        throw new Error(`The page did not finish: ${(e as Error).message}\n${context()}`);
      }
      const state = await page.evaluate(() =>
        (globalThis as unknown as { __glassbox: PageState }).__glassbox
      );
      const adapter = state.adapter
        ? `${state.adapter.description} (${state.adapter.architecture}, isCpu ${state.adapter.isCpu}, ` +
          `features ${(state.adapter.features as string[]).join(" ") || "none"})`
        : "none";
      if (state.error) {
        throw new Error(`The page threw: ${state.error}\nAdapter: ${adapter}\n${context()}`);
      }

      await t.step(
        "add, exp, matmul, softmax and layerNorm match the page's f64 references",
        () => {
          const lines = state.results.map((r) =>
            `  ${r.ok ? "ok  " : "FAIL"} ${r.name}: ${r.detail}`
          );
          const report = `Adapter: ${adapter}\n${lines.join("\n")}\n${context()}`;
          const seen = state.results.map((r) => r.name);
          const unreported = OPS.filter((op) => !seen.includes(op));
          const failed = state.results.filter((r) => !r.ok);
          if (failed.length > 0 || unreported.length > 0) {
            throw new Error(
              `${
                failed.map((r) => r.name).concat(unreported.map((o) => `${o} (no result)`)).join(
                  ", ",
                )
              } ` +
                `failed in Chromium:\n${report}`,
            );
          }
          console.log(report);
        },
      );

      await t.step(
        "every shaders/*.wgsl variant in tests/_shaders.ts compiles in Chromium (Tint)",
        async () => {
          const shaders = await loadShaders();
          // Generated kernels (matmul) are made by their code generator, which needs an engine:
          // Deno's own adapter, when there is one.
          let generated: Instance[] = [];
          try {
            generated = await generatedInstances(await init(), shaders);
          } catch (e) {
            const why = `generated shaders (${
              SHADER_GENERATORS.flatMap((g) => g.files).join(", ")
            }) ` +
              `not compiled in Chromium: ${(e as Error).message}`;
            if (env("GLASSBOX_REQUIRE_GPU") === "1") throw new Error(why);
            console.warn(why);
          }
          const list: PageShader[] = [...instances(shaders), ...generated].map((i) => ({
            name: `shaders/${i.file} (${i.label})`,
            code: i.code,
            feature: i.feature,
          }));
          const before = consoleErrors.length;
          const { errors, compiled } = await page.evaluate(compileInPage, list);
          assert.ok(compiled > 0, `no shader variant was compiled (of ${list.length})`);
          consoleErrors.splice(before); // the errors below already say it, once each
          assert.equal(errors.length, 0, `\n${errors.join("\n\n")}`);
          console.log(
            `${compiled} of ${list.length} shader variants compiled (the rest need features this adapter lacks)`,
          );
        },
      );
    } finally {
      await browser?.close();
      ac.abort();
      await server.finished;
    }
  },
);
