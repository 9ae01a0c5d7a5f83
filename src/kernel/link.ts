// Linking: the shader ABI + generated per-pool glue + prelude + user code +
// entry point → one WGSL module. Three parts are generated: the ABI's
// declarations (constants, the uniform struct, the runtime's bindings), from
// the table in src/abi.ts that the JavaScript side reads too; the glue — the
// pool's sizes, the window bindings and the switch that picks a window by
// index, which WGSL cannot express generically (no pointer parameters into
// storage without an extension); and the entry point.

import { abiWgsl, BINDING, RESUME_STRIDE } from '../abi.ts';
import { SHADERS } from './shaders.generated.ts';
import type { KernelSource } from './kernel.ts';
import { stallExitsApply, withStallExits } from './stall-exit.ts';

export interface LinkConfig {
  readonly pageShift: number;
  readonly windowCount: number;
  /** log2 of words per window. */
  readonly windowWordShift: number;
  /** Compile the demand-mode paths (declared dispatches use a variant without them: faster translation). */
  readonly demand: boolean;
  /**
   * The demand variant of an idempotent kernel: every pass is REPLAY, so the
   * overlay and the probe/commit paths fold away (prelude: VM_REPLAY).
   */
  readonly replay?: boolean;
  /**
   * Replay mode keeps a completion word per invocation, not a bit per workgroup: for
   * kernels without workgroup synchronization, so the entry point needs no
   * barriers (which cost a lot on some implementations, lavapipe among them).
   */
  readonly replayPerInvocation: boolean;
  /**
   * The replay variant for a slice's first pass (src/fault/demand.ts): no
   * completion words at all — every invocation of the slice runs, and none
   * records whether it stalled — so an invocation costs what a declared one
   * does. A pass of it that stalls is followed by a fresh pass of the
   * completing variant over the whole slice (the kernel is idempotent).
   */
  readonly firstPass?: boolean;
  /**
   * With firstPass: only each workgroup's invocation 0 runs — a sample of where
   * a cold slice's invocations go (src/fault/demand.ts #firstPass). Never for a
   * kernel that synchronizes its workgroup. A variant of its own: as a uniform
   * test in the first-pass variant, the return that is not uniform across the
   * workgroup cost every pass of it 25-30% on lavapipe (a copy kernel over
   * resident pages, median of 21 alternated pairs: 1.10, 1.11 -> 1.36, 1.41 of
   * the declared variant).
   */
  readonly sample?: boolean;
  /**
   * A transaction's variant that runs by rounds (src/fault/demand.ts #runRounds): a completion
   * word per invocation. A probe runs the invocations not done and marks each that ran without a
   * miss with the round (vm_u.round; 0 otherwise); a commit runs only those the round marked. A
   * mark of a round whose commit was lost (vm_u.lost_round) is not done. Never for a kernel that
   * synchronizes its workgroup (its invocations cannot run apart).
   */
  readonly rounds?: boolean;
  /**
   * Declared passes set the accessed and written page bitmaps (access counters, src/fault/access-bits.ts).
   * A compile-time constant: off, the declared path has no bitmap code at all.
   */
  readonly accessCounters: boolean;
  /**
   * The space is over 4 GiB: its addresses are 64-bit (VmAddr = vec2<u32>). Spaces of at most
   * 4 GiB link today's u32 translation (absent: false).
   */
  readonly wideAddresses?: boolean;
  /**
   * log2 of entries per leaf of a two-level device page table (src/device/gpu-page-table.ts),
   * or 0 (absent) for a flat one.
   */
  readonly pageTableLeafShift?: number;
}

export interface LinkedSource {
  readonly code: string;
  /** 1-based line in `code` where the user's code starts. */
  readonly userFirstLine: number;
  readonly userLineCount: number;
}

const ATOMIC_OPS = ['add', 'sub', 'max', 'min', 'and', 'or', 'xor', 'exchange'] as const;

function windowSwitch(n: number, signature: string, body: (w: string) => string, fallback: string): string {
  if (n === 1) return `${signature} {\n  let i = g & VM_WINDOW_MASK;\n  ${body('vm_w0')}\n}\n`;
  let s = `${signature} {\n  let i = g & VM_WINDOW_MASK;\n  switch (g >> VM_WINDOW_WORD_SHIFT) {\n`;
  for (let w = 0; w < n; w++) s += `    case ${w}u: { ${body(`vm_w${w}`)} }\n`;
  s += `    default: { ${fallback} }\n  }\n}\n`;
  return s;
}

