// The thrashing demo: a working set larger than the pool, touched in turn by
// GPU dispatches and by host writes, so that pages bounce between host and
// device (the ping-pong the HMM seeds warn about). Shared by demos/node/thrash.ts,
// thrash.html and the tests.
//
// Two arrays, ping and pong, together larger than the pool. Each round the
// GPU computes dst[i] = src[i] * 1664525 + ((first + i) ^ round) over the
// whole of src → dst, chunk by chunk (so the pool fills and evicts), and then
// the host writes one word into every k-th page of dst: a device-dirty page
// is brought home for that (a partial write), its device copy dropped, and it
// goes back to the device in the next round, where dst is the source. The
// host runs the same computation on plain arrays, and the final arrays must
// match it word for word.
//
// Every page's migrations (copies, both ways) are counted from the pool's event
// stream; a page that moved more than THRASH_THRESHOLD times is what UVM's
// thrashing detector would flag (UVM: 3 migrations within a short lapse); this
// count includes evictions, to show the traffic. The runtime's own detector
// (src/policy/thrashing.ts) counts host↔device hand-overs, not evictions,
// within its lapse; the options' `thrashing`, `thrashingLapseMs` and
// `thrashingPinMs` choose whether it only reports ('report') or also keeps
// thrashing pages on the device ('pin', the default), and its 'thrashing'
// events are counted in the outcome. thrash.html runs both ways side by side.
//
// Dispatch modes: 'declared' names each chunk's src and dst ranges;
// 'transaction' and 'replay' declare nothing (demand mode). The kernel writes
// only dst from src, so it is idempotent and may replay.

import { createKernel, type MigrationEvent } from '../../src/index.ts';
import { fmtBytes } from './format.ts';
import { phase, withPoolAndSpace, type DemoHooks, type DemoOutcome, type PoolChoice } from './hooks.ts';

const MiB = 1024 * 1024;
const WG = 64;

export type ThrashMode = 'declared' | 'transaction' | 'replay';
export const THRASH_MODES: readonly ThrashMode[] = ['declared', 'transaction', 'replay'];
/** More migrations than this flags a page as thrashing. */
export const THRASH_THRESHOLD = 3;

export interface ThrashOptions extends PoolChoice {
  /** Bytes of ping + pong together (split in two halves, each a whole number of pages). */
  readonly workingSetBytes: number;
  readonly rounds: number;
  /** After each round the host writes a word into every `hostEvery`-th page of the result; 0: never. */
  readonly hostEvery: number;
  /** Bytes of src per dispatch (declared mode: src + dst chunk must fit the pool). */
  readonly chunkBytes: number;
  readonly mode: ThrashMode;
}

export const THRASH_DEFAULTS: ThrashOptions = {
  workingSetBytes: 2 * MiB, poolBytes: 1 * MiB, pageSize: 4096, rounds: 6, hostEvery: 2, chunkBytes: 256 * 1024,
  mode: 'declared', uploadPath: 'auto',
};

export interface ThrashRound {
  readonly round: number;
  /** Page migrations to the device / to the host during the round (GPU pass and host writes). */
  readonly toDevice: number;
  readonly toHost: number;
  readonly evictions: number;
  readonly ms: number;
}

export interface ThrashOutcome extends DemoOutcome {
  /** Pages of ping and pong. */
  readonly pages: number;
  /** Migrations (copies, both directions) of each page of ping and pong, in address order, from the event stream. */
  readonly moves: Uint32Array;
  /** Pages that moved more than THRASH_THRESHOLD times. */
  readonly thrashing: number;
  /** 'thrashing' events the runtime's detector raised (0 with thrashing 'off'), and the pages they named. */
  readonly thrashingEvents: number;
  readonly thrashingEventPages: number;
  readonly maxMoves: number;
  readonly rounds: readonly ThrashRound[];
  readonly words: number;
  readonly mismatches: number;
}

