// The differential fuzz model: docs/design.md §2.1 ("no divergence, ever") as a
// property. Random sequences of operations run against two address spaces that
// share one tiny pool (so every dispatch evicts the other space's pages) and,
// in lockstep, against an oracle that applies the same operations to plain
// bytes. Every read is compared, the whole of every space at the end, and the
// runtime's invariants after every operation.
//
// Operations are data (`FuzzOp`, a discriminated union) with abstract operands
// — "allocation number `pick`, offset `off`, length `len`" — so that a shrunk
// sequence stays meaningful: `resolve()` turns each into a concrete `Step`
// against the oracle's state (its allocations, its pins) just before it runs.
// The oracle predicts errors exactly (pin limit, working set too large, access
// violations, double free, out of virtual memory) and the runner checks that
// the runtime raised exactly those, leaving the space unchanged.
//
// Kernels: copy and pointer walk (idempotent: demand mode replays them, or runs
// them as transactions when the op says so), in-place add, atomic histogram and
// atomic tickets (not idempotent: demand mode runs them as transactions; the
// tickets make commits abort), and a stray kernel that loads and stores at an
// arbitrary u32 address (violations). A third space, the hog, forces evictions
// across spaces.
//
// A `burst` issues several host operations and dispatches without awaiting in
// between (docs/design.md §2.1 under races): every operation on a space takes
// effect in the order it was issued, declared and demand dispatches alike
// (address-space.ts), so the result must equal the one serial order of issue
// (`Oracle.matchBurst`).
//
// Callbacks that call back into the runtime (`reenter`): a writable view, a
// notifier subscriber or a pool event listener issues a host write, read,
// free or a dispatch from inside its callback; the inner operation takes
// effect after the one whose callback issued it. A subscriber may also throw:
// the write that triggered it rejects with that error, and its bytes land all
// the same, with no stale device copy left behind.
//
// Hostile kernels (`hostile`): kernel source that names the prelude's
// internals, forges its translation cache, binds a pool window or shadows a
// builtin the prelude calls is refused by createKernel (KERNEL_COMPILE) before
// it can run; the spaces, the hog among them, are unchanged.
//
// Prefetch (both directions) and advice change no byte, so the oracle passes
// them through; it predicts only their refusals (a range past the end). They
// go in bursts too, racing with host writes and dispatches: whatever pages
// they move or however advice reorders eviction and turns host writes into
// write-throughs, every later read must still equal the oracle.
//
// The configuration varies the policies around the mechanisms: space 0 is
// durable (every dispatch writes home before it settles), space 1 lives in a
// memory group with a small max and its own pin limit (its fault-ins evict its
// own pages first; a declared working set over the max and a pin over the
// group's limit are predicted refusals), both have density prefetch on and a
// thrashing detector that trips after two migrations and holds pages only
// briefly, so holds start and lapse within a sequence. Advice has no effect on
// which operations are refused (it is not a pin), so the oracle ignores it.
// With `tree`, the groups are two levels deep: space 1's group and space 0's
// (a sibling with a `low` of its own) under a parent with a max, a low and a
// pin limit of its own — space 1's fault-ins past the parent's max evict space
// 0's pages (cause ancestorMax), the hog's press on the parent's low first,
// and a pin is refused at whichever level up to the root would pass its
// limit. Only max and pin limits refuse, so the oracle predicts exactly: no
// group has a min (a min would make what others may have depend on usage,
// which the oracle does not model), and low never refuses, only orders.
//
// With `fileBacked`, space 1 lives in a fresh file (createFileSpace) with a
// host budget of four pages, so its pages move disk → host → device and back
// and its host segments (one page each) are dropped and reloaded all along;
// a new file reads as zero, as the oracle's bytes do.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { createFileSpace } from '../../src/node.ts';
import {
  AccessViolationError, createGroup, createKernel, createPlainKernel, createPool, createSpace, HmmError,
  type AddressSpace, type Advice, type DispatchResult, type Pool, type PoolStats, type Range,
} from '../../src/index.ts';

// ---------------------------------------------------------------------------
// Configuration and operations (data)
// ---------------------------------------------------------------------------

export interface FuzzConfig {
  readonly pageSize: 4096 | 8192;
  /** Frames in the shared pool. */
  readonly frames: number;
  /** Frames per window (0: one window as large as the pool allows). */
  readonly windowFrames: 0 | 2 | 4;
  /** Most pages pinned at once (the pool's pin limit, in pages). */
  readonly pinPages: number;
  readonly uploadPath: 'auto' | 'writeBuffer' | 'staging';
  /** Pages of the two fuzzed spaces. */
  readonly pages: readonly [number, number];
  /**
   * The varied world (see the header): space 0 durable, space 1 in a group,
   * short thrashing lapses. Absent: both spaces in the root group with the
   * default policies — the world the older regression cases were found in.
   */
  readonly policy?: FuzzPolicy;
  /** Space 1 backed by a new file with a host budget of four pages (see the header). Absent: an ordinary space. */
  readonly fileBacked?: boolean;
}

export interface FuzzPolicy {
  /** Space 1's memory group: its pin limit in pages (0: it may pin nothing). */
  readonly groupPinPages: 0 | 1 | 2;
  /** Space 1's group max, in frames past the least that keeps demand dispatches possible (groupMaxFrames()). */
  readonly groupSlack: number;
  /**
   * The two-level tree (see the header): a parent over space 1's group and a sibling group for space 0.
   * Absent: space 1's group directly under the pool, space 0 in the root — the world of older cases.
   */
  readonly tree?: FuzzTree;
  /** Both spaces' thrashing detector: migrations within the lapse that make a page thrashing, and how long it is held. */
  readonly thrashing: { readonly threshold: 2 | 3; readonly lapseMs: number; readonly pinMs: number };
}

/**
 * The least group max that keeps every predicted outcome exact: the group's
 * pins plus one demand workgroup's pages (at most 6, see MAX_KERNEL_WORDS) —
 * demand dispatches and pins of up to 4 pages then never fail for want of room.
 */
const GROUP_HEADROOM = 6;

export interface FuzzTree {
  /** The parent's pin limit in pages: both spaces' pins together (0: neither may pin). */
  readonly pinPages: number;
  /** The parent's max, in frames past the least that keeps demand dispatches possible (treeMaxFrames()). */
  readonly slack: number;
  /** The parent's low, and the sibling's (space 0's group), in pages. */
  readonly low: number;
  readonly siblingLow: number;
}

/** Space 1's group max, in frames (the pool's, without a group). */
export function groupMaxFrames(cfg: FuzzConfig): number {
  return cfg.policy ? Math.min(cfg.frames, cfg.policy.groupPinPages + GROUP_HEADROOM + cfg.policy.groupSlack) : cfg.frames;
}

/** The tree's parent's max, in frames (the pool's, without a tree): its pins plus one demand workgroup, as for the group. */
export function treeMaxFrames(cfg: FuzzConfig): number {
  const t = cfg.policy?.tree;
  return t ? Math.min(cfg.frames, t.pinPages + GROUP_HEADROOM + t.slack) : cfg.frames;
}

/** An operand: region `pick` (the whole space or a live allocation), offset and length folded into it. */
export interface Target {
  readonly pick: number;
  readonly off: number;
  readonly len: number;
}

/** Space 0 or 1 (the fuzzed ones). */
type S = 0 | 1;
/** Demand-mode hints: none, the ranges declared mode would declare, or the whole space (declared mode: 'wide' also declares it). */
export type Hint = 'none' | 'exact' | 'wide';
/** The address a stray kernel touches: a word of the space, a raw u32, or an edge case. */
export type AddrSpec = { readonly word: number } | { readonly raw: number } | { readonly edge: number };

export type KernelOp =
  | { readonly kind: 'copy'; readonly s: S; readonly demand: boolean; readonly idem: boolean; readonly hint: Hint; readonly src: Target; readonly dst: Target }
  | { readonly kind: 'add'; readonly s: S; readonly demand: boolean; readonly hint: Hint; readonly at: Target; readonly k: number }
  | { readonly kind: 'hist'; readonly s: S; readonly demand: boolean; readonly hint: Hint; readonly data: Target; readonly hist: Target }
  | { readonly kind: 'walk'; readonly s: S; readonly demand: boolean; readonly idem: boolean; readonly hint: Hint; readonly list: Target; readonly out: Target; readonly steps: number; readonly resume?: boolean }
  | { readonly kind: 'stray'; readonly s: S; readonly demand: boolean; readonly addr: AddrSpec; readonly value: number; readonly out: Target; readonly decl: Target; readonly declRead: boolean }
  /** Take tickets from an atomic counter and mark each ticket's slot: commits store outside what the probe saw, so transactions abort. */
  | { readonly kind: 'tickets'; readonly s: S; readonly demand: boolean; readonly hint: Hint; readonly counter: Target; readonly out: Target; readonly n: number };

export type HostOp =
  | { readonly kind: 'write'; readonly s: S; readonly at: Target; readonly seed: number }
  | { readonly kind: 'read'; readonly s: S; readonly at: Target }
  | { readonly kind: 'view'; readonly s: S; readonly mode: 'read' | 'write'; readonly at: Target; readonly seed: number }
  /** Host-built linked list (nodes of [next index, value]) for the walk kernel. */
  | { readonly kind: 'list'; readonly s: S; readonly at: Target; readonly seed: number };

/** The hog space touches `pages` pages (declared; `dirty`: as written), evicting the fuzzed spaces' pages. */
export type EvictOp = { readonly kind: 'evict'; readonly pages: number; readonly dirty: boolean };

/** Hints that move pages or change how they are kept, never bytes. `oob`: a range that runs past the end (OUT_OF_RANGE). */
export type HintOp =
  | { readonly kind: 'prefetch'; readonly s: S; readonly at: Target; readonly to: 'device' | 'host'; readonly oob: boolean }
  | { readonly kind: 'advise'; readonly s: S; readonly at: Target; readonly advice: Advice; readonly oob: boolean };

export type BurstOp = HostOp | KernelOp | EvictOp | HintOp;

