// Interop: a space's pool windows and device page table bound into a pipeline
// the user builds and submits themselves (issue 18 item 4c) — for users who
// write their own passes and want the runtime's paging around them. The
// runtime does not see those passes, so the user brackets them:
//
//   const io = await space.interop({ read, write })   pages pinned (resident, never evicted
//                                                      or moved), the device page table
//                                                      flushed, written pages Device
//   … the user's passes bind io.bindGroup at a group of their choice, with
//     io.layout in their pipeline layout, and translate with io.wgsl(group)
//   io.end()                                           written pages Device (their host
//                                                      bytes are stale), pins dropped
//
// The layout, written once (INTEROP_BINDING): binding 0 the page table
// (read-only storage, one u32 PTE per page: bit 31 VALID, bits 0–28 the
// frame; bits 30/29 are the runtime's own dispatches' grants — ignore them),
// bindings 1…N the windows (storage, array<u32>; frame f is at word
// (f mod framesPerWindow) · pageSize/4 of window f / framesPerWindow).
//
// This is the one place isolation is handed to the user: the windows hold
// every space's frames of the pool, and nothing checks what a user's pass
// does with them. Keep to the pages you declared (their PTEs are VALID while
// the bracket is open); anything else is yours to get wrong.

import { InvalidArgumentError } from '../errors.ts';
import { pinPages, unpinPages } from '../migrate/pin.ts';
import type { SpaceCore } from '../space/state.ts';
import { rangePages } from './pass.ts';
import type { Range } from './dispatch-types.ts';
import { FLAT_PAGE_TABLE_MAX_PAGES, MAX_NARROW_SPACE_SIZE } from '../options.ts';

/** Binding numbers of the interop bind group layout (space.interop). */
export const INTEROP_BINDING = {
  /** The page table: read-only storage, one u32 PTE per page (bit 31 VALID, bits 0–28 the frame). */
  pageTable: 0,
  /** The first window (storage, `array<u32>`); window w is at binding `firstWindow + w`. */
  firstWindow: 1,
} as const;

/** What `space.interop()` gives: the objects and numbers a user's own pipeline needs to reach the space's pages. */
export interface SpaceInterop {
  /** The bind group layout: binding 0 the page table (read-only storage), 1…windowCount the pool's windows (storage). Put it in your pipeline layout at any group. */
  readonly layout: GPUBindGroupLayout;
  /** The bind group over this space's page table and the pool's windows, for `layout`. */
  readonly bindGroup: GPUBindGroup;
  /** The pool's page size in bytes. */
  readonly pageSize: number;
  /** Frames per window: frame f is in window ⌊f / framesPerWindow⌋. */
  readonly framesPerWindow: number;
  /** Windows bound (bindings 1…windowCount). */
  readonly windowCount: number;
  /**
   * WGSL for a pipeline that binds the group at `group`: the bindings
   * (`hmm_pt`, `hmm_w0`…) and `hmm_load_u32(addr)` / `hmm_store_u32(addr, v)`
   * over virtual addresses (4-byte aligned; a page without VALID reads 0 and
   * ignores stores).
   */
  wgsl(group: number): string;
  /** The passes that use it have been submitted: written pages become device-dirty, the pins go. Idempotent. */
  end(): void;
}

const COMPUTE = 0x4; // GPUShaderStage.COMPUTE

const layouts = new WeakMap<GPUDevice, Map<number, GPUBindGroupLayout>>();

/** The interop layout for pools of `windowCount` windows on `device` (one per device and count). */
export function interopLayout(device: GPUDevice, windowCount: number): GPUBindGroupLayout {
  let byCount = layouts.get(device);
  if (!byCount) layouts.set(device, (byCount = new Map()));
  let l = byCount.get(windowCount);
  if (!l) {
    const entries: GPUBindGroupLayoutEntry[] = [{ binding: INTEROP_BINDING.pageTable, visibility: COMPUTE, buffer: { type: 'read-only-storage' } }];
    for (let w = 0; w < windowCount; w++) entries.push({ binding: INTEROP_BINDING.firstWindow + w, visibility: COMPUTE, buffer: { type: 'storage' } });
    l = device.createBindGroupLayout({ label: `hmm:interop:${windowCount}w`, entries });
    byCount.set(windowCount, l);
  }
  return l;
}

