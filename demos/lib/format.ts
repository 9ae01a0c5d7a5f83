// Small text formatting shared by the Node demos and the pages (the Node
// demos' text tables are drawn by cli-table3 in demos/node/cli.ts).

import type { PoolStats } from '../../src/index.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

export function fmtBytes(b: number): string {
  if (b >= GiB) return `${(b / GiB).toFixed(2)} GiB`;
  if (b >= MiB) return `${(b / MiB).toFixed(1)} MiB`;
  if (b >= KiB) return `${(b / KiB).toFixed(1)} KiB`;
  return `${b} B`;
}

/** A size in MiB without trailing zeros: 0.5, 1, 2.25. */
export function fmtMiB(b: number): string {
  return (b / MiB).toFixed(3).replace(/\.?0+$/, '');
}

export function fmtMs(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`;
}

/** The end-of-run summary every demo prints: [what, value] rows. */
export function summaryRows(o: { ms: number; stats: PoolStats; dataBytes: number; ratio: number }): [string, string][] {
  const s = o.stats;
  return [
    ['time', fmtMs(o.ms)],
    ['data / pool', `${fmtBytes(o.dataBytes)} / ${fmtBytes(s.capacity)} (${o.ratio.toFixed(2)}×)`],
    ['page size', `${fmtBytes(s.pageSize)} (${s.frameCount} frames)`],
    ['to device', `${fmtBytes(s.bytesToDevice)} (${s.pagesToDevice} pages, ${s.pagesCleared} cleared)`],
    ['to host', `${fmtBytes(s.bytesToHost)} (${s.pagesToHost} pages)`],
    ['moved / data', `${((s.bytesToDevice + s.bytesToHost) / Math.max(1, o.dataBytes)).toFixed(2)}×`],
    ['evictions', `${s.evictions} (${s.evictionWritebacks} write-backs, ${s.evictionDrops} drops)`],
    ['invalidations', String(s.invalidations)],
    ['dispatches', String(s.dispatches)],
    ['fault batches', `${s.faultBatches} (${s.pagesFaulted} pages faulted)`],
    ['demand passes', `${s.demandPasses} (${s.aborts} aborted commits)`],
    ['upload paths', `writeBuffer ${fmtBytes(s.uploadWriteBufferBytes)}, staging ${fmtBytes(s.uploadStagingBytes)}`],
  ];
}