/** What a callback issues from inside (see the header). */
export type ReenterInner =
  | { readonly kind: 'write'; readonly at: Target; readonly seed: number }
  | { readonly kind: 'read'; readonly at: Target }
  | { readonly kind: 'free'; readonly pick: number }
  | { readonly kind: 'add'; readonly at: Target; readonly k: number; readonly demand: boolean };

/** A host write (or, via 'view', a writable view) whose callback issues `inner`; a subscriber may throw. */
export type ReenterOp = {
  readonly kind: 'reenter'; readonly s: S; readonly via: 'view' | 'subscriber' | 'listener';
  readonly at: Target; readonly seed: number; readonly throws: boolean; readonly inner: ReenterInner;
};

export type FuzzOp =
  | HostOp
  | KernelOp
  | EvictOp
  | HintOp
  | ReenterOp
  /** Try to create attack kernel `which` (HOSTILE_KERNELS): refused with KERNEL_COMPILE. */
  | { readonly kind: 'hostile'; readonly which: number }
  | { readonly kind: 'alloc'; readonly s: S; readonly size: number; readonly align: number }
  /** bogus: free an address that was freed already, or one that never was an allocation. */
  | { readonly kind: 'free'; readonly s: S; readonly pick: number; readonly bogus?: 'double' | 'unknown' }
  | { readonly kind: 'pin'; readonly s: S; readonly at: Target }
  /** Unpin one of the oracle's pinned ranges (`pick`), or (bogus / none pinned) any range. */
  | { readonly kind: 'unpin'; readonly s: S; readonly pick: number; readonly bogus: boolean; readonly at: Target }
  | { readonly kind: 'burst'; readonly ops: readonly BurstOp[] }
  /** The add kernel as a plain WGSL kernel over a bound range (zero translation: src/fault/bound.ts). Not in bursts. */
  | { readonly kind: 'bound'; readonly s: S; readonly at: Target; readonly k: number };

// ---------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------

/** Addresses a stray kernel tries besides random ones: the ends of the space and of the u32 range (edgeAddress). */
const EDGE_CASES = 8;

const space = fc.constantFrom<S>(0, 1);
const target = fc.record({ pick: fc.nat({ max: 15 }), off: fc.nat({ max: 0xfffff }), len: fc.nat({ max: 0xfffff }) });
const seed = fc.nat();
const hint = fc.constantFrom<Hint>('none', 'exact', 'wide');
const addrSpec: fc.Arbitrary<AddrSpec> = fc.oneof(
  { arbitrary: fc.record({ word: fc.nat({ max: 0xffff }) }), weight: 4 },
  { arbitrary: fc.record({ edge: fc.nat({ max: EDGE_CASES - 1 }) }), weight: 3 },
  { arbitrary: fc.record({ raw: fc.nat({ max: 0xffffffff }) }), weight: 1 },
);

const hostOpArb: fc.Arbitrary<HostOp> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('write' as const), s: space, at: target, seed }), weight: 5 },
  { arbitrary: fc.record({ kind: fc.constant('read' as const), s: space, at: target }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('view' as const), s: space, mode: fc.constantFrom<'read' | 'write'>('read', 'write'), at: target, seed }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('list' as const), s: space, at: target, seed }), weight: 1 },
);

const kernelOpArb: fc.Arbitrary<KernelOp> = fc.oneof(
  fc.record({ kind: fc.constant('copy' as const), s: space, demand: fc.boolean(), idem: fc.boolean(), hint, src: target, dst: target }),
  fc.record({ kind: fc.constant('add' as const), s: space, demand: fc.boolean(), hint, at: target, k: fc.nat({ max: 0xffffffff }) }),
  fc.record({ kind: fc.constant('hist' as const), s: space, demand: fc.boolean(), hint, data: target, hist: target }),
  fc.record({ kind: fc.constant('walk' as const), s: space, demand: fc.boolean(), idem: fc.boolean(), hint, list: target, out: target, steps: fc.integer({ min: 1, max: 24 }), resume: fc.boolean() }),
  fc.record({
    kind: fc.constant('stray' as const), s: space, demand: fc.boolean(), addr: addrSpec, value: fc.nat({ max: 0xffffffff }),
    out: target, decl: target, declRead: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('tickets' as const), s: space, demand: fc.boolean(), hint, counter: target, out: target, n: fc.integer({ min: 1, max: 2048 }) }),
);

const evictArb: fc.Arbitrary<EvictOp> = fc.record({ kind: fc.constant('evict' as const), pages: fc.nat({ max: 64 }), dirty: fc.boolean() });

const oob = fc.oneof({ arbitrary: fc.constant(false), weight: 9 }, { arbitrary: fc.constant(true), weight: 1 });
const adviceArb: fc.Arbitrary<Advice> = fc.record(
  {
    readMostly: fc.boolean(),
    preferredLocation: fc.constantFrom<'host' | 'device' | 'none'>('host', 'device', 'none'),
    accessedBy: fc.constantFrom<'device' | 'none'>('device', 'none'),
  },
  { requiredKeys: [] },
);
const hintOpArb: fc.Arbitrary<HintOp> = fc.oneof(
  fc.record({ kind: fc.constant('prefetch' as const), s: space, at: target, to: fc.constantFrom<'device' | 'host'>('device', 'host'), oob }),
  fc.record({ kind: fc.constant('advise' as const), s: space, at: target, advice: adviceArb, oob }),
);

const reenterArb: fc.Arbitrary<ReenterOp> = fc.record({
  kind: fc.constant('reenter' as const), s: space, via: fc.constantFrom<'view' | 'subscriber' | 'listener'>('view', 'subscriber', 'listener'),
  at: target, seed, throws: fc.boolean(),
  inner: fc.oneof(
    fc.record({ kind: fc.constant('write' as const), at: target, seed }),
    fc.record({ kind: fc.constant('read' as const), at: target }),
    fc.record({ kind: fc.constant('free' as const), pick: fc.nat({ max: 15 }) }),
    fc.record({ kind: fc.constant('add' as const), at: target, k: fc.nat({ max: 0xffffffff }), demand: fc.boolean() }),
  ),
});

export const fuzzOpArb: fc.Arbitrary<FuzzOp> = fc.oneof(
  { arbitrary: reenterArb, weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('hostile' as const), which: fc.nat({ max: 63 }) }), weight: 1 },
  { arbitrary: hostOpArb, weight: 13 },
  { arbitrary: kernelOpArb, weight: 5 },
  { arbitrary: evictArb, weight: 1 },
  { arbitrary: hintOpArb, weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('alloc' as const), s: space, size: fc.integer({ min: 1, max: 24_000 }), align: fc.constantFrom(4, 16, 256, 4096) }), weight: 2 },
  {
    arbitrary: fc.record(
      { kind: fc.constant('free' as const), s: space, pick: fc.nat({ max: 15 }), bogus: fc.constantFrom<'double' | 'unknown'>('double', 'unknown') },
      { requiredKeys: ['kind', 's', 'pick'] },
    ),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant('pin' as const), s: space, at: target }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('bound' as const), s: space, at: target, k: fc.nat({ max: 0xffffffff }) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('unpin' as const), s: space, pick: fc.nat({ max: 15 }), bogus: fc.boolean(), at: target }), weight: 1 },
  {
    arbitrary: fc.record({
      kind: fc.constant('burst' as const),
      ops: fc.array(
        fc.oneof({ arbitrary: hostOpArb, weight: 4 }, { arbitrary: kernelOpArb, weight: 2 }, { arbitrary: evictArb, weight: 1 }, { arbitrary: hintOpArb, weight: 1 }),
        { minLength: 2, maxLength: 5 },
      ),
    }),
    weight: 2,
  },
);

export const fuzzConfigArb: fc.Arbitrary<FuzzConfig> = fc.record({
  pageSize: fc.constantFrom<4096 | 8192>(4096, 8192),
  frames: fc.integer({ min: 10, max: 16 }),
  windowFrames: fc.constantFrom<0 | 2 | 4>(4, 0, 2),
  pinPages: fc.integer({ min: 1, max: 4 }),
  uploadPath: fc.constantFrom<'auto' | 'writeBuffer' | 'staging'>('auto', 'staging', 'writeBuffer'),
  pages: fc.tuple(fc.integer({ min: 16, max: 40 }), fc.integer({ min: 16, max: 40 })),
  policy: fc.record({
    groupPinPages: fc.constantFrom<0 | 1 | 2>(1, 0, 2),
    groupSlack: fc.nat({ max: 4 }),
    tree: fc.record({ pinPages: fc.integer({ min: 0, max: 4 }), slack: fc.nat({ max: 4 }), low: fc.nat({ max: 4 }), siblingLow: fc.nat({ max: 4 }) }),
    // Short lapses and holds: pages trip the detector within a sequence, and holds end within it too.
    thrashing: fc.record({ threshold: fc.constantFrom<2 | 3>(2, 3), lapseMs: fc.constantFrom(20, 100), pinMs: fc.constantFrom(5, 40) }),
  }),
  // A third of the configurations: a file-backed space costs the run about half again as much CPU (its small segments' I/O).
  fileBacked: fc.constantFrom(false, true, false),
});

/**
 * A pool configuration and up to `maxOps` operations. `size` is fast-check's
 * length bias: 'small' (mostly short sequences, cheap to shrink) for CI, 'max'
 * (lengths spread up to maxOps) for long runs, where setting up a pool per
 * sequence would otherwise cost more than the operations.
 */
export function fuzzSequenceArb(maxOps: number, size: fc.SizeForArbitrary = 'small'): fc.Arbitrary<[FuzzConfig, FuzzOp[]]> {
  return fc.tuple(fuzzConfigArb, fc.array(fuzzOpArb, { minLength: 1, maxLength: maxOps, size }));
}

// ---------------------------------------------------------------------------
// Kernels
// ---------------------------------------------------------------------------

