// webgpu-hmm prelude: virtual memory for WGSL kernels.
//
// Linked in front of every kernel by src/kernel/link.ts, which first emits the
// shader ABI, generated from src/abi.ts (the one place it is written; the JS side
// reads the same table, so nothing below redefines it):
//   the constants VM_VALID, VM_R, VM_W, VM_RW, VM_FRAME_MASK (PTE bits), VM_MODE_*,
//     VM_KIND_*, VM_REC_*, VM_LOG_*, VM_BITMAP_BASE, VM_MAP_* (the record buffer's layout)
//   struct VmUniforms (the uniform header) and the bindings vm_u, vm_pt, vm_log
// then the pool's configuration:
//   const VM_PAGE_SHIFT, VM_FRAME_WORD_SHIFT, VM_WINDOW_WORD_SHIFT: u32
//   const VM_DEMAND: bool — false in the pipeline variant for declared dispatches, which
//     folds every demand-mode path (overlay, stalls, fault bits) away at compile time
//   const VM_REPLAY: bool — the demand variant for idempotent kernels, whose passes are all
//     REPLAY: no overlay (they never read what they write: a stalled invocation's stores are
//     simply dropped) and the pass mode a constant, so the translation is the declared one
//     plus a miss test
//   const VM_ROUNDS: bool — the transaction variant that runs by rounds (src/kernel/link.ts
//     rounds: a completion word per invocation); a stalled invocation counts its page moves as
//     REPLAY does
//   const VM_RESUME: bool — the completing replay variant of a kernel that calls vm_save_u32 or
//     vm_resume_u32 (a record of VM_RESUME_STRIDE words per invocation): an invocation that
//     stalled resumes from the state it saved (below)
//   const VM_COUNTERS: bool — declared passes set the accessed/written page bitmaps too
//     (access counters, src/fault/access-bits.ts); false folds that away
//   the window bindings  @group(0) @binding(3 + i) vm_w<i> (src/abi.ts BINDING): array<u32 | atomic<u32>>
//   vm_read_word(g) / vm_write_word(g, v) / vm_atomic_*_word(g, …): a switch over windows
//   the space's address type VmAddr and its operations, and vm_pte(page), the page table lookup
// and after the user's code, the entry point `vm_entry`, which maps the launched
// workgroup to the dispatch's grid (a pass may run one slice of it), sets vm_gid,
// calls the user's `fn kernel(inv: VmInvocation)` and, in REPLAY mode, marks
// the workgroup complete.
//
// A virtual address is a byte address in [0, space size): inside the prelude a VmAddr, which
// the glue defines as u32 in spaces of at most 4 GiB (today's code, unchanged after inlining)
// and as vec2<u32> (low, high word) over 4 GiB, with the few operations the prelude needs
// (vm_a_lo, vm_a_hi, vm_a_page, vm_a_plus, vm_a_eq, and vm_a_u32 / vm_a_ptr / vm_ptr_ok to
// make one from a public u32 address or VmPtr). Translation:
//   page = addr >> VM_PAGE_SHIFT (over 4 GiB: exact, or, when the high word is too large for
//          any page index, a page past every space, which fails the range check)
//   pte = vm_pte(page): vm_pt[page] (a flat table), or, for tables of more than
//         VM_PT_LEAF entries, vm_pt[vm_pt[page >> leaf shift] + page % leaf] (a directory of
//         leaf offsets, then leaves; src/device/gpu-page-table.ts)
//   pte bit 31 VALID, bit 30 READ, bit 29 WRITE, bits 0..28 frame (VM_VALID, VM_R, VM_W, VM_FRAME_MASK)
//   global word g = frame << VM_FRAME_WORD_SHIFT | (addr & page mask) >> 2
//   window = g >> VM_WINDOW_WORD_SHIFT, index = g & window mask
// Any access that fails a check is recorded in vm_log and not carried out:
// loads return zero, stores and atomics do nothing. Nothing outside this
// space's frames can be reached: the only way to a frame is this space's PTEs,
// and a PTE is used only when VALID. That holds for the kernel's code too only
// because it cannot name what lies below the public functions (the windows,
// vm_read_word/vm_write_word, the translation cache) nor redefine a builtin this
// file calls: src/kernel/source-rules.ts refuses such kernels. Every name
// declared here must start with vm_, VM_ or Vm (test/kernel/source-rules.test.ts).

// The uniform header, vm_u (struct VmUniforms, src/abi.ts): num_pages, mode (VM_MODE_*),
// bitmap_words (u32 words per page bitmap in the record buffer), slice_base (the linear index
// of the first workgroup this pass launches), grid (the dispatch's workgroup counts in xyz,
// the end of this pass's slice in w), args (the dispatch's argument words, four per vec4).

struct VmInvocation {
  global_id: vec3<u32>,
  local_id: vec3<u32>,
  workgroup_id: vec3<u32>,
  num_workgroups: vec3<u32>,
  local_index: u32,
}

const VM_NONE: u32 = 0xffffffffu;
const VM_PAGE_MASK: u32 = (1u << VM_PAGE_SHIFT) - 1u;
const VM_WINDOW_MASK: u32 = (1u << VM_WINDOW_WORD_SHIFT) - 1u;