/**
 * The space's address type and the operations the prelude needs on it (see the
 * prelude's header): u32 in spaces of at most 4 GiB, (low, high) words over it.
 */
function addressGlue(wide: boolean): string {
  if (!wide) {
    return 'alias VmAddr = u32;\n' +
      'fn vm_a_u32(a: u32) -> VmAddr { return a; }\n' +
      'fn vm_a_lo(a: VmAddr) -> u32 { return a; }\n' +
      'fn vm_a_hi(a: VmAddr) -> u32 { return 0u; }\n' +
      'fn vm_a_page(a: VmAddr) -> u32 { return a >> VM_PAGE_SHIFT; }\n' +
      'fn vm_a_plus(a: VmAddr, n: u32) -> VmAddr { return a + n; }\n' +
      'fn vm_a_eq(a: VmAddr, b: VmAddr) -> bool { return a == b; }\n' +
      'fn vm_a_ptr(p: VmPtr) -> VmAddr { return p.x; }\n' +
      // A VmPtr past 4 GiB is out of range here; the check is the only cost vm_ptr_* add.
      'fn vm_ptr_ok(p: VmPtr) -> bool {\n  if (p.y == 0u) { return true; }\n  vm_ptr_range(p);\n  return false;\n}\n';
  }
  return 'alias VmAddr = vec2<u32>;\n' +
    // A high word capped here gives a page index in [2^31, 2^31 + 2^20): past every space
    // (at most 2^28 pages) and never the translation cache's empty mark (0xffffffff).
    'const VM_HI_CAP: u32 = 1u << (VM_PAGE_SHIFT - 1u);\n' +
    'fn vm_a_u32(a: u32) -> VmAddr { return VmAddr(a, 0u); }\n' +
    'fn vm_a_lo(a: VmAddr) -> u32 { return a.x; }\n' +
    'fn vm_a_hi(a: VmAddr) -> u32 { return a.y; }\n' +
    // Exact below the cap, past the space above it: high bits the shift would drop never alias a page.
    'fn vm_a_page(a: VmAddr) -> u32 { return (min(a.y, VM_HI_CAP) << (32u - VM_PAGE_SHIFT)) | (a.x >> VM_PAGE_SHIFT); }\n' +
    // Offsets inside one aligned vector: never a carry.
    'fn vm_a_plus(a: VmAddr, n: u32) -> VmAddr { return VmAddr(a.x + n, a.y); }\n' +
    'fn vm_a_eq(a: VmAddr, b: VmAddr) -> bool { return all(a == b); }\n' +
    'fn vm_a_ptr(p: VmPtr) -> VmAddr { return p; }\n' +
    'fn vm_ptr_ok(p: VmPtr) -> bool { return true; }\n';
}

/** The page table lookup: one load from a flat table, or directory then leaf. */
function pageTableGlue(leafShift: number): string {
  if (leafShift === 0) return 'fn vm_pte(page: u32) -> u32 { return vm_pt[page]; }\n';
  return `const VM_PT_LEAF_SHIFT: u32 = ${leafShift}u;\n` +
    // A directory entry is the word offset of its leaf, or of the shared all-zero leaf.
    'fn vm_pte(page: u32) -> u32 {\n' +
    '  return vm_pt[vm_pt[page >> VM_PT_LEAF_SHIFT] + (page & ((1u << VM_PT_LEAF_SHIFT) - 1u))];\n}\n';
}

