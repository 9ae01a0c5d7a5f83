// Device loss at random GPU calls (issue 6 items 3): a sequence of host
// writes, reads, pins, declared dispatches (with evictions and write-backs)
// and demand-paged transactions and replays runs once to count its GPU calls
// (queue.submit, queue.writeBuffer, mapAsync); then, for a seeded sample of
// those calls, it runs again on a fresh device destroyed right after that
// call. The operation that fails must reject with DeviceLostError listing
// exactly the pages the oracle says were device-only; every other page must
// read back as the reference says; pool.recover() must report the same
// ranges; and after the test repairs the lost pages from its reference, the
// failed operation and the rest of the sequence must give the result of a run
// without a loss. A durable space must lose nothing at any call.

import { describe, expect } from 'vitest';
import { testWithDevice, KiB, type DeviceContext } from '../helpers/gpu.ts';
import { affine, copyKernel, coreOf, inPlace, u32 } from '../helpers/space.ts';
import { DirtyOracle, onGpuCall, spareDevice, within } from '../helpers/inject.ts';
import { createKernel, createPool, createSpace, DeviceLostError, type AddressSpace } from '../../src/index.ts';

const P = 4 * KiB;
const W = P / 4;
const PAGES = 32;
const SETTLE_MS = 20_000;
const SEED = Number(process.env.HMM_LOSS_SEED ?? 20260611);
const SAMPLE = Number(process.env.HMM_LOSS_POINTS ?? 14);

/** dst[i] = src[i] * 2: reads only what it does not write, so it may replay. */
const double = createKernel({
  label: 'double',
  idempotent: true,
  code: copyKernel.code.replace('vm_load_u32(vm_arg_u32(0u) + i * 4u)', 'vm_load_u32(vm_arg_u32(0u) + i * 4u) * 2u'),
});

interface Op {
  readonly name: string;
  run(s: AddressSpace): Promise<unknown>;
  /** What it does to the reference. */
  apply(ref: Uint32Array): void;
  /** Pages [first, first + n) it writes on the device (dispatches). */
  readonly writes?: readonly [number, number];
  /** Host write of [addr, addr + byteLength). */
  readonly hostWrite?: readonly [number, number];
  /** An idempotent demand dispatch: if it fails, its output pages may hold part of its output. */
  readonly replay?: boolean;
}

function affineOp(first: number, n: number, mul: number, add: number): Op {
  return {
    name: `affine pages ${first}–${first + n - 1}`,
    run: (s) => s.dispatch(affine, { workgroups: n * 16, write: [{ addr: first * P, byteLength: n * P }], args: [first * P, n * W, mul, add] }),
    apply: (ref) => {
      for (let i = first * W; i < (first + n) * W; i++) ref[i] = (ref[i]! * mul + add) >>> 0;
    },
    writes: [first, n],
  };
}

const partial = new Uint32Array([0xaaaa0001, 0xaaaa0002]);

const ops: readonly Op[] = [
  {
    name: 'host write of pages 0–15',
    run: (s) => s.write(0, Uint32Array.from({ length: 16 * W }, (_, i) => i + 1)),
    apply: (ref) => ref.set(Uint32Array.from({ length: 16 * W }, (_, i) => i + 1)),
    hostWrite: [0, 16 * P],
  },
  affineOp(0, 2, 2, 1),
  { name: 'read-only dispatch of pages 2–3', run: (s) => s.dispatch(copyKernel, { workgroups: 1, read: [{ addr: 2 * P, byteLength: 2 * P }], args: [0, 0, 0] }), apply: () => undefined },
  affineOp(4, 8, 3, 0), // the whole pool: pages 0–1 are evicted, written back in flight
  { name: 'read of pages 0–1', run: (s) => s.read(0, 2 * P), apply: () => undefined },
  {
    name: 'demand transaction over pages 12–13',
    run: (s) => s.dispatch(inPlace, { workgroups: 32, demand: true, args: [12 * P, 2 * W] }),
    apply: (ref) => {
      for (let i = 0; i < 2 * W; i++) ref[12 * W + i] = (ref[12 * W + i]! * 3 + i) >>> 0;
    },
    writes: [12, 2],
  },
  {
    name: 'host write of two words inside device-only page 5',
    run: (s) => s.write(5 * P + 8, partial),
    apply: (ref) => ref.set(partial, (5 * P + 8) / 4),
    hostWrite: [5 * P + 8, 8],
  },
  {
    name: 'demand replay: pages 16–17 = pages 14–15 × 2',
    run: (s) => s.dispatch(double, { workgroups: 32, demand: true, args: [14 * P, 16 * P, 2 * W] }),
    apply: (ref) => {
      for (let i = 0; i < 2 * W; i++) ref[16 * W + i] = (ref[14 * W + i]! * 2) >>> 0;
    },
    writes: [16, 2],
    replay: true,
  },
  { name: 'pin page 2', run: (s) => s.pin(2 * P, P), apply: () => undefined },
  affineOp(2, 2, 5, 5), // a pinned page and an evicted one
  { name: 'read of everything', run: (s) => s.read(0, PAGES * P), apply: () => undefined },
];

function reference(upTo: number): Uint32Array {
  const ref = new Uint32Array(PAGES * W);
  for (let i = 0; i < upTo; i++) ops[i]!.apply(ref);
  return ref;
}

