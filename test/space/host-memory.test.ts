import { expect, test } from 'vitest';
import { createHostMemory, type HostBacking } from '../../src/space/host-memory.ts';
import { HOST_JOIN_MAX } from '../../src/options.ts';

const PS = 4096;
const SEG = 4 * PS;

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

/** A flat-memory model backing store that counts what moves. */
function flatBacking(size: number): HostBacking & { bytes: Uint8Array; loads: number; stores: number[][] } {
  const bytes = new Uint8Array(size);
  const b = {
    bytes, loads: 0, stores: [] as number[][],
    load(offset: number, dest: Uint8Array) {
      b.loads++;
      dest.set(bytes.subarray(offset, offset + dest.length));
    },
    store(offset: number, src: Uint8Array) {
      b.stores.push([offset, src.length]);
      bytes.set(src, offset);
    },
  };
  return b;
}

test('untouched memory reads as zero and commits nothing; a write commits only its segments', () => {
  const m = createHostMemory(64 * SEG, PS, { segmentSize: SEG });
  expect(m.slice(5 * SEG + 7, 3 * SEG)).toEqual(new Uint8Array(3 * SEG));
  expect(m.range(PS, PS)).toEqual(new Uint8Array(PS));
  expect(m.stats.committedBytes).toBe(0);
  const data = pattern(SEG + 2 * PS, 1);
  m.write(3 * SEG - PS, data); // spans segments 2, 3 and 4
  expect(m.stats.committedBytes).toBe(3 * SEG);
  expect(m.slice(3 * SEG - PS, data.length)).toEqual(data);
  expect(m.slice(3 * SEG - PS - 1, 1)).toEqual(new Uint8Array(1));
  expect(m.isHeld(3 * SEG)).toBe(true);
  expect(m.isHeld(10 * SEG)).toBe(false);
});

test('range is a view inside one segment and a copy across two; view() writes in place or through commit()', () => {
  const m = createHostMemory(8 * SEG, PS, { segmentSize: SEG });
  m.write(0, pattern(2 * SEG, 3));
  const inside = m.range(PS, PS);
  const across = m.range(SEG - PS, 2 * PS);
  m.write(PS, new Uint8Array(PS).fill(9));
  expect(inside[0]).toBe(9); // a view sees later writes
  expect(across).toEqual(pattern(2 * SEG, 3).subarray(SEG - PS, SEG + PS)); // a copy does not
  const one = m.view(2 * PS, 16);
  one.view.fill(7);
  expect(m.slice(2 * PS, 16)).toEqual(new Uint8Array(16).fill(7)); // zero-copy
  const two = m.view(SEG - 8, 16);
  two.view.fill(5);
  expect(m.slice(SEG - 8, 16)).not.toEqual(new Uint8Array(16).fill(5));
  two.commit();
  expect(m.slice(SEG - 8, 16)).toEqual(new Uint8Array(16).fill(5));
});

test('zero drops whole segments and fills partial ones', () => {
  const m = createHostMemory(8 * SEG, PS, { segmentSize: SEG });
  m.write(0, pattern(3 * SEG, 2));
  m.zero(PS, 3 * SEG - PS); // segment 1 whole, 0 and 2 in part
  expect(m.stats.committedBytes).toBe(2 * SEG);
  const want = pattern(3 * SEG, 2);
  want.fill(0, PS, 3 * SEG - PS);
  expect(m.slice(0, 3 * SEG)).toEqual(want);
});

test('splitPieces cuts transfer pieces at segment boundaries only', () => {
  const m = createHostMemory(8 * SEG, PS, { segmentSize: SEG });
  const inOne = [{ hostOffset: PS, window: 0, windowOffset: 0, byteLength: 2 * PS }];
  expect(m.splitPieces(inOne)).toBe(inOne);
  expect(m.splitPieces([{ hostOffset: SEG - PS, window: 1, windowOffset: 8 * PS, byteLength: SEG + 2 * PS }])).toEqual([
    { hostOffset: SEG - PS, window: 1, windowOffset: 8 * PS, byteLength: PS },
    { hostOffset: SEG, window: 1, windowOffset: 9 * PS, byteLength: SEG },
    { hostOffset: 2 * SEG, window: 1, windowOffset: 9 * PS + SEG, byteLength: PS },
  ]);
});

test('a small space gets one segment of its own size; a 2^40-byte space touched far apart commits two segments', () => {
  const small = createHostMemory(4 * PS, PS);
  expect(small.segmentSize).toBe(4 * PS);
  const big = createHostMemory(2 ** 40, PS);
  const hi = 2 ** 40 - PS;
  big.write(5 * PS, pattern(PS, 1));
  big.write(hi, pattern(PS, 2));
  expect(big.stats.committedBytes).toBe(2 * big.segmentSize);
  expect(big.slice(hi, PS)).toEqual(pattern(PS, 2));
  expect(big.slice(2 ** 39, PS)).toEqual(new Uint8Array(PS));
  expect(big.slice(5 * PS, PS)).toEqual(pattern(PS, 1));
});

