// The transfer engine's staging path with a source that fills slots off the
// JavaScript thread (HostSource.fill: a file-backed space's reads straight into
// staging memory): the bytes land, a failed read leaves the ring usable, and a
// pool destroyed while a read runs keeps the slot's memory until it ends; and the
// read-back ring made of idle write-back buffers.

import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { Transfer, type HostSource, type Piece } from '../../src/device/transfer.ts';
import { DestroyedError } from '../../src/errors.ts';
import { BufferUsage } from '../../src/gpu/constants.ts';

const SLOT = 64 * KiB;

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

/** A source over `data` whose fill resolves when the test says (or fails with `error`). */
function deferredSource(data: Uint8Array, error?: Error) {
  const pending: { dest: Uint8Array; offset: number; resolve: () => void; reject: (e: unknown) => void }[] = [];
  const source: HostSource = {
    range: (offset, length) => data.subarray(offset, offset + length),
    fill: (offset, dest) => new Promise<void>((resolve, reject) => pending.push({ dest, offset, resolve, reject })),
  };
  const settle = (): void => {
    for (const p of pending.splice(0)) {
      if (error) p.reject(error);
      else {
        p.dest.set(data.subarray(p.offset, p.offset + p.dest.length));
        p.resolve();
      }
    }
  };
  return { source, pending, settle };
}

function setUp(device: GPUDevice, track: <T extends { destroy(): void }>(t: T) => T) {
  const window = track(device.createBuffer({ label: 'test:window', size: 8 * SLOT, usage: BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC }));
  const transfer = new Transfer(device, [window], SLOT, SLOT, 2, 'test');
  const pieces: Piece[] = [{ hostOffset: 0, window: 0, windowOffset: 0, byteLength: 5 * SLOT }];
  const readBack = async (): Promise<Uint8Array> => {
    const out = new Uint8Array(5 * SLOT);
    await transfer.readback(pieces, (off, b) => out.set(b, off));
    return out;
  };
  return { transfer, pieces, readBack };
}

testWithDevice('staging with reads off the thread: five slots of bytes through a ring of two land in order', async (ctx) => {
  const { transfer, pieces, readBack } = setUp(ctx.device, ctx.track);
  const data = bytes(5 * SLOT, 3);
  const d = deferredSource(data);
  const up = transfer.staging(d.source, pieces);
  // The ring has two slots: both are being read into before either is copied.
  for (let i = 0; i < 50 && d.pending.length < 2; i++) await new Promise((r) => setTimeout(r, 1));
  expect(d.pending.length).toBe(2);
  const tick = setInterval(d.settle, 1);
  try {
    await up;
  } finally {
    clearInterval(tick);
  }
  expect(Buffer.compare(await readBack(), data)).toBe(0);
  expect(transfer.stats.stagingBytes).toBe(5 * SLOT);
  transfer.destroy();
});

testWithDevice('a failed read: staging rejects with its error, and the ring serves the next upload', async (ctx) => {
  const { transfer, pieces, readBack } = setUp(ctx.device, ctx.track);
  const bad = deferredSource(bytes(5 * SLOT, 1), new Error('read failed'));
  const up = transfer.staging(bad.source, pieces);
  const tick = setInterval(bad.settle, 1);
  try {
    await expect(up).rejects.toThrow('read failed');
  } finally {
    clearInterval(tick);
  }
  const data = bytes(5 * SLOT, 9);
  await transfer.staging(data, pieces); // a plain array: synchronous fills, through the same slots
  expect(Buffer.compare(await readBack(), data)).toBe(0);
  transfer.destroy();
});

