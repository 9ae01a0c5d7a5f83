// The shader ABI (src/abi.ts), without a GPU: the WGSL it generates says what
// the JavaScript constants say; the record and uniform layouts hold together
// (the uniform offsets recomputed here by WGSL's own layout rules); and in
// every link configuration the generated block is the only place an ABI name
// is defined — the prelude carries no second copy that could drift.

import { describe, expect, it } from 'vitest';
import {
  abiWgsl, AW_PAGE_SHIFT, BINDING, FAULT_PAGE_SHIFT, BITMAP_BASE, LOG_END, MAP_ACCESSED,
  MAP_COUNT, MAP_MISS_SEEN, MAP_NEEDED, MAP_SPEC_SEEN, MAP_WRITE_SEEN, MAP_WRITTEN, MAX_KERNEL_ARGS, Mode, MODE_NAMES, PTE_FRAME_MASK, PTE_READ,
  PTE_VALID, PTE_WRITE, REC_ABORT, REC_HEADER, REC_READY, REC_ADVANCED, RESUME_SLOTS, RESUME_STRIDE, REC_VIOLATIONS, RUNTIME_STORAGE_BINDINGS, UNIFORM_BYTES, UNIFORM_WORD,
  uniformWords, VIOLATION_ADDR, VIOLATION_ADDR_HI, VIOLATION_GID, VIOLATION_KIND, VIOLATION_KIND_WORD, VIOLATION_LOG_ENTRIES, VIOLATION_STRIDE,
  wgslConstants,
} from '../src/abi.ts';
import { createKernel } from '../src/index.ts';
import { link, type LinkConfig } from '../src/kernel/link.ts';
import { SHADERS } from '../src/kernel/shaders.generated.ts';
import { preludeNames } from '../src/kernel/source-rules.ts';
import { scanWgsl } from '../src/kernel/wgsl-tokens.ts';

/** `const NAME: u32 = LITERAL;` declarations of a WGSL text, by name (every one, duplicates listed). */
function constDecls(wgsl: string): [string, number][] {
  return [...wgsl.matchAll(/\bconst\s+(\w+)\s*:\s*u32\s*=\s*(0x[0-9a-f]+|\d+)u\s*;/g)].map((m) => [m[1]!, Number(m[2]!)]);
}

/** Names declared at module scope (const, var, struct, fn, alias) anywhere in a WGSL text: the token after the keyword. */
function declaredNames(wgsl: string): string[] {
  const t = scanWgsl(wgsl).tokens;
  const out: string[] = [];
  for (let i = 0; i < t.length; i++) {
    if (!['const', 'struct', 'fn', 'alias', 'override'].includes(t[i]!.text) && t[i]!.text !== 'var') continue;
    let j = i + 1;
    if (t[i]!.text === 'var' && t[j]?.text === '<') while (t[j] && t[j]!.text !== '>') j++;
    if (t[i]!.text === 'var' && t[j]?.text === '>') j++;
    if (t[j]?.kind === 'word') out.push(t[j]!.text);
  }
  return out;
}

