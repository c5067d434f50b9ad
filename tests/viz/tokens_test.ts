/**
 * coloredTokens(): the colour of each value, the hover text, escaping, and the colour maps.
 */

import assert from "node:assert/strict";
import { coloredTokens, valueColor } from "../../src/viz/tokens.ts";

function spans(html: string): { style: string; title: string; text: string }[] {
  return [
    ...html.matchAll(/<span class="gb-tok" style="([^"]*)" title="([^"]*)"[^>]*>([^<]*)<\/span>/g),
  ]
    .map((m) => ({ style: m[1], title: m[2], text: m[3] }));
}

Deno.test("coloredTokens() colours each token by its value and shows the value on hover", () => {
  const html = coloredTokens(["The", " cat", " sat"], [-2, 0, 1], { label: "DLA", digits: 2 });
  const s = spans(html);
  assert.equal(s.length, 3);
  assert.deepEqual(s.map((x) => x.text), ["The", " cat", " sat"]);
  // Both signs: diverging around 0, symmetric (|−2| is the full colour).
  assert.match(s[0].style, /background:rgb\(178, 24, 43\)/);
  assert.match(s[1].style, /background:rgb\(255, 255, 255\)/);
  assert.match(s[2].style, /background:rgb\(144, 179, 214\)/);
  assert.equal(s[0].title, "0: &#34;The&#34;  DLA = -2.00");
  assert.match(html, /data-tip="2: &#34; sat&#34; {2}DLA = 1.00"/);
  assert.match(html, /:hover::after \{ content: attr\(data-tip\)/);
  assert.match(html, /DLA: red -2.00 · white 0 · blue 2.00/);
});

Deno.test("coloredTokens() escapes tokens, shows whitespace, and picks the colour map", () => {
  const html = coloredTokens(["<b>&", "\n", ""], [0, 0.5, 1], { title: "a <title>" });
  const s = spans(html);
  assert.deepEqual(s.map((x) => x.text), ["&#60;b&#62;&#38;", "↵", "∅"]);
  assert.match(html, /<h3>a &#60;title&#62;<\/h3>/);
  // One sign: sequential from the minimum (white) to the maximum (blue).
  assert.match(s[0].style, /rgb\(255, 255, 255\)/);
  assert.match(s[2].style, /rgb\(33, 102, 172\);color:#fff;/);
  const fixed = coloredTokens(["a", "b"], [1, 2], { colormap: "sequential", min: 0, max: 4 });
  assert.match(spans(fixed)[1].style, /rgb\(144, 179, 214\)/);
  assert.equal(valueColor(NaN, 0, 1, "sequential").background, "rgb(230, 230, 230)");
  assert.throws(() => coloredTokens(["a"], [1, 2]), /1 tokens but 2 values/);
  assert.throws(
    () => coloredTokens(["a"], [1], { colormap: "rainbow" as "auto" }),
    /colormap "rainbow"/,
  );
});
