// The shader ABI: every number the runtime's JavaScript and the WGSL prelude
// must agree on — the PTE bits, the pass modes, the violation kinds, the fault
// entry flags, the record buffer's layout, the uniform header and the binding
// numbers — written once, here. The JavaScript side imports the constants;
// the WGSL side gets them from `abiWgsl()`, which src/kernel/link.ts puts in
// front of the prelude, so shaders/prelude.wgsl defines none of them (it only
// explains them). A layout change is one edit in this file, and the two sides
// cannot drift apart (test/abi.test.ts, test/abi.dawn.test.ts).
//
// These are sizes of an interface, not tunables: the tunables are in
// options.ts. Every WGSL name here is in the prelude's namespace (VM_, Vm,
// vm_), which kernels may not name (src/kernel/source-rules.ts).

import { assert, fail } from './assert.ts';
import type { ViolationKind } from './errors.ts';

// ---- device page table entries (src/device/gpu-page-table.ts computes them) ----

/** The page has a frame (is resident). The prelude uses an entry only when VALID. */
export const PTE_VALID = 0x8000_0000;
/** The current dispatch may read the page (declared mode; granted per dispatch). */
export const PTE_READ = 0x4000_0000;
/** The current dispatch may write the page (declared mode, and a demand commit's snapshot). */
export const PTE_WRITE = 0x2000_0000;
/** Bits 0–28: the frame number in the pool. */
export const PTE_FRAME_MASK = 0x1fff_ffff;

// ---- pass modes (the uniform `mode`; src/fault/demand.ts has the protocol) ----

/** How a pass handles a miss and a store. */
export const Mode = { Declared: 0, Probe: 1, Commit: 2, Replay: 3 } as const;
export type Mode = (typeof Mode)[keyof typeof Mode];
/** Each mode's name in 'pass' events, by its number. */
export const MODE_NAMES = ['declared', 'probe', 'commit', 'replay'] as const satisfies { readonly [M in Mode]: string };

// ---- violation kinds (a violation record's `kind` word) ----

/** The code the prelude records for each kind; 0 is no kind. */
export const VIOLATION_KIND = { 'out-of-range': 1, 'not-readable': 2, 'not-writable': 3, misaligned: 4 } as const satisfies Record<ViolationKind, number>;

// ---- the record buffer (binding `vm_log`, u32 words; src/fault/records.ts decodes it) ----

/** Header word: violations recorded (the count goes on past VIOLATION_LOG_ENTRIES). */
export const REC_VIOLATIONS = 0;
/** Header word: a COMMIT pass missed or stored outside its snapshot. */
export const REC_ABORT = 3;
/**
 * Header word: invocations of a REPLAY pass whose saved state changed (vm_save_u32 stored a value
 * other than the one it held): resumable invocations that got further, though they stalled again.
 */
export const REC_ADVANCED = 2;
/** Header word: how many invocations a PROBE of a transaction run by rounds found clean (its commit runs them). */
export const REC_READY = 1;
/** Words in the header. */
export const REC_HEADER = 4;
/**
 * State words a resumable invocation keeps between the passes of a replay (vm_save_u32,
 * vm_resume_u32: slots 0 .. RESUME_SLOTS − 1). Its record is then RESUME_STRIDE words: the
 * completion word, a marker (1: a state is saved), the slots.
 */
export const RESUME_SLOTS = 4;
export const RESUME_STRIDE = 2 + RESUME_SLOTS;
/** Violations recorded in full per pass; further ones are only counted. */
export const VIOLATION_LOG_ENTRIES = 32;
/** Words per violation record: addr, kind, invocation x, y, z, the address's high word, then 2 unused. */
export const VIOLATION_STRIDE = 8;
/** A violation record's word: the address. */
export const VIOLATION_ADDR = 0;
/** A violation record's word: the VIOLATION_KIND code. */
export const VIOLATION_KIND_WORD = 1;
/** A violation record's words: the invocation's global id x, y, z (three words from here). */
export const VIOLATION_GID = 2;
/**
 * A violation record's word: the address's high word (spaces over 4 GiB, and a VmPtr's high
 * word in any space); 0 otherwise. The address is `lo + hi · 2^32`.
 */
export const VIOLATION_ADDR_HI = 5;
/** The word after the violation records: what a declared pass clears and reads back. */
export const LOG_END = REC_HEADER + VIOLATION_LOG_ENTRIES * VIOLATION_STRIDE;
/**
 * The first page bitmap's word; the bitmaps follow one another, `bitmap_words`
 * words each. A demand pass's faults are its bitmaps: one bit per page, so a
 * pass reports every page it missed, however many (a bounded list of fault
 * entries once made scattered kernels run a round per 256 pages).
 */