export function glue(cfg: LinkConfig, atomics: boolean): string {
  const n = cfg.windowCount;
  let s = `const VM_PAGE_SHIFT: u32 = ${cfg.pageShift}u;\n`;
  s += `const VM_FRAME_WORD_SHIFT: u32 = ${cfg.pageShift - 2}u;\n`;
  s += `const VM_WINDOW_WORD_SHIFT: u32 = ${cfg.windowWordShift}u;\n`;
  s += `const VM_DEMAND: bool = ${cfg.demand};\n`;
  s += `const VM_REPLAY: bool = ${cfg.demand && cfg.replay === true};\n`;
  s += `const VM_ROUNDS: bool = ${cfg.demand && cfg.replay !== true && cfg.rounds === true};\n`;
  s += `const VM_COUNTERS: bool = ${cfg.accessCounters};\n`;
  s += addressGlue(cfg.wideAddresses === true);
  s += pageTableGlue(cfg.pageTableLeafShift ?? 0);
  const elem = atomics ? 'atomic<u32>' : 'u32';
  for (let w = 0; w < n; w++) s += `@group(0) @binding(${BINDING.firstWindow + w}) var<storage, read_write> vm_w${w}: array<${elem}>;\n`;
  if (atomics) {
    s += windowSwitch(n, 'fn vm_read_word(g: u32) -> u32', (w) => `return atomicLoad(&${w}[i]);`, 'return 0u;');
    s += windowSwitch(n, 'fn vm_write_word(g: u32, v: u32)', (w) => `atomicStore(&${w}[i], v);`, '');
    for (const op of ATOMIC_OPS) {
      const fn = `atomic${op[0]!.toUpperCase()}${op.slice(1)}`;
      s += windowSwitch(n, `fn vm_atomic_${op}_word(g: u32, v: u32) -> u32`, (w) => `return ${fn}(&${w}[i], v);`, 'return 0u;');
    }
    s += windowSwitch(
      n,
      'fn vm_atomic_compare_exchange_word(g: u32, cmp: u32, v: u32) -> VmCasResult',
      (w) => `let r = atomicCompareExchangeWeak(&${w}[i], cmp, v); return VmCasResult(r.old_value, r.exchanged);`,
      'return VmCasResult(0u, false);',
    );
  } else {
    s += windowSwitch(n, 'fn vm_read_word(g: u32) -> u32', (w) => `return ${w}[i];`, 'return 0u;');
    s += windowSwitch(n, 'fn vm_write_word(g: u32, v: u32)', (w) => `${w}[i] = v;`, '');
  }
  return s;
}

function lineCount(s: string): number {
  let n = 1;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === 10) n++;
  return n;
}

/**
 * The label as it may stand in a `//` comment: printable ASCII only. Any other
 * character is escaped — WGSL ends a line comment at CR, VT, FF, NEL, LS and
 * PS as well as LF, and a label is not checked as code.
 */
