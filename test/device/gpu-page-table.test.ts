// The device page table keeps no host mirror: flush() computes each entry of
// the changed span from the page table's frames and the current grants. These
// tests capture what flush uploads through a fake queue and compare it with
// the entries the prelude expects.

import { describe, expect, it } from 'vitest';
import { PTE_READ, PTE_VALID, PTE_WRITE } from '../../src/abi.ts';
import { GpuPageTable } from '../../src/device/gpu-page-table.ts';
import { NO_FRAME } from '../../src/space/page-table.ts';

function harness(pages: number) {
  const gpu = new Uint32Array(pages); // what the GPU buffer holds
  let writes = 0;
  const device = { createBuffer: () => ({ destroy() {} }) } as unknown as GPUDevice;
  const queue = {
    writeBuffer(_b: GPUBuffer, offset: number, data: Uint32Array, dataOffset: number, size: number) {
      writes++;
      gpu.set(data.subarray(dataOffset, dataOffset + size), offset / 4);
    },
  } as unknown as GPUQueue;
  const frame = new Uint32Array(pages).fill(NO_FRAME);
  const gpt = new GpuPageTable(device, frame, 'test');
  return { gpu, frame, gpt, queue, writes: () => writes };
}

describe('GpuPageTable', () => {
  it('uploads VALID|frame for pages with a frame, 0 for the rest, and READ/WRITE only for the granted pages', () => {
    const h = harness(16);
    for (const p of [1, 2, 3, 9]) {
      h.frame[p] = 100 + p;
      h.gpt.changed(p);
    }
    h.gpt.grant(Uint32Array.of(1, 9), Uint32Array.of(2, 5)); // 5 has no frame: no bits
    h.gpt.flush(h.queue);
    expect(h.gpu[0]).toBe(0);
    expect(h.gpu[1]).toBe((PTE_VALID | PTE_READ | 101) >>> 0);
    expect(h.gpu[2]).toBe((PTE_VALID | PTE_READ | PTE_WRITE | 102) >>> 0);
    expect(h.gpu[3]).toBe((PTE_VALID | 103) >>> 0);
    expect(h.gpu[5]).toBe(0);
    expect(h.gpu[9]).toBe((PTE_VALID | PTE_READ | 109) >>> 0);
    for (let p = 0; p < 16; p++) expect(h.gpu[p]).toBe(h.gpt.entry(p));
  });

  it('the next grant revokes the last one; a dropped frame clears its entry; nothing changed uploads nothing', () => {
    const h = harness(8);
    for (let p = 0; p < 8; p++) {
      h.frame[p] = p;
      h.gpt.changed(p);
    }
    h.gpt.grant(new Uint32Array(0), Uint32Array.of(0, 7));
    h.gpt.flush(h.queue);
    expect(h.gpu[7]! & PTE_WRITE).toBe(PTE_WRITE);
    h.gpt.grant(Uint32Array.of(3), new Uint32Array(0));
    h.frame[4] = NO_FRAME;
    h.gpt.changed(4);
    h.gpt.flush(h.queue);
    expect([...h.gpu]).toEqual([0, 1, 2, 3 | PTE_READ, 0, 5, 6, 7].map((x, p) => (p === 4 ? 0 : (PTE_VALID | x) >>> 0)));
    const before = h.writes();
    h.gpt.flush(h.queue);
    expect(h.writes()).toBe(before);
  });

  it('a span longer than its scratch array goes out in several writes, every entry right', () => {
    const pages = 40000; // > the 16384-entry scratch
    const h = harness(pages);
    const write: number[] = [];
    for (let p = 0; p < pages; p += 3) {
      h.frame[p] = p & 0xffff;
      h.gpt.changed(p);
      if (p % 9 === 0) write.push(p);
    }
    h.gpt.grant(new Uint32Array(0), Uint32Array.from(write));
    h.gpt.flush(h.queue);
    expect(h.writes()).toBe(3);
    for (let p = 0; p < pages; p++) expect(h.gpu[p]).toBe(h.gpt.entry(p));
    expect(h.gpu[9]).toBe((PTE_VALID | PTE_READ | PTE_WRITE | 9) >>> 0);
  });
});
