// Counterexamples the differential fuzzer found (./model.ts), shrunk by
// fast-check and replayed here verbatim: each was a runtime bug, fixed where
// the comment says. A new one goes here as printed by `npm run fuzz` or by the
// failing differential test (config, operations), with a name saying what
// broke and a direct check of the same behaviour through the public API.

import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { makeSpace, poolImpl, u32 } from '../helpers/space.ts';
import { runSequence, kernels, type FuzzConfig, type FuzzOp } from './model.ts';
import { AccessViolationError, createPool, createSpace } from '../../src/index.ts';

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

// src/space/state.ts (hostWrite): a host write to a pinned page is written through to its frame with
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

// src/migrate/migrate.ts (makeResident): when evicting would put too many write-back bytes in flight,
// the eviction waited for the earlier ones after choosing its victims; a host write (which takes no
// pool lock) could drop a victim's frame during that wait, and the freed frame was then "evicted"
// (TypeError in evict) and would have been handed out twice. Now free frames are taken and the
// victims chosen again after the wait. (The replay is timing-dependent — it failed 4 runs in 5 before
// the fix; the direct check below forces the interleaving.)
replay(
  'an eviction that waits for earlier write-backs chooses its victims again when a host write drops one meanwhile (was TypeError)',
  [
    { pageSize: 4096, frames: 15, windowFrames: 4, pinPages: 1, uploadPath: 'auto', pages: [20, 25] },
    [
      { kind: 'stray', s: 0, demand: false, addr: { word: 0 }, value: 0, out: { pick: 0, off: 0, len: 0 }, decl: { pick: 0, off: 463196, len: 769700 }, declRead: false },
      {
        kind: 'burst',
        ops: [
          { kind: 'add', s: 1, demand: false, hint: 'none', at: { pick: 0, off: 220217, len: 495559 }, k: 0 },
          { kind: 'view', s: 0, mode: 'read', at: { pick: 0, off: 0, len: 0 }, seed: 0 },
          { kind: 'copy', s: 0, demand: false, idem: false, hint: 'none', src: { pick: 0, off: 0, len: 185661 }, dst: { pick: 0, off: 148163, len: 0 } },
        ],
      },
      { kind: 'copy', s: 0, demand: false, idem: false, hint: 'none', src: { pick: 0, off: 0, len: 0 }, dst: { pick: 0, off: 0, len: 0 } },
      { kind: 'copy', s: 0, demand: false, idem: false, hint: 'none', src: { pick: 0, off: 0, len: 38260 }, dst: { pick: 0, off: 1019532, len: 0 } },
      {
        kind: 'burst',
        ops: [
          { kind: 'evict', pages: 42, dirty: false },
          { kind: 'walk', s: 0, demand: false, idem: false, hint: 'none', list: { pick: 0, off: 0, len: 0 }, out: { pick: 0, off: 0, len: 0 }, steps: 1 },
          { kind: 'write', s: 0, at: { pick: 0, off: 0, len: 0 }, seed: 0 },
        ],
      },
    ],
  ],
  async (ctx) => {
    // Write-backs in flight are capped at 2 × 1 slot × 1 page: evicting 3 dirty pages at once must wait first.
    const pool = ctx.track(await createPool(ctx.device, { capacity: 4 * P, pageSize: P, stagingSlots: 1, stagingSlotSize: P }));
    const a = ctx.track(createSpace(pool, { size: 16 * P, strict: true, label: 'A' }));
    const b = ctx.track(createSpace(pool, { size: 16 * P, strict: true, label: 'B' }));
    await b.write(0, new Uint32Array(P / 4).fill(0x0b));
    await b.dispatch(kernels.copy, { workgroups: 1, read: [{ addr: 0, byteLength: P }], args: [0, 0, 0] }); // B's page 0: clean, in a frame
    await a.write(0, new Uint32Array((3 * P) / 4).fill(1));
    await a.dispatch(kernels.add, { workgroups: (3 * P) / 4 / 64, write: [{ addr: 0, byteLength: 3 * P }], args: [0, (3 * P) / 4, 5] }); // A's pages 0–2: dirty; the pool is full
    const impl = poolImpl(pool);
    const settle = impl.settleWriteBacks.bind(impl);
    let wrote: Promise<void> | undefined;
    impl.settleWriteBacks = (...args) => {
      // The first wait is the eviction's (nothing else is in flight): B overwrites its page meanwhile, dropping that victim's frame.
      wrote ??= b.write(0, new Uint32Array(P / 4).fill(0x0c));
      return settle(...args);
    };
    await a.dispatch(kernels.copy, { workgroups: 1, read: [{ addr: 4 * P, byteLength: 4 * P }], args: [0, 0, 0] }); // needs all 4 frames
    expect(wrote).toBeDefined();
    await wrote;
    expect(u32(await a.read(0, 3 * P)).every((x, i) => x === ((1 * 3 + 5 + i) >>> 0))).toBe(true);
    expect(u32(await b.read(0, P)).every((x) => x === 0x0c)).toBe(true);
    a.checkInvariants();
  },
);

// src/migrate/migrate.ts (makeResident, phase 2a): after choosing its victims the fault-in awaited
// an async check of whether it had to wait for write-backs or their buffers. Awaiting an async
// function yields even when it returns at once; a host write of a burst ran in that gap, dropped a
// victim's frame, and the freed frame was "evicted" (a TypeError; it would have been handed out
// twice). The check is synchronous now and returns a promise only when there is something to wait
// for. The sequence failed on its second run in one process (the first compiles the pipelines, which
// changes the interleaving), so it runs five times.
const yieldedVictims: [FuzzConfig, FuzzOp[]] = [{"pageSize":4096,"frames":10,"windowFrames":4,"pinPages":1,"uploadPath":"auto","pages":[16,16],"policy":{"groupPinPages":1,"groupSlack":0,"thrashing":{"threshold":2,"lapseMs":20,"pinMs":5}}},[{"kind":"burst","ops":[{"kind":"add","s":1,"demand":false,"hint":"none","at":{"pick":0,"off":107520,"len":154624},"k":0},{"kind":"read","s":0,"at":{"pick":0,"off":0,"len":0}},{"kind":"prefetch","s":0,"at":{"pick":0,"off":0,"len":0},"to":"device","oob":false}]},{"kind":"copy","s":0,"demand":false,"idem":false,"hint":"none","src":{"pick":0,"off":32768,"len":194560},"dst":{"pick":0,"off":280576,"len":0}},{"kind":"copy","s":1,"demand":false,"idem":false,"hint":"none","src":{"pick":0,"off":601088,"len":207872},"dst":{"pick":0,"off":0,"len":0}},{"kind":"write","s":1,"at":{"pick":0,"off":0,"len":0},"seed":0},{"kind":"burst","ops":[{"kind":"write","s":1,"at":{"pick":0,"off":499713,"len":4095},"seed":0},{"kind":"evict","pages":35,"dirty":false},{"kind":"walk","s":0,"demand":false,"idem":false,"hint":"none","list":{"pick":0,"off":0,"len":0},"out":{"pick":0,"off":0,"len":0},"steps":1}]},{"kind":"read","s":0,"at":{"pick":0,"off":0,"len":0}}]];
testWithDevice('a fault-in does not yield between choosing its victims and evicting them (a host write freed one)', async (ctx) => {
  for (let i = 0; i < 5; i++) await runSequence(ctx.device, yieldedVictims[0], yieldedVictims[1]);
});
