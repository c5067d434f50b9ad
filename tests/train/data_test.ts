import assert from "node:assert/strict";
import fc from "fast-check";
import { gpuTest, NUM_RUNS } from "../_gpu.ts";
import { readTensors } from "../../src/tensor.ts";
import {
  RepeatData,
  repeatDataConfig,
  repeatedSequences,
  repeatedSequencesRef,
} from "../../src/train/data.ts";

/** Checks one batch's structure: BOS first, exact repeat, ranges, no BOS elsewhere. */
function checkStructure(
  tokens: Int32Array,
  meta: Int32Array,
  o: { batch: number; ctx: number; vocab: number; bos: number; minLen: number; lenMax: number },
  maxPrefix: number,
) {
  for (let b = 0; b < o.batch; b++) {
    const row = tokens.subarray(b * o.ctx, (b + 1) * o.ctx);
    const [start, len] = [meta[2 * b], meta[2 * b + 1]];
    assert.equal(row[0], o.bos, `row ${b} starts with BOS`);
    assert.ok(len >= o.minLen && len <= o.lenMax, `row ${b}: run length ${len}`);
    assert.ok(start >= 1 && start - 1 <= maxPrefix, `row ${b}: prefix ${start - 1}`);
    assert.ok(start + 2 * len <= o.ctx, `row ${b}: both copies fit (${start} + 2·${len})`);
    for (let i = 0; i < len; i++) {
      assert.equal(row[start + len + i], row[start + i], `row ${b}: copy differs at ${i}`);
    }
    for (let p = 1; p < o.ctx; p++) {
      assert.ok(row[p] >= 0 && row[p] < o.vocab && row[p] !== o.bos, `row ${b}[${p}] = ${row[p]}`);
    }
  }
}

gpuTest(
  "repeatedSequences() matches repeatedSequencesRef() bit for bit on random options",
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          batch: fc.integer({ min: 1, max: 7 }),
          ctx: fc.integer({ min: 17, max: 70 }),
          vocab: fc.constantFrom(2, 3, 17, 64, 50257),
          seed: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.constant(2 ** 40 + 3)),
          step: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
          maxPrefix: fc.integer({ min: 0, max: 25 }),
          bosPick: fc.integer({ min: 0, max: 1000 }),
        }),
        async ({ batch, ctx, vocab, seed, step, maxPrefix, bosPick }) => {
          const opts = { batch, ctx, vocab, seed, maxPrefix, bos: bosPick % vocab };
          const { tokens, meta } = repeatedSequences(opts, step);
          const [t, m] = await readTensors([tokens, meta]);
          tokens.dispose();
          meta.dispose();
          const want = repeatedSequencesRef(opts, step);
          assert.deepEqual(Array.from(t), Array.from(want.tokens));
          assert.deepEqual(Array.from(m), Array.from(want.meta));
          const c = repeatDataConfig(opts);
          checkStructure(t as Int32Array, m as Int32Array, c, maxPrefix);
        },
      ),
      { numRuns: NUM_RUNS },
    );
  },
);

gpuTest(
  "RepeatData: BOS first, exact repeat, offsets and lengths vary, reproducible by seed",
  async () => {
    const data = new RepeatData({ batch: 64, ctx: 48, seed: 3 });
    const c = data.cfg;
    assert.equal(c.vocab, 64);
    assert.equal(c.lenMax, 20);
    const [t0, m0] = await readTensors([data.next(0).tokens, data.meta]);
    checkStructure(t0 as Int32Array, m0 as Int32Array, c, 20);
    const starts = new Set<number>();
    const lens = new Set<number>();
    for (let b = 0; b < 64; b++) {
      starts.add(m0[2 * b]);
      lens.add(m0[2 * b + 1]);
    }
    assert.ok(starts.size >= 8, `offsets vary: ${[...starts]}`);
    assert.ok(lens.size >= 6, `run lengths vary: ${[...lens]}`);
    // The same (seed, step) gives the same batch; another step or seed gives another one.
    const [t0again] = await readTensors([data.next(0).tokens]);
    assert.deepEqual(Array.from(t0again), Array.from(t0));
    const [t1] = await readTensors([data.next(1).tokens]);
    assert.notDeepEqual(Array.from(t1), Array.from(t0));
    const other = repeatedSequences({ batch: 64, ctx: 48, seed: 4 }, 0);
    const [u0] = await readTensors([other.tokens]);
    assert.notDeepEqual(Array.from(u0), Array.from(t0));
    other.tokens.dispose();
    other.meta.dispose();
    data.dispose();
  },
);

gpuTest("RepeatData: tokens outside the run are close to uniform over the vocabulary", async () => {
  const data = new RepeatData({ batch: 256, ctx: 48, vocab: 8, seed: 11 });
  const [t] = await readTensors([data.next(5).tokens]);
  const counts = new Array(8).fill(0);
  for (let i = 0; i < t.length; i++) if (i % 48 !== 0) counts[t[i]]++;
  assert.equal(counts[0], 0, "BOS never drawn");
  const n = counts.reduce((a, b) => a + b, 0) / 7;
  // 256·47/7 ≈ 1719 draws per token (repeats included): ±10% is > 4 standard deviations.
  for (let v = 1; v < 8; v++) {
    assert.ok(Math.abs(counts[v] - n) < 0.1 * n, `token ${v}: ${counts[v]}`);
  }
  data.dispose();
});

Deno.test("repeatDataConfig() rejects contexts too short and bad options, naming the value", () => {
  assert.throws(
    () => repeatDataConfig({ batch: 2, ctx: 16 }),
    /ctx 16 is too short for BOS and two copies of a run of minLen 8 \(needs ctx ≥ 17\)/,
  );
  assert.throws(() => repeatDataConfig({ batch: 0, ctx: 48 }), /batch must be an integer .* got 0/);
  assert.throws(() => repeatDataConfig({ batch: 2, ctx: 48, bos: 64 }), /bos must be .* got 64/);
  assert.throws(
    () => repeatDataConfig({ batch: 2, ctx: 48, minLen: 9, maxLen: 8 }),
    /maxLen must be an integer in \[9, /,
  );
  assert.equal(repeatDataConfig({ batch: 2, ctx: 30 }).lenMax, 14);
});
