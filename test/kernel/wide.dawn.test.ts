// 64-bit addresses (spaces over 4 GiB) and the two-level device page table,
// as the prelude translates them on a real WGSL compiler: a kernel linked
// with the wide configuration runs one pass against a page table that
// src/device/gpu-page-table.ts builds, with the pool's window and the record
// buffer bound by hand, so addresses above 4 GiB and above 32 GiB are reached
// without a space's host memory behind them. What it must show: loads and
// stores land on the frame the entry names; a carry crosses 4 GiB; an address
// whose high word no page index can hold, or past the space, is out of range
// and never aliases a page (the 64-bit isolation argument); a region without
// a leaf reads as "no frame"; violations keep the full address; demand misses
// land on the right page bits. The same through createSpace is in
// test/api/large-space.dawn.test.ts.

import { describe, expect } from 'vitest';
import { testWithDevice } from '../helpers/gpu.ts';
import { Mode, uniformWords, MAX_KERNEL_ARGS, PTE_VALID } from '../../src/abi.ts';
import { GpuPageTable } from '../../src/device/gpu-page-table.ts';
import { BufferUsage, MapMode } from '../../src/gpu/constants.ts';
import { createKernel, type Kernel } from '../../src/kernel/kernel.ts';
import { link, type LinkConfig } from '../../src/kernel/link.ts';
import { layoutFor } from '../../src/kernel/pipelines.ts';
import { bitmapWords, decodeFaults, decodeViolations, recordBytes } from '../../src/fault/records.ts';
import { NO_FRAME } from '../../src/space/page-table.ts';
import type { DeviceContext } from '../helpers/gpu.ts';

const GiB = 2 ** 30;
const PAGE_SHIFT = 16;
const PAGE = 1 << PAGE_SHIFT;
/** A 64 GiB space of 64 KiB pages: 2^20 pages. */
const PAGES = 2 ** 20;
const LEAF_SHIFT = 10;
const FRAMES = 64;
const WINDOW_WORDS = (FRAMES * PAGE) / 4;

const wideConfig = (demand: boolean): LinkConfig => ({
  pageShift: PAGE_SHIFT, windowCount: 1, windowWordShift: Math.log2(WINDOW_WORDS), demand, replayPerInvocation: true,
  accessCounters: false, wideAddresses: true, pageTableLeafShift: LEAF_SHIFT,
});

/** Words of a 64-bit address for vm_arg_ptr: low, high. */
const ptrArgs = (addr: number) => [addr % 2 ** 32, Math.floor(addr / 2 ** 32)];

interface Harness {
  readonly frame: Uint32Array;
  readonly gpt: GpuPageTable;
  readonly window: GPUBuffer;
  /** Give page p frame f (its entry goes out at the next flush). */
  map(p: number, f: number): void;
  /** One pass of `kernel` (one workgroup of one invocation): the record it wrote. */
  run(kernel: Kernel, cfg: LinkConfig, mode: Mode, args: number[]): Promise<Uint32Array>;
  /** The word at byte `offset` of frame f. */
  word(f: number, offset: number): Promise<number>;
}

