// The ledger: where each allocation's bytes live and why they moved. A
// listener on the pool's event stream (it changes nothing), attributing every
// migration, fault and eviction of one space to the allocations whose bytes
// the pages hold. A page shared by several allocations counts for each by the
// bytes it holds of them; bytes of no live allocation go to '(unallocated)',
// and a freed allocation's figures move to '(freed)'. So each column's sum over
// the rows is exactly what the event stream reported: no byte counted twice.
//
// Residency is not tracked from events but read from the page table when asked
// (it is state, and the page table is its one owner).

import { assert } from '../assert.ts';
import type { Allocation } from '../space/allocator.ts';
import type { SpaceCore } from '../space/state.ts';
import { PageState } from '../space/page-table.ts';
import { MIGRATION_CAUSES, type HmmEvent, type MigrationCause } from '../events.ts';
import { DISPOSE } from '../lifetime.ts';

/** Bytes per migration cause (every cause present, 0 when none). */
export type ByCause = Readonly<Record<MigrationCause, number>>;

/** One row of a ledger: an allocation (or the '(freed)' / '(unallocated)' bytes) and what happened to its bytes. */
export interface LedgerEntry {
  /** Start address; -1 for the '(freed)' and '(unallocated)' rows. */
  readonly addr: number;
  /** The allocation's length in bytes; 0 for the '(freed)' and '(unallocated)' rows. */
  readonly byteLength: number;
  /** The allocation's label ('' if none), or '(freed)' / '(unallocated)'. */
  readonly label: string;
  /** Bytes of it on the device now (device-dirty or shared pages). */
  readonly residentBytes: number;
  /** Bytes of it whose only valid copy is on the device now. */
  readonly deviceDirtyBytes: number;
  /** Bytes copied host → device since the ledger began (or reset), by cause. */
  readonly toDevice: ByCause;
  /** Bytes copied device → host, by cause. */
  readonly toHost: ByCause;
  /** Bytes given a zeroed frame (never-written pages reaching the device: no copy). */
  readonly clearedBytes: number;
  /** Pages holding its bytes that a demand-paged dispatch missed on. */
  readonly faults: number;
  /** Pages holding its bytes that lost their frame to eviction. */
  readonly evictions: number;
}

/** Per-allocation accounting of a space's migrations, faults and evictions, from {@link createLedger}. */
export interface Ledger {
  /** One row per live allocation in address order, then '(freed)' and '(unallocated)' when they have figures. */
  entries(): LedgerEntry[];
  /** The row of the live allocation starting at `addr`. */
  entry(addr: number): LedgerEntry | undefined;
  /** Sums over all rows. */
  total(): LedgerEntry;
  /** A text table of entries() and the total, sizes in KiB/MiB. */
  format(): string;
  /** Zero the counted figures (residency is always "now"). */
  reset(): void;
  /** Stop listening. The figures stay readable. */
  close(): void;
  /** `using ledger = createLedger(space)`: close() when the scope ends (`await using` works too). */
  [Symbol.dispose](): void;
}

const FREED = -1;
const UNALLOCATED = -2;

class Acc {
  readonly toDevice = new Float64Array(MIGRATION_CAUSES.length);
  readonly toHost = new Float64Array(MIGRATION_CAUSES.length);
  cleared = 0;
  faults = 0;
  evictions = 0;

  add(o: Acc): void {
    for (let i = 0; i < MIGRATION_CAUSES.length; i++) {
      this.toDevice[i]! += o.toDevice[i]!;
      this.toHost[i]! += o.toHost[i]!;
    }
    this.cleared += o.cleared;
    this.faults += o.faults;
    this.evictions += o.evictions;
  }

  get empty(): boolean {
    return this.cleared === 0 && this.faults === 0 && this.evictions === 0 && this.toDevice.every((x) => x === 0) && this.toHost.every((x) => x === 0);
  }
}

