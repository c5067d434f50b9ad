// Top-k along the last axis, one workgroup per row. Values map to u32 sort keys whose unsigned
// order is the wanted order (NaN above +inf, -0 equal to +0; all bits flipped for the smallest
// k). Elements compare by (key descending, index ascending), a total order, so ties go to the
// lower index and the result does not depend on the workgroup size.
//
// Each thread keeps a sorted list of the best K of the elements t, t + WG, t + 2 WG, ... in
// registers (insertion), writes it to workgroup memory, and the lists merge pairwise in a tree
// (log2 WG rounds). Threads 0..k-1 write the k best of the final list. Empty list slots hold
// (key 0, index 0xffffffff), below every real element.
// Filled in by src/kernels/topk.ts:
//   ENABLE   `enable f16;` for f16 tensors
//   T        storage element type
//   KEY      body of key_of(raw: T) -> u32
//   K        list length (a power of two, at least k)
//   WG       threads per workgroup (a power of two, WG * K <= 4096)
{{ENABLE}}

struct Params {
  rows: u32,
  len: u32,
  k: u32,
  x_off: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<{{T}}>;
@group(0) @binding(2) var<storage, read_write> values: array<{{T}}>;
@group(0) @binding(3) var<storage, read_write> indices: array<i32>;

var<workgroup> sk: array<u32, {{WG}} * {{K}}>;
var<workgroup> si: array<u32, {{WG}} * {{K}}>;

fn key_of(raw: {{T}}) -> u32 {
  {{KEY}}
}

fn better(ka: u32, ia: u32, kb: u32, ib: u32) -> bool {
  return ka > kb || (ka == kb && ia < ib);
}

@compute @workgroup_size({{WG}})
fn main(
  @builtin(local_invocation_index) t: u32,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) {
    return;
  }
  let base = p.x_off + row * p.len;
  var lk: array<u32, {{K}}>;
  var li: array<u32, {{K}}>;
  for (var q = 0u; q < {{K}}u; q = q + 1u) {
    lk[q] = 0u;
    li[q] = 0xffffffffu;
  }
  for (var c = t; c < p.len; c = c + {{WG}}u) {
    let kc = key_of(x[base + c]);
    if (better(kc, c, lk[{{K}}u - 1u], li[{{K}}u - 1u])) {
      var pos = {{K}}u - 1u;
      loop {
        if (pos == 0u) {
          break;
        }
        if (!better(kc, c, lk[pos - 1u], li[pos - 1u])) {
          break;
        }
        lk[pos] = lk[pos - 1u];
        li[pos] = li[pos - 1u];
        pos = pos - 1u;
      }
      lk[pos] = kc;
      li[pos] = c;
    }
  }
  for (var q = 0u; q < {{K}}u; q = q + 1u) {
    sk[t * {{K}}u + q] = lk[q];
    si[t * {{K}}u + q] = li[q];
  }
  workgroupBarrier();
  for (var half = {{WG}}u / 2u; half > 0u; half = half / 2u) {
    if (t < half) {
      // Lists t and t + half are read only by this thread in this round.
      let la = t * {{K}}u;
      let lb = (t + half) * {{K}}u;
      var a = 0u;
      var b = 0u;
      for (var q = 0u; q < {{K}}u; q = q + 1u) {
        let ka = sk[la + a];
        let ia = si[la + a];
        let kb = sk[lb + b];
        let ib = si[lb + b];
        if (better(ka, ia, kb, ib)) {
          lk[q] = ka;
          li[q] = ia;
          a = a + 1u;
        } else {
          lk[q] = kb;
          li[q] = ib;
          b = b + 1u;
        }
      }
      for (var q = 0u; q < {{K}}u; q = q + 1u) {
        sk[la + q] = lk[q];
        si[la + q] = li[q];
      }
    }
    workgroupBarrier();
  }
  for (var q = t; q < p.k; q = q + {{WG}}u) {
    let c = si[q];
    values[row * p.k + q] = x[base + c];
    indices[row * p.k + q] = i32(c);
  }
}