export const BITMAP_BASE = LOG_END;
/**
 * Bitmap: pages the pass touched (CLOCK's reference bits; access counters).
 * It and {@link MAP_WRITTEN} are one map of two bits per page over their
 * 2 × `bitmap_words` words: page p's accessed bit is bit 2·(p mod 16) of word
 * `BITMAP_BASE + ⌊p / 16⌋` ({@link AW_PAGE_SHIFT}), its written bit the next one.
 * A page's first access in a streak then tests both with one atomic load and
 * sets what is missing with one atomic OR (measured on lavapipe: the `resident`
 * kernel's translation 1.95–2.00 → 1.63–1.65 of raw against two bitmaps).
 */
export const MAP_ACCESSED = 0;
/** Bitmap: pages a store or atomic of the pass landed on (paired with {@link MAP_ACCESSED}). */
export const MAP_WRITTEN = 1;
/** log2 of the pages per word of the accessed-written map (two bits a page). */
export const AW_PAGE_SHIFT = 4;
/** Bitmap: pages an invocation needed and found without a frame (it stalled there). */
export const MAP_MISS_SEEN = 2;
/** Bitmap: pages a stalled invocation went on to miss — hints, their addresses may be garbage. */
export const MAP_SPEC_SEEN = 3;
/** Bitmap: pages a store or atomic wanted to write without WRITE (write intent: PROBE and COMMIT). */
export const MAP_WRITE_SEEN = 4;
/**
 * Bitmap (REPLAY): pages an invocation that stalled needs when it runs again —
 * the last VM_RING pages it touched before the stall and every page it touched
 * after it. Pages only finished invocations touched are not in it.
 */
export const MAP_NEEDED = 5;
/** Bitmaps in all; the replay completion record follows them. */
export const MAP_COUNT = 6;
/**
 * log2 of the pages per word of the fault map: the miss-seen, spec-seen,
 * write-seen and needed bitmaps ({@link MAP_MISS_SEEN} … {@link MAP_NEEDED})
 * are one map of four bits a page over their 4 × `bitmap_words` words, as the
 * accessed and written ones are a map of two: page p's bit of map m is bit
 * 4·(p mod 8) + (m − MAP_MISS_SEEN) of word `BITMAP_BASE + 2 · bitmap_words + ⌊p / 8⌋`.
 * A stalled access sets a page's hint and needed bits together, and a stall its
 * page's miss and needed bits: one atomic load and at most one atomic OR, where
 * separate bitmaps took one each.
 */
export const FAULT_PAGE_SHIFT = 3;

// ---- the uniform block (binding `vm_u`: struct VmUniforms) ----

/** Kernel arguments: u32 words passed in the uniform block (vm_arg_u32). */
export const MAX_KERNEL_ARGS = 64;

interface UniformField {
  readonly name: string;
  /** The WGSL type; each is u32, vec4<u32> or an array of vec4<u32>, whose layout `layout` below computes. */
  readonly type: 'u32' | 'vec4<u32>' | `array<vec4<u32>, ${number}>`;
  readonly words: number;
  readonly doc?: string;
}

/** VmUniforms, in field order. */
const UNIFORM_FIELDS = [
  { name: 'num_pages', type: 'u32', words: 1 },
  { name: 'mode', type: 'u32', words: 1, doc: 'VM_MODE_*: how a miss and a store are handled (src/fault/demand.ts has the protocol).' },
  { name: 'bitmap_words', type: 'u32', words: 1, doc: 'u32 words per page bitmap in the record buffer.' },
  { name: 'slice_base', type: 'u32', words: 1, doc: 'Linear index of the first workgroup launched by this pass (a slice of the grid).' },
  {
    name: 'skip_waiting', type: 'u32', words: 1,
    doc: 'REPLAY per invocation, 1: an invocation whose completion word names a page still without a frame skips itself (the runtime knows that page and carries it as missed). 0 in the first pass of a slice, when earlier slices may have left such words the runtime does not know.',
  },
  {
    name: 'fresh', type: 'u32', words: 1,
    doc: "REPLAY, 1: the first pass over invocations that have not run in this dispatch (their completion words are all 0, as every dispatch leaves them): each runs, and only a stalled one writes its word. 0: a word of 0 means nothing left to do (the invocation skips itself); the others run and write 0 or the page they stalled on.",
  },
  {
    name: 'round', type: 'u32', words: 1,
    doc: 'A transaction run by rounds (src/fault/demand.ts #runRounds): the round this pass belongs to. Its probe marks each invocation that ran without a miss with it (a completion word per invocation), and its commit runs only those.',
  },
  {
    name: 'lost_round', type: 'u32', words: 1,
    doc: 'A transaction run by rounds: the round whose commit was aborted (0 for none): its marks are not done, and its invocations run again.',
  },
  { name: 'grid', type: 'vec4<u32>', words: 4, doc: "The dispatch's workgroup counts (x, y, z) and, in w, the end of this pass's slice." },
  // Uniform arrays need a 16-byte stride: four argument words per element.
  { name: 'args', type: `array<vec4<u32>, ${MAX_KERNEL_ARGS / 4}>`, words: MAX_KERNEL_ARGS, doc: 'The dispatch\'s argument words (vm_arg_u32).' },
] as const satisfies readonly UniformField[];