// Modes (vm_u.mode, uniform per pass; VM_MODE_*):
//   DECLARED  READ/WRITE bits come from the dispatch's declared ranges; anything else is a violation.
//   PROBE     demand mode, read-only: a load of a page without a frame is a miss; stores and
//             atomics change nothing and record write intent for pages without WRITE.
//   COMMIT    demand mode, for real: stores land only on pages with WRITE (the snapshot);
//             a miss or a store elsewhere records it and sets the abort flag.
//   REPLAY    demand mode for idempotent kernels: stores land on every page with a frame;
//             a workgroup none of whose invocations missed marks itself complete.
//
// Violations (VM_KIND_*: out of range, not readable, not writable, misaligned) are
// decoded by src/fault/records.ts.
//
// Record buffer (vm_log), in u32 words; the layout is src/abi.ts's, src/fault/records.ts decodes it:
//   header (VM_LOG_HEADER words): [VM_REC_VIOLATIONS] violation count, [VM_REC_READY] clean
//        invocations of a probe by rounds, [VM_REC_ADVANCED] resumable invocations whose saved
//        state moved, [VM_REC_ABORT] abort flag
//   then VM_LOG_ENTRIES violation records of VM_LOG_STRIDE words: addr, kind, gid.x, gid.y, gid.z
//   then VM_MAP_COUNT page bitmaps of vm_u.bitmap_words words (VM_MAP_*): accessed and written
//        as one map of two bits a page over their words (page p: word VM_BITMAP_BASE + p / 16, bit
//        2 (p % 16) accessed, the next written: vm_mark tests both with one atomic); the other
//        four as one map of four bits a page (word VM_BITMAP_BASE + 2 bitmap_words + p / 8, bit
//        4 (p % 8) + map - VM_MAP_MISS_SEEN: vm_fault_bits_set): miss-seen (the faults),
//        speculative-seen (a stalled invocation's misses: hints, their addresses may be garbage,
//        fetched only if there is room), write-seen (write intent), needed (REPLAY: pages a
//        stalled invocation needs when it runs again); declared passes set only the first two,
//        and only with VM_COUNTERS
//   then the completion record (REPLAY mode): a word per invocation, or a bit per workgroup for kernels
//        that synchronize a workgroup (the entry point, generated by src/kernel/link.ts, picks).

var<private> vm_gid: vec3<u32>;
// Set at an invocation's first miss in a demand pass. From then on its values may be garbage
// (a missed load returned 0), so it stores nothing, reports no violations and marks nothing
// accessed; its loads of resident pages still work, and its misses become speculative hints.
var<private> vm_stalled: bool;
// Set at any miss of a demand pass, a plain store's too (which does not stall): an invocation of
// a transaction run by rounds is clean only without one (src/kernel/link.ts rounds).
var<private> vm_missed: bool;

fn vm_violation(addr: VmAddr, kind: u32) {
  vm_violation_at(vm_a_lo(addr), vm_a_hi(addr), kind);
}

// The high word is stored only when it is not 0 (the record's words start at 0 every pass):
// in spaces of at most 4 GiB it is the constant 0 and the store folds away.
fn vm_violation_at(lo: u32, hi: u32, kind: u32) {
  let i = atomicAdd(&vm_log[VM_REC_VIOLATIONS], 1u);
  if (i < VM_LOG_ENTRIES) {
    let b = VM_LOG_HEADER + i * VM_LOG_STRIDE;
    atomicStore(&vm_log[b + VM_LOG_ADDR], lo);
    if (hi != 0u) { atomicStore(&vm_log[b + VM_LOG_ADDR_HI], hi); }
    atomicStore(&vm_log[b + VM_LOG_KIND], kind);
    atomicStore(&vm_log[b + VM_LOG_GID], vm_gid.x);
    atomicStore(&vm_log[b + VM_LOG_GID + 1u], vm_gid.y);
    atomicStore(&vm_log[b + VM_LOG_GID + 2u], vm_gid.z);
  }
}

// Set the fault-map bits `bits` of `page` (1 << (map - VM_MAP_MISS_SEEN) for the maps miss-seen,
// spec-seen, write-seen and needed, which are one map of four bits a page: an access that sets
// a page's hint and needed bits sets them at once), or, for the page VM_NONE, the abort flag of
// the record's header (0 or 1: an OR of 1 sets it as a store would). The plain load first keeps
// the common case (bits already set) free of read-modify-writes.
const VM_ABORT_MAP: u32 = 31u;
const VM_AW_PAGE_MASK: u32 = (1u << VM_AW_PAGE_SHIFT) - 1u;
const VM_FAULT_PAGE_MASK: u32 = (1u << VM_FAULT_PAGE_SHIFT) - 1u;
fn vm_fault_bits_set(page: u32, bits: u32) {
  let abort = page == VM_NONE;
  let i = select(VM_BITMAP_BASE + 2u * vm_u.bitmap_words + (page >> VM_FAULT_PAGE_SHIFT), VM_REC_ABORT, abort);
  let b = select(bits << ((page & VM_FAULT_PAGE_MASK) * 4u), 1u, abort);
  if ((atomicLoad(&vm_log[i]) & b) != b) { atomicOr(&vm_log[i], b); }
}

// The pass mode. Each variant runs passes of its own modes only — the declared variant
// DECLARED, the transaction variant PROBE and COMMIT, the REPLAY variant REPLAY — so a
// test of the mode is a constant except between PROBE and COMMIT, and what the variant
// cannot run folds away.
fn vm_mode() -> u32 {
  if (!VM_DEMAND) { return VM_MODE_DECLARED; }
  if (VM_REPLAY) { return VM_MODE_REPLAY; }
  return vm_u.mode;
}

// The overlay (below) exists in the transaction variant only.
const VM_OVERLAY_ON: bool = VM_DEMAND && !VM_REPLAY;

// The last VM_RING distinct pages this invocation moved to (demand passes). Before its stall:
// at the stall it marks them needed (REPLAY, MAP_NEEDED) — they are resident, and it touches
// them again when it runs again. After it: the pages it has marked and reported, so that a
// loop moving between a few pages (a load here, a store there) reports each once.
const VM_RING: u32 = 4u;
// Four scalars, newest first, rather than an array: an array indexed by a variable lives in
// memory per invocation (llvmpipe: a scatter per SIMD lane at every push).
var<private> vm_ring0: u32;
var<private> vm_ring1: u32;
var<private> vm_ring2: u32;
var<private> vm_ring3: u32;
var<private> vm_ring_n: u32;

fn vm_ring_push(page: u32) {
  if (VM_DEMAND) {
    vm_ring3 = vm_ring2;
    vm_ring2 = vm_ring1;
    vm_ring1 = vm_ring0;
    vm_ring0 = page;
    vm_ring_n++;
  }
}

