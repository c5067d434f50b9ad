// Top-k along the last axis. Values map to u32 sort keys whose unsigned order is the wanted
// order (NaN above +inf, -0 equal to +0; all bits flipped for the smallest k). Elements compare
// by (key descending, index ascending), a total order, so ties go to the lower index and the
// result does not depend on the workgroup size.
//
// Each workgroup takes rows wid, wid + nwg, ... in turn. For a row:
// Pass 1 finds each thread's best of the elements t, t + WG, t + 2 WG, ...; the k-th best of
// those WG distinct elements is a threshold tau no worse than the row's k-th best (k <= WG).
// Pass 2: each thread keeps a sorted list of the indices of its best K elements not worse than
// tau (insertion; for typical rows only a few elements pass tau). The lists then merge pairwise
// in a tree (log2 WG rounds) and threads write the k best of the final list. Keys of listed
// elements are re-read from x; empty slots hold index 0xffffffff with key 0, below every real
// element.
//
// The lists live in a global scratch buffer (one slot of WG * K + WG / 2 * K words per
// workgroup), not in workgroup memory: the GL backend zero-fills workgroup arrays with code
// whose compile time grows steeply with their size (4096 words take minutes on llvmpipe).
// Filled in by src/kernels/topk.ts:
//   ENABLE   `enable f16;` for f16 tensors
//   T        storage element type
//   KEY      body of key_of(raw: T) -> u32 (xor p.flip: 0, or all ones for the smallest k)
//   K        list length (at least k)
//   WG       threads per workgroup (a power of two, k <= WG)
{{ENABLE}}

struct Params {
  rows: u32,
  len: u32,
  k: u32,
  x_off: u32,
  flip: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
};

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<{{T}}>;
@group(0) @binding(2) var<storage, read_write> values: array<{{T}}>;
@group(0) @binding(3) var<storage, read_write> indices: array<i32>;
@group(0) @binding(4) var<storage, read_write> lists: array<u32>;

var<workgroup> mk: array<u32, {{WG}}>;
var<workgroup> mi: array<u32, {{WG}}>;
var<workgroup> tau: array<u32, 2>;

fn key_of(raw: {{T}}) -> u32 {
  {{KEY}}
}

// Key of element i of the row at `base`; the empty-slot index 0xffffffff has key 0.
fn key_at(base: u32, i: u32) -> u32 {
  if (i == 0xffffffffu) {
    return 0u;
  }
  return key_of(x[base + i]);
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
  let slot = wid.x * ({{WG}}u * {{K}}u * 3u / 2u);
  let mine = slot + t * {{K}}u;
  let scratch = slot + {{WG}}u * {{K}}u;
  for (var row = wid.x; row < p.rows; row = row + nwg.x) {
    let base = p.x_off + row * p.len;
    // Pass 1: this thread's best element, then tau = the k-th best of the threads' bests.
    var bk = 0u;
    var bi = 0xffffffffu;
    for (var c = t; c < p.len; c = c + {{WG}}u) {
      let kc = key_of(x[base + c]);
      if (better(kc, c, bk, bi)) {
        bk = kc;
        bi = c;
      }
    }
    mk[t] = bk;
    mi[t] = bi;
    workgroupBarrier();
    var rank = 0u;
    for (var s = 0u; s < {{WG}}u; s = s + 1u) {
      let ks = mk[s];
      let ixs = mi[s];
      // Threads with no element hold equal sentinels: break ties by thread.
      if (better(ks, ixs, bk, bi) || (ks == bk && ixs == bi && s < t)) {
        rank = rank + 1u;
        if (rank >= p.k) {
          break;
        }
      }
    }
    if (rank == p.k - 1u) {
      tau[0] = bk;
      tau[1] = bi;
    }
    workgroupBarrier();
    let tk = tau[0];
    let ti = tau[1];
    // Pass 2: this thread's best K elements not worse than tau, sorted, in its list.
    for (var q = 0u; q < {{K}}u; q = q + 1u) {
      lists[mine + q] = 0xffffffffu;
    }
    var wk = 0u;
    var wi = 0xffffffffu;
    var cnt = 0u;
    for (var c = t; c < p.len; c = c + {{WG}}u) {
      let kc = key_of(x[base + c]);
      if (better(tk, ti, kc, c) || !better(kc, c, wk, wi)) {
        continue;
      }
      // Insert below the filled part of the list (entries past `cnt` are empty slots).
      var pos = min(cnt, {{K}}u - 1u);
      loop {
        if (pos == 0u) {
          break;
        }
        let prev = lists[mine + pos - 1u];
        if (!better(kc, c, key_at(base, prev), prev)) {
          break;
        }
        lists[mine + pos] = prev;
        pos = pos - 1u;
      }
      lists[mine + pos] = c;
      cnt = min(cnt + 1u, {{K}}u);
      if (cnt == {{K}}u) {
        wi = lists[mine + {{K}}u - 1u];
        wk = key_at(base, wi);
      }
    }
    storageBarrier();
    workgroupBarrier();
    // Merge pairs of lists in a tree: list t takes the best K of lists t and t + half, built
    // in thread t's part of the scratch (no other thread touches these in this round).
    for (var half = {{WG}}u / 2u; half > 0u; half = half / 2u) {
      if (t < half) {
        let la = slot + t * {{K}}u;
        let lb = slot + (t + half) * {{K}}u;
        let out = scratch + t * {{K}}u;
        var a = 0u;
        var b = 0u;
        var ia = lists[la];
        var ib = lists[lb];
        var ka = key_at(base, ia);
        var kb = key_at(base, ib);
        for (var q = 0u; q < {{K}}u; q = q + 1u) {
          if (better(ka, ia, kb, ib)) {
            lists[out + q] = ia;
            a = a + 1u;
            ia = lists[la + min(a, {{K}}u - 1u)];
            ka = key_at(base, ia);
          } else {
            lists[out + q] = ib;
            b = b + 1u;
            ib = lists[lb + min(b, {{K}}u - 1u)];
            kb = key_at(base, ib);
          }
        }
        for (var q = 0u; q < {{K}}u; q = q + 1u) {
          lists[la + q] = lists[out + q];
        }
      }
      storageBarrier();
      workgroupBarrier();
    }
    for (var q = t; q < p.k; q = q + {{WG}}u) {
      let c = lists[slot + q];
      values[row * p.k + q] = x[base + c];
      indices[row * p.k + q] = i32(c);
    }
    // The next row reuses mk, mi, tau and the lists.
    storageBarrier();
    workgroupBarrier();
  }
}