const CAUSE_INDEX = new Map(MIGRATION_CAUSES.map((c, i) => [c, i]));

function byCause(a: Float64Array): ByCause {
  return Object.fromEntries(MIGRATION_CAUSES.map((c, i) => [c, a[i]!])) as Record<MigrationCause, number>;
}

class LedgerImpl implements Ledger {
  readonly #core: SpaceCore;
  readonly #off: () => void;
  /** Figures per live allocation, by start address; FREED and UNALLOCATED rows too. */
  #acc = new Map<number, Acc>();
  #allocs: Allocation[] = [];
  #version = -1;

  constructor(core: SpaceCore) {
    this.#core = core;
    this.#off = core.pool.events.on((e) => this.#hear(e));
  }

  #allocations(): Allocation[] {
    const a = this.#core.allocator;
    if (a.version !== this.#version) {
      this.#allocs = a.live();
      this.#version = a.version;
    }
    return this.#allocs;
  }

  #accOf(key: number): Acc {
    let acc = this.#acc.get(key);
    if (!acc) this.#acc.set(key, (acc = new Acc()));
    return acc;
  }

  /** Call `fn(acc, bytes)` for each allocation page p holds bytes of, and for the unallocated rest. */
  #attribute(p: number, fn: (acc: Acc, bytes: number) => void): void {
    const ps = this.#core.pageSize;
    const a = p * ps;
    const b = a + ps;
    const allocs = this.#allocations();
    // First allocation that ends after a.
    let lo = 0;
    let hi = allocs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const m = allocs[mid]!;
      if (m.addr + m.byteLength <= a) lo = mid + 1;
      else hi = mid;
    }
    let covered = 0;
    for (let i = lo; i < allocs.length && allocs[i]!.addr < b; i++) {
      const m = allocs[i]!;
      const n = Math.min(b, m.addr + m.byteLength) - Math.max(a, m.addr);
      if (n <= 0) continue;
      covered += n;
      fn(this.#accOf(m.addr), n);
    }
    if (covered < ps) fn(this.#accOf(UNALLOCATED), ps - covered);
  }

  #hear(e: HmmEvent): void {
    if (e.spaceId !== this.#core.id) return;
    switch (e.type) {
      case 'migration': {
        const i = CAUSE_INDEX.get(e.cause)!;
        const arr = e.direction === 'to-device' ? 'toDevice' : 'toHost';
        for (const p of e.pageList) this.#attribute(p, (acc, n) => (acc[arr][i]! += n));
        for (const p of e.clearedList) this.#attribute(p, (acc, n) => (acc.cleared += n));
        break;
      }
      case 'eviction':
        for (const p of e.pageList) this.#attribute(p, (acc) => acc.evictions++);
        break;
      case 'fault-batch':
        for (const p of e.pageList) this.#attribute(p, (acc) => acc.faults++);
        break;
      case 'host':
        if (e.op === 'free') {
          const acc = this.#acc.get(e.addr);
          if (acc) {
            this.#accOf(FREED).add(acc);
            this.#acc.delete(e.addr);
          }
        }
        break;
      default:
        break;
    }
  }

  #row(addr: number, byteLength: number, label: string, acc: Acc | undefined): LedgerEntry {
    const c = this.#core;
    let resident = 0;
    let dirty = 0;
    if (addr >= 0 && byteLength > 0) {
      const ps = c.pageSize;
      const t = c.table;
      const end = addr + byteLength;
      t.forEachTouched(Math.floor(addr / ps), Math.ceil(end / ps), (a, b) => {
        for (let p = a; p < b; p++) {
          const framed = t.isResident(p);
          const devOnly = t.stateOf(p) === PageState.Device;
          if (!framed && !devOnly) continue;
          const n = Math.min(end, (p + 1) * ps) - Math.max(addr, p * ps);
          if (framed) resident += n;
          if (devOnly) dirty += n;
        }
      });
    }
    const a = acc ?? new Acc();
    return {
      addr, byteLength, label, residentBytes: resident, deviceDirtyBytes: dirty,
      toDevice: byCause(a.toDevice), toHost: byCause(a.toHost), clearedBytes: a.cleared, faults: a.faults, evictions: a.evictions,
    };
  }

  entries(): LedgerEntry[] {
    const rows = this.#allocations().map((m) => this.#row(m.addr, m.byteLength, m.label, this.#acc.get(m.addr)));
    const freed = this.#acc.get(FREED);
    if (freed && !freed.empty) rows.push(this.#row(-1, 0, '(freed)', freed));
    const un = this.#acc.get(UNALLOCATED);
    if (un && !un.empty) rows.push(this.#unallocatedRow(un));
    return rows;
  }

  /** Bytes outside every live allocation: residency is what the page table holds minus the allocations' share. */
  #unallocatedRow(acc: Acc | undefined): LedgerEntry {
    const c = this.#core;
    const whole = this.#row(0, c.size, '', undefined);
    let resident = whole.residentBytes;
    let dirty = whole.deviceDirtyBytes;
    for (const m of this.#allocations()) {
      const r = this.#row(m.addr, m.byteLength, '', undefined);
      resident -= r.residentBytes;
      dirty -= r.deviceDirtyBytes;
    }
    const row = this.#row(-1, 0, '(unallocated)', acc);
    return { ...row, residentBytes: resident, deviceDirtyBytes: dirty };
  }

  entry(addr: number): LedgerEntry | undefined {
    const m = this.#allocations().find((x) => x.addr === addr);
    return m && this.#row(m.addr, m.byteLength, m.label, this.#acc.get(m.addr));
  }

  total(): LedgerEntry {
    const sum = new Acc();
    for (const acc of this.#acc.values()) sum.add(acc);
    const whole = this.#row(0, this.#core.size, '(total)', sum);
    return { ...whole, addr: -1 };
  }

  format(): string {
    const rows = [...this.entries(), this.total()];
    const head = ['allocation', 'size', 'resident', 'dirty', '→ device', '→ host', 'faults', 'evictions', 'moved by cause'];
    const cells = rows.map((r) => {
      const causes = MIGRATION_CAUSES.flatMap((c) => {
        const n = r.toDevice[c] + r.toHost[c];
        return n > 0 ? [`${c} ${bytes(n)}`] : [];
      });
      return [
        r.addr >= 0 ? `${r.label || 'alloc'} @0x${r.addr.toString(16)}` : r.label,
        r.addr >= 0 ? bytes(r.byteLength) : '',
        bytes(r.residentBytes), bytes(r.deviceDirtyBytes),
        bytes(sumOf(r.toDevice)), bytes(sumOf(r.toHost)), String(r.faults), String(r.evictions), causes.join(', '),
      ];
    });
    const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
    const line = (c: string[]) => c.map((x, i) => (i === 0 || i === c.length - 1 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join('  ').trimEnd();
    return [line(head), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
  }

  reset(): void {
    this.#acc = new Map();
  }

  close(): void {
    this.#off();
  }

  [DISPOSE](): void {
    this.close();
  }
}

function sumOf(b: ByCause): number {
  let s = 0;
  for (const c of MIGRATION_CAUSES) s += b[c];
  return s;
}

/** 0, 12 KiB, 3.5 MiB, 1.25 GiB. */
export function bytes(n: number): string {
  assert(n >= 0, 'negative byte count');
  if (n === 0) return '0';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let u = 0;
  while (n >= 1024 && u < units.length - 1) {
    n /= 1024;
    u++;
  }
  return `${Number.isInteger(n) ? n : n.toFixed(n < 10 ? 2 : 1)} ${units[u]}`;
}

/** A ledger over a space's state (the public factory is createLedger in src/api/ledger.ts). */
export function ledgerOf(core: SpaceCore): Ledger {
  return new LedgerImpl(core);
}
