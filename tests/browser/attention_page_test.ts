/// <reference lib="dom" />
/**
 * The attention page end to end in headless Chromium (Debian's /usr/bin/chromium via
 * playwright-core, WebGPU enabled, served from localhost): pick a checkpoint's two files, let the
 * page compute every head's pattern with WebGPU, compare them with the f64 reference
 * transformer, click a head and check that the view changes, hover a token, and save a
 * screenshot to out/screenshots/attention.png. Then the same view as the self-contained file
 * that `glassbox attention` writes, opened from disk.
 *
 * The checkpoint is the trained induction model when one is found (GLASSBOX_INDUCTION_MODEL, or
 * a folder with config.json + model.safetensors under out/induction/), else the hand-made
 * induction model of tests/analysis/_circuits.ts, written to a temporary folder.
 *
 * Without Chromium the test is ignored with the reason printed; GLASSBOX_REQUIRE_BROWSER=1 turns
 * that into a failure. GLASSBOX_CHROMIUM overrides the browser path.
 *
 * Tolerance of the page's patterns against the f64 reference: attention weights in [0, 1] from
 * f32 scores of size ≤ ~15 on SwiftShader: ≤ 1e-5 relative error in a score moves a weight by
 * ≤ ~2e-4 · weight; ATOL 5e-4.
 */

import type { Browser } from "playwright-core";
import { browserTest, env, launchChromium } from "./_chromium.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { run as attentionCli, serveAttentionPage } from "../../src/cli/attention.ts";
import { init } from "../../src/gpu/engine.ts";
import { glassboxConfig } from "../../src/io/checkpoint.ts";
import { saveCheckpoint } from "../../src/io/fs.ts";
import { readSafetensors } from "../../src/io/safetensors.ts";
import { refTransformer } from "../../src/reference/transformer.ts";
import { closeness } from "../_gpu.ts";
import { inductionModel } from "../analysis/_circuits.ts";

const ROOT = new URL("../../", import.meta.url);
const ATOL = 5e-4;

function isCheckpoint(dir: string): boolean {
  try {
    return Deno.statSync(join(dir, "config.json")).isFile &&
      Deno.statSync(join(dir, "model.safetensors")).isFile;
  } catch {
    return false;
  }
}

/** A trained induction checkpoint, if one is around. */
function findInductionModel(): string | null {
  const named = env("GLASSBOX_INDUCTION_MODEL");
  if (named) return isCheckpoint(named) ? named : null;
  const base = decodeURIComponent(new URL("out/induction", ROOT).pathname);
  const queue = [base];
  for (let depth = 0; depth < 3 && queue.length > 0; depth++) {
    for (const dir of queue.splice(0)) {
      if (isCheckpoint(dir)) return dir;
      try {
        for (const e of Deno.readDirSync(dir)) if (e.isDirectory) queue.push(join(dir, e.name));
      } catch {
        // no such folder
      }
    }
  }
  return null;
}

interface PageState {
  state: string;
  error: string | null;
  model: { nLayers: number; nHeads: number; dVocab: number; nCtx: number } | null;
  ids: number[];
  tokens: string[];
  adapter: string | null;
  data: { patterns: number[][][] } | null;
}

/** The page's state without its view handle and typed arrays (patterns as plain arrays). */
function pageState(): PageState {
  const s = (globalThis as unknown as { __attention: PageState & { data: unknown } }).__attention;
  const data = s.data as { patterns: ArrayLike<number>[][] } | null;
  return {
    state: s.state,
    error: s.error,
    model: s.model,
    ids: s.ids,
    tokens: s.tokens,
    adapter: s.adapter,
    data: data ? { patterns: data.patterns.map((hs) => hs.map((p) => Array.from(p))) } : null,
  };
}