describe('the generated WGSL says what the JavaScript says', () => {
  const consts = new Map(constDecls(abiWgsl()));

  it('every ABI constant is emitted once, with its value', () => {
    expect(constDecls(abiWgsl()).length).toBe(consts.size);
    expect(consts).toEqual(wgslConstants());
  });

  it('each WGSL name stands for the JavaScript constant of the same meaning', () => {
    const expected: Record<string, number> = {
      VM_VALID: PTE_VALID, VM_R: PTE_READ, VM_W: PTE_WRITE, VM_RW: (PTE_READ | PTE_WRITE) >>> 0, VM_FRAME_MASK: PTE_FRAME_MASK,
      VM_MODE_DECLARED: Mode.Declared, VM_MODE_PROBE: Mode.Probe, VM_MODE_COMMIT: Mode.Commit, VM_MODE_REPLAY: Mode.Replay,
      VM_KIND_RANGE: VIOLATION_KIND['out-of-range'], VM_KIND_NOREAD: VIOLATION_KIND['not-readable'],
      VM_KIND_NOWRITE: VIOLATION_KIND['not-writable'], VM_KIND_MISALIGNED: VIOLATION_KIND.misaligned,
      VM_REC_VIOLATIONS: REC_VIOLATIONS, VM_REC_ABORT: REC_ABORT, VM_REC_READY: REC_READY, VM_REC_ADVANCED: REC_ADVANCED, VM_LOG_HEADER: REC_HEADER,
      VM_RESUME_SLOTS: RESUME_SLOTS, VM_RESUME_STRIDE: RESUME_STRIDE,
      VM_LOG_ENTRIES: VIOLATION_LOG_ENTRIES, VM_LOG_STRIDE: VIOLATION_STRIDE,
      VM_LOG_ADDR: VIOLATION_ADDR, VM_LOG_KIND: VIOLATION_KIND_WORD, VM_LOG_GID: VIOLATION_GID, VM_LOG_ADDR_HI: VIOLATION_ADDR_HI,
      VM_BITMAP_BASE: BITMAP_BASE,
      VM_MAP_ACCESSED: MAP_ACCESSED, VM_MAP_WRITTEN: MAP_WRITTEN, VM_AW_PAGE_SHIFT: AW_PAGE_SHIFT, VM_MAP_MISS_SEEN: MAP_MISS_SEEN,
      VM_MAP_SPEC_SEEN: MAP_SPEC_SEEN, VM_MAP_WRITE_SEEN: MAP_WRITE_SEEN, VM_MAP_NEEDED: MAP_NEEDED, VM_MAP_COUNT: MAP_COUNT, VM_FAULT_PAGE_SHIFT: FAULT_PAGE_SHIFT,
    };
    expect(Object.fromEntries(consts)).toEqual(expected);
  });

  it('the runtime binds what the generated declarations say', () => {
    const w = abiWgsl();
    expect(w).toContain(`@group(0) @binding(${BINDING.uniforms}) var<uniform> vm_u: VmUniforms;`);
    expect(w).toContain(`@group(0) @binding(${BINDING.pageTable}) var<storage, read> vm_pt: array<u32>;`);
    expect(w).toContain(`@group(0) @binding(${BINDING.record}) var<storage, read_write> vm_log: array<atomic<u32>>;`);
    // The storage bindings besides the windows: the page table and the record.
    expect(RUNTIME_STORAGE_BINDINGS).toBe((w.match(/var<storage/g) ?? []).length);
    expect(BINDING.firstWindow).toBe(Math.max(BINDING.uniforms, BINDING.pageTable, BINDING.record) + 1);
  });
});

describe('the layouts hold together', () => {
  it('PTE bits and violation kinds do not overlap', () => {
    for (const b of [PTE_VALID, PTE_READ, PTE_WRITE]) expect(b & PTE_FRAME_MASK).toBe(0);
    expect((PTE_VALID | PTE_READ | PTE_WRITE | PTE_FRAME_MASK) >>> 0).toBe(0xffff_ffff);
    const codes = Object.values(VIOLATION_KIND);
    expect(new Set(codes).size).toBe(codes.length);
    expect(codes).not.toContain(0);
  });

  it('modes and their names line up', () => {
    expect(Object.values(Mode)).toEqual([0, 1, 2, 3]);
    for (const [name, m] of Object.entries(Mode)) expect(MODE_NAMES[m]).toBe(name.toLowerCase());
  });

  it('the record: header, violation records, bitmaps in that order', () => {
    const header = [REC_VIOLATIONS, REC_READY, REC_ADVANCED, REC_ABORT];
    expect(new Set(header).size).toBe(4);
    expect(RESUME_STRIDE).toBe(2 + RESUME_SLOTS); // completion word, marker, the slots
    for (const w of header) expect(w).toBeLessThan(REC_HEADER);
    expect(VIOLATION_GID + 3).toBeLessThanOrEqual(VIOLATION_STRIDE);
    expect(new Set([VIOLATION_ADDR, VIOLATION_KIND_WORD, VIOLATION_GID, VIOLATION_GID + 1, VIOLATION_GID + 2]).size).toBe(5);
    expect(LOG_END).toBe(REC_HEADER + VIOLATION_LOG_ENTRIES * VIOLATION_STRIDE);
    expect(BITMAP_BASE).toBe(LOG_END);
    expect([MAP_ACCESSED, MAP_WRITTEN, MAP_MISS_SEEN, MAP_SPEC_SEEN, MAP_WRITE_SEEN, MAP_NEEDED].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(MAP_COUNT).toBe(6);
    // The accessed and written bitmaps are the first two, and one map of two bits a page over
    // their words: the bit of a page is 2 (p mod 16) + map, so accessed is 0 and written 1, and
    // 16 pages a word fill the two maps' 2 × bitmap_words words exactly (src/fault/records.ts).
    expect([MAP_ACCESSED, MAP_WRITTEN]).toEqual([0, 1]);
    expect(2 << AW_PAGE_SHIFT).toBe(32);
    // The four fault maps follow as one map of four bits a page (bit 4 (p mod 8) + map - MISS_SEEN).
    expect([MAP_MISS_SEEN, MAP_SPEC_SEEN, MAP_WRITE_SEEN, MAP_NEEDED]).toEqual([2, 3, 4, 5]);
    expect(4 << FAULT_PAGE_SHIFT).toBe(32);
  });

  it('VmUniforms: the offsets WGSL gives its fields are the ones uniformWords writes', () => {
    const body = /struct VmUniforms \{([^}]*)\}/.exec(abiWgsl())![1]!;
    const fields = [...body.matchAll(/^\s*(\w+)\s*:\s*(.+),\s*$/gm)].map((m) => [m[1]!, m[2]!.trim()] as const);
    expect(fields.map(([n]) => n)).toEqual(['num_pages', 'mode', 'bitmap_words', 'slice_base', 'skip_waiting', 'fresh', 'round', 'lost_round', 'grid', 'args']);
    // WGSL's layout rules for the types used: u32 align 4 size 4; vec4<u32> align 16 size 16;
    // array<vec4<u32>, N> align 16 size 16N; the struct rounds up to its largest alignment.
    let at = 0;
    let maxAlign = 4;
    for (const [name, type] of fields) {
      const arr = /^array<vec4<u32>,\s*(\d+)>$/.exec(type);
      const [align, size] = type === 'u32' ? [4, 4] : type === 'vec4<u32>' ? [16, 16] : arr ? [16, 16 * Number(arr[1])] : [NaN, NaN];
      expect(align, `${name}: ${type}`).not.toBeNaN();
      at = Math.ceil(at / align) * align;
      maxAlign = Math.max(maxAlign, align);
      expect(UNIFORM_WORD[name as keyof typeof UNIFORM_WORD] * 4, name).toBe(at);
      if (name === 'args') expect(size).toBe(MAX_KERNEL_ARGS * 4);
      at += size;
    }
    expect(UNIFORM_BYTES).toBe(Math.ceil(at / maxAlign) * maxAlign);

    const args = Uint32Array.from({ length: MAX_KERNEL_ARGS }, (_, i) => 1000 + i);
    const u = uniformWords({ numPages: 11, mode: Mode.Commit, bitmapWords: 13, sliceBase: 17, grid: [19, 23, 29], sliceEnd: 31, skipWaiting: true }, args);
    expect(u.byteLength).toBe(UNIFORM_BYTES);
    expect(u[UNIFORM_WORD.num_pages]).toBe(11);
    expect(u[UNIFORM_WORD.mode]).toBe(Mode.Commit);
    expect(u[UNIFORM_WORD.bitmap_words]).toBe(13);
    expect(u[UNIFORM_WORD.slice_base]).toBe(17);
    expect(u[UNIFORM_WORD.skip_waiting]).toBe(1);
    expect([...u.subarray(UNIFORM_WORD.grid, UNIFORM_WORD.grid + 4)]).toEqual([19, 23, 29, 31]);
    expect([...u.subarray(UNIFORM_WORD.args, UNIFORM_WORD.args + MAX_KERNEL_ARGS)]).toEqual([...args]);
  });
});