/** What the stray kernel stores at `out`: the word it loaded, xor this. */
export const STRAY_MASK = 0x5a5a5a5a;
function edgeAddress(which: number, size: number, pageSize: number): number {
  switch (which % EDGE_CASES) {
    case 0: return size; // just past the end
    case 1: return size - 4; // the last word
    case 2: return 0xfffffffc; // the last aligned u32 address
    case 3: return 0xffffffff; // misaligned and out of range
    case 4: return size + pageSize; // a page past the end
    case 5: return 0x80000000; // bit 31: looks like a PTE's VALID bit
    case 6: return 2; // misaligned, inside the null guard
    default: return pageSize - 4; // the last word of page 0
  }
}

const COPY_WGSL = /* wgsl */ `
// args: src, dst, n
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(2u)) { return; }
  vm_store_u32(vm_arg_u32(1u) + i * 4u, vm_load_u32(vm_arg_u32(0u) + i * 4u));
}`;

const WALK_WGSL = /* wgsl */ `
// args: base, nodes, n, steps, out. Node j = [next, value] at base + 8j; the next index is taken modulo nodes.
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(2u)) { return; }
  let base = vm_arg_u32(0u);
  let nodes = vm_arg_u32(1u);
  var idx = i % nodes;
  var sum = 0u;
  for (var s = 0u; s < vm_arg_u32(3u); s++) {
    let node = base + idx * 8u;
    sum += vm_load_u32(node + 4u);
    idx = vm_load_u32(node) % nodes;
    if (vm_faulted()) { break; }
  }
  vm_store_u32(vm_arg_u32(4u) + i * 4u, sum);
}`;

/** The walk, resumable (vm_save_u32 / vm_resume_u32): a stalled invocation goes on from its step. Same args and result. */
const WALK_RESUME_WGSL = /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(2u)) { return; }
  let base = vm_arg_u32(0u);
  let nodes = vm_arg_u32(1u);
  var s = vm_resume_u32(0u, 0u);
  var idx = vm_resume_u32(1u, i % nodes);
  var sum = vm_resume_u32(2u, 0u);
  loop {
    if (s >= vm_arg_u32(3u)) { break; }
    vm_save_u32(0u, s);
    vm_save_u32(1u, idx);
    vm_save_u32(2u, sum);
    let node = base + idx * 8u;
    sum += vm_load_u32(node + 4u);
    idx = vm_load_u32(node) % nodes;
    if (vm_faulted()) { break; }
    s++;
  }
  vm_store_u32(vm_arg_u32(4u) + i * 4u, sum);
}`;

/** The add kernel as plain WGSL: d[i] = d[i]·3 + k + i over a bound range. */
const boundAdd = createPlainKernel({
  label: 'fuzz-bound-add',
  code: /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> d: array<u32>;
@group(0) @binding(1) var<uniform> k: vec4<u32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < arrayLength(&d)) { d[g.x] = d[g.x] * 3u + k.x + g.x; }
}`,
});

export const kernels = {
  copy: createKernel({ label: 'fuzz-copy', code: COPY_WGSL, idempotent: true }),
  copyTx: createKernel({ label: 'fuzz-copy-tx', code: COPY_WGSL }),
  walk: createKernel({ label: 'fuzz-walk', code: WALK_WGSL, idempotent: true }),
  walkTx: createKernel({ label: 'fuzz-walk-tx', code: WALK_WGSL }),
  walkResume: createKernel({ label: 'fuzz-walk-resume', code: WALK_RESUME_WGSL, idempotent: true }),
  add: createKernel({
    label: 'fuzz-add',
    code: /* wgsl */ `
// args: base, n, k — in place, so running an invocation twice is wrong
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(1u)) { return; }
  let a = vm_arg_u32(0u) + i * 4u;
  vm_store_u32(a, vm_load_u32(a) * 3u + vm_arg_u32(2u) + i);
}`,
  }),
  hist: createKernel({
    label: 'fuzz-hist',
    code: /* wgsl */ `
// args: data, n, hist, bins
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(1u)) { return; }
  let v = vm_load_u32(vm_arg_u32(0u) + i * 4u);
  vm_atomic_add_u32(vm_arg_u32(2u) + (v % vm_arg_u32(3u)) * 4u, 1u + (v >> 29u));
}`,
  }),
  tickets: createKernel({
    label: 'fuzz-tickets',
    code: /* wgsl */ `
// args: counter, out, slots, n — each invocation takes a ticket and marks slot (ticket % slots). The marks
// do not depend on who got which ticket, so the result is exact; but a probe's tickets (its own overlay
// of the counter) all equal the counter's old value, so the commit stores where no probe did and aborts.
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(3u)) { return; }
  let t = vm_atomic_add_u32(vm_arg_u32(0u), 1u);
  vm_store_u32(vm_arg_u32(1u) + (t % vm_arg_u32(2u)) * 4u, 1u);
}`,
  }),
  stray: createKernel({
    label: 'fuzz-stray',
    workgroupSize: 1,
    code: /* wgsl */ `
// args: addr, value, out
fn kernel(inv: VmInvocation) {
  let old = vm_load_u32(vm_arg_u32(0u));
  vm_store_u32(vm_arg_u32(0u), vm_arg_u32(1u));
  vm_store_u32(vm_arg_u32(2u), old ^ ${STRAY_MASK}u);
}`,
  }),
} as const;
export type KernelName = keyof typeof kernels;

/**
 * Kernel source that would reach another space's frames if it ran (the
 * isolation attacks of test/fault/isolation.dawn.test.ts and more): each must
 * be refused by createKernel.
 */
export const HOSTILE_KERNELS: readonly string[] = [
  'fn kernel(inv: VmInvocation) { for (var g = 0u; g < 4096u; g++) { vm_write_word(g, 0u); } }',
  'fn kernel(inv: VmInvocation) { vm_tc_page = 0u; vm_tc_pte = 0xe0000000u; vm_store_u32(0u, 0u); }',
  '@group(0) @binding(3) var<storage, read_write> mine: array<u32>;\nfn kernel(inv: VmInvocation) { mine[0] = 0u; }',
  '@group(1) @binding(0) var<storage, read_write> mine: array<u32>;\nfn kernel(inv: VmInvocation) { mine[0] = 0u; }',
  'var<private> pick: u32;\nfn select(f: u32, t: u32, c: bool) -> u32 { return pick; }\nfn kernel(inv: VmInvocation) { _ = vm_load_vec2u(0u); }',
  'fn kernel(inv: VmInvocation) { let x = vm_read_word(vm_word(0x80000000u, 0u)); vm_store_u32(0u, x); }',
  'fn kernel(inv: VmInvocation) { vm_ov_count = 1u; }',
  'fn atomicStore(p: ptr<storage, atomic<u32>, read_write>, v: u32) {}\nfn kernel(inv: VmInvocation) {}',
  '// comment\rvm_write_word(0u, 0u);\nfn kernel(inv: VmInvocation) {}',
  'var<uniform> u: vec4<u32>;\nfn kernel(inv: VmInvocation) {}',
];

// ---------------------------------------------------------------------------
// Deterministic data
// ---------------------------------------------------------------------------

/** `len` bytes from a 32-bit seed (mulberry32): the same on the oracle's side and the runtime's. */
export function bytesFrom(seedValue: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  let a = seedValue >>> 0;
  for (let i = 0; i < len; i += 4) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    const w = (t ^ (t >>> 14)) >>> 0;
    for (let k = 0; k < 4 && i + k < len; k++) out[i + k] = (w >>> (8 * k)) & 0xff;
  }
  return out;
}

/** What a writable view's callback does: depends on what it finds, so it also checks that the view held the latest bytes. */
export function viewTransform(v: Uint8Array, seedValue: number): void {
  for (let j = 0; j < v.length; j++) v[j] = (v[j]! * 31 + seedValue + j) & 0xff;
}