function interopWgsl(group: number, pageShift: number, windowFrames: number, windowCount: number): string {
  let s = `@group(${group}) @binding(${INTEROP_BINDING.pageTable}) var<storage, read> hmm_pt: array<u32>;\n`;
  for (let w = 0; w < windowCount; w++) s += `@group(${group}) @binding(${INTEROP_BINDING.firstWindow + w}) var<storage, read_write> hmm_w${w}: array<u32>;\n`;
  const words = (1 << pageShift) / 4;
  const sw = (body: (w: string) => string, dflt: string) => {
    let out = '  switch (f / ' + windowFrames + 'u) {\n';
    for (let w = 0; w < windowCount; w++) out += `    case ${w}u: { ${body(`hmm_w${w}`)} }\n`;
    return out + `    default: { ${dflt} }\n  }\n`;
  };
  s += `fn hmm_word(addr: u32) -> vec2<u32> {\n  let pte = hmm_pt[addr >> ${pageShift}u];\n  if ((pte & 0x80000000u) == 0u) { return vec2<u32>(0xffffffffu, 0u); }\n`;
  s += `  let f = pte & 0x1fffffffu;\n  return vec2<u32>(f, (f % ${windowFrames}u) * ${words}u + ((addr & ${(1 << pageShift) - 1}u) >> 2u));\n}\n`;
  s += `fn hmm_load_u32(addr: u32) -> u32 {\n  let fw = hmm_word(addr);\n  let f = fw.x;\n  let i = fw.y;\n${sw((w) => `return ${w}[i];`, 'return 0u;')}}\n`;
  s += `fn hmm_store_u32(addr: u32, v: u32) {\n  let fw = hmm_word(addr);\n  let f = fw.x;\n  let i = fw.y;\n${sw((w) => `${w}[i] = v;`, '')}}\n`;
  return s;
}

/** Mark the resident pages in `pages` device-dirty (the user's pass may have written them). */
function markWritten(space: SpaceCore, pages: readonly number[]): void {
  const t = space.table;
  const stamp = t.newDirtyStamp();
  for (const p of pages) if (t.isResident(p)) t.markDeviceDirty(p, stamp);
}

/** Open the bracket (the caller holds the pool lock and has checked the ranges): see the header. */
export async function beginInterop(space: SpaceCore, read: readonly Range[] | undefined, write: readonly Range[] | undefined): Promise<SpaceInterop> {
  // The documented layout is a flat table of u32 entries addressed by u32 addresses.
  if (space.size > MAX_NARROW_SPACE_SIZE || space.gpt.leafShift !== 0) {
    throw new InvalidArgumentError(
      `space "${space.label}".interop: the interop layout is a flat page table over u32 addresses, for spaces of at most ` +
        `${Math.min(MAX_NARROW_SPACE_SIZE, FLAT_PAGE_TABLE_MAX_PAGES * space.pageSize)} bytes (this one has ${space.size}); ` +
        'use a smaller space, or prelude kernels (VmPtr) for larger ones',
    );
  }
  const readSet = rangePages(space, read, 'read');
  const writeSet = rangePages(space, write, 'write');
  const all = [...new Set([...readSet, ...writeSet])].sort((a, b) => a - b);
  const runs: [number, number][] = [];
  for (const p of all) {
    const r = runs[runs.length - 1];
    if (r && r[1] + 1 === p) r[1] = p;
    else runs.push([p, p]);
  }
  const pinned: [number, number][] = [];
  try {
    for (const [a, b] of runs) {
      await pinPages(space, a, b);
      pinned.push([a, b]);
    }
  } catch (e) {
    for (const [a, b] of pinned) unpinPages(space, a, b);
    throw e;
  }
  const pool = space.pool;
  const device = pool.device;
  space.gpt.flush(device.queue);
  const written = [...writeSet].sort((a, b) => a - b);
  markWritten(space, written);
  const layout = interopLayout(device, pool.windowCount);
  const entries: GPUBindGroupEntry[] = [{ binding: INTEROP_BINDING.pageTable, resource: { buffer: space.gpt.buffer } }];
  pool.windows.forEach((w, i) => entries.push({ binding: INTEROP_BINDING.firstWindow + i, resource: { buffer: w } }));
  const bindGroup = device.createBindGroup({ label: `${space.label}:interop`, layout, entries });
  const windowFrames = pool.frames.windowFrames;
  let open = true;
  return Object.freeze({
    layout, bindGroup, pageSize: space.pageSize, framesPerWindow: windowFrames, windowCount: pool.windowCount,
    wgsl: (group: number) => interopWgsl(group, space.pageShift, windowFrames, pool.windowCount),
    end(): void {
      if (!open) return;
      open = false;
      if (!space.destroyed) markWritten(space, written);
      for (const [a, b] of pinned) unpinPages(space, a, b);
    },
  });
}