test('backed: missing segments load from the store; dirty pages are stored as runs; the budget evicts least recently used', () => {
  const size = 8 * SEG;
  const b = flatBacking(size);
  b.bytes.set(pattern(size, 4));
  const m = createHostMemory(size, PS, { segmentSize: SEG, backing: b, budget: 2 * SEG });
  expect(m.slice(SEG + 5, 10)).toEqual(pattern(size, 4).subarray(SEG + 5, SEG + 15));
  expect(b.loads).toBe(1);
  m.write(0, new Uint8Array(2 * PS).fill(1)); // pages 0, 1 dirty
  m.write(3 * PS, new Uint8Array(1).fill(2)); // page 3 dirty
  expect(m.dirtyPages()).toEqual([0, 1, 3]);
  expect(b.stores).toEqual([]);
  m.slice(5 * SEG, 1); // a third segment: segment 1 (least recently used) goes, clean: nothing stored
  expect(b.stores).toEqual([]);
  m.slice(6 * SEG, 1); // segment 0 goes: its dirty runs are stored
  expect(b.stores).toEqual([[0, 2 * PS], [3 * PS, PS]]);
  expect(m.stats.committedBytes).toBeLessThanOrEqual(2 * SEG);
  expect(m.stats.segmentsEvicted).toBe(2);
  const model = pattern(size, 4);
  model.fill(1, 0, 2 * PS);
  model[3 * PS] = 2;
  expect(m.slice(0, size)).toEqual(model); // reloaded from the store
  m.write(7 * SEG + 1, new Uint8Array([8]));
  model[7 * SEG + 1] = 8;
  expect(m.flushDirty()).toBe(PS);
  expect(m.dirtyPages()).toEqual([]);
  expect(b.bytes).toEqual(model);
});

test('backed: a store that throws leaves the pages dirty, and a later flush stores them', () => {
  const size = 4 * SEG;
  const b = flatBacking(size);
  let full = true;
  const store = b.store;
  b.store = (o, s) => {
    if (full) throw new Error('ENOSPC');
    store(o, s);
  };
  const m = createHostMemory(size, PS, { segmentSize: SEG, backing: b });
  m.write(PS, new Uint8Array(PS).fill(3));
  expect(() => m.flushDirty()).toThrow('ENOSPC');
  expect(m.dirtyPages()).toEqual([1]);
  full = false;
  expect(m.flushDirty()).toBe(PS);
  expect(b.bytes[PS]).toBe(3);
});

test('backed, sequential: the next segment is read ahead; ready() gives its end; touched before it ends, it is loaded at once instead', async () => {
  const size = 8 * SEG;
  const b = flatBacking(size);
  b.bytes.set(pattern(size, 5));
  let asyncLoads = 0;
  const pending: (() => void)[] = [];
  const withAsync: HostBacking = {
    load: (o, d) => b.load(o, d),
    store: (o, s) => b.store(o, s),
    loadAsync: (o, d) => {
      asyncLoads++;
      return new Promise((resolve) => pending.push(() => {
        b.load(o, d);
        resolve();
      }));
    },
  };
  const m = createHostMemory(size, PS, { segmentSize: SEG, backing: withAsync, budget: 4 * SEG });
  m.slice(0, 1);
  expect(m.ready(0, PS)).toBeUndefined();
  expect(asyncLoads).toBe(0); // one load is not a stream yet
  m.slice(SEG, 1); // segment 1 right after 0
  expect(asyncLoads).toBe(0); // a synchronous reader starts no read ahead (it would touch the next segment first)
  expect(m.ready(SEG, PS)).toBeUndefined(); // the staging path, on segment 1 of a stream: segment 2 is read ahead
  expect(asyncLoads).toBe(1);
  const r = m.ready(2 * SEG, PS);
  expect(r).toBeInstanceOf(Promise);
  expect(m.ready(3 * SEG, PS)).toBeUndefined();
  expect(m.stats.committedBytes).toBe(3 * SEG); // counted against the budget while it is read
  pending.shift()!();
  await r;
  const loadsBefore = b.loads;
  expect(m.slice(2 * SEG, SEG)).toEqual(pattern(size, 5).subarray(2 * SEG, 3 * SEG));
  expect(b.loads).toBe(loadsBefore); // adopted: no second read
  expect(m.stats.readAheadHits).toBe(1);
  // Segment 2 came right after 1: the staging path on it reads 3 ahead; touching 3 first abandons the read and loads it at once.
  expect(m.ready(2 * SEG, PS)).toBeUndefined();
  expect(asyncLoads).toBe(2);
  expect(m.slice(3 * SEG + 5, 9)).toEqual(pattern(size, 5).subarray(3 * SEG + 5, 3 * SEG + 14));
  expect(b.loads).toBe(loadsBefore + 1);
  pending.shift()!(); // the abandoned read ends: nothing changes
  expect(m.slice(3 * SEG, SEG)).toEqual(pattern(size, 5).subarray(3 * SEG, 4 * SEG));
  expect(m.stats.committedBytes).toBeLessThanOrEqual(4 * SEG);
});

