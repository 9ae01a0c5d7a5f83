// The trace checker (test/helpers/trace-format.ts) itself: it passes a trace
// that keeps every rule and names each broken rule in one that does not —
// otherwise a clean result on the recorded traces would prove nothing.

import { describe, expect, test } from 'vitest';
import { traceProblems } from '../helpers/trace-format.ts';

const meta = [
  { name: 'process_name', ph: 'M', ts: 0, pid: 1, args: { name: 'space a' } },
  { name: 'thread_name', ph: 'M', ts: 0, pid: 1, tid: 1, args: { name: 'host' } },
  { name: 'thread_name', ph: 'M', ts: 0, pid: 1, tid: 2, args: { name: 'queue' } },
  { name: 'thread_sort_index', ph: 'M', ts: 0, pid: 1, tid: 2, args: { sort_index: 2 } },
];
const X = (name: string, ts: number, dur: number, tid = 1) => ({ name, ph: 'X', ts, dur, pid: 1, tid });

describe('traceProblems', () => {
  test('a trace that keeps every rule has no problems, in any event order', () => {
    const ok = [
      ...meta,
      X('child', 12, 3), // recorded before its parent, as a listener that hears spans at their end does
      X('parent', 10, 10),
      X('touching', 20, 5), // starts where parent ends
      X('same start, shorter', 30, 1),
      X('same start, longer', 30, 4),
      X('zero', 40, 0),
      X('end within a nanosecond of the parent', 11, 9.0000001),
      X('overlaps on another track', 15, 10, 2),
      { name: 'outer', ph: 'B', ts: 50, pid: 1, tid: 1 },
      { name: 'inner', ph: 'X', ts: 51, dur: 2, pid: 1, tid: 1 },
      { ph: 'E', ts: 60, pid: 1, tid: 1 },
      { name: 'copy', cat: 'm', ph: 'b', id: 1, ts: 5, pid: 1 },
      { name: 'copy', cat: 'm', ph: 'b', id: 2, ts: 6, pid: 1 },
      { name: 'copy', cat: 'm', ph: 'e', id: 1, ts: 9, pid: 1 },
      { name: 'copy', cat: 'm', ph: 'e', id: 2, ts: 8, pid: 1 },
      { name: 'bytes', ph: 'C', ts: 7, pid: 1, args: { resident: 4096, dirty: 0 } },
      { name: 'fault', ph: 'i', s: 't', ts: 13, pid: 1, tid: 1 },
      { name: 'pressure', ph: 'i', s: 'p', ts: 13, pid: 1 },
    ];
    expect(traceProblems({ traceEvents: ok })).toEqual([]);
  });

  test('partial overlap on one track is reported, whichever comes first in the file', () => {
    const read = X('read', 15, 10);
    const write = X('write', 10, 10);
    for (const order of [[write, read], [read, write]]) {
      const p = traceProblems([...meta, ...order]);
      expect(p).toHaveLength(1);
      expect(p[0]).toMatch(/#\d+ "read" \[15, 25\] on 1\/1 overlaps #\d+ "write" \[10, 20\] without nesting/);
    }
    // Past the nanosecond of slack, it counts.
    expect(traceProblems([...meta, X('parent', 10, 10), X('child', 11, 9.01)])).toHaveLength(1);
    // A slice that straddles the end of a nested pair's child but not the parent is fine; one that leaves the parent is not.
    expect(traceProblems([...meta, X('p', 0, 100), X('c', 10, 10), X('d', 30, 10)])).toEqual([]);
    expect(traceProblems([...meta, X('p', 0, 100), X('c', 10, 10), X('d', 90, 20)])).toHaveLength(1);
  });

  test('B/E must balance and nest with the complete events of their track', () => {
    expect(traceProblems([...meta, { name: 'a', ph: 'B', ts: 1, pid: 1, tid: 1 }])).toEqual(['#4 B "a" on 1/1 is never closed']);
    expect(traceProblems([...meta, { ph: 'E', ts: 1, pid: 1, tid: 1 }])[0]).toMatch(/E on 1\/1 at 1 has no open B/);
    expect(traceProblems([...meta, { name: 'a', ph: 'B', ts: 1, pid: 1, tid: 1 }, { name: 'b', ph: 'E', ts: 2, pid: 1, tid: 1 }])[0]).toMatch(/E "b" on 1\/1 closes B "a"/);
    expect(traceProblems([...meta, { name: 'a', ph: 'B', ts: 1, pid: 1, tid: 1 }, { ph: 'E', ts: 5, pid: 1, tid: 1 }, X('x', 3, 5)])[0]).toMatch(/"x" \[3, 8\].*overlaps.*"a" \[1, 5\]/);
  });

  test('async b/e pair by pid, cat, id and name', () => {
    const b = { name: 'copy', cat: 'm', ph: 'b', id: 1, ts: 5, pid: 1 };
    expect(traceProblems([...meta, b])).toEqual(['async 1|m|1|copy: 1 b without an e']);
    expect(traceProblems([...meta, b, { ...b, ph: 'e', id: 2, ts: 6 }])).toHaveLength(2);
    expect(traceProblems([...meta, b, { ...b, ph: 'e', name: 'other', ts: 6 }])).toHaveLength(2);
    expect(traceProblems([...meta, b, { ...b, ph: 'e', ts: 4 }])[0]).toMatch(/e \(1\|m\|1\|copy\) has no open b/);
    expect(traceProblems([...meta, { name: 'copy', ph: 'b', ts: 5, pid: 1 }, { name: 'copy', ph: 'e', ts: 6, pid: 1 }])).toContain('#4 b "copy": an async event needs an id');
  });

  test('counters need numeric values', () => {
    expect(traceProblems([...meta, { name: 'c', ph: 'C', ts: 1, pid: 1, args: { v: '3' } }])[0]).toMatch(/counter value v is not a finite number/);
    expect(traceProblems([...meta, { name: 'c', ph: 'C', ts: 1, pid: 1, args: { v: Number.NaN } }])).toHaveLength(1);
    expect(traceProblems([...meta, { name: 'c', ph: 'C', ts: 1, pid: 1 }])[0]).toMatch(/needs args/);
  });

  test('every thread an event uses is named, and every process', () => {
    expect(traceProblems([...meta, X('a', 1, 1, 3)])).toEqual(['thread 1/3 (first used by #4) has no thread_name metadata']);
    expect(traceProblems([...meta, { name: 'i', ph: 'i', s: 't', ts: 1, pid: 1, tid: 9 }])).toHaveLength(1);
    expect(traceProblems([...meta, { name: 'c', ph: 'C', ts: 1, pid: 2, args: { v: 1 } }])).toEqual(['process 2 (first used by #4) has no process_name metadata']);
    expect(traceProblems([...meta, { name: 'thread_name', ph: 'M', ts: 0, pid: 1, tid: 1, args: { name: 'other' } }])[0]).toMatch(/named twice/);
    expect(traceProblems([...meta, { name: 'thread_name', ph: 'M', ts: 0, pid: 1, args: { name: 'x' } }])[0]).toMatch(/needs a tid/);
    expect(traceProblems([...meta, X('a', 1, 1), { name: 'x', ph: 'X', ts: 1, dur: 1, pid: 1 }])[0]).toMatch(/needs a tid/);
  });

  test('timestamps and durations are non-negative numbers; phases and metadata are known', () => {
    expect(traceProblems([...meta, X('a', -1, 1)])[0]).toMatch(/ts must be a non-negative number/);
    expect(traceProblems([...meta, { name: 'a', ph: 'X', ts: '1', dur: 1, pid: 1, tid: 1 }])[0]).toMatch(/ts must be/);
    expect(traceProblems([...meta, X('a', 1, -1)])[0]).toMatch(/dur must be a non-negative number/);
    expect(traceProblems([...meta, { name: 'a', ph: 'X', ts: 1, pid: 1, tid: 1 }])[0]).toMatch(/dur must be/);
    expect(traceProblems([...meta, { name: 'a', ph: 'Q', ts: 1, pid: 1 }])[0]).toMatch(/unknown phase/);
    expect(traceProblems([...meta, { name: 'a', ph: 'X', ts: 1, dur: 1, pid: 1.5, tid: 1 }])[0]).toMatch(/pid must be a whole number/);
    expect(traceProblems([...meta, { name: 'thread_label', ph: 'M', ts: 0, pid: 1, args: {} }])[0]).toMatch(/unknown metadata/);
    expect(traceProblems([...meta, { name: 'i', ph: 'i', s: 'x', ts: 1, pid: 1, tid: 1 }])[0]).toMatch(/scope/);
  });
});
