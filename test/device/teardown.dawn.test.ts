// Teardown while work is in flight (issue 13 item 6): destroying a pool (with
// or without its device) during an upload through the staging ring fails the
// operations with DestroyedError — never a raw WebGPU error, never a
// prefetch that resolves as if it had copied — and nothing is submitted into
// a destroyed buffer (testWithDevice fails on any WebGPU validation error).

import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { affine, duringFirstCopy, makeSpace } from '../helpers/space.ts';
import { DestroyedError, type AddressSpace } from '../../src/index.ts';

const P = 64 * KiB;
const PAGES = 32;
const OPTIONS = { capacity: PAGES * P, pageSize: P, uploadPath: 'staging' as const, stagingSlotSize: P, stagingSlots: 2 };

const ops: Record<string, (s: AddressSpace) => Promise<unknown>> = {
  prefetch: (s) => s.prefetch(0, PAGES * P, { to: 'device' }),
  pin: (s) => s.pin(0, (PAGES / 2) * P),
  'declared dispatch': (s) => s.dispatch(affine, { workgroups: 64, write: [{ addr: 0, byteLength: PAGES * P }], args: [0, 64 * 64, 1, 1] }),
};

for (const [name, run] of Object.entries(ops)) {
  for (const withDevice of [false, true]) {
    testWithDevice(`pool.destroy()${withDevice ? ' and device.destroy()' : ''} during a staging upload: ${name} rejects with DestroyedError`, async (ctx) => {
      const { pool, space } = await makeSpace(ctx, OPTIONS, PAGES * P, { strict: false });
      await space.write(0, new Uint8Array(PAGES * P).fill(3));
      const race = duringFirstCopy(pool, 'staging', async () => {
        pool.destroy();
        if (withDevice) ctx.device.destroy();
      });
      const err = await run(space).then(() => undefined, (e: unknown) => e);
      await race.injected();
      if (withDevice) {
        // Destroying the device is a device loss as well; either typed error says what happened.
        expect((err as { code?: string }).code).toMatch(/^(DESTROYED|DEVICE_LOST)$/);
      } else {
        expect(err).toBeInstanceOf(DestroyedError);
      }
      // Later use says the same.
      await expect(space.read(0, 8)).rejects.toMatchObject({ code: withDevice ? expect.stringMatching(/^(DESTROYED|DEVICE_LOST)$/) : 'DESTROYED' });
    });
  }
}