interface Run {
  readonly space: AddressSpace;
  readonly oracle: DirtyOracle;
  /** Index of the operation that failed, or ops.length if all resolved. */
  readonly failedAt: number;
  readonly error: unknown;
  readonly calls: number;
  readonly fired: string | undefined;
}

/** Run the sequence on `device`, destroying it right after its `at`-th GPU call (never, for Infinity). */
async function runSequence(ctx: DeviceContext, device: GPUDevice, at: number, durable: boolean): Promise<Run> {
  const counter = onGpuCall(device, at, () => device.destroy());
  const pool = ctx.track(await createPool(device, { capacity: 8 * P, pageSize: P }));
  const space = ctx.track(createSpace(pool, { size: PAGES * P, strict: true, durable }));
  const oracle = new DirtyOracle(pool, coreOf(space).id);
  let failedAt = ops.length;
  let error: unknown;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    try {
      await within(op.run(space), SETTLE_MS, `${op.name} (loss at call ${at})`);
    } catch (e) {
      failedAt = i;
      error = e;
      break;
    }
    if (op.writes) oracle.dispatched(op.writes[0] * P, op.writes[1] * P);
    if (op.hostWrite) oracle.hostWrote(op.hostWrite[0], op.hostWrite[1]);
  }
  return { space, oracle, failedAt, error, calls: counter.count, fired: counter.fired };
}

/** A seeded sample of `k` distinct call numbers in [1, n], always with the first and the last. */
function sample(n: number, k: number, seed: number): number[] {
  const picked = new Set<number>([1, n]);
  let x = seed >>> 0;
  while (picked.size < Math.min(k, n)) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    picked.add(1 + (x % n));
  }
  return [...picked].sort((a, b) => a - b);
}

for (const durable of [false, true]) {
  describe(durable ? 'a durable space' : 'a space', () => {
    testWithDevice(`device lost at ${SAMPLE} random GPU calls of a sequence (seed ${SEED}): ${durable ? 'nothing is lost' : 'exactly the device-only pages are lost'}; recover and finish`, async (ctx) => {
      const dry = await runSequence(ctx, ctx.device, Number.POSITIVE_INFINITY, durable);
      expect(dry.failedAt, `the sequence without a loss failed: ${String(dry.error)}`).toBe(ops.length);
      const final = reference(ops.length);
      expect(u32(await dry.space.read(0, PAGES * P))).toEqual(final);
      const points = sample(dry.calls, SAMPLE, SEED + (durable ? 1 : 0));
      const lostPages: number[] = [];
      for (const at of points) {
        const what = `loss after GPU call ${at} of ${dry.calls}`;
        const node = await spareDevice(ctx);
        const run = await runSequence(ctx, node.device, at, durable);
        expect(run.fired, what).toBeDefined();
        let failedAt = run.failedAt;
        let error = run.error;
        if (failedAt === ops.length) {
          // Every operation resolved (the loss came after the last one needed the GPU): the next one fails.
          error = await within(run.space.dispatch(affine, { workgroups: 1, write: [{ addr: 31 * P, byteLength: 4 }], args: [31 * P, 0, 1, 0] }), SETTLE_MS, what).catch((e: unknown) => e);
        }
        const op = ops[failedAt];
        const where = `${what}, in ${op?.name ?? 'the operation after the sequence'}`;
        expect(error, where).toBeInstanceOf(DeviceLostError);
        const lost = run.oracle.ranges();
        expect((error as DeviceLostError).lostRanges, where).toEqual(lost);
        if (durable) expect(lost, where).toEqual([]);
        for (const r of lost) lostPages.push(r.byteLength / P);
        run.space.checkInvariants();
        // Every page that is not lost reads back: what the operations that resolved made of it.
        const ref = reference(failedAt);
        const after = reference(Math.min(failedAt + 1, ops.length));
        const isLost = (p: number) => lost.some((r) => p * P >= r.addr && p * P < r.addr + r.byteLength);
        for (let p = 0; p < PAGES; p++) {
          if (isLost(p)) continue;
          const got = u32(await within(run.space.read(p * P, P), SETTLE_MS, `${where}: read of page ${p}`));
          for (let i = 0; i < W; i++) {
            const j = p * W + i;
            // A replay that failed may have written part of its output; anything else changed nothing.
            const ok = got[i] === ref[j] || (op?.replay === true && got[i] === after[j]);
            if (!ok) expect(got[i], `${where}: word ${j} (page ${p})`).toBe(ref[j]);
          }
        }
        // Recover, repair what was lost from the reference, and finish the sequence from the failed operation.
        const next = await spareDevice(ctx);
        const report = await within(run.space.pool.recover(next.device), SETTLE_MS, `${where}: recover`);
        expect(report.spaces[0]!.lostRanges, `${where}: report`).toEqual(lost);
        run.space.checkInvariants();
        for (const r of lost) await run.space.write(r.addr, ref.subarray(r.addr / 4, (r.addr + r.byteLength) / 4));
        for (let i = failedAt; i < ops.length; i++) await within(ops[i]!.run(run.space), SETTLE_MS, `${where}: ${ops[i]!.name} after recover`);
        expect(u32(await run.space.read(0, PAGES * P)), `${where}: the finished sequence`).toEqual(final);
        run.space.checkInvariants();
      }
      if (!durable) expect(lostPages.length, 'some sampled loss found device-only pages').toBeGreaterThan(0);
    }, 600_000);
  });
}
