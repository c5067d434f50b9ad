/**
 * `deno task glassbox <command> [--flags]`: the command-line entry. Each command lives in
 * `src/cli/<command>.ts` and exports `run(args: string[]): Promise<number>` (the exit code).
 *
 * @module
 */

const COMMANDS: Record<string, string> = {
  toy: "train toy models of superposition and write results.json and report.html",
  cache: "run a checkpoint on text or tokens and write activations to a .safetensors file",
  induction: "train a small attention-only transformer and find its induction heads",
  attention: "write an attention-pattern view of a checkpoint on some text as one HTML file",
};

import { UsageError } from "./args.ts";

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([k, v]) => `  ${k.padEnd(10)} ${v}`);
  return `usage: deno task glassbox <command> [--flags]\n\ncommands:\n${lines.join("\n")}\n\n` +
    "Run a command with --help for its flags.";
}

if (import.meta.main) {
  const [cmd, ...rest] = Deno.args;
  if (!cmd || cmd === "--help" || cmd === "-h") {
    console.log(usage());
    Deno.exit(cmd ? 0 : 2);
  }
  if (!(cmd in COMMANDS)) {
    console.error(`glassbox: unknown command "${cmd}"\n\n${usage()}`);
    Deno.exit(2);
  }
  let mod: { run(args: string[]): Promise<number> };
  try {
    mod = await import(`./${cmd}.ts`);
  } catch (e) {
    console.error(
      `glassbox: command "${cmd}" is not available in this build (${(e as Error).message})`,
    );
    Deno.exit(2);
  }
  try {
    Deno.exit(await mod.run(rest));
  } catch (e) {
    if (e instanceof UsageError || (e as Error).name === "UsageError") {
      console.error(`glassbox ${cmd}: ${(e as Error).message}`);
      Deno.exit(2);
    }
    throw e;
  }
}
