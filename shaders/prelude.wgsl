// webgpu-hmm prelude: virtual memory for WGSL kernels.
//
// Linked in front of every kernel by src/kernel/link.ts, which first emits:
//   const VM_PAGE_SHIFT, VM_FRAME_WORD_SHIFT, VM_WINDOW_WORD_SHIFT, VM_LOG_ENTRIES, VM_FAULT_ENTRIES: u32
//   const VM_DEMAND: bool — false in the pipeline variant for declared dispatches, which
//     folds every demand-mode path (overlay, stalls, bitmaps) away at compile time
//   the window bindings  @group(0) @binding(3 + i) vm_w<i>: array<u32 | atomic<u32>>
//   vm_read_word(g) / vm_write_word(g, v) / vm_atomic_*_word(g, …): a switch over windows
// and after the user's code, the entry point `vm_entry`, which maps the launched
// workgroup to the dispatch's grid (a pass may run one slice of it), sets vm_gid,
// calls the user's `fn kernel(inv: VmInvocation)` and, in REPLAY mode, marks
// the workgroup complete.
//
// A virtual address is a u32 byte address in [0, space size). Translation:
//   page = addr >> VM_PAGE_SHIFT;  pte = vm_pt[page]
//   pte bit 31 VALID, bit 30 READ, bit 29 WRITE, bits 0..28 frame
//   global word g = frame << VM_FRAME_WORD_SHIFT | (addr & page mask) >> 2
//   window = g >> VM_WINDOW_WORD_SHIFT, index = g & window mask
// Any access that fails a check is recorded in vm_log and not carried out:
// loads return zero, stores and atomics do nothing. Nothing outside this
// space's frames can be reached: the only way to a frame is this space's PTEs,
// and a PTE is used only when VALID.

struct VmUniforms {
  num_pages: u32,
  // VM_MODE_*: how a miss and a store are handled (src/fault/demand.ts has the protocol).
  mode: u32,
  // u32 words per page bitmap in the record buffer.
  bitmap_words: u32,
  // Linear index of the first workgroup launched by this pass (a slice of the grid).
  slice_base: u32,
  // The dispatch's workgroup counts (x, y, z) and, in w, the end of this pass's slice.
  grid: vec4<u32>,
  args: array<vec4<u32>, 16>,
}

struct VmInvocation {
  global_id: vec3<u32>,
  local_id: vec3<u32>,
  workgroup_id: vec3<u32>,
  num_workgroups: vec3<u32>,
  local_index: u32,
}

@group(0) @binding(0) var<uniform> vm_u: VmUniforms;
@group(0) @binding(1) var<storage, read> vm_pt: array<u32>;
@group(0) @binding(2) var<storage, read_write> vm_log: array<atomic<u32>>;

const VM_VALID: u32 = 0x80000000u;
const VM_R: u32 = 0x40000000u;
const VM_W: u32 = 0x20000000u;
const VM_RW: u32 = 0x60000000u;
const VM_FRAME_MASK: u32 = 0x1fffffffu;
const VM_NONE: u32 = 0xffffffffu;
const VM_PAGE_MASK: u32 = (1u << VM_PAGE_SHIFT) - 1u;
const VM_WINDOW_MASK: u32 = (1u << VM_WINDOW_WORD_SHIFT) - 1u;

// Modes (uniform per pass):
//   DECLARED  READ/WRITE bits come from the dispatch's declared ranges; anything else is a violation.
//   PROBE     demand mode, read-only: a load of a page without a frame is a miss; stores and
//             atomics change nothing and record write intent for pages without WRITE.
//   COMMIT    demand mode, for real: stores land only on pages with WRITE (the snapshot);
//             a miss or a store elsewhere records it and sets the abort flag.
//   REPLAY    demand mode for idempotent kernels: stores land on every page with a frame;
//             a workgroup none of whose invocations missed marks itself complete.
const VM_MODE_DECLARED: u32 = 0u;
const VM_MODE_PROBE: u32 = 1u;
const VM_MODE_COMMIT: u32 = 2u;
const VM_MODE_REPLAY: u32 = 3u;