// Entry i of the ring (0: the newest).
fn vm_ring_at(i: u32) -> u32 {
  return select(select(select(vm_ring3, vm_ring2, i == 2u), vm_ring1, i == 1u), vm_ring0, i == 0u);
}

// Is `page` in the ring? A hit moves it to the newest entry (the next push drops the oldest),
// so a page touched every other access — the store of a loop — stays.
fn vm_in_ring(page: u32) -> bool {
  let n = min(vm_ring_n, VM_RING);
  if (n > 0u && vm_ring0 == page) { return true; }
  if (n > 1u && vm_ring1 == page) {
    vm_ring1 = vm_ring0;
    vm_ring0 = page;
    return true;
  }
  if (n > 2u && vm_ring2 == page) {
    vm_ring2 = vm_ring1;
    vm_ring1 = vm_ring0;
    vm_ring0 = page;
    return true;
  }
  if (n > 3u && vm_ring3 == page) {
    vm_ring3 = vm_ring2;
    vm_ring2 = vm_ring1;
    vm_ring1 = vm_ring0;
    vm_ring0 = page;
    return true;
  }
  return false;
}

// The page an invocation stalled on (REPLAY keeps it in its completion word: link.ts).
var<private> vm_stall_page: u32;

// The invocation stalls at a miss of `page`. In REPLAY it needs again everything in its ring
// (resident pages it moved to, and `page`, the newest entry: a miss stalls at once, so it is
// the page the translation cache moved to last): returns how many ring entries vm_bits_set
// marks needed. From then on the ring holds pages it has marked.
fn vm_stall(page: u32) -> u32 {
  vm_stalled = true;
  vm_stall_page = page;
  if (!VM_REPLAY) { return 0u; }
  return min(vm_ring_n, VM_RING);
}

// What a stalled invocation still looks at: past VM_HINTS pages missed since its stall
// (hints), or VM_STALL_PAGES moves from one page to another (a loop that alternates between
// a page it reads and one it stores to moves every access), it stops translating: its values
// are garbage by then, and a loop of accesses that all return 0 costs next to nothing. A
// stalled pass was costing up to three times a pass that completes (measured: the
// oversubscription curve's grid-stride and block patterns on lavapipe).
const VM_HINTS: u32 = 8u;
const VM_STALL_PAGES: u32 = 32u;
var<private> vm_hints: u32;
var<private> vm_stall_moves: u32;

// A stalled invocation that can report nothing more: its translation is off, or it has been
// round its loops VM_STALL_SPINS times since its stall (a loop that waits on a word of a page
// without a frame reads 0 for ever, and moves nowhere). The linker breaks every loop of a demand
// variant's kernel on it (src/kernel/stall-exit.ts), so it stops there instead of running the
// rest of its loops on zeros. The bound is far above a loop's walk over one page: a stalled
// invocation that reads on reaches its next pages and reports them.
const VM_STALL_SPINS: u32 = 65536u;
var<private> vm_stall_spins: u32;
fn vm_quit() -> bool {
  if (!vm_stalled) { return false; }
  vm_stall_spins++;
  return vm_hints >= VM_HINTS || vm_stall_moves >= VM_STALL_PAGES || vm_stall_spins > VM_STALL_SPINS;
}

// Resumable invocations. A stalled invocation of a replay runs again from the top of the kernel
// in a later pass; one that saved its state (vm_save_u32) before it stalled gets that state back
// from vm_resume_u32 there, so a chase through a linked structure goes on from the node it stalled
// on instead of from its root, and needs only that node's page for its next step. The state is
// the kernel's to choose: whatever the rest of the invocation's work follows from (with what the
// kernel reads again from the top: its id, its arguments). A save also starts the ring of recent
// pages over: the pages a stall marks needed are those since the last save, and those the
// invocation read from the top before its first one. Saves count only before a stall (after
// it, values read from pages without a frame are garbage), and stalls happen only at an access, so
// saves with no access between them are kept together. Outside a demand replay that keeps a
// record per invocation (VM_RESUME false: declared dispatches, transactions, a slice's first pass,
// kernels that synchronize their workgroup) vm_resume_u32 returns `initial` and vm_save_u32 does
// nothing: the invocation runs from the top, as it always may.
//   record (vm_log, after the completion word): [marker: 1 while a state is saved][slot 0..3]
// An invocation whose saves changed its state counts in VM_REC_ADVANCED: the runtime's measure of
// progress for passes that stall, since such an invocation got further though it stalled again.
var<private> vm_resume_rec: u32;
var<private> vm_resume_had: bool;
var<private> vm_resume_saved: bool;
var<private> vm_resume_moved: bool;

fn vm_resume_u32(slot: u32, initial: u32) -> u32 {
  if (VM_RESUME && vm_resume_had && slot < VM_RESUME_SLOTS) {
    return atomicLoad(&vm_log[vm_resume_rec + 2u + slot]);
  }
  return initial;
}

fn vm_save_u32(slot: u32, value: u32) {
  if (VM_RESUME && !vm_stalled && slot < VM_RESUME_SLOTS) {
    let at = vm_resume_rec + 2u + slot;
    if (!(vm_resume_had || vm_resume_saved) || atomicLoad(&vm_log[at]) != value) { vm_resume_moved = true; }
    atomicStore(&vm_log[at], value);
    // What it needs again if it stalls from here is what it reads from the top of the kernel
    // before its first save (kept at that save: the ring's two newest pages) and what it
    // touches from its last save on: the ring starts over, and the next access translates
    // afresh, so its page is in it. (vm_resume_mark_top marks the top's pages at a stall.)
    if (!vm_resume_saved) {
      vm_resume_top0 = select(VM_NONE, vm_ring0, vm_ring_n > 0u);
      vm_resume_top1 = select(VM_NONE, vm_ring1, vm_ring_n > 1u);
    }
    vm_resume_saved = true;
    vm_ring_n = 0u;
    vm_tc_page = VM_NONE;
  }
}

