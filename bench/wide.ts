// The `wide` case: what 64-bit translation (spaces over 4 GiB: VmPtr
// addresses, the two-level device page table) costs a kernel over resident
// data, next to the u32 path of spaces of at most 4 GiB. Both run the same
// affine kernel over the same frames, linked by the runtime's own linker with
// the one difference in configuration, against a page table built by
// src/device/gpu-page-table.ts: the 32-bit one a flat table of a 4 GiB space
// with the data at 3 GiB, the 64-bit one the table a 64 GiB space of 64 KiB
// pages gets (flat: 2^20 entries) with the data at 40 GiB, and the same with
// the two-level table that larger spaces get (over 2^20 pages). The pool's window and the record buffer are bound
// by hand, so no space's host memory is needed (a 64 GiB space needs the
// sparse host memory of issue 16's host side); what is timed is the
// dispatches alone, which is all that the address width changes.

import { MAX_KERNEL_ARGS, Mode, uniformWords } from '../src/abi.ts';
import { GpuPageTable } from '../src/device/gpu-page-table.ts';
import { bitmapWords, recordBytes } from '../src/fault/records.ts';
import { BufferUsage } from '../src/gpu/constants.ts';
import { createKernel } from '../src/kernel/kernel.ts';
import { link, type LinkConfig } from '../src/kernel/link.ts';
import { layoutFor } from '../src/kernel/pipelines.ts';
import { ptrWords } from '../src/layout/ptr.ts';
import { PAGE_TABLE_LEAF_SHIFT } from '../src/options.ts';
import { NO_FRAME } from '../src/space/page-table.ts';
// A cycle (suite.ts imports translationRun): affine is only read when a run is made, after both loaded.
import { affine } from './suite.ts';

const GiB = 2 ** 30;
const PAGE_SHIFT = 16;


/** The same by VmPtr: args [base low, base high, count, mul, add]. */
const wideKernel = createKernel({
  label: 'bench:affine64',
  workgroupSize: 64,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x + inv.global_id.y * inv.num_workgroups.x * 64u;
  if (i >= vm_arg_u32(2u)) { return; }
  let a = vm_ptr_add(vm_arg_ptr(0u), i * 4u);
  vm_ptr_store_u32(a, vm_ptr_load_u32(a) * vm_arg_u32(3u) + vm_arg_u32(4u));
}`,
});

export interface TranslationRun {
  /** Submit one dispatch over the data (not awaited). */
  run(): void;
  destroy(): void;
}

/**
 * One address width's setup over `window` (the data's frames 0…, resident):
 * its page table, uniforms, record buffer and pipeline.
 */
export async function translationRun(device: GPUDevice, window: GPUBuffer, bytes: number, wide: boolean, twoLevel = false): Promise<TranslationRun> {
  const page = 1 << PAGE_SHIFT;
  const spaceSize = wide ? 64 * GiB : 4 * GiB;
  const base = wide ? 40 * GiB : 3 * GiB;
  const pages = spaceSize / page;
  const frame = new Uint32Array(pages).fill(NO_FRAME);
  const gpt = new GpuPageTable(device, frame, `bench:${wide ? 'wide' : 'narrow'}`, { leafShift: twoLevel ? PAGE_TABLE_LEAF_SHIFT : 0 });
  const dataPages = bytes / page;
  const first = base / page;
  for (let k = 0; k < dataPages; k++) {
    frame[first + k] = k;
    gpt.changed(first + k);
  }
  gpt.grant(new Uint32Array(0), Uint32Array.from({ length: dataPages }, (_, k) => first + k));
  gpt.flush(device.queue);
  const cfg: LinkConfig = {
    pageShift: PAGE_SHIFT, windowCount: 1, windowWordShift: Math.log2(window.size / 4), demand: false, replayPerInvocation: true,
    accessCounters: false, wideAddresses: wide, pageTableLeafShift: gpt.leafShift,
  };
  // The u32 path is the suite's own affine kernel (args [base, count, mul, add]).
  const kernel = wide ? wideKernel : affine;
  const module = device.createShaderModule({ label: kernel.label, code: link(kernel, cfg).code });
  const { bgl, pl } = layoutFor(device, 1);
  const pipeline = await device.createComputePipelineAsync({ label: kernel.label, layout: pl, compute: { module, entryPoint: 'vm_entry' } });
  const n = bytes / 4;
  const wg = Math.ceil(n / 64);
  const x = Math.min(wg, 65535);
  const grid: [number, number, number] = [x, Math.ceil(wg / x), 1];
  const args = new Uint32Array(MAX_KERNEL_ARGS);
  args.set(wide ? [...ptrWords(base), n, 3, 1] : [base, n, 3, 1]);
  const uniforms = device.createBuffer({ label: 'bench:wide-uniforms', size: uniformWords({ numPages: 0, mode: Mode.Declared, bitmapWords: 0, sliceBase: 0, grid, sliceEnd: 0 }, args).byteLength, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST });
  device.queue.writeBuffer(uniforms, 0, uniformWords({ numPages: pages, mode: Mode.Declared, bitmapWords: bitmapWords(pages), sliceBase: 0, grid, sliceEnd: grid[0] * grid[1] }, args));
  const record = device.createBuffer({ label: 'bench:wide-record', size: recordBytes(pages, 0), usage: BufferUsage.STORAGE });
  const bind = device.createBindGroup({
    layout: bgl,
    entries: [
      { binding: 0, resource: { buffer: uniforms } },
      { binding: 1, resource: { buffer: gpt.buffer } },
      { binding: 2, resource: { buffer: record } },
      { binding: 3, resource: { buffer: window } },
    ],
  });
  return {
    run() {
      const enc = device.createCommandEncoder({ label: 'bench:wide' });
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(grid[0], grid[1]);
      pass.end();
      device.queue.submit([enc.finish()]);
    },
    destroy() {
      gpt.destroy();
      uniforms.destroy();
      record.destroy();
    },
  };
}