function commentSafe(label: string): string {
  return label.replace(/[^\x20-\x7e]/gu, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

/**
 * The WGSL expression of entry `index` (a WGSL expression) of the completion region, after the
 * record's bitmaps (src/fault/records.ts): `stride` words an entry. The three entry points that
 * keep completion — by rounds, replay per invocation, replay per workgroup — share it.
 */
function completionWord(index: string, stride = 1): string {
  return `VM_BITMAP_BASE + VM_MAP_COUNT * vm_u.bitmap_words + ${stride === 1 ? `(${index})` : `(${index}) * ${stride}u`}`;
}

/**
 * Whether the variant keeps resumable invocations' state (prelude: vm_save_u32): the completing
 * replay variant, a record per invocation, of a kernel that calls vm_save_u32 or vm_resume_u32.
 */
export function resumeApplies(kernel: KernelSource, cfg: LinkConfig): boolean {
  return cfg.demand && cfg.replay === true && cfg.replayPerInvocation && cfg.firstPass !== true && kernel.resumes === true;
}

export function link(kernel: KernelSource, cfg: LinkConfig): LinkedSource {
  const [x, y, z] = kernel.workgroupSize;
  // The kernel's directives (enable f16, …) first: WGSL wants them before any declaration.
  // Resumable invocations (prelude: vm_save_u32): the completing replay variant of a kernel that
  // calls them keeps RESUME_STRIDE words an invocation; every other variant folds them away.
  const resume = resumeApplies(kernel, cfg);
  const stride = resume ? RESUME_STRIDE : 1;
  let head = kernel.directives + abiWgsl() + glue(cfg, kernel.usesAtomics) + `const VM_RESUME: bool = ${resume};\n` + SHADERS.prelude + '\n';
  if (kernel.usesAtomics) head += SHADERS['prelude-atomics'] + '\n';
  head += kernel.structWgsl;
  head += `// ---- user code: ${commentSafe(kernel.label)} ----\n`;
  const userFirstLine = lineCount(head);
  // The launched grid may be one slice of the dispatch's grid (demand mode runs
  // a grid in slices whose working sets fit the pool): the linear workgroup
  // index is rebased and split back into the dispatch's (x, y, z), so the
  // kernel sees the ids of one clean run. Every condition before the barriers
  // is uniform (builtins, the uniform block, workgroupUniformLoad).
  const wgSize = x * y * z;
  const common =
    `  let g = vm_u.grid.xyz;\n` +
    // Launched as the whole grid (every declared dispatch): the ids are the builtin ones, no divisions.
    `  var wid = lwid;\n` +
    `  if (vm_u.slice_base != 0u || any(lnwg != g)) { wid = vec3<u32>(lin % g.x, (lin / g.x) % g.y, lin / (g.x * g.y)); }\n` +
    `  let gid = wid * vec3<u32>(${x}u, ${y}u, ${z}u) + lid;\n` +
    `  vm_gid = gid;\n`;
  const head2 =
    `\n// ---- entry point (generated) ----\n` +
    `@compute @workgroup_size(${x}, ${y}, ${z})\n` +
    `fn vm_entry(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) lwid: vec3<u32>,\n` +
    `            @builtin(num_workgroups) lnwg: vec3<u32>, @builtin(local_invocation_index) lidx: u32) {\n` +
    `  let lin = vm_u.slice_base + lwid.x + lnwg.x * (lwid.y + lnwg.y * lwid.z);\n` +
    `  if (lin >= vm_u.grid.w) { return; }\n` +
    `  let replay = VM_REPLAY;\n`;
  const entry = cfg.demand && cfg.replay !== true && cfg.rounds === true && !kernel.workgroupSync
    ? // A transaction by rounds: the word is 0 (not run, or it missed), a round that marked it, or
      // the lost round's mark (run again). Only the probe writes it.
      head2 +
      `  let done_word = ${completionWord(`lin * ${wgSize}u + lidx`)};\n` +
      `  let w = atomicLoad(&vm_log[done_word]);\n` +
      `  let probe = vm_u.mode == VM_MODE_PROBE;\n` +
      `  if (probe) {\n` +
      // Round 0: the runtime leaves its rounds with a lost round's marks: they are forgotten, nothing runs.
      `    if (vm_u.round == 0u) {\n` +
      `      if (w == vm_u.lost_round) { atomicStore(&vm_log[done_word], 0u); }\n` +
      `      return;\n` +
      `    }\n` +
      `    if (w != 0u && w != vm_u.lost_round) { return; }\n` +
      `  } else if (w != vm_u.round) { return; }\n` +
      common +
      `  kernel(VmInvocation(gid, lid, wid, g, lidx));\n` +
      `  if (probe) {\n` +
      `    let clean = !vm_stalled && !vm_missed;\n` +
      `    atomicStore(&vm_log[done_word], select(0u, vm_u.round, clean));\n` +
      `    if (clean) { atomicAdd(&vm_log[VM_REC_READY], 1u); }\n` +
      `  }\n` +
      `}\n`
    : cfg.demand && cfg.replay === true && cfg.firstPass === true
    ? // No completion words: nothing before or after the kernel. Measured on lavapipe (a copy
      // kernel's linked variants on raw bindings, every page resident): llvmpipe runs the code of
      // a branch no invocation takes, masked, so the epilogue's store of a stalled invocation's
      // word cost every invocation — 1.36-1.52x the declared variant with it, 0.97-1.07x without.
      // The sample runs each workgroup's invocation 0 only (never linked for a kernel that synchronizes
      // its workgroup: its barriers need every invocation, and a return on lidx is not uniform).
      head2 + (cfg.sample === true && !kernel.workgroupSync ? `  if (lidx != 0u) { return; }\n` : '') + common +
      `  kernel(VmInvocation(gid, lid, wid, g, lidx));\n}\n`
    : cfg.replayPerInvocation
    ? // One completion word per invocation: no barriers, and a plain store rather than a
      // read-modify-write shared with 31 neighbours. The word is 0 (nothing left to do) or 2 + the
      // page the invocation stalled on, and every dispatch leaves them all 0 (src/fault/demand.ts
      // clears them after one that did not finish). So the first pass over invocations that have not
      // run (vm_u.fresh) reads no word and only a stalled invocation writes one: a pass that stalls
      // nothing — every page resident — costs no completion traffic at all. In later passes a word of
      // 0 skips the invocation; one whose page is still without a frame would only stall there again,
      // so it skips itself too (with no atomics: the runtime carries the page over as missed itself —
      // in every pass of a slice but its first, vm_u.skip_waiting, when words from a failed larger
      // slice remain), and a round that brought in only part of what the stalled invocations need runs
      // just those whose pages came.
      // A resumable kernel's record is the word, a marker (1: a state is saved) and the state
      // (prelude: vm_save_u32). The marker is read where the word is; a stalled invocation writes it
      // when it saved, or in a fresh pass (a slice cut from a larger one may have left one set); one
      // that completes clears it. The word's pass counts the invocations whose state moved on.
      head2 +
      `  let done_word = ${completionWord(`lin * ${wgSize}u + lidx`, stride)};\n` +
      `  let fresh = vm_u.fresh != 0u;\n` +
      `  if (replay && !fresh) {\n` +
      `    let w = atomicLoad(&vm_log[done_word]);\n` +
      `    if (w == 0u || (vm_u.skip_waiting != 0u && (vm_pte(w - 2u) & VM_VALID) == 0u)) { return; }\n` +
      (resume ? `    vm_resume_had = atomicLoad(&vm_log[done_word + 1u]) != 0u;\n` : '') +
      `  }\n` +
      (resume ? `  vm_resume_rec = done_word;\n` : '') +
      common +
      `  kernel(VmInvocation(gid, lid, wid, g, lidx));\n` +
      `  if (replay) {\n` +
      (resume
        ? `    if (vm_stalled) {\n` +
          `      atomicStore(&vm_log[done_word], vm_stall_page + 2u);\n` +
          `      if (vm_resume_saved || fresh) { atomicStore(&vm_log[done_word + 1u], select(0u, 1u, vm_resume_saved)); }\n` +
          `      if (vm_resume_saved) { vm_resume_mark_top(); }\n` +
          `    } else if (!fresh) {\n` +
          `      atomicStore(&vm_log[done_word], 0u);\n` +
          `      if (vm_resume_had) { atomicStore(&vm_log[done_word + 1u], 0u); }\n` +
          `    }\n` +
          `    if (vm_resume_moved) { atomicAdd(&vm_log[VM_REC_ADVANCED], 1u); }\n`
        : `    if (vm_stalled) { atomicStore(&vm_log[done_word], vm_stall_page + 2u); }\n` +
          `    else if (!fresh) { atomicStore(&vm_log[done_word], 0u); }\n`) +
      `  }\n` +
      `}\n`
    : // One bit per workgroup, set while the workgroup has to run again (an invocation stalled); all
      // clear between dispatches, as the words above.
      `\nvar<workgroup> vm_wg_pending: u32;\n` +
      `var<workgroup> vm_wg_stalled: atomic<u32>;` +
      head2 +
      `  let done_word = ${completionWord('lin >> 5u')};\n` +
      `  let done_bit = 1u << (lin & 31u);\n` +
      `  let fresh = vm_u.fresh != 0u;\n` +
      `  if (replay && !fresh) {\n` +
      `    if (lidx == 0u) { vm_wg_pending = atomicLoad(&vm_log[done_word]) & done_bit; }\n` +
      `    if (workgroupUniformLoad(&vm_wg_pending) == 0u) { return; }\n` +
      `  }\n` +
      common +
      `  kernel(VmInvocation(gid, lid, wid, g, lidx));\n` +
      `  if (replay) {\n` +
      `    if (vm_stalled) { atomicStore(&vm_wg_stalled, 1u); }\n` +
      `    workgroupBarrier();\n` +
      `    if (lidx == 0u) {\n` +
      `      if (atomicLoad(&vm_wg_stalled) != 0u) { atomicOr(&vm_log[done_word], done_bit); }\n` +
      `      else if (!fresh) { atomicAnd(&vm_log[done_word], ~done_bit); }\n` +
      `    }\n` +
      `  }\n` +
      `}\n`;
  // Demand variants: a stalled invocation leaves each loop once it can report nothing more (stall-exit.ts).
  const body = cfg.demand && stallExitsApply(kernel) ? withStallExits(kernel.body, cfg.replay === true ? 'uncounted' : 'all') : kernel.body;
  return { code: head + body + entry, userFirstLine, userLineCount: lineCount(kernel.body) };
}
