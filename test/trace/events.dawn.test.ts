// The event stream (src/events.ts): what a pool reports, with causes and
// byte counts that add up to the dispatch results and pool counters.

import { expect, vi } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { affine, inPlace, makeSpace } from '../helpers/space.ts';
import type { HmmEvent } from '../../src/index.ts';

function sum(events: HmmEvent[], pick: (e: HmmEvent) => number | undefined): number {
  return events.reduce((s, e) => s + (pick(e) ?? 0), 0);
}

testWithDevice('events: migrations by cause, evictions, passes and fault batches add up to what the dispatch reports', async (ctx) => {
  const { space, pool } = await makeSpace(ctx, { capacity: 64 * KiB, pageSize: 4 * KiB }, 512 * KiB);
  const n = 65536; // 256 KiB through 64 KiB
  const base = space.alloc(n * 4, { align: 4 * KiB });
  await space.write(base, new Uint32Array(n).fill(7));
  const events: HmmEvent[] = [];
  const off = pool.on((e) => events.push(e));
  const r = await space.dispatch(inPlace, { workgroups: n / 64, args: [base, n], demand: true });
  const d = r.demand!;
  const toDevice = events.filter((e) => e.type === 'migration' && e.direction === 'to-device');
  // Faults (and hints) are 'demand'; density prefetch brings the rest of a mostly faulted block as 'prefetch'.
  const causes = new Set(toDevice.map((e) => e.type === 'migration' && e.cause));
  expect(causes.has('demand')).toBe(true);
  expect([...causes].every((c) => c === 'demand' || c === 'prefetch')).toBe(true);
  expect(sum(toDevice, (e) => (e.type === 'migration' ? e.bytes : 0))).toBe(r.bytesUploaded);
  expect(sum(events, (e) => (e.type === 'eviction' ? e.pages : 0))).toBe(r.evictions);
  expect(sum(events, (e) => (e.type === 'eviction' ? e.writebacks : 0))).toBe(r.writebacks);
  expect(events.filter((e) => e.type === 'pass').length).toBe(d.passes);
  expect(events.filter((e) => e.type === 'pass' && e.mode === 'commit').length).toBe(d.commits);
  expect(events.filter((e) => e.type === 'fault-batch').length).toBe(d.faultBatches);
  // Page lists name exactly the pages counted, inside the space.
  for (const e of events) {
    if (e.type === 'migration') {
      expect(e.pageList.length).toBe(e.pages);
      expect(e.clearedList.length).toBe(e.cleared);
    }
    if (e.type === 'eviction') expect(e.pageList.length).toBe(e.pages);
    if (e.type === 'fault-batch') expect(e.pageList.length).toBe(e.misses);
    if ('pageList' in e) expect(Math.max(...e.pageList)).toBeLessThan(space.size / space.pageSize);
    if ('start' in e) expect(e.start).toBeLessThanOrEqual(e.time);
  }
  // The dispatch itself is a span that holds its passes.
  const disp = events.filter((e) => e.type === 'dispatch');
  expect(disp).toHaveLength(1);
  expect(disp[0]).toMatchObject({ kernel: inPlace.label, mode: 'transaction' });
  expect(disp[0]!.time).toBe(events[events.length - 1]!.time);
  for (let i = 1; i < events.length; i++) expect(events[i]!.time).toBeGreaterThanOrEqual(events[i - 1]!.time);
  expect(events.every((e) => e.space === 'space')).toBe(true);

  // Host side: a read brings dirty pages home ('explicit'), a write drops device copies, pins are reported.
  events.length = 0;
  await space.read(base, n * 4);
  await space.write(base, new Uint32Array(n));
  await space.pin(base, 8 * KiB);
  space.unpin(base, 8 * KiB);
  const kinds = events.map((e) => (e.type === 'migration' ? `${e.type}:${e.direction}:${e.cause}` : e.type === 'host' ? `host:${e.op}` : e.type));
  expect(kinds).toContain('migration:to-host:explicit');
  expect(kinds).toContain('invalidation');
  expect(kinds).toContain('migration:to-device:explicit');
  expect(kinds.filter((k) => k.startsWith('host:'))).toEqual(['host:read', 'host:write', 'host:pin', 'host:unpin']);
  const inval = events.find((e) => e.type === 'invalidation');
  expect(inval).toMatchObject({ addr: base, byteLength: n * 4 });

  // Declared dispatches report their own cause; after `off()` nothing more arrives.
  events.length = 0;
  await space.dispatch(affine, { workgroups: 1, write: [{ addr: base, byteLength: 256 }], args: [base, 64, 1, 1] });
  expect(events.some((e) => e.type === 'pass' && e.mode === 'declared')).toBe(true);
  off();
  events.length = 0;
  await space.dispatch(affine, { workgroups: 1, write: [{ addr: base, byteLength: 256 }], args: [base, 64, 1, 1] });
  expect(events).toEqual([]);
});

testWithDevice('a listener that throws is removed and reported; the runtime goes on', async (ctx) => {
  const { space, pool } = await makeSpace(ctx, { capacity: 64 * KiB, pageSize: 4 * KiB }, 64 * KiB);
  const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
  let calls = 0;
  pool.on(() => {
    calls++;
    throw new Error('listener bug');
  });
  const good: HmmEvent[] = [];
  pool.on((e) => good.push(e));
  await space.dispatch(affine, { workgroups: 1, write: [{ addr: 0, byteLength: 256 }], args: [0, 64, 1, 1] });
  await space.dispatch(affine, { workgroups: 1, write: [{ addr: 0, byteLength: 256 }], args: [0, 64, 1, 1] });
  expect(calls).toBe(1);
  expect(errors).toHaveBeenCalledTimes(1);
  expect(good.filter((e) => e.type === 'pass').length).toBe(2);
  errors.mockRestore();
  expect(() => pool.on(42 as never)).toThrow(/pass a function/);
});
