// What the Node demos share: the pool flags (--pool, --page, --upload), a
// progress bar for long phases (cli-progress on a terminal; plain lines when
// stdout is not one), the per-allocation ledger, `--trace FILE` (a Chrome
// trace of the run, for ui.perfetto.dev or chrome://tracing), and the summary
// table at the end.

import { writeFileSync } from 'node:fs';
import cliProgress from 'cli-progress';
import { createLedger, recordTrace, type AddressSpace, type TraceRecorder } from '../../src/index.ts';
import { fmtBytes, summaryRows, textTable } from '../lib/format.ts';
import {
  PREFETCH_CHOICES, THRASHING_CHOICES, UPLOAD_PATHS, type DemoHooks, type DemoOutcome, type PoolChoice, type PrefetchChoice, type ThrashingChoice,
} from '../lib/hooks.ts';

const MiB = 1024 * 1024;

/** parseArgs options every demo takes; defaults are the demo's. */
export function commonOptions(defaults: { pool: string; page: string }) {
  return {
    pool: { type: 'string', default: defaults.pool },
    page: { type: 'string', default: defaults.page },
    upload: { type: 'string', default: 'auto' },
    prefetch: { type: 'string', default: 'density' },
    thrashing: { type: 'string', default: 'pin' },
    trace: { type: 'string' },
  } as const;
}

function positive(name: string, v: string | undefined): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name}: "${v}" is not a positive number`);
  return n;
}

/** A flag whose value must be one of `choices`. */
export function oneOf<T extends string>(name: string, v: string | undefined, choices: readonly T[]): T {
  if (v === undefined || !(choices as readonly string[]).includes(v)) throw new Error(`--${name}: "${v}" is not one of ${choices.join(', ')}`);
  return v as T;
}

/** --pool MiB, --page KiB, --upload auto|writeBuffer|staging, --prefetch density|off, --thrashing pin|report|off. */
export function poolChoice(values: { pool?: string; page?: string; upload?: string; prefetch?: string; thrashing?: string }): PoolChoice {
  return {
    poolBytes: Math.round(positive('pool', values.pool) * MiB),
    pageSize: Math.round(positive('page', values.page) * 1024),
    uploadPath: oneOf('upload', values.upload ?? 'auto', UPLOAD_PATHS),
    prefetch: oneOf<PrefetchChoice>('prefetch', values.prefetch ?? 'density', PREFETCH_CHOICES),
    thrashing: oneOf<ThrashingChoice>('thrashing', values.thrashing ?? 'pin', THRASHING_CHOICES),
  };
}

/** A number flag. */
export function num(name: string, v: string | undefined): number {
  return positive(name, v);
}

export class DemoCli {
  readonly #tty = process.stdout.isTTY === true;
  readonly #tracePath: string | undefined;
  #bars: cliProgress.MultiBar | null = null;
  #bar: cliProgress.SingleBar | null = null;
  #phase = '';
  #lastQuarter = -1;
  #ledger = '';
  #traceNote = '';

  constructor(options: { trace?: string | undefined } = {}) {
    this.#tracePath = options.trace;
  }

  /** Print a line (above the progress bar, if one is showing). */
  log(line: string): void {
    if (this.#bars) this.#bars.log(line + '\n');
    else console.log(line);
  }

  readonly hooks: DemoHooks = {
    log: (line) => this.log(line),
    progress: (phase, done, total) => this.#progress(phase, done, total),
    attach: (space) => this.#attach(space),
  };

  #progress(phase: string, done: number, total: number): void {
    if (total <= 1) return; // one-step phases need no bar
    if (this.#tty) {
      if (phase !== this.#phase || !this.#bar) {
        this.#stopBar();
        this.#bars = new cliProgress.MultiBar({
          stream: process.stdout,
          format: '{phase} [{bar}] {percentage}% | {value}/{total} | {duration_formatted}',
          hideCursor: true,
          clearOnComplete: true,
          barsize: 30,
        }, cliProgress.Presets.shades_classic);
        this.#bar = this.#bars.create(total, done, { phase: phase.padEnd(16) });
        this.#phase = phase;
      }
      this.#bar.setTotal(total);
      this.#bar.update(done);
      if (done >= total) this.#stopBar();
      return;
    }
    // Not a terminal: a plain line at each quarter.
    if (phase !== this.#phase) {
      this.#phase = phase;
      this.#lastQuarter = -1;
    }
    const quarter = Math.floor((4 * done) / total);
    if (quarter > this.#lastQuarter) {
      this.#lastQuarter = quarter;
      if (done > 0) console.log(`[progress] ${phase}: ${done}/${total} (${Math.round((100 * done) / total)}%)`);
    }
  }

  #stopBar(): void {
    this.#bars?.stop();
    this.#bars = null;
    this.#bar = null;
    this.#phase = '';
  }

  #attach(space: AddressSpace): () => void {
    const ledger = createLedger(space);
    let trace: TraceRecorder | null = null;
    if (this.#tracePath) trace = recordTrace(space.pool);
    return () => {
      this.#stopBar();
      this.#ledger = ledger.format();
      ledger.close();
      if (trace && this.#tracePath) {
        trace.stop();
        const json = JSON.stringify(trace.toJSON());
        writeFileSync(this.#tracePath, json);
        this.#traceNote = `trace: ${this.#tracePath} (${trace.eventCount} records${trace.dropped > 0 ? `, ${trace.dropped} dropped` : ''}, ` +
          `${fmtBytes(json.length)}; open it in ui.perfetto.dev or chrome://tracing)`;
      }
    };
  }

  /** The summary table, the ledger and where the trace went. */
  summary(outcome: DemoOutcome, extra: [string, string][] = []): void {
    this.#stopBar();
    console.log('');
    console.log(textTable(['summary', ''], [...summaryRows(outcome), ...extra]));
    if (this.#ledger) {
      console.log('');
      console.log('ledger (per allocation: where its bytes are now, what moved and why)');
      console.log(this.#ledger);
    }
    if (this.#traceNote) {
      console.log('');
      console.log(this.#traceNote);
    }
  }

  /** Stop any bar (on an error path). */
  close(): void {
    this.#stopBar();
  }
}