// Violation kinds (src/fault/records.ts decodes them).
const VM_KIND_RANGE: u32 = 1u;
const VM_KIND_NOREAD: u32 = 2u;
const VM_KIND_NOWRITE: u32 = 3u;
const VM_KIND_MISALIGNED: u32 = 4u;

// Record buffer (vm_log), in u32 words; src/fault/records.ts holds the same layout:
//   [0] violation count  [1] fault entries claimed  [2] reserved  [3] abort flag
//   then VM_LOG_ENTRIES violation records of 8 words: addr, kind, gid.x, gid.y, gid.z, 0, 0, 0
//   then VM_FAULT_ENTRIES fault entries: page | VM_FAULT_* flags (a claimed count past the
//        end means entries were dropped: the runtime runs another round)
//   then five page bitmaps of vm_u.bitmap_words words: accessed, written, miss-seen,
//        speculative-seen, write-intent-seen (the last three deduplicate fault entries)
//   then the workgroup completion bitmap (REPLAY mode), one bit per linear workgroup.
const VM_LOG_HEADER: u32 = 4u;
const VM_LOG_STRIDE: u32 = 8u;
const VM_FAULT_BASE: u32 = VM_LOG_HEADER + VM_LOG_ENTRIES * VM_LOG_STRIDE;
const VM_BITMAP_BASE: u32 = VM_FAULT_BASE + VM_FAULT_ENTRIES;
const VM_MAP_ACCESSED: u32 = 0u;
const VM_MAP_WRITTEN: u32 = 1u;
const VM_MAP_MISS_SEEN: u32 = 2u;
const VM_MAP_SPEC_SEEN: u32 = 3u;
const VM_MAP_WRITE_SEEN: u32 = 4u;
const VM_MAP_COUNT: u32 = 5u;
const VM_FAULT_MISS: u32 = 0x80000000u;
const VM_FAULT_WRITE: u32 = 0x40000000u;
// A miss seen after the invocation had already stalled: its address may be garbage, so the
// runtime fetches the page only if there is room (a prefetch hint, never a requirement).
const VM_FAULT_SPEC: u32 = 0x20000000u;
const VM_FAULT_PAGE: u32 = 0x1fffffffu;

var<private> vm_gid: vec3<u32>;
// Set at an invocation's first miss in a demand pass. From then on its values may be garbage
// (a missed load returned 0), so it stores nothing, reports no violations and marks nothing
// accessed; its loads of resident pages still work, and its misses become speculative hints.
var<private> vm_stalled: bool;

fn vm_violation(addr: u32, kind: u32) {
  let i = atomicAdd(&vm_log[0], 1u);
  if (i < VM_LOG_ENTRIES) {
    let b = VM_LOG_HEADER + i * VM_LOG_STRIDE;
    atomicStore(&vm_log[b], addr);
    atomicStore(&vm_log[b + 1u], kind);
    atomicStore(&vm_log[b + 2u], vm_gid.x);
    atomicStore(&vm_log[b + 3u], vm_gid.y);
    atomicStore(&vm_log[b + 4u], vm_gid.z);
  }
}

// Set bit `page` of bitmap `map`; true if this call set it. The plain load first keeps
// the common case (bit already set) free of read-modify-writes.
fn vm_bit_set(map: u32, page: u32) -> bool {
  let i = VM_BITMAP_BASE + map * vm_u.bitmap_words + (page >> 5u);
  let b = 1u << (page & 31u);
  if ((atomicLoad(&vm_log[i]) & b) != 0u) { return false; }
  return (atomicOr(&vm_log[i], b) & b) == 0u;
}

// One entry per (page, kind) per pass, deduplicated by the `seen` bitmap; when the batch is
// full the claim count still grows, which tells the runtime to run another round.
fn vm_record_fault(page: u32, flags: u32, seen: u32) {
  if (vm_bit_set(seen, page)) {
    let n = atomicAdd(&vm_log[1], 1u);
    if (n < VM_FAULT_ENTRIES) { atomicStore(&vm_log[VM_FAULT_BASE + n], page | flags); }
  }
}