type UniformName = (typeof UNIFORM_FIELDS)[number]['name'];

/** Offsets (in u32 words) of VmUniforms' fields, by WGSL's layout rules: u32 aligns to 4 bytes, vec4 and arrays of it to 16. */
function layout(fields: readonly UniformField[]): { offsets: Record<string, number>; words: number } {
  const offsets: Record<string, number> = {};
  let at = 0;
  for (const f of fields) {
    const align = f.type === 'u32' ? 1 : 4;
    at = Math.ceil(at / align) * align;
    offsets[f.name] = at;
    at += f.words;
  }
  // A struct's size rounds up to its largest alignment (16 bytes here).
  return { offsets, words: Math.ceil(at / 4) * 4 };
}

const UNIFORM_LAYOUT = layout(UNIFORM_FIELDS);
/** Word offsets of VmUniforms' fields. */
export const UNIFORM_WORD = UNIFORM_LAYOUT.offsets as Readonly<Record<UniformName, number>>;
/** Bytes of the uniform block: the header, then MAX_KERNEL_ARGS argument words. */
export const UNIFORM_BYTES = UNIFORM_LAYOUT.words * 4;

/** What a pass tells the prelude, besides its arguments. */
export interface UniformHeader {
  readonly numPages: number;
  readonly mode: Mode;
  readonly bitmapWords: number;
  readonly sliceBase: number;
  /** The dispatch's workgroup counts. */
  readonly grid: readonly [number, number, number];
  /** One past the last linear workgroup this pass runs. */
  readonly sliceEnd: number;
  /** REPLAY per invocation: stalled invocations whose page is still absent skip themselves. */
  readonly skipWaiting?: boolean;
  /** REPLAY: the first pass over invocations that have not run yet: all run, their completion words are not read. */
  readonly fresh?: boolean;
  /** A transaction run by rounds: the pass's round, and the round whose commit was lost (0: none). */
  readonly round?: number;
  readonly lostRound?: number;
}

/** The uniform block's words for one pass: the header and the dispatch's MAX_KERNEL_ARGS argument words. */
export function uniformWords(h: UniformHeader, args: Uint32Array): Uint32Array {
  assert(args.length === MAX_KERNEL_ARGS, 'argument words: MAX_KERNEL_ARGS of them');
  const u = new Uint32Array(UNIFORM_BYTES / 4);
  u[UNIFORM_WORD.num_pages] = h.numPages;
  u[UNIFORM_WORD.mode] = h.mode;
  u[UNIFORM_WORD.bitmap_words] = h.bitmapWords;
  u[UNIFORM_WORD.slice_base] = h.sliceBase;
  u[UNIFORM_WORD.skip_waiting] = h.skipWaiting === true ? 1 : 0;
  u[UNIFORM_WORD.fresh] = h.fresh === true ? 1 : 0;
  u[UNIFORM_WORD.round] = h.round ?? 0;
  u[UNIFORM_WORD.lost_round] = h.lostRound ?? 0;
  u.set([h.grid[0], h.grid[1], h.grid[2], h.sliceEnd], UNIFORM_WORD.grid);
  u.set(args, UNIFORM_WORD.args);
  return u;
}

// ---- bindings (group 0) ----

/** Binding numbers: the runtime's three, then the pool's windows from `firstWindow` on. */
export const BINDING = { uniforms: 0, pageTable: 1, record: 2, firstWindow: 3 } as const;
/** Storage bindings the runtime uses besides the windows: the page table and the record. (The uniform block is not a storage binding.) */
export const RUNTIME_STORAGE_BINDINGS = 2;

// ---- the WGSL side ----

