// The device page table keeps no host mirror: flush() computes each entry of
// the changed span from the page table's frames and the current grants. These
// tests capture what flush uploads through a fake queue and compare it with
// the entries the prelude expects.

import { describe, expect, it } from 'vitest';
import { PTE_READ, PTE_VALID, PTE_WRITE } from '../../src/abi.ts';
import { GpuPageTable } from '../../src/device/gpu-page-table.ts';
import { NO_FRAME } from '../../src/space/page-table.ts';
import { FLAT_PAGE_TABLE_MAX_PAGES, PAGE_TABLE_LEAF_SHIFT } from '../../src/options.ts';

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

/**
 * A fake device whose buffers are word arrays: writeBuffer and copyBufferToBuffer land in them,
 * so a two-level table (which grows by copying) can be read the way the prelude reads it.
 */
function twoLevel(pages: number, leafShift: number) {
  const words = new Map<object, Uint32Array>();
  let writes = 0;
  let made = 0;
  const device = {
    createBuffer: ({ size }: { size: number }) => {
      const b = { destroy() {}, size };
      words.set(b, new Uint32Array(size / 4));
      made++;
      return b;
    },
    createCommandEncoder: () => {
      const copies: (() => void)[] = [];
      return {
        copyBufferToBuffer(src: object, so: number, dst: object, dof: number, n: number) {
          copies.push(() => words.get(dst)!.set(words.get(src)!.subarray(so / 4, (so + n) / 4), dof / 4));
        },
        finish: () => copies,
      };
    },
    queue: undefined as unknown,
  };
  const queue = {
    writeBuffer(b: object, offset: number, data: Uint32Array, dataOffset = 0, size = data.length - dataOffset) {
      writes++;
      words.get(b)!.set(data.subarray(dataOffset, dataOffset + size), offset / 4);
    },
    submit(cmds: (() => void)[][]) {
      for (const c of cmds) for (const f of c) f();
    },
  };
  const frame = new Uint32Array(pages).fill(NO_FRAME);
  const gpt = new GpuPageTable(device as unknown as GPUDevice, frame, 'test', { leafShift });
  /** vm_pte(page) as the prelude's glue computes it, on what the GPU buffer holds now. */
  const pte = (p: number) => {
    const w = words.get(gpt.buffer)!;
    return w[w[p >>> leafShift]! + (p & ((1 << leafShift) - 1))]!;
  };
  return { frame, gpt, queue: queue as unknown as GPUQueue, pte, words: () => words.get(gpt.buffer)!, writes: () => writes, made: () => made };
}

describe('GpuPageTable, two-level', () => {
  it('is flat up to FLAT_PAGE_TABLE_MAX_PAGES pages and two-level beyond, by default', () => {
    const device = { createBuffer: ({ size }: { size: number }) => ({ size, destroy() {} }) } as unknown as GPUDevice;
    expect(new GpuPageTable(device, new Uint32Array(FLAT_PAGE_TABLE_MAX_PAGES), 'flat').leafShift).toBe(0);
    const big = new GpuPageTable(device, { length: FLAT_PAGE_TABLE_MAX_PAGES + 1 }, 'big');
    expect(big.leafShift).toBe(PAGE_TABLE_LEAF_SHIFT);
    // 1 TiB of 4 KiB pages: the directory and the first leaves, far below one binding (the flat table would be 1 GiB).
    const tib = new GpuPageTable(device, { length: 2 ** 28 }, 'tib');
    expect(tib.buffer.size).toBeLessThan(2 * 2 ** 20);
  });

  it('every page reads through directory and leaf as the flat entry; regions without a frame share the zero leaf', () => {
    const h = twoLevel(1 << 14, 4); // 1024 regions of 16 pages
    const mapped = [0, 1, 15, 16, 700, 701, 9000, 16383];
    mapped.forEach((p, i) => {
      h.frame[p] = 100 + i;
      h.gpt.changed(p);
    });
    h.gpt.grant(Uint32Array.of(1, 9000), Uint32Array.of(15, 8000)); // 8000 has no frame: no bits, no leaf
    h.gpt.flush(h.queue);
    for (let p = 0; p < 1 << 14; p++) expect(h.pte(p)).toBe(h.gpt.entry(p));
    expect(h.gpt.leafCount).toBe(5); // regions 0, 1, 43, 562, 1023
    expect(h.pte(15)).toBe((PTE_VALID | PTE_READ | PTE_WRITE | 102) >>> 0);
  });

  it('grows by copying: leaves made before stay right, a revoked grant and a dropped frame are cleared, nothing changed uploads nothing', () => {
    const h = twoLevel(1 << 16, 4); // 4096 regions; starts with room for 16 leaves
    const first = h.gpt.buffer;
    for (let r = 0; r < 10; r++) {
      h.frame[r * 16 * 7] = r;
      h.gpt.changed(r * 16 * 7);
    }
    h.gpt.grant(new Uint32Array(0), Uint32Array.of(0, 112));
    h.gpt.flush(h.queue);
    expect(h.gpt.buffer).toBe(first);
    for (let r = 10; r < 100; r++) {
      h.frame[r * 16 * 7 + 3] = r;
      h.gpt.changed(r * 16 * 7 + 3);
    }
    h.gpt.grant(Uint32Array.of(3 + 16 * 7 * 50), new Uint32Array(0));
    h.frame[112] = NO_FRAME;
    h.gpt.changed(112);
    h.gpt.flush(h.queue);
    expect(h.gpt.buffer).not.toBe(first);
    expect(h.gpt.leafCount).toBe(100);
    for (let p = 0; p < 1 << 16; p++) expect(h.pte(p)).toBe(h.gpt.entry(p));
    expect(h.pte(0)).toBe((PTE_VALID | 0) >>> 0);
    const before = h.writes();
    h.gpt.flush(h.queue);
    expect(h.writes()).toBe(before);
  });
});
