// Trace export (src/trace/chrome-trace.ts): well-formed Trace Event JSON with
// named tracks, spans that match the event stream, and counters that end at
// the space's real residency.

import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { affine, inPlace, makeSpace } from '../helpers/space.ts';
import { recordTrace, type HmmEvent, type TraceEvent } from '../../src/index.ts';

testWithDevice('trace: tracks for host work, queue submissions and migrations; resident and dirty counters', async (ctx) => {
  const { space, pool } = await makeSpace(ctx, { capacity: 64 * KiB, pageSize: 4 * KiB }, 512 * KiB);
  const n = 65536;
  const base = space.alloc(n * 4, { align: 4 * KiB, label: 'data' });
  const events: HmmEvent[] = [];
  pool.on((e) => events.push(e));
  const rec = recordTrace(pool);
  await space.write(base, new Uint32Array(n).fill(7));
  await space.dispatch(inPlace, { workgroups: n / 64, args: [base, n], demand: true });
  await space.dispatch(affine, { workgroups: 1, write: [{ addr: base, byteLength: 256 }], args: [base, 64, 1, 1] });
  await space.read(base, 4096);
  rec.stop();
  const res = space.residency();
  const framesUsed = pool.stats().framesUsed;
  await space.dispatch(affine, { workgroups: 1, write: [{ addr: base, byteLength: 256 }], args: [base, 64, 1, 1] });

  // Round-trips through JSON in the documented shape.
  const trace = JSON.parse(JSON.stringify(rec.toJSON())) as { traceEvents: TraceEvent[]; displayTimeUnit: string; otherData: Record<string, unknown> };
  expect(trace.displayTimeUnit).toBe('ms');
  expect(trace.otherData).toMatchObject({ producer: 'webgpu-hmm', pageSize: 4 * KiB, dropped: 0 });
  const ev = trace.traceEvents;
  expect(ev.length).toBe(rec.eventCount);
  for (const e of ev) {
    expect(['X', 'i', 'C', 'M']).toContain(e.ph);
    expect(Number.isInteger(e.ts) && Number.isInteger(e.pid)).toBe(true);
    if (e.ph === 'X') expect(Number.isInteger(e.dur) && e.dur! >= 0 && Number.isInteger(e.tid)).toBe(true);
    if (e.ph === 'i') expect(e.s).toBe('t');
    if (e.ph === 'C') expect(Object.values(e.args!).every((v) => typeof v === 'number')).toBe(true);
  }
  // Named processes: the pool's pressure track, and a space's three tracks.
  const threadNames = ev.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => e.args!['name']);
  expect(threadNames).toEqual(['pressure', 'host', 'queue submissions', 'migrations']);
  expect(ev.filter((e) => e.ph === 'M' && e.name === 'process_name').map((e) => e.args!['name'])).toEqual(['pool hmm', 'space space']);
  const recorded = events.slice(0, events.findIndex((e) => e.type === 'host' && e.op === 'read') + 1);

  // One span per migration, pass, dispatch and host operation heard while recording.
  const spans = (tid: number) => ev.filter((e) => e.ph === 'X' && e.tid === tid);
  expect(spans(3).length).toBe(recorded.filter((e) => e.type === 'migration').length);
  expect(spans(2).length).toBe(recorded.filter((e) => e.type === 'pass').length);
  expect(spans(1).map((e) => e.name)).toEqual(['write', 'dispatch in-place', 'dispatch affine', 'read']);
  const movedBytes = spans(3).reduce((s, e) => s + (e.args!['bytes'] as number), 0);
  expect(movedBytes).toBe(recorded.reduce((s, e) => s + (e.type === 'migration' ? e.bytes : 0), 0));
  expect(spans(2).some((e) => e.name === 'probe') && spans(2).some((e) => e.name === 'commit') && spans(2).some((e) => e.name === 'declared')).toBe(true);
  // The dispatch span holds its passes.
  const d = spans(1).find((e) => e.name === 'dispatch in-place')!;
  for (const p of spans(2).filter((e) => e.args!['kernel'] === 'in-place')) {
    expect(p.ts).toBeGreaterThanOrEqual(d.ts);
    expect(p.ts + p.dur!).toBeLessThanOrEqual(d.ts + d.dur! + 1);
  }
  // Evictions and fault batches are instants on the migrations track.
  expect(ev.filter((e) => e.ph === 'i' && e.name === 'eviction').length).toBe(recorded.filter((e) => e.type === 'eviction').length);
  expect(ev.filter((e) => e.ph === 'i' && e.name === 'fault batch').length).toBe(recorded.filter((e) => e.type === 'fault-batch').length);

  // The last counter samples are the residency at the end of the recording.
  const last = (name: string) => ev.filter((e) => e.ph === 'C' && e.name === name).at(-1)!.args!;
  expect(last('resident bytes')['resident']).toBe(res.residentBytes);
  expect(last('dirty bytes')['dirty']).toBe(res.deviceDirtyBytes);
  expect(last('frames used')['frames']).toBe(framesUsed);
  const peak = Math.max(...ev.filter((e) => e.name === 'resident bytes').map((e) => e.args!['resident'] as number));
  expect(peak).toBeLessThanOrEqual(64 * KiB); // the pool's capacity
  expect(peak).toBeGreaterThan(32 * KiB);

  // Bounded: a recorder with room for 10 records counts the rest as dropped.
  const small = recordTrace(pool, { maxEvents: 10 });
  await space.dispatch(inPlace, { workgroups: n / 64, args: [base, n], demand: true });
  small.stop();
  expect(small.eventCount).toBe(10);
  expect(small.dropped).toBeGreaterThan(0);
  expect(small.toJSON().otherData['dropped']).toBe(small.dropped);
  expect(() => recordTrace({} as never)).toThrow(/createPool/);
  expect(() => recordTrace(pool, { maxEvents: 0 })).toThrow(/maxEvents/);
});