async function harness(ctx: DeviceContext, opts: { leafShift?: number } = { leafShift: LEAF_SHIFT }): Promise<Harness> {
  const { device, track } = ctx;
  const frame = new Uint32Array(PAGES).fill(NO_FRAME);
  const gpt = new GpuPageTable(device, frame, 'wide', opts);
  const window = track(device.createBuffer({ size: WINDOW_WORDS * 4, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST }));
  const uniforms = track(device.createBuffer({ size: uniformWords({ numPages: 0, mode: Mode.Declared, bitmapWords: 0, sliceBase: 0, grid: [1, 1, 1], sliceEnd: 1 }, new Uint32Array(MAX_KERNEL_ARGS)).byteLength, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST }));
  const recBytes = recordBytes(PAGES, 0);
  const record = track(device.createBuffer({ size: recBytes, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST }));
  const read = async (src: GPUBuffer, offset: number, bytes: number) => {
    const back = device.createBuffer({ size: bytes, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
    const enc = device.createCommandEncoder();
    enc.copyBufferToBuffer(src, offset, back, 0, bytes);
    device.queue.submit([enc.finish()]);
    await back.mapAsync(MapMode.READ);
    const out = new Uint32Array(back.getMappedRange().slice(0));
    back.destroy();
    return out;
  };
  return {
    frame, gpt, window,
    map(p, f) {
      frame[p] = f;
      gpt.changed(p);
    },
    async run(kernel, cfg, mode, args) {
      const all = new Uint32Array(MAX_KERNEL_ARGS);
      all.set(args);
      device.queue.writeBuffer(uniforms, 0, uniformWords({ numPages: PAGES, mode, bitmapWords: bitmapWords(PAGES), sliceBase: 0, grid: [1, 1, 1], sliceEnd: 1 }, all));
      device.queue.writeBuffer(record, 0, new Uint8Array(recBytes));
      gpt.flush(device.queue);
      const module = device.createShaderModule({ code: link(kernel, cfg).code });
      const errors = (await module.getCompilationInfo()).messages.filter((m) => m.type === 'error');
      expect(errors.map((m) => `${m.lineNum}: ${m.message}`)).toEqual([]);
      const { bgl, pl } = layoutFor(device, 1);
      const pipeline = await device.createComputePipelineAsync({ layout: pl, compute: { module, entryPoint: 'vm_entry' } });
      const bind = device.createBindGroup({
        layout: bgl,
        entries: [
          { binding: 0, resource: { buffer: uniforms } },
          { binding: 1, resource: { buffer: gpt.buffer } },
          { binding: 2, resource: { buffer: record } },
          { binding: 3, resource: { buffer: window } },
        ],
      });
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(1);
      pass.end();
      device.queue.submit([enc.finish()]);
      return read(record, 0, recBytes);
    },
    async word(f, offset) {
      return (await read(window, f * PAGE + offset, 4))[0]!;
    },
  };
}

const one = (code: string) => createKernel({ label: 'wide', workgroupSize: 1, code });

describe('64-bit addresses and the two-level page table (prelude level)', () => {
  testWithDevice('loads and stores above 4 GiB and above 32 GiB land on their frames; a carry crosses 4 GiB', async (ctx) => {
    const h = await harness(ctx);
    const pages = { zero: 0, below4: 4 * GiB / PAGE - 1, at4: 4 * GiB / PAGE, at5: 5 * GiB / PAGE, at40: 40 * GiB / PAGE };
    const frames = { zero: 0, below4: 1, at4: 2, at5: 3, at40: 4 };
    for (const k of Object.keys(pages) as (keyof typeof pages)[]) h.map(pages[k], frames[k]);
    const all = Uint32Array.from(Object.values(pages)).sort();
    h.gpt.grant(new Uint32Array(0), all);
    // Seed the words the kernel reads, on the frames.
    ctx.device.queue.writeBuffer(h.window, frames.at5 * PAGE + 8, Uint32Array.of(41));
    ctx.device.queue.writeBuffer(h.window, frames.zero * PAGE + 4, Uint32Array.of(77));
    const k = one(/* wgsl */ `
fn kernel(inv: VmInvocation) {
  let a = vm_arg_ptr(0u);
  let b = vm_arg_ptr(2u);
  let c = vm_arg_ptr(4u);
  vm_ptr_store_u32(b, vm_ptr_load_u32(a) + 1u);
  vm_ptr_store_u32(c, 0xc0ffeeu);
  vm_ptr_store_u32(vm_ptr_add(c, 4u), 0xbeefu);
  vm_ptr_store_vec4u(vm_ptr_add(b, 16u), vec4<u32>(1u, 2u, 3u, 4u));
  vm_store_u32(0u, vm_load_u32(4u) + vm_ptr_load_vec4u(vm_ptr_add(b, 16u)).w);
  vm_ptr_atomic_add_u32(a, 100u);
}`);
    const rec = await h.run(k, wideConfig(false), Mode.Declared, [...ptrArgs(5 * GiB + 8), ...ptrArgs(40 * GiB + 16), ...ptrArgs(4 * GiB - 4)]);
    expect(decodeViolations(rec)).toEqual([]);
    expect(await h.word(frames.at40, 16)).toBe(42);
    expect(await h.word(frames.at40, 32 + 12)).toBe(4);
    expect(await h.word(frames.below4, PAGE - 4)).toBe(0xc0ffee);
    expect(await h.word(frames.at4, 0)).toBe(0xbeef);
    expect(await h.word(frames.zero, 0)).toBe(81);
    expect(await h.word(frames.at5, 8)).toBe(141);
    // Five regions touched, five leaves: the other 1019 regions share the zero leaf.
    expect(h.gpt.leafCount).toBe(5);
  });

  testWithDevice('addresses no page can hold are out of range, with their full address, and never alias a page', async (ctx) => {
    const h = await harness(ctx);
    h.map(0, 0);
    const region = 40 * GiB / PAGE;
    h.map(region, 1);
    h.gpt.grant(new Uint32Array(0), Uint32Array.of(0, region));
    ctx.device.queue.writeBuffer(h.window, 0, Uint32Array.of(5));
    const k = one(/* wgsl */ `
fn kernel(inv: VmInvocation) {
  // High word 2^16: shifted into a page index it would be page 0 again.
  vm_ptr_store_u32(vm_ptr(1u << 16u, 0u), 7u);
  // 64 GiB: one past the space.
  vm_ptr_store_u32(vm_ptr(16u, 0u), 8u);
  // The largest address there is, and what a carry past 2^64 leaves (page 0: inside the space).
  vm_ptr_store_u32(vm_ptr(0xffffffffu, 0xfffffffcu), 9u);
  vm_ptr_store_u32(vm_ptr_add(vm_ptr(0xffffffffu, 0xfffffffcu), 8u), vm_ptr_load_u32(vm_ptr(0u, 0u)) + 1u);
  // A region without a leaf (20 GiB), and a page without a frame in a region with one.
  vm_ptr_store_u32(vm_ptr(5u, 0u), vm_ptr_load_u32(vm_ptr(5u, 0u)) + 1u);
  vm_ptr_store_u32(vm_ptr(10u, 0x10000u), 1u);
}`);
    const rec = await h.run(k, wideConfig(false), Mode.Declared, []);
    const v = decodeViolations(rec).map((x) => [x.kind, x.addr]);
    expect(v).toEqual([
      ['out-of-range', 2 ** 48],
      ['out-of-range', 64 * GiB],
      ['out-of-range', 2 ** 64 - 4],
      ['not-readable', 20 * GiB],
      ['not-writable', 20 * GiB],
      ['not-writable', 40 * GiB + PAGE],
    ]);
    // Page 0 holds only the wrapped store (5 + 1 at byte 4); nothing else landed anywhere.
    expect(await h.word(0, 0)).toBe(5);
    expect(await h.word(0, 4)).toBe(6);
    expect(await h.word(1, 0)).toBe(0);
  });

  testWithDevice('a table that grows keeps the leaves it had: 40 regions, two flushes, every word read back', async (ctx) => {
    const h = await harness(ctx);
    const pages = Array.from({ length: 20 }, (_, i) => (i * 50 + 3) << LEAF_SHIFT);
    const more = Array.from({ length: 20 }, (_, i) => ((i * 50 + 28) << LEAF_SHIFT) + 7);
    const sum = one(/* wgsl */ `
fn kernel(inv: VmInvocation) {
  var s = 0u;
  for (var i = 0u; i < vm_arg_u32(0u); i++) {
    s += vm_ptr_load_u32(vm_ptr(vm_arg_u32(2u + 2u * i), vm_arg_u32(1u + 2u * i)));
  }
  vm_store_u32(0u, s);
}`);
    const args = (ps: number[]) => [ps.length, ...ps.flatMap((p) => ptrArgs(p * PAGE + 4))];
    pages.forEach((p, i) => h.map(p, i + 1));
    h.map(0, 0);
    h.gpt.grant(Uint32Array.from(pages).sort(), Uint32Array.of(0));
    pages.forEach((_, i) => ctx.device.queue.writeBuffer(h.window, (i + 1) * PAGE + 4, Uint32Array.of(i + 1)));
    const first = h.gpt.buffer;
    expect(decodeViolations(await h.run(sum, wideConfig(false), Mode.Declared, args(pages)))).toEqual([]);
    expect(await h.word(0, 0)).toBe(210);
    expect(h.gpt.buffer).not.toBe(first); // 21 leaves: grown past the first 16
    // Twenty more regions (grown again): the old entries now come from the copies the growths made.
    more.forEach((p, k) => h.map(p, 21 + k));
    more.forEach((_, k) => ctx.device.queue.writeBuffer(h.window, (21 + k) * PAGE + 4, Uint32Array.of(1000)));
    const both = [...pages.slice(10), ...more.slice(0, 10)];
    h.gpt.grant(Uint32Array.from(both).sort((a, b) => a - b), Uint32Array.of(0));
    expect(decodeViolations(await h.run(sum, wideConfig(false), Mode.Declared, args(both)))).toEqual([]);
    expect(await h.word(0, 0)).toBe(11 + 12 + 13 + 14 + 15 + 16 + 17 + 18 + 19 + 20 + 10 * 1000);
    expect(h.gpt.leafCount).toBe(41);
    for (const p of [...pages, ...more.slice(0, 10), 0]) expect((h.gpt.entry(p) & PTE_VALID) >>> 0).toBe(PTE_VALID);
  });

  testWithDevice('a demand probe reports misses above 4 GiB and 32 GiB as those pages', async (ctx) => {
    const h = await harness(ctx);
    h.map(0, 0);
    const k = one(/* wgsl */ `
fn kernel(inv: VmInvocation) {
  // A plain store misses without stalling the probe; the load then misses and stalls it.
  vm_ptr_store_u32(vm_ptr(9u, 0x20000u), 1u);
  vm_ptr_store_u32(vm_ptr(0u, 0u), vm_ptr_load_u32(vm_ptr(1u, 0x40000u)));
}`);
    const rec = await h.run(k, wideConfig(true), Mode.Probe, []);
    expect(decodeViolations(rec)).toEqual([]);
    const f = decodeFaults(rec, PAGES);
    const stored = (36 * GiB + 0x20000) / PAGE;
    const loaded = (4 * GiB + 0x40000) / PAGE;
    expect(f.misses).toEqual([loaded, stored]);
    expect(f.writes).toEqual([stored]);
  });

  testWithDevice('spaces of at most 4 GiB: a VmPtr works there, and one with a high word is out of range', async (ctx) => {
    const h = await harness(ctx, { leafShift: 0 });
    h.map(3, 0);
    h.gpt.grant(new Uint32Array(0), Uint32Array.of(3));
    const cfg: LinkConfig = { ...wideConfig(false), wideAddresses: false, pageTableLeafShift: 0 };
    const k = one(/* wgsl */ `
fn kernel(inv: VmInvocation) {
  vm_ptr_store_u32(vm_ptr(0u, 3u * 65536u + 8u), 5u);
  vm_ptr_store_u32(vm_ptr(2u, 3u * 65536u + 8u), 6u);
}`);
    const rec = await h.run(k, cfg, Mode.Declared, []);
    expect(decodeViolations(rec).map((x) => [x.kind, x.addr])).toEqual([['out-of-range', 2 * 2 ** 32 + 3 * PAGE + 8]]);
    expect(await h.word(0, 8)).toBe(5);
    expect(h.gpt.leafShift).toBe(0);
  });
});
