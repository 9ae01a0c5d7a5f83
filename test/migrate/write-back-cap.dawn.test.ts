// The cap on eviction write-backs in flight (src/options.ts WRITEBACK_IN_FLIGHT_RINGS):
// an eviction of more device-dirty pages than the cap holds goes in rounds, each
// round's write-back landing before the next is evicted, so the write-back
// buffers never hold more than the cap — one large eviction used to go ahead
// alone and hold all of it (a 64 MiB chunk's: 64 MiB, `npm run bench:large`);
// and the cap counts buffers as evict() takes them, a space's pages apart from
// another's (found by the soak: three spaces' pages took a buffer past it).

import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { affine, makeSpace } from '../helpers/space.ts';
import { createSpace, type AddressSpace } from '../../src/index.ts';

const P = 4 * KiB;

/** Run `fn`, counting the eviction write-back buffers the device makes meanwhile. */
async function writeBackBuffersMade(device: GPUDevice, fn: () => Promise<void>): Promise<number> {
  let made = 0;
  const create = device.createBuffer.bind(device);
  device.createBuffer = (desc: GPUBufferDescriptor): GPUBuffer => {
    if (desc.label?.includes('write-back')) made++;
    return create(desc);
  };
  try {
    await fn();
  } finally {
    device.createBuffer = create;
  }
  return made;
}

testWithDevice('16 dirty pages evicted under a cap of 4: rounds of 4, at most 4 write-back buffers, every value exact', async (ctx) => {
  // Cap: 2 rings × 2 slots × 4 KiB = 16 KiB, four pages.
  const { pool, space } = await makeSpace(ctx, { capacity: 16 * P, pageSize: P, stagingSlots: 2, stagingSlotSize: P }, 64 * P);
  const words = (32 * P) / 4;
  const dirty = (first: number) => space.dispatch(affine, {
    workgroups: Math.ceil((16 * P) / 4 / 64), write: [{ addr: first * P, byteLength: 16 * P }], args: [first * P, (16 * P) / 4, 3, 1],
  });
  let written = 0;
  const made = await writeBackBuffersMade(ctx.device, async () => {
    await space.write(0, Uint32Array.from({ length: words }, (_, i) => i));
    await dirty(0); // the pool: 16 device-dirty pages
    const before = pool.stats();
    await dirty(16); // evicts all 16 of them
    written = pool.stats().evictionWritebacks - before.evictionWritebacks;
  });
  expect(written).toBe(16);
  expect(made).toBeLessThanOrEqual(4);
  const got = new Uint32Array((await space.read(0, 32 * P)).buffer);
  for (let i = 0; i < words; i++) if (got[i] !== ((i * 3 + 1) >>> 0)) expect.fail(`word ${i}: ${got[i]}`);
});

testWithDevice('dirty pages of three spaces: each space writes back through buffers of its own, and the cap counts them so (at most 2, where 3 went before)', async (ctx) => {
  // Cap: 2 rings × 1 slot × 2 pages = 4 pages, two buffers; three frames in the pool.
  const { pool, space } = await makeSpace(ctx, { capacity: 3 * P, pageSize: P, stagingSlots: 1, stagingSlotSize: 2 * P }, 4 * P);
  const others = [0, 1].map((i) => ctx.track(createSpace(pool, { size: 4 * P, strict: true, label: `other${i}` })));
  const spaces = [space, ...others];
  const one = (s: AddressSpace) => s.dispatch(affine, { workgroups: 1, write: [{ addr: 0, byteLength: P }], args: [0, 64, 3, 1] });
  const made = await writeBackBuffersMade(ctx.device, async () => {
    for (const [i, s] of spaces.entries()) {
      await s.write(0, Uint32Array.from({ length: P / 4 }, (_, k) => k + i));
      await one(s); // one device-dirty page each: the pool is full
    }
    const fourth = ctx.track(createSpace(pool, { size: 4 * P, strict: true, label: 'fourth' }));
    await fourth.dispatch(affine, { workgroups: 1, write: [{ addr: 0, byteLength: 3 * P }], args: [0, 64, 1, 0] }); // evicts all three
  });
  expect(pool.stats().evictionWritebacks).toBe(3);
  expect(made).toBeLessThanOrEqual(2);
  for (const [i, s] of spaces.entries()) {
    const got = new Uint32Array((await s.read(0, P)).buffer);
    for (let k = 0; k < P / 4; k++) if (got[k] !== (k < 64 ? ((k + i) * 3 + 1) >>> 0 : k + i)) expect.fail(`space ${i} word ${k}: ${got[k]}`);
  }
});