// A stalled resumable invocation that saved: the pages it read from the top are needed too
// (set at its first save, read only after one: no initializer, which every invocation of every
// variant would run).
var<private> vm_resume_top0: u32;
var<private> vm_resume_top1: u32;
fn vm_resume_mark_top() {
  for (var k = 0u; k < 2u; k++) {
    let p = select(vm_resume_top1, vm_resume_top0, k == 0u);
    if (p != VM_NONE) { vm_fault_bits_set(p, VM_NEEDED_BIT); }
  }
}

// A one-entry translation cache per invocation: the page of the last access and its PTE.
// Entries never change during a pass (the runtime flushes the table before submitting), so a
// load and a store of the same page read the table once; a page past the end is never cached.
// vm_tc_marks remembers which of the page's bitmap bits (1 accessed, 2 written) this
// invocation knows are set, so a streak of accesses to one page costs no atomics.
var<private> vm_tc_page: u32 = 0xffffffffu;
var<private> vm_tc_pte: u32;
var<private> vm_tc_marks: u32;

// The accessed and written bits an access needs set: 1 (accessed) for a load, 3 (both) for a
// store or atomic that lands in memory (`writes`); 0 when this invocation knows them set
// already (vm_tc_marks: once per streak of accesses to one page, so a streak costs no atomics).
fn vm_mark_want(writes: bool) -> u32 {
  let want = select(1u, 3u, writes);
  return select(want, 0u, (vm_tc_marks & want) == want);
}

// Set the bits `want` (vm_mark_want) of `page` in the accessed-written map, where a page's two
// bits share a word: one atomic load tests both, one atomic OR sets what is missing, and what
// other invocations set already is remembered too — in a kernel that loads then stores each
// word, the store finds its written bit known once any invocation has written the page. The
// one site of both bits, in every variant: measured on lavapipe (the `resident` kernel, an
// experiment on raw bindings), 1.95-2.00x raw with two bitmaps and a site each, 1.63-1.65x so.
fn vm_mark(page: u32, want: u32) {
  let sh = (page & VM_AW_PAGE_MASK) * 2u;
  let i = VM_BITMAP_BASE + (page >> VM_AW_PAGE_SHIFT);
  var have = atomicLoad(&vm_log[i]) >> sh;
  if ((have & want) != want) { have |= atomicOr(&vm_log[i], want << sh) >> sh; }
  vm_tc_marks = (have | want) & 3u;
}

fn vm_word(pte: u32, addr: VmAddr) -> u32 {
  return ((pte & VM_FRAME_MASK) << VM_FRAME_WORD_SHIFT) | ((vm_a_lo(addr) & VM_PAGE_MASK) >> 2u);
}

// Private overlay: the stores of an invocation that must not land — every store in a PROBE
// pass, a COMMIT store outside the snapshot, any store after a stall — go here instead, so
// the invocation reads back what it wrote and a read-modify-write sees its own earlier
// ones. A probe then follows the path a real run would take through its own stores, and a
// loop that counts with an atomic (a ticket loop) still ends. 4 words, least recently used
// replaced first, so a counter touched every iteration stays while up to three stores an
// iteration stream past. Every access of a probe searches it, and llvmpipe keeps a private
// array indexed by a variable in memory per invocation: the Graph500 BFS at 4x (its claims
// all go here in a probe) took 2.2-2.5 s with 8 words, 1.9-2.1 with 4 and 2 (alternated runs).
const VM_OVERLAY: u32 = 4u;
// Four words as scalars, not arrays: llvmpipe keeps a private array indexed by a variable in
// memory, so every search, use stamp and replacement went through loads and stores per
// invocation; scalars stay in registers and a slot is picked with selects.
var<private> vm_ov_a0: VmAddr;
var<private> vm_ov_a1: VmAddr;
var<private> vm_ov_a2: VmAddr;
var<private> vm_ov_a3: VmAddr;
var<private> vm_ov_v0: u32;
var<private> vm_ov_v1: u32;
var<private> vm_ov_v2: u32;
var<private> vm_ov_v3: u32;
var<private> vm_ov_u0: u32;
var<private> vm_ov_u1: u32;
var<private> vm_ov_u2: u32;
var<private> vm_ov_u3: u32;
var<private> vm_ov_count: u32;
var<private> vm_ov_clock: u32;
// Set by vm_translate: the access may read the word it returns but must not write it.
var<private> vm_nowrite: bool;

// Stamp slot i as the most recently used.
fn vm_ov_touch(i: u32) {
  vm_ov_clock++;
  let c = vm_ov_clock;
  vm_ov_u0 = select(vm_ov_u0, c, i == 0u);
  vm_ov_u1 = select(vm_ov_u1, c, i == 1u);
  vm_ov_u2 = select(vm_ov_u2, c, i == 2u);
  vm_ov_u3 = select(vm_ov_u3, c, i == 3u);
}

// The value in slot i (< VM_OVERLAY).
fn vm_ov_get(i: u32) -> u32 {
  return select(select(select(vm_ov_v3, vm_ov_v2, i == 2u), vm_ov_v1, i == 1u), vm_ov_v0, i == 0u);
}

fn vm_ov_find(addr: VmAddr) -> u32 {
  // Addresses in the overlay are distinct: at most one slot matches.
  let n = vm_ov_count;
  var i = VM_OVERLAY;
  i = select(i, 3u, n > 3u && vm_a_eq(vm_ov_a3, addr));
  i = select(i, 2u, n > 2u && vm_a_eq(vm_ov_a2, addr));
  i = select(i, 1u, n > 1u && vm_a_eq(vm_ov_a1, addr));
  i = select(i, 0u, n > 0u && vm_a_eq(vm_ov_a0, addr));
  if (i != VM_OVERLAY) { vm_ov_touch(i); }
  return i;
}