// A one-entry translation cache per invocation: the page of the last access and its PTE.
// Entries never change during a pass (the runtime flushes the table before submitting), so a
// load and a store of the same page read the table once; a page past the end is never cached.
var<private> vm_tc_page: u32 = 0xffffffffu;
var<private> vm_tc_pte: u32;

fn vm_word(pte: u32, addr: u32) -> u32 {
  return ((pte & VM_FRAME_MASK) << VM_FRAME_WORD_SHIFT) | ((addr & VM_PAGE_MASK) >> 2u);
}

// Private overlay: the stores of an invocation that must not land — every store in a PROBE
// pass, a COMMIT store outside the snapshot, any store after a stall — go here instead, so
// the invocation reads back what it wrote and a read-modify-write sees its own earlier
// ones. A probe then follows the path a real run would take through its own stores, and a
// loop that counts with an atomic (a ticket loop) still ends. 8 words, least recently used
// replaced first, so a counter touched every iteration stays while the stores stream past.
const VM_OVERLAY: u32 = 8u;
var<private> vm_ov_addr: array<u32, 8>;
var<private> vm_ov_val: array<u32, 8>;
var<private> vm_ov_used: array<u32, 8>;
var<private> vm_ov_count: u32;
var<private> vm_ov_clock: u32;
// Set by vm_translate: the access may read the word it returns but must not write it.
var<private> vm_nowrite: bool;

fn vm_ov_find(addr: u32) -> u32 {
  for (var i = 0u; i < min(vm_ov_count, VM_OVERLAY); i++) {
    if (vm_ov_addr[i] == addr) {
      vm_ov_clock++;
      vm_ov_used[i] = vm_ov_clock;
      return i;
    }
  }
  return VM_OVERLAY;
}

fn vm_ov_put(addr: u32, v: u32) {
  if (!VM_DEMAND || vm_u.mode == VM_MODE_DECLARED) { return; }
  var i = vm_ov_find(addr);
  if (i == VM_OVERLAY) {
    if (vm_ov_count < VM_OVERLAY) {
      i = vm_ov_count;
      vm_ov_count++;
    } else {
      i = 0u;
      for (var j = 1u; j < VM_OVERLAY; j++) {
        if (vm_ov_used[j] < vm_ov_used[i]) { i = j; }
      }
    }
    vm_ov_addr[i] = addr;
    vm_ov_clock++;
    vm_ov_used[i] = vm_ov_clock;
  }
  vm_ov_val[i] = v;
}

// The word at `addr` as this invocation sees it: its overlay, else memory (g), else 0.
fn vm_ov_read(addr: u32, g: u32) -> u32 {
  if (VM_DEMAND && vm_ov_count != 0u) {
    let i = vm_ov_find(addr);
    if (i != VM_OVERLAY) { return vm_ov_val[i]; }
  }
  if (g == VM_NONE) { return 0u; }
  return vm_read_word(g);
}

// A store or read-modify-write goes to the overlay (demand modes), not to memory.
fn vm_shadowed(g: u32) -> bool {
  return VM_DEMAND && vm_u.mode != VM_MODE_DECLARED && (g == VM_NONE || vm_nowrite);
}

// Translation for a stalled invocation: resident pages only, never written. A miss, by a
// load or a store, is a hint: the address is often right (it came from resident data).
fn vm_translate_stalled(addr: u32, align: u32, need: u32) -> u32 {
  if ((addr & (align - 1u)) != 0u) { return VM_NONE; }
  let page = addr >> VM_PAGE_SHIFT;
  if (page >= vm_u.num_pages) { return VM_NONE; }
  let pte = vm_pt[page];
  if ((pte & VM_VALID) == 0u) {
    vm_record_fault(page, VM_FAULT_MISS | VM_FAULT_SPEC, VM_MAP_SPEC_SEEN);
    return VM_NONE;
  }
  vm_nowrite = true;
  return vm_word(pte, addr);
}

