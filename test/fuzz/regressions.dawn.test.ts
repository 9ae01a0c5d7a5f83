// Counterexamples the differential fuzzer found (./model.ts), shrunk by
// fast-check and replayed here verbatim: each was a runtime bug, fixed where
// the comment says. A new one goes here as printed by `npm run fuzz` or by the
// failing differential test (config, operations), with a name saying what
// broke and a direct check of the same behaviour through the public API.

import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { makeSpace, u32 } from '../helpers/space.ts';
import { runSequence, kernels, type FuzzConfig, type FuzzOp } from './model.ts';
import { AccessViolationError } from '../../src/index.ts';

function replay(name: string, counterexample: [FuzzConfig, FuzzOp[]], direct?: Parameters<typeof testWithDevice>[1]): void {
  testWithDevice(name, async (ctx) => {
    await runSequence(ctx.device, counterexample[0], counterexample[1]);
    await direct?.(ctx);
  });
}

const P = 4 * KiB;

// src/fault/demand.ts (run): the declared ranges of a demand dispatch are hints, but when they did
// not fit the pool a dispatch of one workgroup failed with WorkingSetTooLargeError instead of
// running without them (its own working set: one page).
replay(
  'a one-workgroup demand dispatch whose hints exceed the pool runs without them (was WORKING_SET_TOO_LARGE)',
  [
    { pageSize: 4096, frames: 10, windowFrames: 4, pinPages: 1, uploadPath: 'auto', pages: [16, 16] },
    [{
      kind: 'burst',
      ops: [
        { kind: 'add', s: 0, demand: true, hint: 'wide', at: { pick: 0, off: 0, len: 0 }, k: 0 },
        { kind: 'read', s: 0, at: { pick: 0, off: 0, len: 0 } },
        { kind: 'write', s: 0, at: { pick: 0, off: 0, len: 0 }, seed: 0 },
      ],
    }],
  ],
  async (ctx) => {
    const { space } = await makeSpace(ctx, { capacity: 4 * P, pageSize: P }, 16 * P);
    await space.write(0, new Uint32Array([5]));
    const wide = [{ addr: 0, byteLength: 16 * P }];
    const tx = await space.dispatch(kernels.add, { workgroups: 1, demand: true, read: wide, args: [0, 1, 7] });
    const rp = await space.dispatch(kernels.copy, { workgroups: 1, demand: true, read: wide, args: [0, 8, 1] });
    expect([tx.mode, rp.mode]).toEqual(['transaction', 'replay']);
    expect(u32(await space.read(0, 12))).toEqual(new Uint32Array([5 * 3 + 7, 0, 5 * 3 + 7])); // add ran once, then the copy
    space.checkInvariants();
  },
);

// src/space/core.ts (hostWrite): a host write to a pinned page is written through to its frame with
// queue.writeBuffer, which takes whole 4-byte words only; a write of 1 byte (or at an odd address)
// threw OperationError out of space.write.
replay(
  'a host write of 1 byte to a pinned page is written through (was OperationError: size is not a multiple of 4 bytes)',
  [
    { pageSize: 4096, frames: 10, windowFrames: 4, pinPages: 1, uploadPath: 'auto', pages: [16, 16] },
    [
      { kind: 'pin', s: 1, at: { pick: 0, off: 0, len: 0 } },
      { kind: 'write', s: 1, at: { pick: 0, off: 0, len: 0 }, seed: 0 },
    ],
  ],
  async (ctx) => {
    const { space } = await makeSpace(ctx, { capacity: 4 * P, pageSize: P }, 16 * P);
    await space.write(0, new Uint32Array([0x11111111, 0x22222222, 0x33333333]));
    await space.pin(0, P);
    await space.write(5, new Uint8Array([0xab, 0xcd])); // bytes 5–6: inside word 1, at an odd address
    await space.write(P - 1, new Uint8Array([0xef])); // the last byte of the page
    // The device copy is the one a kernel sees: copy word 1 and the page's last word elsewhere and read them.
    await space.dispatch(kernels.copy, { workgroups: 1, read: [{ addr: 4, byteLength: 4 }], write: [{ addr: 2 * P, byteLength: 4 }], args: [4, 2 * P, 1] });
    await space.dispatch(kernels.copy, { workgroups: 1, read: [{ addr: P - 4, byteLength: 4 }], write: [{ addr: 2 * P + 4, byteLength: 4 }], args: [P - 4, 2 * P + 4, 1] });
    expect(u32(await space.read(2 * P, 8))[0]).toBe(0x22cdab22);
    expect(u32(await space.read(2 * P, 8))[1]).toBe(0xef000000);
    expect(u32(await space.read(0, 12))[2]).toBe(0x33333333); // the neighbouring word is intact
    space.checkInvariants();
  },
);

// src/fault/demand.ts (#keepViolations): demand mode counted a violation once per (address, kind,
// invocation) so that passes run again do not count theirs twice — which also merged distinct
// accesses of one pass: a load and a store of the same bad address counted 1 (declared mode: 2),
// and with more than 32 of them the count depended on which were listed.
replay(
  'demand mode counts a load and a store of the same bad address as two violations, like declared mode (was 1)',
  [
    { pageSize: 4096, frames: 10, windowFrames: 4, pinPages: 1, uploadPath: 'auto', pages: [16, 16] },
    [
      {
        kind: 'burst',
        ops: [
          { kind: 'stray', s: 0, demand: false, addr: { raw: 1 }, value: 0, out: { pick: 0, off: 0, len: 0 }, decl: { pick: 0, off: 0, len: 0 }, declRead: false },
          { kind: 'read', s: 0, at: { pick: 0, off: 0, len: 0 } },
          { kind: 'read', s: 0, at: { pick: 0, off: 0, len: 0 } },
        ],
      },
      { kind: 'evict', pages: 0, dirty: false },
    ],
  ],
  async (ctx) => {
    const { space } = await makeSpace(ctx, { capacity: 4 * P, pageSize: P }, 16 * P);
    for (const demand of [false, true]) {
      const e = await space.dispatch(kernels.stray, { workgroups: 1, demand, args: [16 * P + 64, 1, 8], write: demand ? [] : [{ addr: 8, byteLength: 4 }] })
        .then(() => undefined, (x: unknown) => x);
      expect(e).toBeInstanceOf(AccessViolationError);
      expect((e as AccessViolationError).count).toBe(2);
      expect((e as AccessViolationError).violations.map((v) => v.kind)).toEqual(['out-of-range', 'out-of-range']);
    }
  },
);