fn vm_ov_put(addr: VmAddr, v: u32) {
  // No overlay: a REPLAY invocation's store that must not land is simply dropped.
  if (!VM_OVERLAY_ON) { return; }
  var i = vm_ov_find(addr);
  if (i == VM_OVERLAY) {
    if (vm_ov_count < VM_OVERLAY) {
      i = vm_ov_count;
      vm_ov_count++;
    } else {
      // The least recently used slot.
      i = 0u;
      var u = vm_ov_u0;
      if (vm_ov_u1 < u) { i = 1u; u = vm_ov_u1; }
      if (vm_ov_u2 < u) { i = 2u; u = vm_ov_u2; }
      if (vm_ov_u3 < u) { i = 3u; }
    }
    vm_ov_a0 = select(vm_ov_a0, addr, i == 0u);
    vm_ov_a1 = select(vm_ov_a1, addr, i == 1u);
    vm_ov_a2 = select(vm_ov_a2, addr, i == 2u);
    vm_ov_a3 = select(vm_ov_a3, addr, i == 3u);
    vm_ov_touch(i);
  }
  vm_ov_v0 = select(vm_ov_v0, v, i == 0u);
  vm_ov_v1 = select(vm_ov_v1, v, i == 1u);
  vm_ov_v2 = select(vm_ov_v2, v, i == 2u);
  vm_ov_v3 = select(vm_ov_v3, v, i == 3u);
}

// The overlay slot holding the word at `addr`, or VM_OVERLAY: always in the declared
// pipeline (folded away) and while the overlay is empty (no search).
fn vm_ov_slot(addr: VmAddr) -> u32 {
  if (!VM_OVERLAY_ON || vm_ov_count == 0u) { return VM_OVERLAY; }
  return vm_ov_find(addr);
}

// The word at memory word g, or 0 when there is none (VM_NONE).
fn vm_read_or_zero(g: u32) -> u32 {
  if (g == VM_NONE) { return 0u; }
  return vm_read_word(g);
}

// The word at `addr` as this invocation sees it: its overlay, else memory (g), else 0.
fn vm_ov_read(addr: VmAddr, g: u32) -> u32 {
  let i = vm_ov_slot(addr);
  if (i != VM_OVERLAY) { return vm_ov_get(i); }
  return vm_read_or_zero(g);
}

// A store or read-modify-write goes to the overlay (demand modes), not to memory.
fn vm_shadowed(g: u32) -> bool {
  return VM_DEMAND && (g == VM_NONE || vm_nowrite);
}

// Set the bits of `maps` for `page` (a set of the fault maps VM_MAP_MISS_SEEN..VM_MAP_NEEDED as
// 1 << map, and 1 << VM_ABORT_MAP to abort the commit), then mark the first `ring` entries of the
// ring needed (a stall: vm_stall). The ring's newest entry is the page a stall missed: its needed
// bit goes with the page's own bits, at one site; the rest (older ring entries, the abort flag)
// loop through a second. Every access inlines the translation (lavapipe inlines every call), and
// each atomic it inlines costs compile time (llvmpipe: a loop over the SIMD lanes per atomic; the
// demand variants' first dispatch took 3-5x the declared one's with a site per bitmap), so the
// record is updated through these sites only, and vm_mark for the accessed and written bits. The
// page's own bits at a site of their own, outside the loop: a pass in which every invocation
// stalls ran 1.25x as long with them inside it (lavapipe; the loop, not its atomics, cost that).
const VM_NEEDED_BIT: u32 = 1u << (VM_MAP_NEEDED - VM_MAP_MISS_SEEN);
fn vm_bits_set(maps: u32, page: u32, ring: u32) {
  var bits = (maps >> VM_MAP_MISS_SEEN) & 0xfu;
  var abort = (maps & (1u << VM_ABORT_MAP)) != 0u;
  var r = 0u;
  if (ring > 0u && vm_ring0 == page) {
    bits |= VM_NEEDED_BIT;
    r = 1u;
  }
  if (bits != 0u) { vm_fault_bits_set(page, bits); }
  if (r < ring || abort) {
    loop {
      var p = VM_NONE;
      if (r < ring) {
        p = vm_ring_at(r);
        r++;
      } else if (abort) {
        abort = false;
      } else {
        break;
      }
      vm_fault_bits_set(p, select(VM_NEEDED_BIT, 1u, p == VM_NONE));
    }
  }
}

// Translation for a stalled invocation: resident pages only, never written. A miss, by a
// load or a store, is a hint: the address is often right (it came from resident data). It
// goes through the translation cache, so the streak of accesses to the page it stalled on
// (a loop over a block) costs a compare each; each page it moves to is marked needed (REPLAY).
// The bitmaps to set for the page are added to *maps.
fn vm_translate_stalled(addr: VmAddr, align: u32, maps: ptr<function, u32>) -> u32 {
  if (vm_hints >= VM_HINTS || (vm_a_lo(addr) & (align - 1u)) != 0u) { return VM_NONE; }
  let page = vm_a_page(addr);
  if (page != vm_tc_page) {
    if (page >= vm_u.num_pages || vm_stall_moves >= VM_STALL_PAGES) { return VM_NONE; }
    vm_tc_page = page;
    vm_tc_pte = vm_pte(page);
    vm_tc_marks = 0u;
    // REPLAY counts every move towards VM_STALL_PAGES: its stalled passes are the
    // oversubscription curve's cold ones; so do rounds (VM_ROUNDS), whose probes run every
    // invocation not done, again and again. A transaction's slice counts none — only its hints end its
    // translation — so a loop that moves between a list it reads and the pages it updates
    // reaches the list's next pages and reports them, however many pages it updates: the
    // Graph500 BFS's loop moves between an adjacency page and one of 32 parent pages at every
    // neighbour, and a commit after its first probe aborted on the lists' next pages. A probe's
    // stalled invocation then runs on over resident pages as one that did not stall does (a
    // loop ends at VM_STALL_SPINS iterations, vm_quit).
    if (VM_REPLAY || VM_ROUNDS) { vm_stall_moves++; }
    if (!vm_in_ring(page)) {
      vm_ring_push(page);
      if (VM_REPLAY) { *maps |= 1u << VM_MAP_NEEDED; }
      if ((vm_tc_pte & VM_VALID) == 0u) {
        *maps |= 1u << VM_MAP_SPEC_SEEN;
        vm_hints++;
      }
    }
  }
  if ((vm_tc_pte & VM_VALID) == 0u) { return VM_NONE; }
  vm_nowrite = true;
  return vm_word(vm_tc_pte, addr);
}