// Translate `addr` for an access of `align` bytes needing permission `need`
// (VM_R, VM_W or VM_RW). Returns the global word index, or VM_NONE when the
// word cannot be reached (a violation, a miss). When it returns a word with
// vm_nowrite set, the access may read it but its write goes to the overlay:
// every store of a PROBE pass, and a COMMIT store outside the snapshot (which
// also aborts the commit; the invocation runs on to reveal more of its writes).
fn vm_translate(addr: u32, align: u32, need: u32) -> u32 {
  if (VM_DEMAND) {
    vm_nowrite = false;
    if (vm_stalled) { return vm_translate_stalled(addr, align, need); }
  }
  if ((addr & (align - 1u)) != 0u) {
    vm_violation(addr, VM_KIND_MISALIGNED);
    return VM_NONE;
  }
  let page = addr >> VM_PAGE_SHIFT;
  if (page != vm_tc_page) {
    if (page >= vm_u.num_pages) {
      vm_violation(addr, VM_KIND_RANGE);
      return VM_NONE;
    }
    vm_tc_page = page;
    vm_tc_pte = vm_pt[page];
  }
  let pte = vm_tc_pte;
  let mode = vm_u.mode;
  if (!VM_DEMAND || mode == VM_MODE_DECLARED) {
    if ((pte & (need | VM_VALID)) != (need | VM_VALID)) {
      vm_violation(addr, select(VM_KIND_NOREAD, VM_KIND_NOWRITE, (need & VM_W) != 0u && (pte & VM_W) == 0u));
      return VM_NONE;
    }
    return vm_word(pte, addr);
  }
  let writes = (need & VM_W) != 0u;
  if ((pte & VM_VALID) == 0u) {
    vm_record_fault(page, VM_FAULT_MISS | select(0u, VM_FAULT_WRITE, writes), VM_MAP_MISS_SEEN);
    if (mode == VM_MODE_COMMIT) { atomicStore(&vm_log[3], 1u); }
    // A plain store needs no data from the page: in PROBE and COMMIT passes it goes to the
    // overlay and the invocation runs on (so one pass reveals, say, every page an append
    // reaches). A load or read-modify-write got no value, and in REPLAY mode the store is
    // lost: the invocation stalls.
    if (need != VM_W || mode == VM_MODE_REPLAY) { vm_stalled = true; }
    return VM_NONE;
  }
  vm_bit_set(VM_MAP_ACCESSED, page);
  if (writes) {
    if (mode != VM_MODE_REPLAY && (pte & VM_W) == 0u) {
      vm_record_fault(page, VM_FAULT_WRITE, VM_MAP_WRITE_SEEN);
      if (mode == VM_MODE_COMMIT) { atomicStore(&vm_log[3], 1u); }
      vm_nowrite = true;
    } else if (mode == VM_MODE_PROBE) {
      vm_nowrite = true;
    } else {
      vm_bit_set(VM_MAP_WRITTEN, page);
    }
  }
  return vm_word(pte, addr);
}

// True once this invocation has missed in a demand pass: its loads may have returned 0 and
// it will be run again. A loop whose exit depends only on what it loads should test it, so
// that a stalled invocation does not spin.
fn vm_faulted() -> bool { return vm_stalled; }

// ---- arguments (u32 words passed with the dispatch) ----

fn vm_arg_u32(i: u32) -> u32 { return vm_u.args[i >> 2u][i & 3u]; }
fn vm_arg_i32(i: u32) -> i32 { return bitcast<i32>(vm_arg_u32(i)); }
fn vm_arg_f32(i: u32) -> f32 { return bitcast<f32>(vm_arg_u32(i)); }

// ---- scalar loads and stores ----

fn vm_load_u32(addr: u32) -> u32 {
  if (VM_DEMAND && vm_ov_count != 0u) {
    let i = vm_ov_find(addr);
    if (i != VM_OVERLAY) { return vm_ov_val[i]; }
  }
  let g = vm_translate(addr, 4u, VM_R);
  if (g == VM_NONE) { return 0u; }
  return vm_read_word(g);
}
fn vm_load_i32(addr: u32) -> i32 { return bitcast<i32>(vm_load_u32(addr)); }
fn vm_load_f32(addr: u32) -> f32 { return bitcast<f32>(vm_load_u32(addr)); }

