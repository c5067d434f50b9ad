/**
 * Toy models of superposition: glassbox's fused training beside PyTorch (CPU) on the same
 * configuration, in the same run. One JSON line per case:
 * {"bench":"toy","instances","features","hidden","batch","glassbox_steps_per_s",
 *  "torch_steps_per_s","ratio", ...}
 *
 * Both train ARENA's model (ReLU output, Xavier-normal W, Adam lr 1e-3, importance 0.9^i,
 * feature probability 20^-linspace(0, 1) over the instances) with a fresh batch every step.
 * PyTorch runs through /usr/bin/python3 (bench/toy_torch.py); without torch the line carries
 * torch_steps_per_s null and a torch_error, never a made-up number.
 *
 * usage: deno run -A bench/toy.ts [--seconds S] [--case I,n,m,B]...
 *
 * @module
 */

import { init } from "../src/gpu/engine.ts";
import { ToyModel } from "../src/toy/model.ts";

const args = Deno.args;
let seconds = 5;
const cases: [number, number, number, number][] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--seconds") seconds = Number(args[++i]);
  else if (args[i] === "--case") {
    cases.push(args[++i].split(",").map(Number) as [number, number, number, number]);
  }
}
if (cases.length === 0) cases.push([8, 5, 2, 1024], [20, 200, 20, 1024]);

const eng = await init();

function loadAvg(): number | null {
  try {
    return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  } catch {
    return null;
  }
}

/** Process CPU seconds (user + system), Linux only. */
function cpuSeconds(): number | null {
  try {
    const s = Deno.readTextFileSync("/proc/self/stat");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}

async function glassbox(I: number, n: number, m: number, batch: number) {
  const model = new ToyModel({
    nInstances: I,
    nFeatures: n,
    nHidden: m,
    featureProbability: Array.from({ length: I }, (_, r) => 20 ** -(I > 1 ? r / (I - 1) : 0)),
    importance: 0.9,
    seed: 0,
  });
  try {
    const plan = model.plan(batch);
    // Warm up: compile and run a few steps.
    const warm = plan.reg ? plan.stepsPerDispatch : 2;
    await model.train({ steps: warm, batch, logEvery: warm });
    // Estimate the step rate, then time about `seconds` of training in one call.
    const probe = await model.train({ steps: warm, batch, logEvery: warm });
    const steps = Math.max(3, Math.round(probe.stepsPerSecond * seconds));
    const c0 = cpuSeconds();
    const res = await model.train({ steps, batch, logEvery: steps });
    const c1 = cpuSeconds();
    return {
      stepsPerSecond: res.stepsPerSecond,
      steps,
      cpuPerStep: c0 !== null && c1 !== null ? (c1 - c0) / steps : null,
      path: plan.reg
        ? "fused (1 dispatch per " + plan.stepsPerDispatch + " steps)"
        : "streaming (2 dispatches per step, 1 pack per call)",
      finalLoss: res.losses.at(-1)?.reduce((a, b) => a + b, 0) ?? null,
    };
  } finally {
    model.dispose();
  }
}

async function torch(I: number, n: number, m: number, batch: number) {
  const script = new URL("./toy_torch.py", import.meta.url).pathname;
  try {
    const out = await new Deno.Command("/usr/bin/python3", {
      args: [script, String(I), String(n), String(m), String(batch), String(seconds)],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
    if (!out.success || !text) {
      return {
        torch_steps_per_s: null,
        torch_error: new TextDecoder().decode(out.stderr).trim().split("\n").at(-1) ??
          `exit ${out.code}`,
      };
    }
    return JSON.parse(text);
  } catch (e) {
    return {
      torch_steps_per_s: null,
      torch_error: `${(e as Error).name}: ${(e as Error).message}`,
    };
  }
}

for (const [I, n, m, batch] of cases) {
  const load0 = loadAvg();
  const g = await glassbox(I, n, m, batch);
  const t = await torch(I, n, m, batch);
  const ts = typeof t.torch_steps_per_s === "number" ? t.torch_steps_per_s : null;
  const line: Record<string, unknown> = {
    bench: "toy",
    instances: I,
    features: n,
    hidden: m,
    batch,
    glassbox_steps_per_s: Number(g.stepsPerSecond.toFixed(2)),
    torch_steps_per_s: ts === null ? null : Number(ts.toFixed(2)),
    ratio: ts === null ? null : Number((g.stepsPerSecond / ts).toFixed(2)),
    glassbox_path: g.path,
    glassbox_cpu_ms_per_step: g.cpuPerStep === null
      ? null
      : Number((g.cpuPerStep * 1e3).toFixed(3)),
    torch_cpu_ms_per_step: typeof t.torch_cpu_s_per_step === "number"
      ? Number((t.torch_cpu_s_per_step * 1e3).toFixed(3))
      : null,
    torch_threads: t.torch_threads ?? null,
    device: eng.gpu.info.description,
    load_avg: load0,
  };
  if (t.torch_error) line.torch_error = t.torch_error;
  console.log(JSON.stringify(line));
}