// The declared variant's translation (VM_DEMAND false): no overlay, stall or ring, and a
// page's accessed and written bits set by vm_mark, only on the first access of a streak.
// Apart from the demand path's single record site (vm_bits_set), whose loop every
// access would run: an access to the cached page costs a compare, as before the demand
// variants shared it (measured: the `resident` benchmark's kernel ran 1.3x as long through
// the shared path on lavapipe).
fn vm_translate_declared(addr: VmAddr, align: u32, need: u32) -> u32 {
  let page = vm_a_page(addr);
  var kind = 0u;
  if ((vm_a_lo(addr) & (align - 1u)) != 0u) {
    kind = VM_KIND_MISALIGNED;
  } else if (page != vm_tc_page) {
    if (page >= vm_u.num_pages) {
      kind = VM_KIND_RANGE;
    } else {
      vm_tc_page = page;
      vm_tc_pte = vm_pte(page);
      vm_tc_marks = 0u;
    }
  }
  let pte = vm_tc_pte;
  let writes = (need & VM_W) != 0u;
  if (kind == 0u && (pte & (need | VM_VALID)) != (need | VM_VALID)) {
    kind = select(VM_KIND_NOREAD, VM_KIND_NOWRITE, writes && (pte & VM_W) == 0u);
  }
  if (kind != 0u) {
    vm_violation(addr, kind);
    return VM_NONE;
  }
  if (VM_COUNTERS) {
    let want = vm_mark_want(writes);
    if (want != 0u) { vm_mark(page, want); }
  }
  return vm_word(pte, addr);
}

// Translate `addr` for an access of `align` bytes needing permission `need`
// (VM_R, VM_W or VM_RW). Returns the global word index, or VM_NONE when the
// word cannot be reached (a violation, a miss). When it returns a word with
// vm_nowrite set, the access may read it but its write goes to the overlay:
// every store of a PROBE pass, and a COMMIT store outside the snapshot (which
// also aborts the commit; the invocation runs on to reveal more of its writes).
// Each access inlines this function: it records a violation, sets bitmaps and
// the abort flag at one site each (see vm_bits_set).
fn vm_translate(addr: VmAddr, align: u32, need: u32) -> u32 {
  if (!VM_DEMAND) { return vm_translate_declared(addr, align, need); }
  let page = vm_a_page(addr);
  var maps = 0u;
  var want = 0u;
  var ring = 0u;
  var g = VM_NONE;
  if (VM_DEMAND) { vm_nowrite = false; }
  if (VM_DEMAND && vm_stalled) {
    g = vm_translate_stalled(addr, align, &maps);
  } else {
    var kind = 0u;
    if ((vm_a_lo(addr) & (align - 1u)) != 0u) {
      kind = VM_KIND_MISALIGNED;
    } else if (page != vm_tc_page) {
      if (page >= vm_u.num_pages) {
        kind = VM_KIND_RANGE;
      } else {
        vm_tc_page = page;
        vm_tc_pte = vm_pte(page);
        vm_tc_marks = 0u;
        vm_ring_push(page);
      }
    }
    let pte = vm_tc_pte;
    let mode = vm_mode();
    let writes = (need & VM_W) != 0u;
    if (kind == 0u) {
      var abort = false;
      if ((pte & VM_VALID) == 0u) {
        maps = 1u << VM_MAP_MISS_SEEN;
        vm_missed = true;
        if (writes && !VM_REPLAY) { maps |= 1u << VM_MAP_WRITE_SEEN; }
        abort = !VM_REPLAY && mode == VM_MODE_COMMIT;
        // A plain store needs no data from the page: in PROBE and COMMIT passes it goes to the
        // overlay and the invocation runs on (so one pass reveals, say, every page an append
        // reaches). A load or read-modify-write got no value, and in REPLAY mode the store is
        // lost: the invocation stalls.
        if (need != VM_W || VM_REPLAY) { ring = vm_stall(page); }
      } else {
        if (writes) {
          if (!VM_REPLAY && (pte & VM_W) == 0u) {
            maps = 1u << VM_MAP_WRITE_SEEN;
            abort = mode == VM_MODE_COMMIT;
          }
          // A store lands on any resident page in REPLAY mode, only on the snapshot (WRITE) in
          // COMMIT mode, and never in a PROBE: elsewhere it goes to the overlay.
          vm_nowrite = !VM_REPLAY && (mode == VM_MODE_PROBE || (pte & VM_W) == 0u);
        }
        want = vm_mark_want(writes && !vm_nowrite);
        g = vm_word(pte, addr);
      }
      if (abort) { maps |= 1u << VM_ABORT_MAP; }
    }
    if (kind != 0u) { vm_violation(addr, kind); }
  }
  // The accessed and written bits at a site of their own (vm_mark), the rest through
  // vm_bits_set's loop: a page's first access in a streak, the common case, runs no loop.
  // Measured on lavapipe: the loop on every first access made a demand dispatch over resident
  // data 1.9-2.0x the declared one (`demand-resident`, replay mode).
  if (want != 0u) { vm_mark(page, want); }
  if (maps != 0u || ring != 0u) { vm_bits_set(maps, page, ring); }
  return g;
}

// True once this invocation has missed in a demand pass: its loads may have returned 0 and
// it will be run again. A loop whose exit depends only on what it loads should test it, so
// that a stalled invocation does not spin.
fn vm_faulted() -> bool { return vm_stalled; }

// ---- arguments (u32 words passed with the dispatch) ----