const CODE = /* wgsl */ `
// args: src, dst, first element index, element count, round
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x + inv.global_id.y * inv.num_workgroups.x * ${WG}u;
  if (i >= vm_arg_u32(3u)) { return; }
  let x = vm_load_u32(vm_arg_u32(0u) + i * 4u);
  vm_store_u32(vm_arg_u32(1u) + i * 4u, x * 1664525u + ((vm_arg_u32(2u) + i) ^ vm_arg_u32(4u)));
}`;
const step = createKernel({ label: 'thrash-step', workgroupSize: WG, code: CODE });
const stepIdempotent = createKernel({ label: 'thrash-step', workgroupSize: WG, code: CODE, idempotent: true });

function grid(elements: number): [number, number] {
  const groups = Math.ceil(elements / WG);
  const x = Math.min(groups, 32768);
  return [x, Math.ceil(groups / x)];
}

/** The word the host writes into page p of the result after round r. */
function hostWord(round: number, page: number): number {
  return (Math.imul(round + 1, 0x9e3779b1) ^ Math.imul(page, 0x85ebca6b)) >>> 0;
}

function check(o: ThrashOptions): void {
  if (!THRASH_MODES.includes(o.mode)) throw new Error(`mode: "${o.mode}" is not one of ${THRASH_MODES.join(', ')}`);
  if (!Number.isInteger(o.rounds) || o.rounds < 1) throw new Error(`rounds: ${o.rounds} is not a whole number ≥ 1`);
  if (!Number.isInteger(o.hostEvery) || o.hostEvery < 0) throw new Error(`host every: ${o.hostEvery} is not a whole number ≥ 0`);
  if (!(o.chunkBytes >= 4) || o.chunkBytes % 4 !== 0) throw new Error(`chunk: ${o.chunkBytes} bytes is not a positive multiple of 4`);
  if (o.mode === 'declared' && 2 * o.chunkBytes > o.poolBytes) {
    throw new Error(`chunk: a declared dispatch needs its src and dst chunks resident at once; 2 × ${fmtBytes(o.chunkBytes)} > the pool's ${fmtBytes(o.poolBytes)}`);
  }
}