/** Every ABI constant WGSL sees, by section: its name, its value (the JavaScript constant above), and a note. */
const WGSL_CONSTANTS: readonly (readonly [section: string, entries: readonly (readonly [name: string, value: number, note?: string])[]])[] = [
  ['PTE bits: bit 31 VALID, bit 30 READ, bit 29 WRITE, bits 0..28 frame', [
    ['VM_VALID', PTE_VALID],
    ['VM_R', PTE_READ],
    ['VM_W', PTE_WRITE],
    ['VM_RW', (PTE_READ | PTE_WRITE) >>> 0],
    ['VM_FRAME_MASK', PTE_FRAME_MASK],
  ]],
  ['pass modes (vm_u.mode)', [
    ['VM_MODE_DECLARED', Mode.Declared],
    ['VM_MODE_PROBE', Mode.Probe],
    ['VM_MODE_COMMIT', Mode.Commit],
    ['VM_MODE_REPLAY', Mode.Replay],
  ]],
  ['violation kinds', [
    ['VM_KIND_RANGE', VIOLATION_KIND['out-of-range']],
    ['VM_KIND_NOREAD', VIOLATION_KIND['not-readable']],
    ['VM_KIND_NOWRITE', VIOLATION_KIND['not-writable']],
    ['VM_KIND_MISALIGNED', VIOLATION_KIND.misaligned],
  ]],
  ['record buffer (vm_log) words', [
    ['VM_REC_VIOLATIONS', REC_VIOLATIONS, 'header: violation count'],
    ['VM_REC_ABORT', REC_ABORT, 'header: abort flag'],
    ['VM_REC_READY', REC_READY, 'header: clean invocations of a probe by rounds'],
    ['VM_REC_ADVANCED', REC_ADVANCED, 'header: resumable invocations of a replay pass whose saved state changed'],
    ['VM_RESUME_SLOTS', RESUME_SLOTS, 'state words of a resumable invocation (vm_save_u32)'],
    ['VM_RESUME_STRIDE', RESUME_STRIDE, 'record words of a resumable invocation: completion word, marker, slots'],
    ['VM_LOG_HEADER', REC_HEADER],
    ['VM_LOG_ENTRIES', VIOLATION_LOG_ENTRIES],
    ['VM_LOG_STRIDE', VIOLATION_STRIDE],
    ['VM_LOG_ADDR', VIOLATION_ADDR],
    ['VM_LOG_KIND', VIOLATION_KIND_WORD],
    ['VM_LOG_GID', VIOLATION_GID],
    ['VM_LOG_ADDR_HI', VIOLATION_ADDR_HI],
    ['VM_BITMAP_BASE', BITMAP_BASE],
    ['VM_MAP_ACCESSED', MAP_ACCESSED],
    ['VM_MAP_WRITTEN', MAP_WRITTEN],
    ['VM_AW_PAGE_SHIFT', AW_PAGE_SHIFT, 'accessed-written map: 2 bits a page, 16 pages a word'],
    ['VM_MAP_MISS_SEEN', MAP_MISS_SEEN],
    ['VM_MAP_SPEC_SEEN', MAP_SPEC_SEEN],
    ['VM_MAP_WRITE_SEEN', MAP_WRITE_SEEN],
    ['VM_MAP_NEEDED', MAP_NEEDED],
    ['VM_MAP_COUNT', MAP_COUNT],
    ['VM_FAULT_PAGE_SHIFT', FAULT_PAGE_SHIFT, 'fault map (miss, spec, write, needed): 4 bits a page, 8 pages a word'],
  ]],
];

/** Every ABI constant's WGSL name and value (for the tests). */
export function wgslConstants(): ReadonlyMap<string, number> {
  return new Map(WGSL_CONSTANTS.flatMap(([, entries]) => entries.map(([name, value]) => [name, value] as const)));
}

function u32Literal(v: number): string {
  if (!(Number.isInteger(v) && v >= 0 && v < 2 ** 32)) fail(`ABI constant ${v} is not a u32`);
  return v >= 0x1000_0000 ? `0x${v.toString(16)}u` : `${v}u`;
}

function emit(): string {
  let s = '// ---- shader ABI (generated from src/abi.ts; do not redefine) ----\n';
  for (const [section, entries] of WGSL_CONSTANTS) {
    s += `// ${section}\n`;
    for (const [name, value, note] of entries) {
      if (!(/^VM_[A-Z0-9_]+$/.test(name))) fail(`ABI constant ${name} is outside the prelude's namespace`);
      s += `const ${name}: u32 = ${u32Literal(value)};${note ? ` // ${note}` : ''}\n`;
    }
  }
  s += '\nstruct VmUniforms {\n';
  for (const f of UNIFORM_FIELDS as readonly UniformField[]) {
    if (f.doc !== undefined) s += `  // ${f.doc}\n`;
    s += `  ${f.name}: ${f.type},\n`;
  }
  s += '}\n\n';
  s += `@group(0) @binding(${BINDING.uniforms}) var<uniform> vm_u: VmUniforms;\n`;
  s += `@group(0) @binding(${BINDING.pageTable}) var<storage, read> vm_pt: array<u32>;\n`;
  s += `@group(0) @binding(${BINDING.record}) var<storage, read_write> vm_log: array<atomic<u32>>;\n`;
  return s;
}

const ABI_WGSL = emit();

/** The WGSL declarations of the ABI: its constants, struct VmUniforms and the runtime's three bindings. */
export function abiWgsl(): string {
  return ABI_WGSL;
}