/** A linked list over `nodes` nodes in a random order, as bytes. */
export function listBytes(nodes: number, seedValue: number): Uint8Array {
  const rnd = bytesFrom(seedValue, nodes * 8);
  const r32 = new Uint32Array(rnd.buffer);
  const order = Array.from({ length: nodes }, (_, i) => i);
  for (let i = nodes - 1; i > 0; i--) {
    const j = r32[i]! % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const out = new Uint32Array(nodes * 2);
  for (let k = 0; k < nodes; k++) {
    out[order[k]! * 2] = order[(k + 1) % nodes]!;
    out[order[k]! * 2 + 1] = r32[nodes + k]! ?? k;
  }
  return new Uint8Array(out.buffer);
}

// ---------------------------------------------------------------------------
// The oracle: plain bytes plus the bookkeeping the runtime's answers depend on
// ---------------------------------------------------------------------------

/** The allocator's rules (src/space/allocator.ts): first fit from NULL_GUARD over the gaps between live blocks. */
const NULL_GUARD = 256;

export class SpaceOracle {
  readonly size: number;
  readonly pageSize: number;
  readonly bytes: Uint8Array;
  readonly words: Uint32Array;
  /** Pin count per page. */
  readonly pins: Uint16Array;
  /** Live allocations: addr → length, and in address order. */
  readonly live = new Map<number, number>();
  readonly freed = new Set<number>();
  /** Ranges pinned successfully (candidates for unpin). */
  readonly pinned: Range[] = [];

  constructor(size: number, pageSize: number) {
    this.size = size;
    this.pageSize = pageSize;
    this.bytes = new Uint8Array(size);
    this.words = new Uint32Array(this.bytes.buffer);
    this.pins = new Uint16Array(size / pageSize);
  }

  /** Regions operands pick from: the whole space, then the live allocations in address order. */
  regions(): Range[] {
    const out: Range[] = [{ addr: 0, byteLength: this.size }];
    for (const [addr, byteLength] of [...this.live].sort((a, b) => a[0] - b[0])) out.push({ addr, byteLength });
    return out;
  }

  /** The address alloc() will return, or undefined when no gap fits. */
  allocAddress(byteLength: number, align: number): number | undefined {
    let start = Math.min(NULL_GUARD, this.size);
    for (const [addr, len] of [...this.live, [this.size, 0] as const].sort((a, b) => a[0] - b[0])) {
      const at = Math.ceil(start / align) * align;
      if (at + byteLength <= addr) return at;
      start = Math.max(start, addr + len);
    }
    return undefined;
  }

  alloc(addr: number, byteLength: number): void {
    this.live.set(addr, byteLength);
    this.freed.delete(addr);
  }

  /** free(): whole pages of the block read as zero and lose their pins. Returns the pages whose pins were dropped. */
  free(addr: number): number {
    const len = this.live.get(addr)!;
    this.live.delete(addr);
    this.freed.add(addr);
    const ps = this.pageSize;
    const first = Math.ceil(addr / ps);
    const end = Math.floor((addr + len) / ps);
    let unpinned = 0;
    for (let p = first; p < end; p++) {
      if (this.pins[p]! > 0) unpinned++;
      this.pins[p] = 0;
    }
    if (end > first) this.bytes.fill(0, first * ps, end * ps);
    return unpinned;
  }

  pagesOf(r: Range): number[] {
    if (r.byteLength === 0) return [];
    const out: number[] = [];
    for (let p = Math.floor(r.addr / this.pageSize); p <= Math.floor((r.addr + r.byteLength - 1) / this.pageSize); p++) out.push(p);
    return out;
  }

  pinnedPageCount(): number {
    let n = 0;
    for (const c of this.pins) if (c > 0) n++;
    return n;
  }

  u32(addr: number): number {
    return this.words[addr / 4]!;
  }

  setU32(addr: number, v: number): void {
    this.words[addr / 4] = v >>> 0;
  }
}

// ---------------------------------------------------------------------------
// Steps: operations resolved against the oracle's state
// ---------------------------------------------------------------------------

export interface DispatchStep {
  readonly kind: 'dispatch';
  readonly s: number;
  readonly kernel: KernelName;
  readonly demand: boolean;
  readonly workgroups: number;
  readonly args: readonly number[];
  /** The ranges declared mode declares (demand mode: the hints actually passed). */
  readonly read: readonly Range[];
  readonly write: readonly Range[];
}

export type Step =
  | { readonly kind: 'alloc'; readonly s: number; readonly byteLength: number; readonly align: number }
  | { readonly kind: 'free'; readonly s: number; readonly addr: number }
  | { readonly kind: 'write'; readonly s: number; readonly addr: number; readonly data: Uint8Array; readonly form: number }
  | { readonly kind: 'read'; readonly s: number; readonly addr: number; readonly byteLength: number }
  | { readonly kind: 'view'; readonly s: number; readonly addr: number; readonly byteLength: number; readonly mode: 'read' | 'write'; readonly seed: number }
  | { readonly kind: 'pin' | 'unpin'; readonly s: number; readonly addr: number; readonly byteLength: number }
  | { readonly kind: 'prefetch'; readonly s: number; readonly addr: number; readonly byteLength: number; readonly to: 'device' | 'host' }
  | { readonly kind: 'advise'; readonly s: number; readonly addr: number; readonly byteLength: number; readonly advice: Advice }
  | DispatchStep
  /** The hog space: a declared dispatch over its first `pages` pages. */
  | { readonly kind: 'evict'; readonly pages: number; readonly dirty: boolean }
  | ReenterStep
  | { readonly kind: 'hostile'; readonly code: string }
  | { readonly kind: 'bound'; readonly s: number; readonly addr: number; readonly byteLength: number; readonly k: number };

/** A write or writable view (`outer`) whose callback issues `inner` (see the header). */
export interface ReenterStep {
  readonly kind: 'reenter';
  readonly s: number;
  readonly via: 'view' | 'subscriber' | 'listener';
  readonly outer: Step;
  readonly inner: Step | undefined;
  readonly throws: boolean;
}

/** What a throwing subscriber throws: the write it was called for rejects with it. */
export class SubscriberFailure extends Error {
  override name = 'SubscriberFailure';
}

/** What an operation gave: a value to compare, and/or the error code it failed with. */
export interface Outcome {
  readonly error?: string;
  readonly bytes?: Uint8Array;
  readonly addr?: number;
  readonly violations?: { readonly count: number; readonly addr: number; readonly kind: string };
  readonly mode?: DispatchResult['mode'];
  /** A reentrant step: the outcome of the operation its callback issued. */
  readonly inner?: Outcome;
  /**
   * A bound dispatch while pages are pinned: the runtime may also refuse it with BIND_RANGE (no run of
   * frames can be cleared around the pins — the oracle does not model frames); then this undoes the oracle's step.
   */
  readonly undoIfRefused?: () => void;
}

/** Host operations move at most this much (partial pages at both ends are the interesting part). */
const MAX_HOST_PAGES = 3;
/**
 * Kernels move at most this many words per operand (12 KiB): a declared copy's
 * two operands then span up to 8 pages, more than a 10-frame pool with 4 pinned
 * can hold (a predicted WorkingSetTooLargeError), while one workgroup's pages
 * (64 words an operand) always fit, so demand dispatches never fail.
 */
export const MAX_KERNEL_WORDS = 3072;
const MAX_WALK_BYTES = 8192;
const MAX_WALK_OUT = 256;
const MAX_BINS = 64;

function regionOf(o: SpaceOracle, t: Target): Range {
  const rs = o.regions();
  return rs[t.pick % rs.length]!;
}

function byteRange(o: SpaceOracle, t: Target, maxLen: number): Range {
  const r = regionOf(o, t);
  const off = t.off % r.byteLength;
  return { addr: r.addr + off, byteLength: 1 + (t.len % Math.min(r.byteLength - off, maxLen)) };
}

/** A word-aligned range of at most `maxWords` words inside the target's region (undefined: the region holds no word). */
function wordRange(o: SpaceOracle, t: Target, maxWords: number): Range | undefined {
  const r = regionOf(o, t);
  const a0 = Math.ceil(r.addr / 4) * 4;
  const words = Math.floor((r.addr + r.byteLength - a0) / 4);
  if (words <= 0) return undefined;
  const off = t.off % words;
  const n = 1 + (t.len % Math.min(words - off, maxWords));
  return { addr: a0 + off * 4, byteLength: n * 4 };
}

/** `r` moved back so that it ends inside the space (its length is at most the space's). */
function fit(r: Range, size: number): Range {
  return r.addr + r.byteLength <= size ? r : { addr: size - r.byteLength, byteLength: r.byteLength };
}

function overlaps(a: Range, b: Range): boolean {
  return a.addr < b.addr + b.byteLength && b.addr < a.addr + a.byteLength;
}

/** Move `b` next to `a` if they overlap (kernels whose operands overlap have no single answer). */
function apart(a: Range, b: Range, size: number): Range | undefined {
  if (!overlaps(a, b)) return b;
  if (a.addr + a.byteLength + b.byteLength <= size) return { addr: a.addr + a.byteLength, byteLength: b.byteLength };
  if (a.addr - b.byteLength >= 0) return { addr: a.addr - b.byteLength, byteLength: b.byteLength };
  return undefined;
}

function hints(o: SpaceOracle, h: Hint, read: Range[], write: Range[]): { read: Range[]; write: Range[] } {
  if (h === 'exact') return { read, write };
  if (h === 'wide') return { read: [{ addr: 0, byteLength: o.size }], write: [] };
  return { read: [], write: [] };
}

function dispatchStep(
  o: SpaceOracle, s: number, kernel: KernelName, demand: boolean, h: Hint, n: number, args: number[], read: Range[], write: Range[],
): DispatchStep {
  const workgroups = Math.ceil(n / kernels[kernel].workgroupSize[0]);
  // Declared mode may declare more than the kernel touches: 'wide' declares the whole space read as well,
  // which fits the pool or is refused up front (WorkingSetTooLargeError, predicted by the oracle).
  const ranges = demand ? hints(o, h, read, write) : h === 'wide' ? { read: [...read, { addr: 0, byteLength: o.size }], write } : { read, write };
  return { kind: 'dispatch', s, kernel, demand, workgroups, args, ...ranges };
}

function resolveKernel(op: KernelOp, o: SpaceOracle): Step | undefined {
  const s = op.s;
  switch (op.kind) {
    case 'copy': {
      const src = wordRange(o, op.src, MAX_KERNEL_WORDS);
      const d0 = wordRange(o, op.dst, MAX_KERNEL_WORDS);
      if (!src || !d0) return undefined;
      const dst = apart(src, fit({ addr: d0.addr, byteLength: src.byteLength }, o.size), o.size);
      if (!dst) return undefined;
      const n = src.byteLength / 4;
      return dispatchStep(o, s, op.idem ? 'copy' : 'copyTx', op.demand, op.hint, n, [src.addr, dst.addr, n], [src], [dst]);
    }
    case 'add': {
      const r = wordRange(o, op.at, MAX_KERNEL_WORDS);
      if (!r) return undefined;
      return dispatchStep(o, s, 'add', op.demand, op.hint, r.byteLength / 4, [r.addr, r.byteLength / 4, op.k >>> 0], [], [r]);
    }
    case 'hist': {
      const data = wordRange(o, op.data, MAX_KERNEL_WORDS);
      const h0 = wordRange(o, op.hist, MAX_BINS);
      if (!data || !h0) return undefined;
      const hist = apart(data, h0, o.size);
      if (!hist) return undefined;
      const n = data.byteLength / 4;
      return dispatchStep(o, s, 'hist', op.demand, op.hint, n, [data.addr, n, hist.addr, hist.byteLength / 4], [data], [hist]);
    }
    case 'walk': {
      const list = wordRange(o, op.list, MAX_WALK_BYTES / 4);
      const o0 = wordRange(o, op.out, MAX_WALK_OUT);
      if (!list || list.byteLength < 8 || !o0) return undefined;
      const nodes = Math.floor(list.byteLength / 8);
      const listR = { addr: list.addr, byteLength: nodes * 8 };
      const out = apart(listR, o0, o.size);
      if (!out) return undefined;
      const n = out.byteLength / 4;
      return dispatchStep(o, s, op.idem ? (op.resume === true ? 'walkResume' : 'walk') : 'walkTx', op.demand, op.hint, n, [listR.addr, nodes, n, op.steps, out.addr], [listR], [out]);
    }
    case 'tickets': {
      const counter = wordRange(o, op.counter, 1);
      const o0 = wordRange(o, op.out, MAX_KERNEL_WORDS);
      if (!counter || !o0) return undefined;
      const out = apart(counter, o0, o.size);
      if (!out) return undefined;
      return dispatchStep(o, s, 'tickets', op.demand, op.hint, op.n, [counter.addr, out.addr, out.byteLength / 4, op.n], [], [counter, out]);
    }
    case 'stray': {
      const a = op.addr;
      const addr = 'word' in a ? (a.word % (o.size / 4)) * 4 : 'raw' in a ? a.raw >>> 0 : edgeAddress(a.edge, o.size, o.pageSize);
      const out = wordRange(o, op.out, 1);
      if (!out) return undefined;
      const decl = byteRange(o, op.decl, o.pageSize);
      const read = op.declRead ? [decl] : [];
      const write = op.declRead ? [out] : [out, decl];
      return { kind: 'dispatch', s, kernel: 'stray', demand: op.demand, workgroups: 1, args: [addr, op.value >>> 0, out.addr], read: op.demand ? [] : read, write: op.demand ? [] : write };
    }
  }
}

function resolveHost(op: HostOp, o: SpaceOracle): Step | undefined {
  const max = MAX_HOST_PAGES * o.pageSize;
  switch (op.kind) {
    case 'write': {
      const r = byteRange(o, op.at, max);
      return { kind: 'write', s: op.s, addr: r.addr, data: bytesFrom(op.seed, r.byteLength), form: op.seed % 3 };
    }
    case 'read': {
      const r = byteRange(o, op.at, max);
      return { kind: 'read', s: op.s, ...r };
    }
    case 'view': {
      const r = byteRange(o, op.at, max);
      return { kind: 'view', s: op.s, ...r, mode: op.mode, seed: op.seed & 0xff };
    }
    case 'list': {
      const r = wordRange(o, op.at, MAX_WALK_BYTES / 4);
      if (!r || r.byteLength < 8) return undefined;
      const nodes = Math.floor(r.byteLength / 8);
      return { kind: 'write', s: op.s, addr: r.addr, data: listBytes(nodes, op.seed), form: 0 };
    }
  }
}

/** Any length up to the whole space (more than the pool holds is no error), or (oob) one that runs past the end. */
function hintRange(o: SpaceOracle, op: HintOp): Range {
  const r = byteRange(o, op.at, o.size);
  if (!op.oob) return r;
  return { addr: r.addr, byteLength: o.size - r.addr + 1 + (op.at.len % o.pageSize) };
}

function evictStep(op: EvictOp, w: Oracle): Step {
  // Always fits: the hog may take every frame nobody pinned.
  const available = w.cfg.frames - w.pinnedPages();
  return { kind: 'evict', pages: 1 + (op.pages % available), dirty: op.dirty };
}

/** Turn an operation into concrete steps against the oracle's current state ([] when it does not apply). */
export function resolve(op: FuzzOp, w: Oracle): Step[] {
  switch (op.kind) {
    case 'write': case 'read': case 'view': case 'list': {
      const st = resolveHost(op, w.spaces[op.s]);
      return st ? [st] : [];
    }
    case 'copy': case 'add': case 'hist': case 'walk': case 'stray': case 'tickets': {
      const st = resolveKernel(op, w.spaces[op.s]);
      return st ? [st] : [];
    }
    case 'evict':
      return [evictStep(op, w)];
    case 'bound': {
      const o = w.spaces[op.s];
      const r = wordRange(o, op.at, MAX_KERNEL_WORDS);
      if (!r) return [];
      // Bound ranges start at a multiple of minStorageBufferOffsetAlignment (256 here).
      const addr = Math.ceil(r.addr / 256) * 256;
      const byteLength = r.addr + r.byteLength - addr;
      return byteLength > 0 ? [{ kind: 'bound', s: op.s, addr, byteLength, k: op.k >>> 0 }] : [];
    }
    case 'prefetch':
      return [{ kind: 'prefetch', s: op.s, ...hintRange(w.spaces[op.s], op), to: op.to }];
    case 'advise':
      return [{ kind: 'advise', s: op.s, ...hintRange(w.spaces[op.s], op), advice: op.advice }];
    case 'alloc':
      return [{ kind: 'alloc', s: op.s, byteLength: op.size, align: op.align }];
    case 'free': {
      const o = w.spaces[op.s];
      if (op.bogus === 'unknown') return [{ kind: 'free', s: op.s, addr: 1 + (op.pick % (NULL_GUARD - 1)) }];
      const pool = op.bogus === 'double' ? [...o.freed].filter((a) => !o.live.has(a)) : [...o.live.keys()];
      if (pool.length === 0) return [];
      return [{ kind: 'free', s: op.s, addr: pool.sort((a, b) => a - b)[op.pick % pool.length]! }];
    }
    case 'pin': {
      const o = w.spaces[op.s];
      return [{ kind: 'pin', s: op.s, ...byteRange(o, op.at, MAX_HOST_PAGES * o.pageSize) }];
    }
    case 'unpin': {
      const o = w.spaces[op.s];
      if (op.bogus || o.pinned.length === 0) return [{ kind: 'unpin', s: op.s, ...byteRange(o, op.at, MAX_HOST_PAGES * o.pageSize) }];
      const [r] = o.pinned.splice(op.pick % o.pinned.length, 1);
      return [{ kind: 'unpin', s: op.s, ...r! }];
    }
    case 'burst': {
      // Resolved in order against the oracle as it will be after the earlier ones (addresses do not
      // depend on contents, and nothing in a burst allocates, frees or pins).
      const steps: Step[] = [];
      for (const sub of op.ops) steps.push(...resolve(sub, w));
      return steps;
    }
    case 'hostile':
      return [{ kind: 'hostile', code: HOSTILE_KERNELS[op.which % HOSTILE_KERNELS.length]! }];
    case 'reenter': {
      const o = w.spaces[op.s];
      const outer = op.via === 'view'
        ? resolveHost({ kind: 'view', s: op.s, mode: 'write', at: op.at, seed: op.seed }, o)
        : resolveHost({ kind: 'write', s: op.s, at: op.at, seed: op.seed }, o);
      if (!outer) return [];
      const i = op.inner;
      let inner: Step | undefined;
      if (i.kind === 'write' || i.kind === 'read') inner = resolveHost(i.kind === 'write' ? { ...i, s: op.s } : { ...i, s: op.s }, o);
      else if (i.kind === 'free') {
        const live = [...o.live.keys()].sort((a, b) => a - b);
        inner = live.length > 0 ? { kind: 'free', s: op.s, addr: live[i.pick % live.length]! } : undefined;
      } else inner = resolveKernel({ kind: 'add', s: op.s, demand: i.demand, hint: 'exact', at: i.at, k: i.k }, o);
      return [{ kind: 'reenter', s: op.s, via: op.via, outer, inner, throws: op.throws && op.via === 'subscriber' }];
    }
  }
}

// ---------------------------------------------------------------------------
// Applying a step to the oracle
// ---------------------------------------------------------------------------

export class Oracle {
  readonly cfg: FuzzConfig;
  readonly spaces: [SpaceOracle, SpaceOracle];
  readonly hog: Uint8Array;

  constructor(cfg: FuzzConfig) {
    this.cfg = cfg;
    const ps = cfg.pageSize;
    this.spaces = [new SpaceOracle(cfg.pages[0] * ps, ps), new SpaceOracle(cfg.pages[1] * ps, ps)];
    this.hog = hogBytes(cfg);
  }

  pinnedPages(): number {
    return this.spaces[0].pinnedPageCount() + this.spaces[1].pinnedPageCount();
  }

  /** The outcome the runtime must give for `st`, with the oracle's state moved past it. */
  apply(st: Step): Outcome {
    switch (st.kind) {
      case 'alloc': {
        const o = this.spaces[st.s]!;
        const addr = o.allocAddress(st.byteLength, st.align);
        if (addr === undefined) return { error: 'OUT_OF_VIRTUAL_MEMORY' };
        o.alloc(addr, st.byteLength);
        return { addr };
      }
      case 'free': {
        const o = this.spaces[st.s]!;
        if (!o.live.has(st.addr)) return { error: o.freed.has(st.addr) ? 'DOUBLE_FREE' : 'UNKNOWN_ALLOCATION' };
        o.free(st.addr);
        return {};
      }
      case 'write':
        this.spaces[st.s]!.bytes.set(st.data, st.addr);
        return {};
      case 'read':
        return { bytes: this.spaces[st.s]!.bytes.slice(st.addr, st.addr + st.byteLength) };
      case 'view': {
        const v = this.spaces[st.s]!.bytes.subarray(st.addr, st.addr + st.byteLength);
        if (st.mode === 'read') return { bytes: v.slice() };
        viewTransform(v, st.seed);
        return {};
      }
      case 'pin': {
        const o = this.spaces[st.s]!;
        const pages = o.pagesOf(st);
        const fresh = pages.filter((p) => o.pins[p] === 0).length;
        if ((this.pinnedPages() + fresh) > this.cfg.pinPages) return { error: 'PIN_LIMIT' };
        // Space 1's group has a pin limit of its own (GroupPinLimitError, a PinLimitError).
        if (st.s === 1 && this.cfg.policy && o.pinnedPageCount() + fresh > this.cfg.policy.groupPinPages) return { error: 'PIN_LIMIT' };
        // The tree's parent counts both spaces' pins (both are under it; the hog pins nothing): every group up to
        // the root must allow a pin (the RFC).
        if (this.cfg.policy?.tree && this.pinnedPages() + fresh > this.cfg.policy.tree.pinPages) return { error: 'PIN_LIMIT' };
        for (const p of pages) o.pins[p]!++;
        o.pinned.push({ addr: st.addr, byteLength: st.byteLength });
        return {};
      }
      case 'unpin': {
        const o = this.spaces[st.s]!;
        const pages = o.pagesOf(st);
        if (pages.some((p) => o.pins[p] === 0)) return { error: 'NOT_PINNED' };
        for (const p of pages) o.pins[p]!--;
        return {};
      }
      case 'evict':
        return {};
      case 'prefetch': case 'advise':
        // Neither changes a byte. Refusals: a range past the end, checked first; then advice with no key
        // (advice.ts adviceBits: "one or more of the keys" — found by the fuzzer as a harness mistake).
        if (st.addr + st.byteLength > this.spaces[st.s]!.size) return { error: 'OUT_OF_RANGE' };
        return st.kind === 'advise' && Object.keys(st.advice).length === 0 ? { error: 'INVALID_ARGUMENT' } : {};
      case 'dispatch':
        return this.#dispatch(st);
      case 'bound':
        return this.#bound(st);
      case 'hostile':
        return { error: 'KERNEL_COMPILE' };
      case 'reenter': {
        // The outer operation takes effect first (a throwing subscriber does not stop its bytes), then the inner one.
        const outer = this.apply(st.outer);
        const inner = st.inner ? this.apply(st.inner) : undefined;
        return { ...outer, ...(st.throws ? { error: 'SUBSCRIBER' } : {}), ...(inner ? { inner } : {}) };
      }
    }
  }

  /**
   * Check a burst's outcomes against the serial order of issue (see the
   * header) and move the oracle past it; throws a Divergence naming the
   * mismatch. (It can weigh several candidate orders, reading back the bytes
   * where they differ (`readBack`); the runtime's contract leaves only one.)
   * Returns the expected outcomes, in step order.
   */
  async matchBurst(
    steps: readonly Step[], gots: readonly Outcome[], where: string, readBack: (s: number, addr: number, byteLength: number) => Promise<Uint8Array>,
  ): Promise<Outcome[]> {
    const wants: Outcome[] = new Array<Outcome>(steps.length);
    steps.forEach((st, k) => {
      if (st.kind === 'evict') {
        wants[k] = this.apply(st);
        compare(`${where} step ${k}`, st, wants[k], gots[k]!);
      }
    });
    for (let s = 0; s < 2; s++) {
      const mine = steps.map((_, k) => k).filter((k) => { const st = steps[k]!; return st.kind !== 'evict' && st.kind !== 'hostile' && st.s === s; });
      if (mine.length === 0) continue;
      // Issue order is the only order (the contract); the machinery below would weigh several.
      const orders: number[][] = [mine];
      const o = this.spaces[s]!;
      const before = o.bytes.slice();
      let first: string | undefined;
      const matches: { bytes: Uint8Array; wants: Map<number, Outcome> }[] = [];
      for (const order of orders) {
        o.bytes.set(before);
        let bad: string | undefined;
        const w = new Map<number, Outcome>();
        for (const k of order) {
          const want = this.apply(steps[k]!);
          w.set(k, want);
          bad ??= mismatch(steps[k]!, want, gots[k]!);
        }
        if (bad === undefined) matches.push({ bytes: o.bytes.slice(), wants: w });
        else first ??= `${where}: ${bad}`;
      }
      if (matches.length === 0) throw new Divergence(`${first} (in issue order; ${orders.length} serial order(s) tried, none matched)`);
      let chosen = matches[0]!;
      if (matches.length > 1) {
        // Orders that read alike but leave different bytes: look at the bytes where they differ.
        let lo = o.size;
        let hi = 0;
        for (const m of matches.slice(1)) {
          for (let i = 0; i < o.size; i++) {
            if (m.bytes[i] !== chosen.bytes[i]) {
              lo = Math.min(lo, i);
              hi = Math.max(hi, i + 1);
            }
          }
        }
        if (hi > lo) {
          const real = await readBack(s, lo, hi - lo);
          const found = matches.find((m) => firstDiff(m.bytes.subarray(lo, hi), real) < 0);
          if (!found) throw new Divergence(`${where}: space ${s} bytes [${lo}, ${hi}) match none of the ${matches.length} serial orders that fit the outcomes`);
          chosen = found;
        }
      }
      o.bytes.set(chosen.bytes);
      for (const [k, want] of chosen.wants) wants[k] = want;
    }
    return wants;
  }

  /** Fail fast (fault/declared.ts): the declared pages must fit in the frames nobody else pinned. */
  #tooLarge(s: number, pages: ReadonlySet<number>): boolean {
    const o = this.spaces[s]!;
    let pinnedInside = 0;
    for (const p of pages) if (o.pins[p]! > 0) pinnedInside++;
    let available = this.cfg.frames - (this.pinnedPages() - pinnedInside);
    // Space 1's group max caps it, less the group's pins outside the working set (groups.ts availableFrames).
    if (s === 1) available = Math.min(available, groupMaxFrames(this.cfg) - (o.pinnedPageCount() - pinnedInside));
    // The tree's parent caps both spaces, less both spaces' pins outside the working set.
    if (this.cfg.policy?.tree) available = Math.min(available, treeMaxFrames(this.cfg) - (this.pinnedPages() - pinnedInside));
    return pages.size > available;
  }

  /** The add kernel over a bound range (src/fault/bound.ts): one run of frames in one window. */
  #bound(st: Extract<Step, { kind: 'bound' }>): Outcome {
    const o = this.spaces[st.s]!;
    const pages = o.pagesOf(st);
    // Checked at the call: the range's pages within one window.
    if (pages.length > (this.cfg.windowFrames || this.cfg.frames)) return { error: 'BIND_RANGE' };
    if (this.#tooLarge(st.s, new Set(pages))) return { error: 'WORKING_SET_TOO_LARGE' };
    const n = st.byteLength / 4;
    const saved = o.words.slice(st.addr / 4, st.addr / 4 + n);
    for (let i = 0; i < n; i++) o.setU32(st.addr + i * 4, Math.imul(o.u32(st.addr + i * 4), 3) + st.k + i);
    const pinned = this.pinnedPages() > 0;
    return { mode: 'declared', ...(pinned ? { undoIfRefused: () => o.words.set(saved, st.addr / 4) } : {}) };
  }

  #dispatch(st: DispatchStep): Outcome {
    const o = this.spaces[st.s]!;
    const mode: DispatchResult['mode'] = !st.demand ? 'declared' : kernels[st.kernel].idempotent ? 'replay' : 'transaction';
    if (!st.demand && this.#tooLarge(st.s, new Set([...st.read, ...st.write].flatMap((r) => o.pagesOf(r))))) return { error: 'WORKING_SET_TOO_LARGE' };
    const a = st.args;
    switch (st.kernel) {
      case 'copy': case 'copyTx': {
        const [src, dst, n] = a as [number, number, number];
        o.words.copyWithin(dst / 4, src / 4, src / 4 + n);
        return { mode };
      }
      case 'add': {
        const [base, n, k] = a as [number, number, number];
        for (let i = 0; i < n; i++) o.setU32(base + i * 4, Math.imul(o.u32(base + i * 4), 3) + k + i);
        return { mode };
      }
      case 'hist': {
        const [data, n, hist, bins] = a as [number, number, number, number];
        for (let i = 0; i < n; i++) {
          const v = o.u32(data + i * 4);
          const b = hist + (v % bins) * 4;
          o.setU32(b, o.u32(b) + 1 + (v >>> 29));
        }
        return { mode };
      }
      case 'tickets': {
        const [counter, out, slots, n] = a as [number, number, number, number];
        const c0 = o.u32(counter);
        for (let k = 0; k < n; k++) o.setU32(out + (((c0 + k) >>> 0) % slots) * 4, 1);
        o.setU32(counter, c0 + n);
        return { mode };
      }
      case 'walk': case 'walkTx': case 'walkResume': {
        const [base, nodes, n, steps, out] = a as [number, number, number, number, number];
        const sums = new Uint32Array(n);
        for (let i = 0; i < n; i++) {
          let idx = i % nodes;
          let sum = 0;
          for (let s = 0; s < steps; s++) {
            sum = (sum + o.u32(base + idx * 8 + 4)) >>> 0;
            idx = o.u32(base + idx * 8) % nodes;
          }
          sums[i] = sum;
        }
        o.words.set(sums, out / 4);
        return { mode };
      }
      case 'stray':
        return this.#stray(o, st, mode);
    }
  }

  /** The stray kernel, with the prelude's rules: what is refused is reported and not carried out, the rest runs. */
  #stray(o: SpaceOracle, st: DispatchStep, mode: DispatchResult['mode']): Outcome {
    const [addr, value, out] = st.args as [number, number, number];
    const page = Math.floor(addr / o.pageSize);
    let loadKind: string | undefined;
    let storeKind: string | undefined;
    if (addr % 4 !== 0) loadKind = storeKind = 'misaligned';
    else if (addr >= o.size) loadKind = storeKind = 'out-of-range';
    else if (!st.demand) {
      const writable = new Set(st.write.flatMap((r) => o.pagesOf(r)));
      const readable = new Set(st.read.flatMap((r) => o.pagesOf(r)));
      if (!writable.has(page)) {
        storeKind = 'not-writable';
        if (!readable.has(page)) loadKind = 'not-readable';
      }
    }
    const old = loadKind ? 0 : o.u32(addr);
    if (!storeKind) o.setU32(addr, value);
    o.setU32(out, old ^ STRAY_MASK);
    const count = (loadKind ? 1 : 0) + (storeKind ? 1 : 0);
    if (count === 0) return { mode };
    return { error: 'ACCESS_VIOLATION', violations: { count, addr, kind: (loadKind ?? storeKind)! } };
  }
}

