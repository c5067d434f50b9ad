/**
 * What the browser tests share: Debian's Chromium (GLASSBOX_CHROMIUM overrides the path),
 * launched headless by playwright-core with WebGPU on (SwiftShader). Without the browser a test
 * is reported ignored by name; GLASSBOX_REQUIRE_BROWSER=1 (set by CI) turns that into a failure.
 */

import type { Browser } from "playwright-core";

/** An environment variable, or undefined (also without env permission). */
export function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

const CHROMIUM = env("GLASSBOX_CHROMIUM") ?? "/usr/bin/chromium";
const REQUIRED = env("GLASSBOX_REQUIRE_BROWSER") === "1";

function missingBrowser(): string | null {
  try {
    return Deno.statSync(CHROMIUM).isFile ? null : `${CHROMIUM} is not a file`;
  } catch {
    return `${CHROMIUM} not found (apt-get install -y chromium, or set GLASSBOX_CHROMIUM)`;
  }
}

const skipReason = missingBrowser();

/**
 * Register a test that needs Chromium: ignored (with a warning naming `what`) when the browser
 * is missing, failed instead when GLASSBOX_REQUIRE_BROWSER=1.
 */
export function browserTest(
  name: string,
  what: string,
  fn: (t: Deno.TestContext) => Promise<void>,
): void {
  if (skipReason && !REQUIRED) console.warn(`${what} will be ignored: ${skipReason}`);
  Deno.test({
    name,
    ignore: skipReason !== null && !REQUIRED,
    // The browser process and the local server outlive a test step by design.
    sanitizeResources: false,
    sanitizeOps: false,
    async fn(t) {
      if (skipReason) throw new Error(`No browser (GLASSBOX_REQUIRE_BROWSER=1): ${skipReason}`);
      await fn(t);
    },
  });
}

/** Launch headless Chromium with WebGPU enabled and nothing reaching out to the network. */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import("playwright-core");
  return await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--enable-unsafe-webgpu",
      "--disable-quic",
      "--no-sandbox",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}
