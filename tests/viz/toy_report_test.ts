/**
 * The toy-model report (src/viz/toy_report.ts) and its SVG helpers (src/viz/svg.ts), on fake
 * snapshots: the HTML is well formed, every figure is there, and nothing points outside the file.
 */

import assert from "node:assert/strict";
import {
  DIMENSION_FRACTIONS,
  importanceColors,
  type PhaseData,
  type ToyInstanceResult,
  toyReportHtml,
} from "../../src/viz/toy_report.ts";
import { arrows2d, escapeXml, heatmap, plot, scale } from "../../src/viz/svg.ts";
import { gram, toyMetrics, type Weights } from "../../src/toy/metrics.ts";

/** A results record for W (m rows of n) with its real metrics. */
function fakeInstance(
  W: number[][],
  importance: number[],
  p: number,
  loss = 0.01,
): ToyInstanceResult {
  const mt = toyMetrics(W as Weights);
  return {
    featureProbability: p,
    importance,
    W,
    b: new Array(W[0].length).fill(0),
    loss,
    featureNorms: mt.featureNorms,
    superposition: mt.superposition,
    dimensionality: mt.dimensionality,
    dimensionsPerFeature: mt.dimensionsPerFeature,
    WtW: gram(W),
  };
}

/** mulberry32: seeded, so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pentagon = [0, 1, 2, 3, 4].map((i) => (2 * Math.PI * i) / 5);
const W_PENT = [pentagon.map(Math.cos), pentagon.map(Math.sin)];
const IMP = [0, 1, 2, 3, 4].map((i) => 0.9 ** i);
const DENSE = fakeInstance([[1, 0, 0, 0, 0], [0, 1, 0, 0, 0]], IMP, 1, 0.18);
const PENT = fakeInstance(W_PENT, [1, 1, 1, 1, 1], 0.01, 0.001);
const SWEEP = [1, 0.3, 0.1, 0.03].map((p, k) =>
  fakeInstance(k < 2 ? [[1, 0, -1, 0, 0], [0, 1, 0, -1, 0]] : W_PENT, IMP, p)
);
const r = rng(7);
const BIG = [1, 0.2, 0.05].map((p) =>
  fakeInstance(
    Array.from({ length: 20 }, () => Array.from({ length: 60 }, () => r() - 0.5)),
    new Array(60).fill(1),
    p,
  )
);
const XS = [1, 0.1, 0.01], YS = [0.1, 1, 10];
const REGIONS = ["not represented", "dedicated dimension", "antipodal superposition"];
const PHASE: PhaseData = {
  xValues: XS,
  yValues: YS,
  regions: REGIONS.map((name) => ({ name, description: `${name} <desc>` })),
  cells: YS.map((y, yi) =>
    XS.map((x, xi) => ({
      featureProbability: x,
      relativeImportance: y,
      region: REGIONS[(yi + xi) % 3],
      W: [[1, (yi + xi) % 3 === 0 ? 0 : -1]],
      loss: 0.1,
    }))
  ),
};

function fakeReport(): string {
  return toyReportHtml({
    title: "Fake <toy> & report",
    subtitle: "a fake snapshot",
    sections: [
      { kind: "instances", title: "dense", instances: [DENSE] },
      { kind: "instances", title: "pentagon", instances: [PENT], labels: ["pentagon <1>"] },
      { kind: "instances", title: "sweep", instances: SWEEP },
      { kind: "phase", title: "phase", phase: PHASE },
      { kind: "dimensionality", title: "dims", instances: BIG },
      { kind: "instances", title: "big", instances: BIG },
    ],
  });
}

const VOID = new Set(["meta", "link", "br", "hr", "img", "input", "wbr", "col", "source"]);

/** Check that tags nest (ignoring void and self-closing ones, and script/style bodies). */
function assertWellFormed(html: string): void {
  const body = html.replace(/<(script|style)\b[^>]*>[\s\S]*?<\/\1>/g, "<$1></$1>");
  const stack: string[] = [];
  for (const m of body.matchAll(/<(\/?)([a-zA-Z][a-zA-Z0-9]*)\b[^>]*?(\/?)>/g)) {
    const [, close, rawName, selfClose] = m;
    const name = rawName.toLowerCase();
    if (selfClose || VOID.has(name)) continue;
    if (!close) stack.push(name);
    else {
      const top = stack.pop();
      assert.equal(
        top,
        name,
        `</${name}> closes <${top}> at offset ${m.index}: …${
          body.slice(m.index! - 80, m.index! + 20)
        }`,
      );
    }
  }
  assert.deepEqual(stack, [], `unclosed tags: ${stack.join(", ")}`);
}