fn vm_arg_u32(i: u32) -> u32 { return vm_u.args[i >> 2u][i & 3u]; }
fn vm_arg_i32(i: u32) -> i32 { return bitcast<i32>(vm_arg_u32(i)); }
fn vm_arg_f32(i: u32) -> f32 { return bitcast<f32>(vm_arg_u32(i)); }

// ---- 64-bit pointers ----
// A VmPtr is a byte address of any size as (low word, high word): what a space over 4 GiB
// needs, and what a pointer field of a 64-bit struct layout (defineStruct) holds, low word
// first, so vm_ptr_load_vec2u(p) reads one. vm_ptr_load_* / vm_ptr_store_* / vm_ptr_atomic_*
// take one. In a space of at most 4 GiB they work too: a nonzero high word is out of range.
alias VmPtr = vec2<u32>;

fn vm_ptr(hi: u32, lo: u32) -> VmPtr { return VmPtr(lo, hi); }
// p + bytes, the carry going into the high word. An address past the space (even one that
// wrapped past 2^64) only ever fails the range check: the page index is computed exactly.
fn vm_ptr_add(p: VmPtr, bytes: u32) -> VmPtr {
  let lo = p.x + bytes;
  return VmPtr(lo, p.y + select(0u, 1u, lo < p.x));
}
// A pointer passed as two argument words: low word at i, high word at i + 1.
fn vm_arg_ptr(i: u32) -> VmPtr { return VmPtr(vm_arg_u32(i), vm_arg_u32(i + 1u)); }

// A VmPtr with a nonzero high word in a space of at most 4 GiB (vm_ptr_ok in the glue):
// out of range, reported like any other (not by an invocation that has stalled).
fn vm_ptr_range(p: VmPtr) {
  if (!VM_DEMAND || !vm_stalled) { vm_violation_at(p.x, p.y, VM_KIND_RANGE); }
}

// ---- scalar loads and stores ----

// vm_ov_read, but the overlay is searched before translating: a word the invocation keeps
// there reads back without a translation, so a probe's store to a page without a frame
// followed by a load of it records no second miss and does not stall the invocation.
fn vm_x_load_u32(addr: VmAddr) -> u32 {
  let i = vm_ov_slot(addr);
  if (i != VM_OVERLAY) { return vm_ov_get(i); }
  return vm_read_or_zero(vm_translate(addr, 4u, VM_R));
}

fn vm_x_store_u32(addr: VmAddr, v: u32) {
  let g = vm_translate(addr, 4u, VM_W);
  if (vm_shadowed(g)) { vm_ov_put(addr, v); return; }
  if (g == VM_NONE) { return; }
  vm_write_word(g, v);
}

// ---- vectors (aligned to their size, so never split across pages) ----

fn vm_x_load_vec2u(addr: VmAddr) -> vec2<u32> {
  let g = vm_translate(addr, 8u, VM_R);
  if (g == VM_NONE && (!VM_OVERLAY_ON || vm_ov_count == 0u)) { return vec2<u32>(0u); }
  return vec2<u32>(vm_ov_read(addr, g), vm_ov_read(vm_a_plus(addr, 4u), select(g + 1u, g, g == VM_NONE)));
}

fn vm_x_load_vec4u(addr: VmAddr) -> vec4<u32> {
  let g = vm_translate(addr, 16u, VM_R);
  if (g == VM_NONE && (!VM_OVERLAY_ON || vm_ov_count == 0u)) { return vec4<u32>(0u); }
  let none = g == VM_NONE;
  return vec4<u32>(
    vm_ov_read(addr, g), vm_ov_read(vm_a_plus(addr, 4u), select(g + 1u, g, none)),
    vm_ov_read(vm_a_plus(addr, 8u), select(g + 2u, g, none)), vm_ov_read(vm_a_plus(addr, 12u), select(g + 3u, g, none)));
}

fn vm_x_store_vec2u(addr: VmAddr, v: vec2<u32>) {
  let g = vm_translate(addr, 8u, VM_W);
  if (vm_shadowed(g)) {
    vm_ov_put(addr, v.x);
    vm_ov_put(vm_a_plus(addr, 4u), v.y);
    return;
  }
  if (g == VM_NONE) { return; }
  vm_write_word(g, v.x);
  vm_write_word(g + 1u, v.y);
}

fn vm_x_store_vec4u(addr: VmAddr, v: vec4<u32>) {
  let g = vm_translate(addr, 16u, VM_W);
  if (vm_shadowed(g)) {
    vm_ov_put(addr, v.x);
    vm_ov_put(vm_a_plus(addr, 4u), v.y);
    vm_ov_put(vm_a_plus(addr, 8u), v.z);
    vm_ov_put(vm_a_plus(addr, 12u), v.w);
    return;
  }
  if (g == VM_NONE) { return; }
  vm_write_word(g, v.x);
  vm_write_word(g + 1u, v.y);
  vm_write_word(g + 2u, v.z);
  vm_write_word(g + 3u, v.w);
}

// ---- the public loads and stores ----
// Each type twice: by a u32 address (the first 4 GiB of the space: every address of a space of
// at most 4 GiB) and by a VmPtr (any address). They all end in the vm_x_* functions above, which
// take the space's own address type, VmAddr (the glue's: u32, or vec2<u32> over 4 GiB).