/** The hog's contents: a pattern no fuzzed space ever holds by chance (word = 0xb0b00000 | page << 10 | word index). */
export function hogBytes(cfg: FuzzConfig): Uint8Array {
  const words = new Uint32Array((cfg.frames * cfg.pageSize) / 4);
  const perPage = cfg.pageSize / 4;
  for (let i = 0; i < words.length; i++) words[i] = (0xb0b00000 | (Math.floor(i / perPage) << 12) | (i % perPage)) >>> 0;
  return new Uint8Array(words.buffer);
}

// ---------------------------------------------------------------------------
// The runner: the same steps against real spaces
// ---------------------------------------------------------------------------

export interface World {
  readonly pool: Pool;
  readonly spaces: readonly [AddressSpace, AddressSpace];
  readonly hog: AddressSpace;
  /** The folder of space 1's file (fileBacked). */
  readonly dir?: string;
}

export async function makeWorld(device: GPUDevice, cfg: FuzzConfig): Promise<World> {
  const ps = cfg.pageSize;
  const pool = await createPool(device, {
    capacity: cfg.frames * ps, pageSize: ps, pinLimit: cfg.pinPages * ps, uploadPath: cfg.uploadPath,
    // Small staging slots and few of them: uploads wait for maps, so host operations interleave.
    stagingSlotSize: 2 * ps, stagingSlots: 2, writeChunk: ps,
    ...(cfg.windowFrames ? { maxWindowSize: cfg.windowFrames * ps } : {}),
    label: 'fuzz',
  });
  try {
    const p = cfg.policy;
    const policies = p ? { densityPrefetch: true, thrashing: { ...p.thrashing } } : {};
    // The two-level tree: a parent with a max, a low and a pin limit over both spaces' groups.
    const t = p?.tree;
    const parent = t ? createGroup(pool, { label: 'fuzz-tree', max: treeMaxFrames(cfg) * ps, low: t.low * ps, pinLimit: t.pinPages * ps }) : pool;
    const sibling = t ? { group: createGroup(parent, { label: 'fuzz-sibling', low: t.siblingLow * ps, pinLimit: cfg.pinPages * ps }) } : {};
    const a = createSpace(pool, { size: cfg.pages[0] * ps, strict: true, ...(p ? { durable: true } : {}), ...policies, ...sibling, label: 'fuzz-A' });
    const group = p ? { group: createGroup(parent, { label: 'fuzz-group', max: groupMaxFrames(cfg) * ps, pinLimit: p.groupPinPages * ps }) } : {};
    const dir = cfg.fileBacked ? mkdtempSync(join(tmpdir(), 'hmm-fuzz-')) : undefined;
    const b = dir
      ? createFileSpace(pool, join(dir, 'b.bin'), { size: cfg.pages[1] * ps, hostBudget: 4 * ps, strict: true, ...group, ...policies, label: 'fuzz-B' })
      : createSpace(pool, { size: cfg.pages[1] * ps, strict: true, ...group, ...policies, label: 'fuzz-B' });
    const hog = createSpace(pool, { size: cfg.frames * ps, strict: true, label: 'hog' });
    await hog.write(0, hogBytes(cfg));
    return { pool, spaces: [a, b], hog, ...(dir ? { dir } : {}) };
  } catch (e) {
    pool.destroy();
    throw e;
  }
}

