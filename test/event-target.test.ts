// The EventTarget of pools and spaces without a GPU (src/event-target.ts):
// records arrive as CustomEvents with the record as `detail`, and the target
// knows exactly when it has listeners — added, removed, fired `once`, removed
// by their `signal` — so that the bus builds nothing for nobody.

import { describe, expect, it } from 'vitest';
import { HmmEventTarget, type PoolEventMap } from '../src/event-target.ts';
import type { HmmEvent, MigrationEvent } from '../src/index.ts';

class Target extends HmmEventTarget<PoolEventMap> {
  readonly changes: boolean[] = [];
  protected override listening(on: boolean): void {
    this.changes.push(on);
  }
  send(e: HmmEvent): void {
    this.deliver(e);
  }
}

const migration: MigrationEvent = {
  type: 'migration', time: 2, start: 1, space: 's', spaceId: 1, direction: 'to-device', cause: 'prefetch',
  pages: 1, bytes: 4096, cleared: 0, pageList: Uint32Array.of(3), clearedList: new Uint32Array(0),
};

describe('HmmEventTarget', () => {
  it('is an EventTarget; a record arrives as a CustomEvent of its type with the record as detail', () => {
    const t = new Target();
    expect(t).toBeInstanceOf(EventTarget);
    const got: CustomEvent<MigrationEvent>[] = [];
    const seenThis: unknown[] = [];
    const current: unknown[] = [];
    t.addEventListener('migration', function (this: unknown, e) {
      seenThis.push(this);
      current.push(e.currentTarget);
      got.push(e);
    });
    t.send(migration);
    t.send({ ...migration, type: 'eviction', writebacks: 0, drops: 1 } as unknown as HmmEvent); // nobody listens to evictions
    expect(got).toHaveLength(1);
    expect(got[0]).toBeInstanceOf(CustomEvent);
    expect(got[0]!.type).toBe('migration');
    expect(got[0]!.detail).toBe(migration);
    expect(got[0]!.target).toBe(t);
    expect(current).toEqual([t]);
    expect(seenThis).toEqual([t]);
  });

  it('counts listeners as the platform keys them: first in → listening(true), last out → listening(false)', () => {
    const t = new Target();
    const a = (): void => undefined;
    const b = { handleEvent: (): void => undefined };
    t.addEventListener('migration', a);
    t.addEventListener('migration', a); // the same (type, listener, capture): ignored
    t.addEventListener('migration', a, true); // captured: a second registration
    t.addEventListener('eviction', b);
    t.addEventListener('eviction', null); // nothing
    expect(t.changes).toEqual([true]);
    t.removeEventListener('migration', a);
    t.removeEventListener('migration', a); // already gone
    t.removeEventListener('eviction', b);
    expect(t.changes).toEqual([true]);
    t.removeEventListener('migration', a, { capture: true });
    expect(t.changes).toEqual([true, false]);
  });

  it('a `once` listener hears one event and is gone; a `signal` removes its listener', () => {
    const t = new Target();
    let n = 0;
    t.addEventListener('migration', () => n++, { once: true });
    expect(t.changes).toEqual([true]);
    t.send(migration);
    t.send(migration);
    expect(n).toBe(1);
    expect(t.changes).toEqual([true, false]);

    const ac = new AbortController();
    let m = 0;
    t.addEventListener('migration', () => m++, { signal: ac.signal });
    t.send(migration);
    ac.abort();
    t.send(migration);
    expect(m).toBe(1);
    expect(t.changes).toEqual([true, false, true, false]);

    t.addEventListener('migration', () => m++, { signal: ac.signal }); // already aborted: not added
    expect(t.changes).toEqual([true, false, true, false]);
  });

  it('a handleEvent object is called as the platform calls it, and stopImmediatePropagation works', () => {
    const t = new Target();
    const calls: string[] = [];
    const obj = {
      handleEvent(e: CustomEvent<MigrationEvent>) {
        calls.push(`obj:${e.detail.cause}`);
        e.stopImmediatePropagation();
      },
    };
    t.addEventListener('migration', obj);
    t.addEventListener('migration', () => calls.push('after'));
    t.send(migration);
    expect(calls).toEqual(['obj:prefetch']);
  });
});
