/**
 * The live toy-model page (examples/toy/index.html + app.ts, bundled and served by
 * src/cli/serve.ts) in headless Chromium on its WebGPU adapter (SwiftShader here): with n = 5,
 * m = 2, very sparse features of equal importance, the model trained in the page must form a
 * pentagon; moving the sliders keeps training from the same weights; with m = 3, dragging rotates
 * the view. Leaves a screenshot in out/screenshots/toy_page.png.
 *
 * Without Chromium the test is ignored with the reason printed; GLASSBOX_REQUIRE_BROWSER=1 (set by
 * CI) turns that into a failure. GLASSBOX_CHROMIUM overrides the browser path.
 */

import type { Browser } from "playwright-core";
import { browserTest, launchChromium } from "./_chromium.ts";
import assert from "node:assert/strict";
import { buildExamples, resolvePath, serveExamples } from "../../src/cli/serve.ts";
import type { ToyPageState } from "../../examples/toy/app.ts";

const ROOT = new URL("../../", import.meta.url);
const SHOT = new URL("out/screenshots/toy_page.png", ROOT);

Deno.test("resolvePath() serves examples/ and the bundles, and refuses paths that climb out", () => {
  const examples = new URL("examples/", ROOT).href;
  const dist = new URL("dist/examples/", ROOT).href;
  assert.equal(resolvePath("/toy/")?.href, `${examples}toy/index.html`);
  assert.equal(resolvePath("/toy/index.html")?.href, `${examples}toy/index.html`);
  assert.equal(resolvePath("/toy/app.js")?.href, `${dist}toy/app.js`);
  assert.equal(resolvePath("/toy/app.js.map")?.href, `${dist}toy/app.js.map`);
  assert.equal(resolvePath("/../deno.json"), null);
  assert.equal(resolvePath("/toy/%2e%2e/%2e%2e/deno.json"), null);
  assert.equal(resolvePath("/%E0%A4%A"), null, "a malformed escape");
});

/** Angles between neighbouring features, and norms, of W (2 rows of n) for messages. */
function describe(s: ToyPageState): string {
  return `step ${s.step}, best instance ${s.best} of ${s.instances} (losses ${
    s.losses.map((l) => l.toExponential(2)).join(", ")
  }), ‖Wᵢ‖ ${s.featureNorms.map((v) => v.toFixed(3)).join(", ")}, neighbour angles ${
    s.neighbourAngles.map((a) => a.toFixed(1)).join(", ")
  }°, W ${JSON.stringify(s.W.map((r) => r.map((v) => +v.toFixed(3))))}`;
}