testWithDevice('the pool destroyed while a read runs into a slot: the slot stays mapped until the read ends, then goes; the upload ends with DestroyedError', async (ctx) => {
  const { transfer, pieces } = setUp(ctx.device, ctx.track);
  const d = deferredSource(bytes(5 * SLOT, 5));
  const up = transfer.staging(d.source, pieces);
  up.catch(() => undefined);
  for (let i = 0; i < 50 && d.pending.length < 2; i++) await new Promise((r) => setTimeout(r, 1));
  expect(d.pending.length).toBe(2);
  transfer.destroy();
  // The reads' destinations are still the slots' mapped memory (a destroyed buffer's would be detached).
  for (const p of d.pending) expect(p.dest.byteLength).toBe(SLOT);
  const dests = d.pending.map((p) => p.dest);
  d.settle();
  await expect(up).rejects.toBeInstanceOf(DestroyedError);
  for (const dest of dests) expect(dest.byteLength).toBe(0);
});

testWithDevice('a slot whose map waits behind compute submitted after its copy is not waited for: that load goes by writeBuffer; with no compute between, the ring waits as before', async (ctx) => {
  const { transfer, pieces, readBack } = setUp(ctx.device, ctx.track);
  // No compute on the queue: five loads through two slots wait for the slots' maps.
  const first = bytes(5 * SLOT, 21);
  await transfer.staging(first, pieces);
  expect(transfer.stats.stagingBypasses).toBe(0);
  expect(transfer.stats.stagingSubmits).toBe(5);
  expect(Buffer.compare(await readBack(), first)).toBe(0);
  // Compute submitted after each copy (a stream of dispatches): the loads that find their slot's map
  // still pending behind it go by writeBuffer, and every byte lands all the same.
  const second = bytes(5 * SLOT, 22);
  const submits = transfer.stats.stagingSubmits;
  const source = { range: (o: number, n: number) => { transfer.noteCompute(); return second.subarray(o, o + n); } };
  await transfer.staging(source, pieces);
  const bypassed = transfer.stats.stagingBypasses;
  expect(bypassed).toBeGreaterThan(0);
  expect(transfer.stats.stagingSubmits - submits + bypassed).toBe(5);
  expect(Buffer.compare(await readBack(), second)).toBe(0);
  transfer.destroy();
});

testWithDevice('the read-back ring is made of idle write-back buffers when enough are free: no buffer made, every byte read; later write-backs make what they lack', async (ctx) => {
  const device = ctx.device;
  const window = ctx.track(device.createBuffer({ label: 'test:window', size: 8 * SLOT, usage: BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC }));
  let allocated = 0;
  const transfer = new Transfer(device, [window], SLOT, SLOT, 2, 'test', (desc) => {
    allocated++;
    return Promise.resolve(device.createBuffer(desc));
  });
  const made: GPUBuffer[] = [];
  const create = device.createBuffer.bind(device);
  device.createBuffer = (desc: GPUBufferDescriptor): GPUBuffer => {
    const b = create(desc);
    made.push(b);
    return b;
  };
  try {
    const pieces: Piece[] = [{ hostOffset: 0, window: 0, windowOffset: 0, byteLength: 5 * SLOT }];
    const data = bytes(5 * SLOT, 41);
    transfer.writeBuffer(data, pieces);
    // An eviction's write-back: five buffers, made at once (nothing reserved), free again once drained.
    const home = new Uint8Array(5 * SLOT);
    await transfer.readbackDetached(pieces, (off, b) => home.set(b, off));
    expect(Buffer.compare(home, data)).toBe(0);
    expect(made.length).toBe(5);
    // The ring (two slots) takes two of them: nothing is made, nothing allocated.
    const out = new Uint8Array(5 * SLOT);
    await transfer.readback(pieces, (off, b) => out.set(b, off));
    expect(Buffer.compare(out, data)).toBe(0);
    expect(made.length).toBe(5);
    expect(allocated).toBe(0);
    // A write-back of five slots now finds three free and makes two; the ring is its own.
    const again = new Uint8Array(5 * SLOT);
    await transfer.readbackDetached(pieces, (off, b) => again.set(b, off));
    expect(Buffer.compare(again, data)).toBe(0);
    expect(made.length).toBe(7);
    expect(transfer.hasDetached(5 * SLOT)).toBe(true);
    await transfer.readback(pieces, (off, b) => out.set(b, off));
    expect(made.length).toBe(7);
  } finally {
    device.createBuffer = create;
    transfer.destroy();
    for (const b of made) b.destroy();
  }
});