export function destroyWorld(w: World): void {
  w.spaces[0].destroy();
  w.spaces[1].destroy();
  w.hog.destroy();
  w.pool.destroy();
  if (w.dir) rmSync(w.dir, { recursive: true, force: true });
}

/** The data of a write, in one of the forms write() takes (a DataView into a larger buffer tests the offset handling). */
function writeForm(data: Uint8Array, form: number): { arg: ArrayBufferView | ArrayBuffer; scribble(): void } {
  if (form === 1) {
    const big = new Uint8Array(data.length + 24);
    big.set(data, 8);
    return { arg: new DataView(big.buffer, 8, data.length), scribble: () => big.fill(0xee) };
  }
  if (form === 2) {
    const copy = data.slice();
    return { arg: copy.buffer, scribble: () => copy.fill(0xdd) };
  }
  const copy = data.slice();
  return { arg: copy, scribble: () => copy.fill(0xcc) };
}

function failure(e: unknown): Outcome {
  if (e instanceof AccessViolationError) {
    const v = e.violations[0]!;
    return { error: e.code, violations: { count: e.count, addr: v.addr, kind: v.kind } };
  }
  if (e instanceof HmmError) return { error: e.code };
  if (e instanceof SubscriberFailure) return { error: 'SUBSCRIBER' };
  throw e; // not a typed error: a runtime bug, reported as is
}