browserTest(
  "examples/toy/index.html trains a pentagon live on the browser's WebGPU (headless Chromium)",
  "Toy page test",
  async (t) => {
    await buildExamples(["toy"]);
    const notFound: string[] = [];
    const ac = new AbortController();
    const server = serveExamples({
      port: 0,
      signal: ac.signal,
      onNotFound: (p) => notFound.push(p),
    });
    const base = `http://localhost:${server.addr.port}`;
    let browser: Browser | null = null;
    const consoleErrors: string[] = [];
    const context = () =>
      [
        consoleErrors.length
          ? `Page console:\n  ${consoleErrors.join("\n  ")}`
          : "Page console: no errors",
        notFound.length ? `Not found on the server: ${notFound.join(", ")}` : "",
      ].filter(Boolean).join("\n");
    const getState = (page: { evaluate<R>(f: () => R): Promise<R> }) =>
      page.evaluate(() => (globalThis as unknown as { toyState: ToyPageState }).toyState);
    try {
      browser = await launchChromium();
      const page = await browser.newPage({ viewport: { width: 1000, height: 760 } });
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
      // n = 5, m = 2, equal importance, 1 − S = 0.02; 4 instances, the page draws the best.
      // Small sizes: SwiftShader's WebGPU runs on the CPU.
      const STEPS = 2500;
      await page.goto(
        `${base}/toy/index.html?n=5&m=2&p=0.02&decay=1&lr=0.01&batch=256&instances=4&seed=0`,
      );
      const waitFor = async (steps: number, what: string) => {
        try {
          await page.waitForFunction(
            (n) => {
              const s = (globalThis as unknown as { toyState?: ToyPageState }).toyState;
              return !!s && (s.error !== null || (s.ready && s.step >= n && s.W.length > 0));
            },
            steps,
            { timeout: 240_000, polling: 250 },
          );
        } catch (e) {
          const s = await getState(page).catch(() => null);
          throw new Error(
            `${what}: the page did not reach step ${steps}: ${(e as Error).message}\n` +
              `${s ? describe(s) : "no toyState"}\n${context()}`,
          );
        }
        const s = await getState(page);
        if (s.error) throw new Error(`${what}: the page failed: ${s.error}\n${context()}`);
        return s;
      };

      await t.step("a pentagon forms: 5 norms near 1, neighbouring angles near 72°", async () => {
        const s = await waitFor(STEPS, "pentagon");
        assert.equal(s.W.length, 2, "W has m = 2 rows");
        assert.equal(s.W[0].length, 5, "W has n = 5 columns");
        // Sparse ReLU toy models settle with ‖Wᵢ‖ a little above 1 (≈ 1.15 at 1 − S = 0.02, with
        // a negative bias); 0.3 separates that from unlearned (≈ 0) or doubled-up features.
        for (const [i, v] of s.featureNorms.entries()) {
          assert.ok(
            Math.abs(v - 1) < 0.3,
            `‖W${i}‖ = ${v.toFixed(3)} is not near 1: ${describe(s)}`,
          );
        }
        // A regular pentagon has 72° between neighbours; ±8° allows a pentagon still settling,
        // and rules out the 4-feature square (90°) or an antipodal pair (180°).
        assert.equal(s.neighbourAngles.length, 5, `not 5 represented features: ${describe(s)}`);
        for (const a of s.neighbourAngles) {
          assert.ok(
            Math.abs(a - 72) < 8,
            `neighbour angle ${a.toFixed(1)}° is not near 72°: ${describe(s)}`,
          );
        }
        assert.ok(s.stepsPerSecond > 0);
        await Deno.mkdir(new URL(".", SHOT), { recursive: true });
        await page.screenshot({ path: decodeURIComponent(SHOT.pathname) });
        console.log(`pentagon at ${describe(s)} on ${s.adapter}; screenshot ${SHOT.pathname}`);
      });

      await t.step(
        "the sliders change sparsity and importance and training carries on",
        async () => {
          const before = await getState(page);
          await page.evaluate(() => {
            const set = (id: string, v: string) => {
              const el = document.getElementById(id) as HTMLInputElement;
              el.value = v;
              el.dispatchEvent(new Event("input", { bubbles: true }));
            };
            set("sparsity", "0"); // 1 − S = 1: dense
            set("decay", "0.7");
          });
          // The chunk of steps in flight (up to 2000) ends under the old settings: wait for the
          // new ones to take effect, then for 1500 steps under them.
          await page.waitForFunction(
            (n) => {
              const s = (globalThis as unknown as { toyState?: ToyPageState }).toyState;
              return !!s && (s.error !== null || s.settingsStep >= n);
            },
            before.step,
            { timeout: 240_000, polling: 100 },
          );
          const changed = await getState(page);
          const s = await waitFor(changed.settingsStep + 1500, "after the sliders");
          assert.equal(s.featureProbability, 1);
          assert.equal(s.importanceDecay, 0.7);
          assert.ok(
            s.step >= before.step + 1500,
            "the step count restarted: the weights were not kept",
          );
          // Dense features with decaying importance: superposition goes away, the two most
          // important features keep the two dimensions.
          const represented = s.featureNorms.filter((v) => v > 0.5).length;
          assert.ok(
            represented < 5,
            `still ${represented} features represented when dense: ${describe(s)}`,
          );
          assert.ok(
            s.featureNorms[0] > 0.5,
            `the most important feature was dropped: ${describe(s)}`,
          );
        },
      );

      await t.step("m = 3 draws a 3-D view that rotates when dragged", async () => {
        await page.goto(
          `${base}/toy/index.html?n=4&m=3&p=0.05&decay=0.9&lr=0.01&batch=128&instances=2&maxSteps=300`,
        );
        const s = await waitFor(300, "m = 3");
        assert.equal(s.W.length, 3);
        const pixels = () =>
          page.evaluate(() => (document.getElementById("view") as HTMLCanvasElement).toDataURL());
        // Wait for the last frame, then drag across the canvas.
        await page.waitForFunction(() =>
          !(globalThis as unknown as { toyState: ToyPageState }).toyState.running
        );
        const a = await pixels();
        const box = (await page.locator("#view").boundingBox())!;
        await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
        await page.mouse.down();
        await page.mouse.move(box.x + box.width / 2 + 120, box.y + box.height / 2 + 40, {
          steps: 6,
        });
        await page.mouse.up();
        const b = await pixels();
        assert.notEqual(a, b, "dragging did not change the 3-D view");
      });
      assert.deepEqual(
        consoleErrors.filter((l) => !l.startsWith("console.warning")),
        [],
        context(),
      );
    } finally {
      await browser?.close();
      ac.abort();
      await server.finished;
    }
  },
);
