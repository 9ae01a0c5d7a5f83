import { expect, test } from 'vitest';
import { KiB } from '../helpers/gpu.ts';
import { affine, u32 } from '../helpers/space.ts';
import { createPool, createSpace, DeviceLostError } from '../../src/index.ts';
import { requestNodeDevice } from '../../src/node.ts';

const P = 4 * KiB;

test('device loss: a typed error lists exactly the device-only ranges; host-valid bytes stay readable', async () => {
  const node = await requestNodeDevice();
  const pool = await createPool(node.device, { capacity: 16 * P, pageSize: P });
  const space = createSpace(pool, { size: 16 * P });
  await space.write(0, new Uint32Array((8 * P) / 4).fill(6));
  // Pages 2–3 and 6 become device-only; 0–1 and 4–5 stay valid on the host.
  await space.dispatch(affine, { workgroups: 32, write: [{ addr: 2 * P, byteLength: 2 * P }], args: [2 * P, (2 * P) / 4, 2, 0] });
  await space.dispatch(affine, { workgroups: 16, write: [{ addr: 6 * P, byteLength: P }], args: [6 * P, P / 4, 2, 0] });
  node.device.destroy();
  await node.device.lost;
  const err = await space.read(2 * P, 4).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(DeviceLostError);
  expect((err as DeviceLostError).lostRanges).toEqual([
    { addr: 2 * P, byteLength: 2 * P },
    { addr: 6 * P, byteLength: P },
  ]);
  expect(u32(await space.read(0, 2 * P)).every((x) => x === 6)).toBe(true);
  expect(u32(await space.read(4 * P, 2 * P)).every((x) => x === 6)).toBe(true);
  await expect(space.dispatch(affine, { workgroups: 1, write: [{ addr: 0, byteLength: 4 }], args: [0, 1, 1, 1] })).rejects.toThrow(DeviceLostError);
  await expect(space.write(0, new Uint8Array(4))).rejects.toMatchObject({ code: 'DEVICE_LOST' });
  node.destroy();
});
