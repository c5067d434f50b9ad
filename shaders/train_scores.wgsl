// Induction and previous-token scores of attention heads (src/kernels/train_scores.ts), from
// attention patterns [batch, head, query, key] of rows whose run r repeats: row b holds r at
// [start_b, start_b + len_b) and again right after it.
//   induction[h] = mean over rows b and queries q in the second copy of pattern[b, h, q, q - len_b + 1]
//                  (the token just after q's earlier copy)
//   prev[h]      = mean over rows b and queries q >= 1 of pattern[b, h, q, q - 1]
// One thread per head; out[out_off + 2h] = induction, out[out_off + 2h + 1] = prev.

struct Params {
  batch: u32,
  heads: u32,
  pos: u32,
  pat_off: u32,
  out_off: u32,
  runs_off: u32,
  _pad1: u32,
  _pad2: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> pattern: array<f32>;
@group(0) @binding(2) var<storage, read> runs: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let h = gid.x;
  if (h >= p.heads) {
    return;
  }
  let P = p.pos;
  var ind = 0.0;
  var n_ind = 0u;
  var prev = 0.0;
  for (var b = 0u; b < p.batch; b = b + 1u) {
    let base = p.pat_off + (b * p.heads + h) * P * P;
    let start = u32(runs[p.runs_off + 2u * b]);
    let len = u32(runs[p.runs_off + 2u * b + 1u]);
    for (var q = start + len; q < min(start + 2u * len, P); q = q + 1u) {
      ind = ind + pattern[base + q * P + q - len + 1u];
      n_ind = n_ind + 1u;
    }
    var row = 0.0;
    for (var q = 1u; q < P; q = q + 1u) {
      row = row + pattern[base + q * P + q - 1u];
    }
    prev = prev + row;
  }
  out[p.out_off + 2u * h] = ind / f32(max(n_ind, 1u));
  out[p.out_off + 2u * h + 1u] = prev / f32(max(p.batch * (P - 1u), 1u));
}