/** What the view shows now: selection, title, heat canvas pixels, token backgrounds. */
function viewState() {
  const root = document.querySelector("#view") as HTMLElement;
  const heat = root.querySelector(".gb-attn-heat") as HTMLCanvasElement;
  return {
    layer: root.dataset.layer,
    head: root.dataset.head,
    title: root.querySelector(".gb-attn-title")?.textContent ?? "",
    pressed: [...root.querySelectorAll('.gb-attn-thumb[aria-pressed="true"]')].map((b) =>
      `${(b as HTMLElement).dataset.layer}/${(b as HTMLElement).dataset.head}`
    ),
    thumbs: root.querySelectorAll(".gb-attn-thumb").length,
    heat: heat.toDataURL(),
    info: root.querySelector(".gb-attn-info")?.textContent ?? "",
    tinted:
      [...root.querySelectorAll(".gb-attn-tok")].filter((t) =>
        (t as HTMLElement).style.background !== ""
      ).length,
  };
}

browserTest(
  "examples/attention/index.html computes patterns with WebGPU, switches heads on click; the CLI's file works offline",
  "Attention page test",
  async (t) => {
    let dir = findInductionModel();
    let temp: string | null = null;
    if (!dir) {
      await init();
      temp = await Deno.makeTempDir({ prefix: "glassbox_attention_" });
      const model = inductionModel(12, 32);
      await saveCheckpoint(model, temp);
      model.dispose();
      dir = temp;
    }
    console.log(`checkpoint: ${dir}${temp ? " (the hand-made induction model)" : ""}`);
    const srv = await serveAttentionPage({ port: 0 });
    let browser: Browser | null = null;
    const consoleErrors: string[] = [];
    const pageErrors: string[] = [];
    const context = () =>
      [
        consoleErrors.length
          ? `Page console:\n  ${consoleErrors.join("\n  ")}`
          : "Page console: no errors",
        srv.notFound.length ? `Not found: ${srv.notFound.join(", ")}` : "",
      ].filter(Boolean).join("\n");
    try {
      browser = await launchChromium();
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      page.on("console", (m) => {
        if (m.type() === "error" || m.type() === "warning") {
          consoleErrors.push(`console.${m.type()}: ${m.text()}`);
        }
      });
      page.on("pageerror", (e) => {
        consoleErrors.push(`page error: ${e.message}`);
        pageErrors.push(e.message);
      });
      await page.goto(srv.url);
      const wait = async (states: string[], ms: number) => {
        try {
          await page.waitForFunction(
            (s: string[]) =>
              s.includes(
                (globalThis as unknown as { __attention?: PageState }).__attention?.state ?? "",
              ),
            states,
            { timeout: ms },
          );
        } catch (e) {
          throw new Error(
            `The page did not reach ${states.join("/")}: ${(e as Error).message}\n${context()}`,
          );
        }
        return await page.evaluate(pageState);
      };
      const ready = await wait(["idle", "no-gpu"], 60_000);
      assert.equal(ready.state, "idle", `WebGPU in Chromium: ${ready.error}\n${context()}`);

      let state: PageState;
      await t.step(
        "picking config.json + model.safetensors shows every head, computed in the page",
        async () => {
          await page.setInputFiles("#files", [
            join(dir!, "config.json"),
            join(dir!, "model.safetensors"),
          ]);
          // SwiftShader compiles each pipeline slowly: minutes, not seconds.
          state = await wait(["ready", "error"], 240_000);
          assert.equal(state.state, "ready", `the page failed: ${state.error}\n${context()}`);
          const { nLayers, nHeads } = state.model!;
          const v = await page.evaluate(viewState);
          assert.equal(v.thumbs, nLayers * nHeads);
          assert.equal(`${v.layer}/${v.head}`, "0/0");
          assert.deepEqual(v.pressed, ["0/0"]);
          assert.match(v.title, /Layer 0 · head 0/);
          console.log(
            `adapter: ${state.adapter}; ${nLayers}×${nHeads} heads on ${state.ids.length} tokens`,
          );
        },
      );

      await t.step("the page's WebGPU patterns match the f64 reference transformer", async () => {
        const json = JSON.parse(await Deno.readTextFile(join(dir!, "config.json")));
        if (json.format !== "glassbox") {
          console.warn("not a glassbox checkpoint: the reference comparison is skipped");
          return;
        }
        const cfg = glassboxConfig(json);
        const st = readSafetensors(await Deno.readFile(join(dir!, "model.safetensors")));
        const params = new Map(
          st.names().map((n) => [n, st.toFloat32(n)] as [string, Float32Array]),
        );
        const { acts } = refTransformer(cfg, params, [state.ids]);
        state.data!.patterns.forEach((heads, l) => {
          const want = acts.get(`blocks.${l}.attn.hook_pattern`)!.data;
          const got = heads.flat();
          const w = closeness(got, want, ATOL, 0);
          assert.ok(
            w.ratio <= 1,
            `layer ${l} pattern differs at ${w.index}: got ${w.got}, want ${w.want}`,
          );
        });
      });

      await t.step(
        "clicking a head's thumbnail shows it large; hovering a token tints what it attends to",
        async () => {
          const before = await page.evaluate(viewState);
          const last = state.model!.nLayers - 1;
          await page.click(`.gb-attn-thumb[data-layer="${last}"][data-head="0"]`);
          const after = await page.evaluate(viewState);
          assert.equal(`${after.layer}/${after.head}`, `${last}/0`);
          assert.deepEqual(after.pressed, [`${last}/0`]);
          assert.match(after.title, new RegExp(`Layer ${last} · head 0`));
          assert.notEqual(after.heat, before.heat, "the large heatmap did not change");
          const q = Math.min(state.ids.length - 2, Math.floor(state.ids.length * 0.75));
          await page.hover(`.gb-attn-tok[data-index="${q}"]`);
          const hovered = await page.evaluate(viewState);
          assert.ok(hovered.tinted > 0, "hovering a token tinted no token");
          assert.match(hovered.info, new RegExp(`token ${q} .* attends most to`));
          await Deno.mkdir(new URL("out/screenshots/", ROOT), { recursive: true });
          const path = decodeURIComponent(new URL("out/screenshots/attention.png", ROOT).pathname);
          await page.screenshot({ path, fullPage: true });
          console.log(`screenshot: ${path}`);
          assert.deepEqual(pageErrors, [], context());
          assert.deepEqual(
            consoleErrors.filter((e) => e.startsWith("console.error")),
            [],
            context(),
          );
        },
      );

      await t.step(
        "`glassbox attention --out` writes one HTML file that works from disk",
        async () => {
          const out = decodeURIComponent(
            new URL("out/screenshots/attention_cli.html", ROOT).pathname,
          );
          const lines: string[] = [];
          const code = await attentionCli(
            ["--model", dir!, "--tokens", state.ids.join(","), "--out", out],
            { log: (s) => lines.push(s), error: (s) => lines.push(s) },
          );
          assert.equal(code, 0, lines.join("\n"));
          const file = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
          const errors: string[] = [];
          file.on("pageerror", (e) => errors.push(e.message));
          file.on("console", (m) => m.type() === "error" && errors.push(m.text()));
          await file.goto(`file://${out}`);
          await file.waitForSelector(".gb-attn-thumb");
          const count = await file.$$eval(".gb-attn-thumb", (bs) => bs.length);
          assert.equal(count, state.model!.nLayers * state.model!.nHeads);
          await file.click('.gb-attn-thumb[data-layer="0"][data-head="1"]');
          const title = await file.$eval(".gb-attn-title", (e) => e.textContent);
          assert.match(title ?? "", /Layer 0 · head 1/);
          await file.screenshot({
            path: decodeURIComponent(new URL("out/screenshots/attention_cli.png", ROOT).pathname),
            fullPage: true,
          });
          assert.deepEqual(errors, []);
          await file.close();
        },
      );
    } finally {
      await browser?.close();
      await srv.close();
      if (temp) await Deno.remove(temp, { recursive: true });
    }
  },
);