/**
 * Start `st` on the real spaces. Everything up to the runtime call is
 * synchronous, so the steps of a burst are issued in order with no await
 * between them; the promise gives the outcome.
 */
export function startReal(st: Step, w: World, stats?: FuzzStats): Promise<Outcome> {
  const settle = (p: Promise<Outcome>) => p.catch(failure);
  try {
    switch (st.kind) {
      case 'alloc':
        return Promise.resolve({ addr: w.spaces[st.s]!.alloc(st.byteLength, { align: st.align }) });
      case 'free':
        w.spaces[st.s]!.free(st.addr);
        return Promise.resolve({});
      case 'write': {
        const f = writeForm(st.data, st.form);
        const p = w.spaces[st.s]!.write(st.addr, f.arg);
        f.scribble(); // the caller may reuse its buffer as soon as write() returns
        return settle(p.then(() => ({})));
      }
      case 'read':
        return settle(w.spaces[st.s]!.read(st.addr, st.byteLength).then((bytes) => ({ bytes })));
      case 'view':
        return settle(w.spaces[st.s]!.withView(st.addr, st.byteLength, st.mode, (v) => {
          if (st.mode === 'read') return { bytes: v.slice() };
          viewTransform(v, st.seed);
          return {};
        }));
      case 'pin':
        return settle(w.spaces[st.s]!.pin(st.addr, st.byteLength).then(() => ({})));
      case 'unpin':
        w.spaces[st.s]!.unpin(st.addr, st.byteLength);
        return Promise.resolve({});
      case 'prefetch':
        return settle(w.spaces[st.s]!.prefetch(st.addr, st.byteLength, { to: st.to }).then(() => ({})));
      case 'advise':
        w.spaces[st.s]!.advise(st.addr, st.byteLength, st.advice);
        return Promise.resolve({});
      case 'evict': {
        const range = [{ addr: 0, byteLength: st.pages * w.pool.pageSize }];
        // A copy of zero words: the pages are faulted in (and, declared written, marked dirty) and nothing else happens.
        const opts = { workgroups: 1, args: [0, 0, 0], ...(st.dirty ? { write: range } : { read: range }) };
        return settle(w.hog.dispatch(kernels.copy, opts).then((r) => ({ mode: r.mode })));
      }
      case 'reenter':
        return startReenter(st, w, stats);
      case 'hostile':
        createKernel({ label: 'fuzz-hostile', code: st.code, workgroupSize: 1 });
        return Promise.resolve({});
      case 'bound': {
        const device = w.pool.device;
        const k = device.createBuffer({ label: 'fuzz-bound-k', size: 16, usage: 0x40 | 0x8 }); // UNIFORM | COPY_DST
        device.queue.writeBuffer(k, 0, new Uint32Array([st.k]));
        const p = w.spaces[st.s]!.dispatch(boundAdd, {
          workgroups: Math.ceil(st.byteLength / 4 / 64), bind: [{ binding: 0, addr: st.addr, byteLength: st.byteLength }], resources: [{ binding: 1, resource: { buffer: k } }],
        });
        return settle(p.then((r) => ({ mode: r.mode }))).finally(() => k.destroy());
      }
      case 'dispatch': {
        const p = w.spaces[st.s]!.dispatch(kernels[st.kernel], {
          workgroups: st.workgroups, args: st.args, demand: st.demand, read: st.read, write: st.write,
        });
        return settle(p.then((r) => {
          if (stats) {
            stats.retries += r.retries;
            if (r.demand) {
              stats.demandPasses += r.demand.passes;
              stats.aborts += r.demand.aborts;
              stats.slices += r.demand.slices;
            }
          }
          return { mode: r.mode };
        }));
      }
    }
  } catch (e) {
    // As a rejection, not a throw: the other steps of a burst are in flight and must be awaited.
    return new Promise((resolve) => resolve(failure(e)));
  }
}

/**
 * A reentrant step: the outer operation's callback (a writable view's, a
 * subscriber's, a listener's) starts the inner step. Resolves when both have
 * settled and the space's host operations issued by then have landed (a read
 * behind them: an inner free zeroes its pages in issue order, after the call).
 */
async function startReenter(st: ReenterStep, w: World, stats: FuzzStats | undefined): Promise<Outcome> {
  const space = w.spaces[st.s]!;
  let inner: Promise<Outcome> | undefined;
  let fired = false;
  const issue = () => {
    if (fired) return;
    fired = true;
    if (st.inner) inner = startReal(st.inner, w, stats);
  };
  let outer: Promise<Outcome>;
  if (st.via === 'view') {
    const v = st.outer as Extract<Step, { kind: 'view' }>;
    outer = space.withView(v.addr, v.byteLength, 'write', (view) => {
      viewTransform(view, v.seed);
      issue();
      return {};
    }).catch(failure);
  } else {
    const wr = st.outer as Extract<Step, { kind: 'write' }>;
    if (st.via === 'subscriber') {
      const sub = space.subscribe(wr.addr, wr.data.length, () => {
        const first = !fired;
        issue();
        if (first && st.throws) throw new SubscriberFailure('a subscriber threw');
      });
      outer = startReal(wr, w, stats);
      outer.finally(() => sub.remove()).catch(() => undefined);
    } else {
      const off = w.pool.on((e) => {
        if (e.type === 'host' && e.space === space.label && e.op === 'write') {
          off();
          issue();
        }
      });
      outer = startReal(wr, w, stats);
      outer.finally(off).catch(() => undefined);
    }
  }
  const got = await outer;
  const innerGot = inner ? await inner : undefined;
  await space.read(0, 1).catch(() => undefined);
  if (st.inner && !fired) throw new Divergence(`reenter via ${st.via}: the callback never ran`);
  return { ...got, ...(innerGot ? { inner: innerGot } : {}) };
}

export class Divergence extends Error {
  override name = 'Divergence';
}