function count(html: string, re: RegExp): number {
  return [...html.matchAll(re)].length;
}

Deno.test("toyReportHtml() builds well-formed HTML from a fake snapshot", () => {
  const html = fakeReport();
  assert.match(html, /^<!doctype html>\n<html lang="en">/);
  assert.match(html, /<meta charset="utf-8">/);
  assert.ok(html.trimEnd().endsWith("</html>"));
  assertWellFormed(html);
  // Text is escaped: the title, labels and region descriptions hold < and &.
  assert.ok(html.includes("<title>Fake &lt;toy&gt; &amp; report</title>"));
  assert.ok(html.includes("pentagon &lt;1&gt;"));
  assert.ok(!html.includes("<desc>"), "a region description was not escaped");
  // No NaN or Infinity leaked into an attribute.
  assert.doesNotMatch(html, /="[^"]*(NaN|Infinity)[^"]*"/);
});

Deno.test("toyReportHtml() draws every figure: arrows, WᵀW, norms, phase diagram, dimensionality", () => {
  const html = fakeReport();
  const small = 1 + 1 + SWEEP.length; // instances with m = 2 (arrows) and n ≤ 50 (SVG heatmap)
  assert.equal(count(html, /aria-label="W columns"/g), small, "one arrow plot per m = 2 instance");
  // One arrow per feature of each m = 2 instance.
  assert.equal(count(html, /<g class="arrow" data-f="/g), 5 * small);
  assert.equal(count(html, /aria-label="WᵀW"/g), small, "one SVG WᵀW heatmap per small instance");
  assert.equal(count(html, /<canvas class="heat"/g), BIG.length, "large WᵀW go to canvases");
  assert.equal(
    count(html, /aria-label="‖Wᵢ‖"/g),
    small + BIG.length,
    "one norm chart per instance",
  );
  // Phase diagram: one cell per grid point, each region in the legend.
  assert.equal(count(html, /<g class="cell" data-region="/g), XS.length * YS.length);
  for (const name of REGIONS) assert.ok(html.includes(`<b>${name}</b>`), `legend lacks ${name}`);
  // Dimensionality: the guide lines at the paper's fractions, and one point per feature.
  assert.equal(count(html, /class="guide"/g), DIMENSION_FRACTIONS.length);
  for (const f of DIMENSION_FRACTIONS) assert.ok(html.includes(f.label), `no guide "${f.label}"`);
  assert.equal(count(html, /<circle class="pt"/g), BIG.length * 60);
  // Sections are linked from the navigation.
  for (const id of ["fig-1-instances", "fig-4-phase", "fig-5-dimensionality"]) {
    assert.ok(html.includes(`id="${id}"`) && html.includes(`href="#${id}"`), `no section ${id}`);
  }
});

Deno.test("toyReportHtml() references nothing outside the file (opens offline)", () => {
  const html = fakeReport();
  assert.doesNotMatch(html, /https?:\/\//, "an absolute URL");
  assert.doesNotMatch(html, /\/\/[a-z0-9.-]+\.[a-z]{2,}\//i, "a protocol-relative URL");
  for (const m of html.matchAll(/\b(src|href|xlink:href|action)\s*=\s*"([^"]*)"/g)) {
    assert.ok(m[2].startsWith("#"), `${m[1]}="${m[2]}" points outside the file`);
  }
  for (const m of html.matchAll(/url\(([^)]*)\)/g)) {
    assert.ok(m[1].startsWith("#"), `url(${m[1]}) points outside the file`);
  }
  assert.doesNotMatch(html, /@import|<link\b|<iframe\b|fetch\(|XMLHttpRequest|import\(/);
});

Deno.test("toyReportHtml() lists its links under See also, escaped, and only when given", () => {
  const html = toyReportHtml({
    title: "t",
    sections: [{ kind: "instances", title: "dense", instances: [DENSE] }],
    links: [
      { href: "../induction/attention.html", label: "Attention <view>", description: "a & b" },
      { href: "../induction/report.html?x=1&y=2", label: "Induction" },
    ],
  });
  assert.match(html, /<section id="see-also"[^>]*><h2>See also<\/h2>/);
  assert.ok(html.includes(`<a href="../induction/attention.html">Attention &#60;view&#62;</a>`));
  assert.ok(html.includes(": a &#38; b</li>"));
  assert.ok(html.includes(`href="../induction/report.html?x=1&#38;y=2"`));
  assert.ok(html.includes(`<a href="#see-also">See also</a>`), "in the navigation");
  assert.ok(html.indexOf('id="see-also"') < html.indexOf('id="fig-1-instances"'), "near the top");
  for (const links of [undefined, []]) {
    const plain = toyReportHtml({ title: "t", sections: [], links });
    assert.ok(!plain.includes(`id="see-also"`), "no links, no section");
  }
});

Deno.test("toyReportHtml() draws m = 1 instances on a line and tolerates null metrics from JSON", () => {
  const inst = fakeInstance([[1, -1, 0]], [1, 1, 1], 0.05);
  // results.json writes Infinity and NaN as null.
  const fromJson = JSON.parse(
    JSON.stringify({ ...inst, loss: NaN, dimensionsPerFeature: Infinity }),
  );
  const html = toyReportHtml({
    title: "m = 1",
    sections: [
      { kind: "instances", title: "m1", instances: [fromJson] },
      { kind: "dimensionality", title: "dims", instances: [fromJson, inst] },
    ],
  });
  assertWellFormed(html);
  assert.equal(count(html, /aria-label="W \(m = 1\)"/g), 1);
  assert.doesNotMatch(html, /="[^"]*(NaN|Infinity|null)[^"]*"/);
});

Deno.test("importanceColors() makes the most important feature yellow and equal ones alike", () => {
  const c = importanceColors([1, 0.5, 0.25]);
  assert.equal(c[0], "rgb(253,231,37)");
  assert.notEqual(c[1], c[2]);
  const same = importanceColors([1, 1, 1]);
  assert.equal(new Set(same).size, 1);
});

Deno.test("plot() puts log ticks on decades and labels every guide line", () => {
  const s = scale([1, 1000], [0, 300], true);
  assert.deepEqual(s.ticks, [1, 10, 100, 1000]);
  assert.equal(s(10), 100);
  const svg = plot({
    x: { label: "x", domain: [1, 100], log: true },
    y: { label: "y", domain: [0, 1] },
    series: [{ kind: "line", points: [[1, 1], [10, Infinity], [100, 0.5]], color: "black" }],
    hlines: [{ y: 0.4, label: "2/5" }, { y: 0.375, label: "3/8" }],
  });
  assert.equal(count(svg, /class="guide"/g), 2);
  assert.ok(svg.includes(">2/5<") && svg.includes(">3/8<"));
  assert.doesNotMatch(svg, /Infinity|NaN/, "a non-finite point was drawn");
  // Close guide lines get their labels pushed apart (≥ 11 px).
  const ys = [...svg.matchAll(/<text x="[^"]*" y="([^"]*)" fill="#888">/g)].map((m) =>
    Number(m[1])
  );
  assert.equal(ys.length, 2);
  assert.ok(Math.abs(ys[0] - ys[1]) >= 11, `guide labels overlap: y ${ys}`);
});

Deno.test("heatmap() and arrows2d() draw one shape per value and escape their text", () => {
  const h = heatmap([[1, -1], [0.5, 0]], { title: "<m>" });
  assert.equal(
    count(h, /<rect x="[^"]*" y="[^"]*" width="[^"]*" height="[^"]*" fill="[^"]*"><title>/g),
    4,
  );
  assert.ok(h.includes("&lt;m&gt;"));
  const a = arrows2d([{ x: 1, y: 0, color: "red" }, { x: 0, y: 0, color: "blue" }, {
    x: NaN,
    y: 0,
    color: "x",
  }]);
  assert.equal(count(a, /<g class="arrow"/g), 2, "a NaN arrow is skipped, a zero one is a dot");
  assert.equal(
    escapeXml(`<a href="x">'&'</a>`),
    "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;",
  );
});
