/**
 * Learning-rate schedules (pure functions of the step).
 */

import fc from "fast-check";
import assert from "node:assert/strict";
import {
  constantSchedule,
  cosineSchedule,
  linearSchedule,
  warmupSchedule,
} from "../../src/optim/schedules.ts";

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b));

Deno.test("constantSchedule() and warmupSchedule() give the rate after a linear warm-up from 0", () => {
  const c = constantSchedule(3e-4);
  assert.equal(c(0), 3e-4);
  assert.equal(c(10 ** 6), 3e-4);
  const w = warmupSchedule({ lr: 1e-3, warmupSteps: 100 });
  assert.equal(w(0), 0);
  assert.ok(close(w(50), 5e-4));
  assert.equal(w(100), 1e-3);
  assert.equal(w(5000), 1e-3);
  assert.equal(warmupSchedule({ lr: 1 })(0), 1);
});

Deno.test("linearSchedule() and cosineSchedule() match Hugging Face's warm-up schedules", () => {
  const lin = linearSchedule({ lr: 1, warmupSteps: 10, totalSteps: 110 });
  assert.ok(close(lin(5), 0.5));
  assert.equal(lin(10), 1);
  assert.ok(close(lin(60), 0.5));
  assert.equal(lin(110), 0);
  assert.equal(lin(500), 0);
  const cos = cosineSchedule({ lr: 2, warmupSteps: 10, totalSteps: 110, minLr: 0.2 });
  assert.ok(close(cos(5), 1));
  assert.equal(cos(10), 2);
  assert.ok(close(cos(60), 1.1)); // halfway: (lr + minLr) / 2
  assert.ok(close(cos(110), 0.2));
  assert.ok(close(cos(1000), 0.2));
  // No warm-up and a zero-length decay are allowed.
  assert.equal(cosineSchedule({ lr: 1, totalSteps: 0 })(0), 0);
});

Deno.test("cosineSchedule() is monotone after warm-up and within [minLr, lr]", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 50 }),
      fc.integer({ min: 0, max: 500 }),
      fc.double({ min: 1e-6, max: 1, noNaN: true }),
      (warm, extra, lr) => {
        const total = warm + extra;
        const s = cosineSchedule({ lr, warmupSteps: warm, totalSteps: total, minLr: lr / 10 });
        let prev = Infinity;
        for (let t = warm; t <= total + 5; t++) {
          const v = s(t);
          assert.ok(v <= prev + 1e-15 && v >= lr / 10 - 1e-15 && v <= lr + 1e-15);
          prev = v;
        }
        for (let t = 0; t < warm; t++) assert.ok(s(t) < lr && s(t) >= 0);
      },
    ),
  );
});

Deno.test("schedules reject bad step counts and rates", () => {
  assert.throws(() => constantSchedule(-1), /lr must be a finite number/);
  assert.throws(
    () => warmupSchedule({ lr: 1, warmupSteps: 1.5 }),
    /warmupSteps must be a non-negative integer/,
  );
  assert.throws(
    () => cosineSchedule({ lr: 1, warmupSteps: 10, totalSteps: 5 }),
    /totalSteps \(5\) is less than warmupSteps \(10\)/,
  );
});