export async function runThrashDemo(device: GPUDevice, o: ThrashOptions, hooks: DemoHooks = {}): Promise<ThrashOutcome> {
  check(o);
  const log = (line: string) => hooks.log?.(line);
  const ps = o.pageSize;
  const halfPages = Math.max(1, Math.round(o.workingSetBytes / 2 / ps));
  const half = halfPages * ps;
  const n = half / 4;
  const wordsPerPage = ps / 4;
  const chunk = Math.min(o.chunkBytes, half);
  const start = performance.now();
  return withPoolAndSpace(device, o, { size: 2 * half + ps, label: 'thrash' }, hooks, async (space, pool) => {
    const pages = space.size / ps;
    const moves = new Uint32Array(pages);
    let toDevice = 0;
    let toHost = 0;
    let thrashingEvents = 0;
    let thrashingEventPages = 0;
    const off = pool.on((e) => {
      if (e.type === 'thrashing' && e.space === space.label) {
        thrashingEvents++;
        thrashingEventPages += e.pages;
        return;
      }
      if (e.type !== 'migration' || e.space !== space.label) return;
      const m = e as MigrationEvent;
      for (const p of m.pageList) moves[p]!++;
      if (m.direction === 'to-device') toDevice += m.pageList.length;
      else toHost += m.pageList.length;
    });
    try {
      const arrays = [space.alloc(half, { align: ps, label: 'ping' }), space.alloc(half, { align: ps, label: 'pong' })] as const;
      const ratio = (2 * half) / pool.capacity;
      log(`working set ${fmtBytes(2 * half)} (ping + pong, ${2 * halfPages} pages of ${fmtBytes(ps)}) through a ${fmtBytes(pool.capacity)} pool ` +
        `(${ratio.toFixed(2)}×); ${o.rounds} rounds of ${o.mode} dispatches over ${fmtBytes(chunk)} chunks; ` +
        (o.hostEvery > 0 ? `after each round the host writes a word into ${o.hostEvery === 1 ? 'every page' : `one page in ${o.hostEvery}`} of the result` : 'no host writes'));

      // The host model, and the initial data (both arrays written, so no page starts unpopulated).
      const model = [new Uint32Array(n), new Uint32Array(n)] as const;
      for (let i = 0; i < n; i++) model[0][i] = (Math.imul(i, 2246822519) ^ 0x5bd1e995) >>> 0;
      await space.write(arrays[0], model[0]);
      await space.write(arrays[1], model[1]);

      const kernel = o.mode === 'replay' ? stepIdempotent : step;
      const rounds: ThrashRound[] = [];
      const progress = phase(hooks, 'rounds', o.rounds);
      for (let r = 0; r < o.rounds; r++) {
        const t = performance.now();
        const d0 = toDevice;
        const h0 = toHost;
        const e0 = pool.stats().evictions;
        const s = (r % 2) as 0 | 1;
        const d = (1 - s) as 0 | 1;
        for (let first = 0; first < half; first += chunk) {
          const len = Math.min(chunk, half - first);
          const src = arrays[s] + first;
          const dst = arrays[d] + first;
          await space.dispatch(kernel, {
            workgroups: grid(len / 4), args: [src, dst, first / 4, len / 4, r],
            ...(o.mode === 'declared'
              ? { read: [{ addr: src, byteLength: len }], write: [{ addr: dst, byteLength: len }] }
              : { demand: true }),
          });
        }
        const ms = model[s];
        const md = model[d];
        for (let i = 0; i < n; i++) md[i] = (Math.imul(ms[i]!, 1664525) + (i ^ r)) >>> 0;
        if (o.hostEvery > 0) {
          for (let p = 0; p < halfPages; p += o.hostEvery) {
            const w = hostWord(r, p);
            md[p * wordsPerPage] = w;
            await space.write(arrays[d] + p * ps, new Uint32Array([w]));
          }
        }
        const round: ThrashRound = {
          round: r, toDevice: toDevice - d0, toHost: toHost - h0, evictions: pool.stats().evictions - e0, ms: performance.now() - t,
        };
        rounds.push(round);
        log(`round ${r}: ${round.toDevice} pages to the device, ${round.toHost} to the host, ${round.evictions} evictions, ${round.ms.toFixed(0)} ms`);
        progress(r + 1);
      }

      // Verify both arrays word for word.
      let mismatches = 0;
      for (const k of [0, 1] as const) {
        const got = new Uint32Array((await space.read(arrays[k], half)).buffer);
        for (let i = 0; i < n; i++) if (got[i] !== model[k][i]) mismatches++;
      }
      space.checkInvariants();
      // The data pages only (the space's first page holds no allocation: 0 is never an address).
      const dataMoves = moves.slice(arrays[0] / ps, arrays[0] / ps + 2 * halfPages);
      let thrashing = 0;
      let maxMoves = 0;
      for (const m of dataMoves) {
        if (m > THRASH_THRESHOLD) thrashing++;
        if (m > maxMoves) maxMoves = m;
      }
      const dataPages = 2 * halfPages;
      const words = 2 * n;
      log(`migrations per page: max ${maxMoves}, mean ${(dataMoves.reduce((a, b) => a + b, 0) / dataPages).toFixed(1)}; ` +
        `${thrashing} of ${dataPages} pages moved more than ${THRASH_THRESHOLD} times (UVM would call them thrashing)`);
      log(`data: ${words - mismatches}/${words} words match the host computation`);
      const ok = mismatches === 0;
      return {
        ok, pages: dataPages, moves: dataMoves, thrashing, thrashingEvents, thrashingEventPages, maxMoves, rounds, words, mismatches,
        ms: performance.now() - start, stats: pool.stats(), dataBytes: 2 * half, ratio,
        summary: ok
          ? `ok: ${words} words verified against the host after ${o.rounds} rounds; ${thrashing} of ${dataPages} pages moved more than ${THRASH_THRESHOLD} times (max ${maxMoves})`
          : `FAILED: ${mismatches} of ${words} words differ from the host computation`,
      };
    } finally {
      off();
    }
  });
}