function describeStep(st: Step): string {
  return JSON.stringify(st, (k, v: unknown) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v));
}

function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** How `got` differs from `want`, or undefined when it does not. */
function mismatch(st: Step, want: Outcome, got: Outcome): string | undefined {
  const fail = (what: string) => `${describeStep(st)}: ${what}`;
  if (want.error !== got.error) return fail(`expected ${want.error ?? 'success'}, got ${got.error ?? 'success'}`);
  if (want.addr !== undefined && want.addr !== got.addr) return fail(`alloc returned ${got.addr}, the allocator's rules give ${want.addr}`);
  if (want.mode !== undefined && want.mode !== got.mode) return fail(`dispatch ran as ${got.mode}, expected ${want.mode}`);
  if (want.violations) {
    const g = got.violations;
    if (!g || g.count !== want.violations.count || g.addr !== want.violations.addr || g.kind !== want.violations.kind) {
      return fail(`violations ${JSON.stringify(g)}, expected ${JSON.stringify(want.violations)}`);
    }
  }
  if (want.inner || got.inner) {
    if (!want.inner || !got.inner) return fail(`inner operation ${got.inner ? 'ran' : 'did not run'}, expected ${want.inner ? 'it to' : 'none'}`);
    const m = mismatch((st as ReenterStep).inner!, want.inner, got.inner);
    if (m !== undefined) return fail(`inner: ${m}`);
  }
  if (want.bytes) {
    const d = firstDiff(want.bytes, got.bytes ?? new Uint8Array(0));
    if (d >= 0) {
      const at = 'addr' in st ? st.addr + d : d;
      return fail(`byte ${at} reads ${got.bytes?.[d]}, the oracle has ${want.bytes[d]} (${want.bytes.length} bytes compared)`);
    }
  }
  return undefined;
}

function compare(where: string, st: Step, want: Outcome, got: Outcome): void {
  const m = mismatch(st, want, got);
  if (m !== undefined) throw new Divergence(`${where}: ${m}`);
}

/** Counts over a fuzz run, for the report (docs/reliability.md). */
export interface FuzzStats {
  sequences: number;
  /** Sequences whose space 1 was file-backed. */
  fileBacked: number;
  ops: number;
  steps: number;
  byKind: Record<string, number>;
  /** Errors the oracle predicted and the runtime raised, by code. */
  expectedErrors: Record<string, number>;
  dispatchModes: Record<string, number>;
  retries: number;
  demandPasses: number;
  aborts: number;
  slices: number;
  /** Pool counters summed over sequences. */
  pool: Record<string, number>;
  /** From the event stream: thrashing detections, and pages migrated by cause ('migrate:prefetch', 'migrate:durable', …). */
  events: Record<string, number>;
}

export function emptyStats(): FuzzStats {
  return {
    sequences: 0, fileBacked: 0, ops: 0, steps: 0, byKind: {}, expectedErrors: {}, dispatchModes: {},
    retries: 0, demandPasses: 0, aborts: 0, slices: 0, pool: {}, events: {},
  };
}

const POOL_COUNTERS: readonly (keyof PoolStats)[] = [
  'evictions', 'evictionWritebacks', 'evictionDrops', 'invalidations', 'pagesToDevice', 'pagesToHost', 'pagesCleared',
  'faultBatches', 'pagesFaulted', 'aborts', 'dispatches',
];

function bump(r: Record<string, number>, k: string, n = 1): void {
  r[k] = (r[k] ?? 0) + n;
}

/** Checks that hold between operations, whatever ran. */
function checkState(world: World, oracle: Oracle, where: string): void {
  world.spaces[0].checkInvariants(); // the pool's frame table and every space's page table
  const ps = oracle.cfg.pageSize;
  const pinned = world.pool.stats().pinnedBytes;
  if (pinned !== oracle.pinnedPages() * ps) throw new Divergence(`${where}: ${pinned} bytes pinned, the oracle has ${oracle.pinnedPages() * ps}`);
  for (let s = 0; s < 2; s++) {
    const space = world.spaces[s]!;
    const o = oracle.spaces[s]!;
    const res = space.residency();
    if (res.pinned !== o.pinnedPageCount()) throw new Divergence(`${where}: space ${s} has ${res.pinned} pinned pages, the oracle ${o.pinnedPageCount()}`);
    // "Unpopulated: never written, reads are zero": a page in that state must be zero in the oracle too.
    const perPage = ps / 4;
    for (let p = 0; p < o.pins.length; p++) {
      if (space.pageState(p * ps) !== 'unpopulated') continue;
      for (let i = p * perPage; i < (p + 1) * perPage; i++) {
        if (o.words[i] !== 0) throw new Divergence(`${where}: space ${s} page ${p} is unpopulated but the oracle has ${o.words[i]} at byte ${i * 4}`);
      }
    }
  }
}

/**
 * A world and its oracle in lockstep: `run()` applies one operation to both and
 * checks the outcome and the state after it; `verifyAll()` compares every byte.
 * runSequence() uses one per sequence; the soak (test/soak/) keeps one for
 * minutes.
 */
export class FuzzSession {
  readonly world: World;
  readonly oracle: Oracle;
  readonly #stats: FuzzStats | undefined;
  #index = 0;

  private constructor(world: World, oracle: Oracle, stats: FuzzStats | undefined) {
    this.world = world;
    this.oracle = oracle;
    this.#stats = stats;
  }

  static async open(device: GPUDevice, cfg: FuzzConfig, stats?: FuzzStats): Promise<FuzzSession> {
    const world = await makeWorld(device, cfg);
    if (stats && cfg.policy) {
      // Whether the varied policies acted at all: the counts show in the report (docs/reliability.md).
      // Only in the varied world: the soak's long-lived session (no policy) must end every
      // operation with no listener on its pool, and this one would stay for the session's life.
      world.pool.on((e) => {
        if (e.type === 'thrashing') bump(stats.events, 'thrashing');
        else if (e.type === 'migration') bump(stats.events, `migrate:${e.cause}`, e.pages + e.cleared);
      });
    }
    return new FuzzSession(world, new Oracle(cfg), stats);
  }

  /** Apply one operation to the spaces and the oracle; throws a Divergence (or the runtime's own error) at a difference. */
  async run(op: FuzzOp): Promise<void> {
    const { world, oracle } = this;
    const stats = this.#stats;
    const where = `op ${this.#index++} (${op.kind})`;
    const steps = resolve(op, oracle);
    if (op.kind === 'burst') {
      const settled = await Promise.allSettled(steps.map((st) => startReal(st, world, stats)));
      // An untyped error (a runtime bug) is reported once every step has settled, so none outlives the world.
      const broken = settled.find((r) => r.status === 'rejected');
      if (broken) throw broken.reason;
      const gots = settled.map((r) => (r as PromiseFulfilledResult<Outcome>).value);
      const wants = await oracle.matchBurst(steps, gots, where, (s, addr, len) => world.spaces[s]!.read(addr, len));
      if (stats) for (const want of wants) if (want.error) bump(stats.expectedErrors, want.error);
    } else {
      for (const st of steps) {
        const before = st.kind === 'pin' ? world.spaces[st.s]!.residency() : undefined;
        const want = oracle.apply(st);
        const got = await startReal(st, world, stats);
        if (want.undoIfRefused && got.error === 'BIND_RANGE') {
          want.undoIfRefused(); // pins blocked every run: nothing changed
          if (stats) bump(stats.expectedErrors, 'BIND_RANGE (pinned)');
        } else compare(where, st, want, got);
        if (stats && want.error) bump(stats.expectedErrors, want.error);
        if (before && got.error) {
          // A refused pin changes nothing: not the residency, not the pins.
          const after = world.spaces[(st as { s: number }).s]!.residency();
          if (JSON.stringify(after) !== JSON.stringify(before)) throw new Divergence(`${where}: refused pin changed residency ${JSON.stringify(before)} → ${JSON.stringify(after)}`);
        }
      }
    }
    checkState(world, oracle, where);
    if (stats) {
      stats.ops++;
      stats.steps += steps.length;
      bump(stats.byKind, op.kind);
      for (const st of steps) {
        const want = st.kind === 'dispatch' ? (st.demand ? (kernels[st.kernel].idempotent ? 'replay' : 'transaction') : 'declared') : undefined;
        if (want) bump(stats.dispatchModes, want);
      }
    }
  }

  /** Every byte of every space, the hog included, against the oracle. */
  async verifyAll(): Promise<void> {
    const { world, oracle } = this;
    for (let s = 0; s < 2; s++) {
      const o = oracle.spaces[s]!;
      const got = await world.spaces[s]!.read(0, o.size);
      const d = firstDiff(o.bytes, got);
      if (d >= 0) throw new Divergence(`end: space ${s} byte ${d} reads ${got[d]}, the oracle has ${o.bytes[d]}`);
    }
    const hog = await world.hog.read(0, oracle.hog.length);
    const d = firstDiff(oracle.hog, hog);
    if (d >= 0) throw new Divergence(`end: the hog's byte ${d} reads ${hog[d]}, expected ${oracle.hog[d]}: another space's data reached its frames`);
    checkState(world, oracle, 'end');
  }

  close(): void {
    destroyWorld(this.world);
  }
}

/**
 * Run one sequence on a fresh pool and spaces; throws a Divergence (or the
 * runtime's own error) at the first difference. `onOp` is called after every
 * operation (progress).
 */
export async function runSequence(
  device: GPUDevice, cfg: FuzzConfig, ops: readonly FuzzOp[], stats?: FuzzStats, onOp?: () => void,
): Promise<void> {
  const session = await FuzzSession.open(device, cfg, stats);
  try {
    for (const op of ops) {
      await session.run(op);
      onOp?.();
    }
    await session.verifyAll();
    if (stats) {
      stats.sequences++;
      if (cfg.fileBacked) stats.fileBacked++;
      const ps = session.world.pool.stats();
      for (const k of POOL_COUNTERS) bump(stats.pool, k, ps[k] as number);
    }
  } finally {
    session.close();
  }
}
