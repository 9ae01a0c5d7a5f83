// What a page shows while a demo runs and after: a progress bar, the
// residency heatmap, live counters from pool.stats() (refreshed on
// requestAnimationFrame), and at the end a summary table and the
// per-allocation ledger.

import { createLedger, type AddressSpace, type Ledger, type Pool, type PoolStats } from '../../../src/index.ts';
import { fmtBytes, summaryRows } from '../../lib/format.ts';
import type { DemoHooks, DemoOutcome } from '../../lib/hooks.ts';
import { Heatmap, type HeatmapView } from './heatmap.ts';

interface Counter {
  readonly key: string;
  readonly label: string;
  /** The raw number (data-value, what tests read). */
  value(s: PoolStats): number;
  text(s: PoolStats): string;
}

const COUNTERS: readonly Counter[] = [
  { key: 'bytesToDevice', label: 'to device', value: (s) => s.bytesToDevice, text: (s) => `${fmtBytes(s.bytesToDevice)} · ${s.pagesToDevice} pages` },
  { key: 'bytesToHost', label: 'to host', value: (s) => s.bytesToHost, text: (s) => `${fmtBytes(s.bytesToHost)} · ${s.pagesToHost} pages` },
  { key: 'pagesCleared', label: 'cleared (first touch)', value: (s) => s.pagesCleared, text: (s) => `${s.pagesCleared} pages` },
  { key: 'evictions', label: 'evictions', value: (s) => s.evictions, text: (s) => `${s.evictions} (${s.evictionWritebacks} written back, ${s.evictionDrops} dropped)` },
  { key: 'invalidations', label: 'invalidations', value: (s) => s.invalidations, text: (s) => String(s.invalidations) },
  { key: 'dispatches', label: 'dispatches', value: (s) => s.dispatches, text: (s) => String(s.dispatches) },
  { key: 'faultBatches', label: 'fault batches', value: (s) => s.faultBatches, text: (s) => `${s.faultBatches} · ${s.pagesFaulted} pages faulted` },
  { key: 'demandPasses', label: 'demand passes', value: (s) => s.demandPasses, text: (s) => String(s.demandPasses) },
  { key: 'aborts', label: 'aborted commits', value: (s) => s.aborts, text: (s) => String(s.aborts) },
  { key: 'framesUsed', label: 'frames used / free', value: (s) => s.framesUsed, text: (s) => `${s.framesUsed} / ${s.framesFree} of ${s.frameCount}` },
  { key: 'pinnedBytes', label: 'pinned', value: (s) => s.pinnedBytes, text: (s) => fmtBytes(s.pinnedBytes) },
];

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export class LiveView {
  readonly heatmap: Heatmap;
  readonly #progress: HTMLProgressElement;
  readonly #progressText: HTMLElement;
  readonly #counters = new Map<string, HTMLElement>();
  readonly #elapsed: HTMLElement;
  readonly #summary: HTMLTableElement;
  readonly #ledgerEl: HTMLPreElement;
  #pool: Pool | null = null;
  #ledger: Ledger | null = null;
  #stats: PoolStats | null = null;
  #started = 0;
  #running = false;

  /** `idPrefix` keeps element ids unique when a page has several live views (the thrashing comparison). */
  constructor(container: HTMLElement, view: HeatmapView = 'state', idPrefix = '') {
    this.heatmap = new Heatmap(view, idPrefix);
    const prog = el('div', 'progress');
    this.#progress = el('progress');
    this.#progress.id = `${idPrefix}progress`;
    this.#progress.max = 1;
    this.#progress.value = 0;
    this.#progressText = el('span', 'progress-text', '');
    prog.append(this.#progress, this.#progressText);

    const counters = el('dl', 'counters');
    counters.id = `${idPrefix}counters`;
    const addCounter = (key: string, label: string) => {
      const dd = el('dd', undefined, '–');
      dd.dataset.counter = key;
      const pair = el('div');
      pair.append(el('dt', undefined, label), dd);
      counters.append(pair);
      return dd;
    };
    this.#elapsed = addCounter('elapsed', 'elapsed');
    for (const c of COUNTERS) this.#counters.set(c.key, addCounter(c.key, c.label));

    this.#summary = el('table', 'summary');
    this.#summary.id = `${idPrefix}summary`;
    this.#ledgerEl = el('pre', 'ledger');
    this.#ledgerEl.id = `${idPrefix}ledger`;
    const ledgerHead = el('h2', undefined, 'Ledger: where each allocation lives and why it moved');
    const summaryHead = el('h2', undefined, 'Summary');
    const liveHead = el('h2', undefined, 'Live');
    container.append(prog, liveHead, this.heatmap.element, counters, summaryHead, this.#summary, ledgerHead, this.#ledgerEl);

    const tick = (now: number) => {
      this.heatmap.frame(now);
      this.#refresh(now);
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }

  /** Hooks for a run: progress, the space to watch, log lines to `log`. */
  start(log: (line: string) => void): DemoHooks {
    this.#started = performance.now();
    this.#running = true;
    this.#stats = null;
    this.#summary.replaceChildren();
    this.#ledgerEl.textContent = '';
    this.#progress.value = 0;
    this.#progressText.textContent = '';
    return {
      log,
      progress: (phase, done, total) => {
        this.#progress.value = total > 0 ? done / total : 1;
        this.#progressText.textContent = `${phase}: ${done} / ${total}`;
      },
      attach: (space: AddressSpace) => {
        const detachHeatmap = this.heatmap.attach(space);
        this.#pool = space.pool;
        this.#ledger = createLedger(space);
        return () => {
          detachHeatmap();
          this.#stats = space.pool.stats();
          this.#ledgerEl.textContent = this.#ledger?.format() ?? '';
          this.#ledger?.close();
          this.#ledger = null;
          this.#pool = null;
          this.#show(this.#stats, performance.now());
        };
      },
    };
  }

  /** The run is over: the summary table (from the outcome, when there is one). */
  finish(outcome: DemoOutcome | null): void {
    this.#running = false;
    this.#refresh(performance.now());
    if (!outcome) return;
    this.#summary.replaceChildren(...summaryRows(outcome).map(([k, v]) => {
      const tr = el('tr');
      tr.append(el('th', undefined, k), el('td', undefined, v));
      return tr;
    }));
  }

  #refresh(now: number): void {
    if (this.#running) this.#elapsed.textContent = `${((now - this.#started) / 1000).toFixed(1)} s`;
    if (this.#pool) this.#show(this.#pool.stats(), now);
  }

  #show(s: PoolStats, _now: number): void {
    for (const c of COUNTERS) {
      const dd = this.#counters.get(c.key)!;
      const v = String(c.value(s));
      if (dd.dataset.value === v) continue;
      dd.dataset.value = v;
      dd.textContent = c.text(s);
    }
  }
}
