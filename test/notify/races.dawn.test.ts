// Host writes racing with migrations, forced deterministically: the transfer
// functions are wrapped so the host write happens exactly while the copy is
// in flight (between submit and completion).
import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { affine, copyKernel, duringFirstCopy, makeSpace, u32 } from '../helpers/space.ts';

const P = 4 * KiB;

testWithDevice('an upload that raced with a host write retries and uploads the new bytes', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 16 * P, pageSize: P, uploadPath: 'staging', stagingSlotSize: P, stagingSlots: 1 }, 16 * P);
  await space.write(0, new Uint32Array((4 * P) / 4).fill(1));
  // The first slot (page 0) is filled and submitted; the next fill awaits the map. Write page 0 then.
  const race = duringFirstCopy(pool, 'staging', () => space.write(0, new Uint32Array(P / 4).fill(42)));
  const r = await space.dispatch(affine, { workgroups: 64, write: [{ addr: 0, byteLength: 4 * P }], args: [0, P, 1, 0] });
  await race.injected();
  expect(r.retries).toBeGreaterThanOrEqual(1);
  const out = u32(await space.read(0, 4 * P));
  expect(out[0]).toBe(42);
  expect(out[P / 4 - 1]).toBe(42);
  expect(out[P / 4]).toBe(1);
  space.checkInvariants();
});

testWithDevice('an eviction write-back that raced with a full-page host write keeps the host bytes', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 2 * P, pageSize: P }, 16 * P);
  await space.dispatch(affine, { workgroups: 32, write: [{ addr: 0, byteLength: 2 * P }], args: [0, (2 * P) / 4, 0, 5] });
  expect(space.residency(0, 2 * P).device).toBe(2);
  let readDuringFlight: Promise<Uint8Array> | undefined;
  const race = duringFirstCopy(pool, 'readbackDetached', async () => {
    expect(space.pageState(0)).toBe('device'); // in flight to the host
    expect(space.residency(0, 2 * P).residentBytes).toBe(0); // the frames went to the next upload already
    readDuringFlight = space.read(P, P); // waits for the write-back to land
    await space.write(0, new Uint32Array(P / 4).fill(9)); // whole page: no need to wait for the device copy
  });
  await space.dispatch(copyKernel, { workgroups: 1, read: [{ addr: 4 * P, byteLength: 2 * P }], args: [4 * P, 4 * P, 0] });
  await race.injected();
  // The dispatch resolves after the write-backs it started landed: the evicted page is host-valid.
  expect(space.pageState(P)).toBe('host');
  expect(u32(await readDuringFlight!).every((x) => x === 5)).toBe(true);
  const out = u32(await space.read(0, 2 * P));
  expect(out[0]).toBe(9);
  expect(out[P / 4 - 1]).toBe(9);
  expect(out[P / 4]).toBe(5); // the other evicted page came home intact
  space.checkInvariants();
});

testWithDevice('a host read in flight and a full-page write: the write wins, the read sees the device data', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 4 * P, pageSize: P }, 4 * P);
  await space.dispatch(affine, { workgroups: 16, write: [{ addr: 0, byteLength: P }], args: [0, P / 4, 0, 3] });
  const race = duringFirstCopy(pool, 'readback', () => space.write(0, new Uint32Array(P / 4).fill(8)));
  const seen = u32(await space.read(0, P));
  await race.injected();
  // The read was issued first: it may see the device's 3s or (serialized after) the 8s, but never a mix.
  expect(new Set(seen).size).toBe(1);
  expect(u32(await space.read(0, P)).every((x) => x === 8)).toBe(true);
  space.checkInvariants();
});

testWithDevice('subscribers hear host writes with odd sequence numbers and can detect a race', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 4 * P, pageSize: P }, 8 * P);
  const events: [number, number, number][] = [];
  const sub = space.subscribe(P, P, (ev) => events.push([ev.start, ev.end, ev.seq]));
  const seq = sub.readBegin();
  await space.write(0, new Uint8Array(P)); // does not touch [P, 2P)
  expect(sub.readRetry(seq)).toBe(false);
  await space.write(P + 100, new Uint8Array(8));
  expect(events).toEqual([[P + 100, P + 108, 1]]);
  expect(sub.readRetry(seq)).toBe(true);
  sub.remove();
  await space.write(P, new Uint8Array(8));
  expect(events).toHaveLength(1);
});