fn vm_store_u32(addr: u32, v: u32) {
  let g = vm_translate(addr, 4u, VM_W);
  if (vm_shadowed(g)) { vm_ov_put(addr, v); return; }
  if (g == VM_NONE) { return; }
  vm_write_word(g, v);
}
fn vm_store_i32(addr: u32, v: i32) { vm_store_u32(addr, bitcast<u32>(v)); }
fn vm_store_f32(addr: u32, v: f32) { vm_store_u32(addr, bitcast<u32>(v)); }

// ---- vectors (aligned to their size, so never split across pages) ----

fn vm_load_vec2u(addr: u32) -> vec2<u32> {
  let g = vm_translate(addr, 8u, VM_R);
  if (g == VM_NONE && (!VM_DEMAND || vm_ov_count == 0u)) { return vec2<u32>(0u); }
  return vec2<u32>(vm_ov_read(addr, g), vm_ov_read(addr + 4u, select(g + 1u, g, g == VM_NONE)));
}
fn vm_load_vec2i(addr: u32) -> vec2<i32> { return bitcast<vec2<i32>>(vm_load_vec2u(addr)); }
fn vm_load_vec2f(addr: u32) -> vec2<f32> { return bitcast<vec2<f32>>(vm_load_vec2u(addr)); }

fn vm_load_vec4u(addr: u32) -> vec4<u32> {
  let g = vm_translate(addr, 16u, VM_R);
  if (g == VM_NONE && (!VM_DEMAND || vm_ov_count == 0u)) { return vec4<u32>(0u); }
  let none = g == VM_NONE;
  return vec4<u32>(
    vm_ov_read(addr, g), vm_ov_read(addr + 4u, select(g + 1u, g, none)),
    vm_ov_read(addr + 8u, select(g + 2u, g, none)), vm_ov_read(addr + 12u, select(g + 3u, g, none)));
}
fn vm_load_vec4i(addr: u32) -> vec4<i32> { return bitcast<vec4<i32>>(vm_load_vec4u(addr)); }
fn vm_load_vec4f(addr: u32) -> vec4<f32> { return bitcast<vec4<f32>>(vm_load_vec4u(addr)); }

fn vm_store_vec2u(addr: u32, v: vec2<u32>) {
  let g = vm_translate(addr, 8u, VM_W);
  if (vm_shadowed(g)) {
    vm_ov_put(addr, v.x);
    vm_ov_put(addr + 4u, v.y);
    return;
  }
  if (g == VM_NONE) { return; }
  vm_write_word(g, v.x);
  vm_write_word(g + 1u, v.y);
}
fn vm_store_vec2i(addr: u32, v: vec2<i32>) { vm_store_vec2u(addr, bitcast<vec2<u32>>(v)); }
fn vm_store_vec2f(addr: u32, v: vec2<f32>) { vm_store_vec2u(addr, bitcast<vec2<u32>>(v)); }

fn vm_store_vec4u(addr: u32, v: vec4<u32>) {
  let g = vm_translate(addr, 16u, VM_W);
  if (vm_shadowed(g)) {
    vm_ov_put(addr, v.x);
    vm_ov_put(addr + 4u, v.y);
    vm_ov_put(addr + 8u, v.z);
    vm_ov_put(addr + 12u, v.w);
    return;
  }
  if (g == VM_NONE) { return; }
  vm_write_word(g, v.x);
  vm_write_word(g + 1u, v.y);
  vm_write_word(g + 2u, v.z);
  vm_write_word(g + 3u, v.w);
}
fn vm_store_vec4i(addr: u32, v: vec4<i32>) { vm_store_vec4u(addr, bitcast<vec4<u32>>(v)); }
fn vm_store_vec4f(addr: u32, v: vec4<f32>) { vm_store_vec4u(addr, bitcast<vec4<u32>>(v)); }
