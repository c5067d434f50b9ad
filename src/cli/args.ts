/**
 * A small, strict flag parser for the CLI: `--name value` and `--flag`; unknown flags and bad
 * values are usage errors that name the argument.
 *
 * @module
 */

/** Thrown for bad command-line arguments; the message names the argument. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** How to read one flag. */
export type FlagKind = "string" | "int" | "number" | "numbers" | "boolean";

/** Parse `args` against `spec` ({name: kind}); returns values by flag name (without dashes). */
export function parseFlags(
  command: string,
  args: string[],
  spec: Record<string, FlagKind>,
): Record<string, string | number | number[] | boolean | undefined> {
  const out: Record<string, string | number | number[] | boolean | undefined> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith("--")) {
      throw new UsageError(`unexpected argument "${a}" (flags start with --)`);
    }
    const [rawName, inline] = a.slice(2).split("=", 2);
    const kind = spec[rawName];
    if (!kind) {
      throw new UsageError(
        `unknown flag --${rawName} for ${command} (known: ${
          Object.keys(spec).map((k) => `--${k}`).join(", ")
        })`,
      );
    }
    if (kind === "boolean") {
      out[rawName] = inline === undefined ? true : inline !== "false";
      continue;
    }
    const v = inline ?? args[++i];
    if (v === undefined || (inline === undefined && v.startsWith("--"))) {
      throw new UsageError(`--${rawName} needs a value`);
    }
    out[rawName] = convert(rawName, kind, v);
  }
  return out;
}

function convert(name: string, kind: FlagKind, v: string): string | number | number[] {
  switch (kind) {
    case "string":
      return v;
    case "int": {
      const n = Number(v);
      if (!Number.isInteger(n)) throw new UsageError(`--${name} must be an integer, got "${v}"`);
      return n;
    }
    case "number": {
      const n = Number(v);
      if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${v}"`);
      return n;
    }
    case "numbers": {
      const parts = v.split(",").map((s) => s.trim());
      const ns = parts.map(Number);
      const bad = parts.findIndex((s, i) => s === "" || !Number.isFinite(ns[i]));
      if (bad >= 0) {
        throw new UsageError(
          `--${name} must be comma-separated numbers, got "${parts[bad]}" in "${v}"`,
        );
      }
      return ns;
    }
    default:
      return v;
  }
}