test('join: segments under a spanning range share one buffer from then on; their bytes are kept', () => {
  const m = createHostMemory(8 * SEG, PS, { segmentSize: SEG });
  const data = pattern(3 * SEG, 11);
  m.write(SEG, data); // segments 1, 2, 3
  expect(m.join(SEG + PS, 2 * SEG, false)).toBe(true);
  expect(m.stats.joins).toBe(1);
  expect(m.stats.committedBytes).toBe(3 * SEG); // moved, not doubled
  const across = m.range(SEG + PS, 2 * SEG);
  expect(across).toEqual(data.subarray(PS, PS + 2 * SEG));
  m.write(2 * SEG, new Uint8Array(PS).fill(0xee)); // a write through the segment path…
  expect(across[SEG - PS]).toBe(0xee); // …is seen by the earlier range: a view now, not a copy
  const w = m.view(2 * SEG - 8, 16);
  w.view.fill(3); // in place: no commit needed
  expect(m.slice(2 * SEG - 8, 16)).toEqual(new Uint8Array(16).fill(3));
  expect(m.join(SEG, 2 * SEG, false)).toBe(true); // already one run: nothing made
  expect(m.stats.joins).toBe(1);
  expect(m.slice(0, SEG)).toEqual(new Uint8Array(SEG)); // neighbours untouched
});

test('join refuses a range with untouched segments unless asked to make them', () => {
  const m = createHostMemory(8 * SEG, PS, { segmentSize: SEG });
  m.write(0, pattern(SEG, 1)); // segment 0 only
  expect(m.join(0, 2 * SEG, false)).toBe(false);
  expect(m.stats.committedBytes).toBe(SEG);
  expect(m.range(SEG - PS, 2 * PS)).toEqual(new Uint8Array([...pattern(SEG, 1).subarray(SEG - PS), ...new Uint8Array(PS)]));
  expect(m.join(0, 2 * SEG, true)).toBe(true);
  expect(m.stats.committedBytes).toBe(2 * SEG);
  expect(m.slice(0, 2 * SEG)).toEqual(new Uint8Array([...pattern(SEG, 1), ...new Uint8Array(SEG)]));
});

test('join takes whole runs: a range overlapping a run joins the run with it, so no buffer stays held in part', () => {
  const m = createHostMemory(8 * SEG, PS, { segmentSize: SEG });
  const data = pattern(5 * SEG, 5);
  m.write(0, data);
  expect(m.join(0, 2 * SEG, false)).toBe(true); // run 0–1
  expect(m.join(3 * SEG, 2 * SEG, false)).toBe(true); // run 3–4
  expect(m.join(SEG + PS, 2 * SEG, false)).toBe(true); // 1–3: takes in 0 and 4 too
  expect(m.stats.joins).toBe(3);
  const all = m.range(0, 5 * SEG); // one view over the five
  expect(all).toEqual(data);
  m.write(4 * SEG, new Uint8Array(1).fill(0x42));
  expect(all[4 * SEG]).toBe(0x42);
  expect(m.stats.committedBytes).toBe(5 * SEG);
});

test('zero() keeps a segment of a run (filled, still counted); a lone one is dropped', () => {
  const m = createHostMemory(8 * SEG, PS, { segmentSize: SEG });
  m.write(0, pattern(4 * SEG, 9));
  expect(m.join(0, 2 * SEG, false)).toBe(true);
  m.zero(0, SEG); // in the run: filled
  expect(m.isHeld(0)).toBe(true);
  expect(m.slice(0, SEG)).toEqual(new Uint8Array(SEG));
  expect(m.range(0, 2 * SEG).subarray(SEG)).toEqual(pattern(4 * SEG, 9).subarray(SEG, 2 * SEG));
  m.zero(3 * SEG, 4 * SEG); // alone: dropped
  expect(m.isHeld(3 * SEG)).toBe(false);
  expect(m.stats.committedBytes).toBe(3 * SEG);
});

test('join: both sides of HOST_JOIN_MAX, and never with a backing', () => {
  const m = createHostMemory(2 * HOST_JOIN_MAX, 64 * 1024);
  const seg = m.segmentSize;
  expect(m.join(0, HOST_JOIN_MAX + seg, true)).toBe(false); // over: refused before it makes anything
  expect(m.stats.committedBytes).toBe(0);
  expect(m.join(seg, HOST_JOIN_MAX, true)).toBe(true); // exactly the limit (segment-aligned)
  expect(m.stats.committedBytes).toBe(HOST_JOIN_MAX);
  m.release();
  const b = createHostMemory(8 * SEG, PS, { segmentSize: SEG, backing: flatBacking(8 * SEG) });
  b.write(0, pattern(2 * SEG, 2));
  expect(b.join(0, 2 * SEG, true)).toBe(false);
  expect(b.stats.joins).toBe(0);
});
