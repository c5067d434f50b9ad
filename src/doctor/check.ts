/**
 * A doctor check: one kernel run once against its f64 CPU reference. Each kernel family lists its
 * checks in `src/doctor/checks_<family>.ts`; `deno task doctor` runs them all.
 *
 * @module
 */

/** Outcome of one check. */
export interface CheckResult {
  /** Largest |gpu − cpu| / (atol + rtol·|cpu|); the check passes when ≤ 1. */
  ratio: number;
  /** What was checked, e.g. "f32[37, 129] @ f32[129, 64]". */
  detail: string;
}

/** A named check. */
export interface DoctorCheck {
  name: string;
  run(): Promise<CheckResult>;
}
