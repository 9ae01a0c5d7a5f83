// File-backed spaces (src/node/file-space.ts) on Dawn: pages come from the
// file on first touch by the host or a dispatch, a host budget smaller than
// the data streams it through, flush() puts device-dirty and host-dirty pages
// in the file, and the typed errors for a file that cannot be opened, a
// read-only file shorter than the space, and a read-only space asked to write.

import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import { testWithDevice, KiB, MiB } from '../helpers/gpu.ts';
import { affine, coreOf } from '../helpers/space.ts';
import { createPool } from '../../src/index.ts';
import { createFileSpace, DiskFullError, FileOpenError, FileTooShortError, ReadOnlySpaceError } from '../../src/node.ts';

const dir = mkdtempSync(join(tmpdir(), 'hmm-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PS = 4 * KiB;

/** Equal bytes (Buffer.compare: vitest's deep equality is slow on megabytes). */
function same(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.compare(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), new Uint8Array(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

function words(n: number, seed: number): Uint32Array {
  const w = new Uint32Array(n);
  for (let i = 0; i < n; i++) w[i] = (Math.imul(i, 2654435761) ^ seed) >>> 0;
  return w;
}

testWithDevice('a dispatch reads pages from the file on first touch; a host budget of a quarter of the data streams it; flush writes results back', async (ctx) => {
  const path = join(dir, 'stream.bin');
  const n = (4 * MiB) / 4;
  const data = words(n, 7);
  writeFileSync(path, data);
  const pool = ctx.track(await createPool(ctx.device, { pageSize: PS, capacity: 1 * MiB }));
  const space = createFileSpace(pool, path, { hostBudget: 1 * MiB });
  ctx.track(space);
  expect(space.size).toBe(4 * MiB);
  expect(space.segmentSize).toBe(256 * KiB);
  // A quarter of the space at a time, through a pool of a quarter of it: every byte comes from the file.
  const chunk = n / 4;
  for (let k = 0; k < 4; k++) {
    await space.dispatch(affine, {
      workgroups: [chunk / 64, 1, 1], args: [k * chunk * 4, chunk, 3, 1],
      read: [{ addr: k * chunk * 4, byteLength: chunk * 4 }], write: [{ addr: k * chunk * 4, byteLength: chunk * 4 }],
    });
  }
  const want = data.map((x) => (Math.imul(x, 3) + 1) >>> 0);
  expect(space.fileStats.peakHostBytes).toBeLessThanOrEqual(1 * MiB);
  expect(space.fileStats.bytesRead).toBeGreaterThanOrEqual(4 * MiB);
  await space.flush();
  expect(same(readFileSync(path), want)).toBe(true);
  // Reads see the results too (some from the file again: the budget dropped them).
  expect(same(await space.read(0, space.size), want)).toBe(true);
  expect(space.fileStats.peakHostBytes).toBeLessThanOrEqual(1 * MiB);
  await space.close();
  expect(coreOf(space).destroyed).toBe(true);
  await space.close(); // twice: nothing more to do
});

testWithDevice('host writes past the budget reach the file before flush; flush makes the rest durable; size extends a new file', async (ctx) => {
  const path = join(dir, 'writes.bin');
  const pool = ctx.track(await createPool(ctx.device, { pageSize: PS, capacity: 1 * MiB }));
  const space = ctx.track(createFileSpace(pool, path, { size: 2 * MiB, hostBudget: 256 * KiB }));
  expect(statSync(path).size).toBe(2 * MiB);
  const model = new Uint8Array(2 * MiB);
  for (let k = 0; k < 64; k++) {
    const addr = ((k * 7919) % 500) * PS + (k % 3);
    const bytes = new Uint8Array(PS + 5).fill(k + 1);
    await space.write(addr, bytes);
    model.set(bytes, addr);
  }
  expect(space.fileStats.hostEvictions).toBeGreaterThan(0);
  expect(space.fileStats.bytesWritten).toBeGreaterThan(0); // evicted dirty pages went to the file already
  await space.flush();
  expect(same(readFileSync(path), model)).toBe(true);
  expect(same(await space.read(0, 2 * MiB), model)).toBe(true);
  await space.close();
});

testWithDevice('typed errors: a missing folder, a read-only file shorter than size, a read-only space asked to store', async (ctx) => {
  const pool = ctx.track(await createPool(ctx.device, { pageSize: PS, capacity: 1 * MiB }));
  expect(() => createFileSpace(pool, join(dir, 'no', 'such', 'file'), { hostBudget: MiB })).toThrow(FileOpenError);
  const short = join(dir, 'short.bin');
  writeFileSync(short, new Uint8Array(3 * PS));
  expect(() => createFileSpace(pool, short, { size: 4 * PS, hostBudget: MiB, readOnly: true })).toThrow(FileTooShortError);
  const ro = ctx.track(createFileSpace(pool, short, { hostBudget: MiB, readOnly: true }));
  expect(ro.size).toBe(3 * PS);
  await ro.write(0, new Uint8Array([1, 2, 3, 4]));
  await expect(ro.flush()).rejects.toThrow(ReadOnlySpaceError);
  expect(new Uint8Array(readFileSync(short))).toEqual(new Uint8Array(3 * PS)); // untouched
  expect(statSync(short).size).toBe(3 * PS);
});

// /dev/full: reads give zeros, every write fails with ENOSPC (Linux).
testWithDevice('a full disk: flush rejects with DiskFullError, the pages stay dirty and readable, over-budget memory is kept rather than lost', async (ctx) => {
  if (!existsSync('/dev/full')) return;
  const pool = ctx.track(await createPool(ctx.device, { pageSize: PS, capacity: 1 * MiB }));
  const space = ctx.track(createFileSpace(pool, '/dev/full', { size: 64 * PS, hostBudget: 8 * PS }));
  const model = new Uint8Array(64 * PS);
  for (let p = 0; p < 64; p += 3) {
    const b = new Uint8Array(PS).fill(p + 1);
    await space.write(p * PS, b); // past the budget: the evictions cannot store, so memory stays
    model.set(b, p * PS);
  }
  expect(space.fileStats.hostBytes).toBeGreaterThan(8 * PS);
  await expect(space.flush()).rejects.toThrow(DiskFullError);
  expect(same(await space.read(0, 64 * PS), model)).toBe(true);
  await expect(space.flush()).rejects.toThrow(DiskFullError); // still dirty: tried again
});

testWithDevice('disk → device in one copy: a staging upload reads pages straight from the file into its slots; host memory keeps none; a dirty page in memory goes up from memory', async (ctx) => {
  const path = join(dir, 'direct.bin');
  const size = 16 * MiB; // over the staging threshold (8 MiB): the staging path
  const data = words(size / 4, 11);
  writeFileSync(path, data);
  const pool = ctx.track(await createPool(ctx.device, { pageSize: 64 * KiB, capacity: 32 * MiB }));
  const space = createFileSpace(pool, path, { hostBudget: 4 * MiB });
  ctx.track(space);
  // One page written on the host before the upload: its segment is in memory, the page dirty.
  const poke = new Uint32Array(64 * KiB / 4).fill(0xabcdef01);
  await space.write(5 * MiB, poke);
  const held = space.fileStats.hostBytes;
  expect(held).toBeGreaterThan(0);
  await space.prefetch(0, size, { to: 'device' });
  // Everything but that segment came from the file, and none of it stayed in host memory.
  expect(space.fileStats.hostBytes).toBe(held);
  expect(space.fileStats.bytesRead).toBeGreaterThanOrEqual(size - held);
  expect(pool.stats().framesUsed).toBe(size / (64 * KiB));
  // What the device has: the kernel's results, read home, are the file's words and the poked page's.
  const want = Uint32Array.from(data);
  want.set(poke, (5 * MiB) / 4);
  await space.dispatch(affine, { workgroups: [size / 4 / 64 / 2, 2, 1], args: [0, size / 4, 3, 1], write: [{ addr: 0, byteLength: size }] });
  const got = new Uint32Array((await space.read(0, size)).buffer);
  expect(same(got, want.map((x) => (Math.imul(x, 3) + 1) >>> 0))).toBe(true);
  await space.close();
});