fn vm_load_u32(addr: u32) -> u32 { return vm_x_load_u32(vm_a_u32(addr)); }
fn vm_store_u32(addr: u32, v: u32) { vm_x_store_u32(vm_a_u32(addr), v); }
fn vm_ptr_load_u32(p: VmPtr) -> u32 { if (!vm_ptr_ok(p)) { return u32(); } return vm_x_load_u32(vm_a_ptr(p)); }
fn vm_ptr_store_u32(p: VmPtr, v: u32) { if (vm_ptr_ok(p)) { vm_x_store_u32(vm_a_ptr(p), v); } }
fn vm_load_i32(addr: u32) -> i32 { return bitcast<i32>(vm_x_load_u32(vm_a_u32(addr))); }
fn vm_store_i32(addr: u32, v: i32) { vm_x_store_u32(vm_a_u32(addr), bitcast<u32>(v)); }
fn vm_ptr_load_i32(p: VmPtr) -> i32 { if (!vm_ptr_ok(p)) { return i32(); } return bitcast<i32>(vm_x_load_u32(vm_a_ptr(p))); }
fn vm_ptr_store_i32(p: VmPtr, v: i32) { if (vm_ptr_ok(p)) { vm_x_store_u32(vm_a_ptr(p), bitcast<u32>(v)); } }
fn vm_load_f32(addr: u32) -> f32 { return bitcast<f32>(vm_x_load_u32(vm_a_u32(addr))); }
fn vm_store_f32(addr: u32, v: f32) { vm_x_store_u32(vm_a_u32(addr), bitcast<u32>(v)); }
fn vm_ptr_load_f32(p: VmPtr) -> f32 { if (!vm_ptr_ok(p)) { return f32(); } return bitcast<f32>(vm_x_load_u32(vm_a_ptr(p))); }
fn vm_ptr_store_f32(p: VmPtr, v: f32) { if (vm_ptr_ok(p)) { vm_x_store_u32(vm_a_ptr(p), bitcast<u32>(v)); } }
fn vm_load_vec2u(addr: u32) -> vec2<u32> { return vm_x_load_vec2u(vm_a_u32(addr)); }
fn vm_store_vec2u(addr: u32, v: vec2<u32>) { vm_x_store_vec2u(vm_a_u32(addr), v); }
fn vm_ptr_load_vec2u(p: VmPtr) -> vec2<u32> { if (!vm_ptr_ok(p)) { return vec2<u32>(); } return vm_x_load_vec2u(vm_a_ptr(p)); }
fn vm_ptr_store_vec2u(p: VmPtr, v: vec2<u32>) { if (vm_ptr_ok(p)) { vm_x_store_vec2u(vm_a_ptr(p), v); } }
fn vm_load_vec2i(addr: u32) -> vec2<i32> { return bitcast<vec2<i32>>(vm_x_load_vec2u(vm_a_u32(addr))); }
fn vm_store_vec2i(addr: u32, v: vec2<i32>) { vm_x_store_vec2u(vm_a_u32(addr), bitcast<vec2<u32>>(v)); }
fn vm_ptr_load_vec2i(p: VmPtr) -> vec2<i32> { if (!vm_ptr_ok(p)) { return vec2<i32>(); } return bitcast<vec2<i32>>(vm_x_load_vec2u(vm_a_ptr(p))); }
fn vm_ptr_store_vec2i(p: VmPtr, v: vec2<i32>) { if (vm_ptr_ok(p)) { vm_x_store_vec2u(vm_a_ptr(p), bitcast<vec2<u32>>(v)); } }
fn vm_load_vec2f(addr: u32) -> vec2<f32> { return bitcast<vec2<f32>>(vm_x_load_vec2u(vm_a_u32(addr))); }
fn vm_store_vec2f(addr: u32, v: vec2<f32>) { vm_x_store_vec2u(vm_a_u32(addr), bitcast<vec2<u32>>(v)); }
fn vm_ptr_load_vec2f(p: VmPtr) -> vec2<f32> { if (!vm_ptr_ok(p)) { return vec2<f32>(); } return bitcast<vec2<f32>>(vm_x_load_vec2u(vm_a_ptr(p))); }
fn vm_ptr_store_vec2f(p: VmPtr, v: vec2<f32>) { if (vm_ptr_ok(p)) { vm_x_store_vec2u(vm_a_ptr(p), bitcast<vec2<u32>>(v)); } }
fn vm_load_vec4u(addr: u32) -> vec4<u32> { return vm_x_load_vec4u(vm_a_u32(addr)); }
fn vm_store_vec4u(addr: u32, v: vec4<u32>) { vm_x_store_vec4u(vm_a_u32(addr), v); }
fn vm_ptr_load_vec4u(p: VmPtr) -> vec4<u32> { if (!vm_ptr_ok(p)) { return vec4<u32>(); } return vm_x_load_vec4u(vm_a_ptr(p)); }
fn vm_ptr_store_vec4u(p: VmPtr, v: vec4<u32>) { if (vm_ptr_ok(p)) { vm_x_store_vec4u(vm_a_ptr(p), v); } }
fn vm_load_vec4i(addr: u32) -> vec4<i32> { return bitcast<vec4<i32>>(vm_x_load_vec4u(vm_a_u32(addr))); }
fn vm_store_vec4i(addr: u32, v: vec4<i32>) { vm_x_store_vec4u(vm_a_u32(addr), bitcast<vec4<u32>>(v)); }
fn vm_ptr_load_vec4i(p: VmPtr) -> vec4<i32> { if (!vm_ptr_ok(p)) { return vec4<i32>(); } return bitcast<vec4<i32>>(vm_x_load_vec4u(vm_a_ptr(p))); }
fn vm_ptr_store_vec4i(p: VmPtr, v: vec4<i32>) { if (vm_ptr_ok(p)) { vm_x_store_vec4u(vm_a_ptr(p), bitcast<vec4<u32>>(v)); } }
fn vm_load_vec4f(addr: u32) -> vec4<f32> { return bitcast<vec4<f32>>(vm_x_load_vec4u(vm_a_u32(addr))); }
fn vm_store_vec4f(addr: u32, v: vec4<f32>) { vm_x_store_vec4u(vm_a_u32(addr), bitcast<vec4<u32>>(v)); }
fn vm_ptr_load_vec4f(p: VmPtr) -> vec4<f32> { if (!vm_ptr_ok(p)) { return vec4<f32>(); } return bitcast<vec4<f32>>(vm_x_load_vec4u(vm_a_ptr(p))); }
fn vm_ptr_store_vec4f(p: VmPtr, v: vec4<f32>) { if (vm_ptr_ok(p)) { vm_x_store_vec4u(vm_a_ptr(p), bitcast<vec4<u32>>(v)); } }