describe('one definition: the linked module defines each ABI name once, in the generated block', () => {
  const abiNames = [...wgslConstants().keys(), 'VmUniforms', 'vm_u', 'vm_pt', 'vm_log'];

  it('the prelude files define none of them and declare no binding', () => {
    for (const [file, text] of Object.entries(SHADERS)) {
      const declared = declaredNames(text);
      expect(abiNames.filter((n) => declared.includes(n)), `${file}.wgsl`).toEqual([]);
      expect(scanWgsl(text).tokens.some((t) => t.text === 'binding'), `${file}.wgsl declares a binding`).toBe(false);
    }
  });

  it('in every link configuration, each module-scope name is declared once', () => {
    for (const windowCount of [1, 3]) {
      for (const atomics of [false, true]) {
        for (const demand of [false, true]) {
          for (const replayPerInvocation of [false, true]) {
            for (const accessCounters of [false, true]) {
              const cfg: LinkConfig = { pageShift: 16, windowCount, windowWordShift: 20, demand, replayPerInvocation, accessCounters };
              const k = createKernel({ code: atomics ? 'fn kernel(inv: VmInvocation) { vm_atomic_or_u32(0u, 1u); }' : 'fn kernel(inv: VmInvocation) {}' });
              const code = link(k, cfg).code;
              const names = declaredNames(code);
              const what = JSON.stringify({ ...cfg, atomics });
              for (const n of abiNames) expect(names.filter((x) => x === n), `${n} in ${what}`).toHaveLength(1);
              expect(code.indexOf(abiWgsl()), what).toBeGreaterThanOrEqual(0);
            }
          }
        }
      }
    }
  });

  it('every generated name is in the prelude namespace, and kernels may not take it', () => {
    const reserved = preludeNames();
    for (const n of abiNames) {
      expect(n).toMatch(/^(vm_|VM_|Vm)/);
      expect(reserved.has(n), n).toBe(true);
    }
  });
});
