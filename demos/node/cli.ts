// What the Node demos share: flags parsed with node:util's parseArgs (strict:
// an unknown flag or a bad value prints the demo's usage and exits 2; --help
// prints it), the pool and policy flags (--pool, --page, --upload, --prefetch,
// --thrashing), a progress bar for long phases (cli-progress on a terminal;
// plain lines when stdout is not one), the per-allocation ledger, `--trace
// FILE` (a Chrome trace of the run, for ui.perfetto.dev or chrome://tracing),
// and the summary table at the end (cli-table3).
//
// Dawn's two warnings. On every device creation Dawn's native code prints
//   Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 …
//   Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 …
// to stderr (fd 2, not process.stderr): the driver reports a limit of a
// million dynamic-offset buffers and Dawn caps it at 16. The runtime binds no
// buffer with a dynamic offset, so they are noise, and alarming noise in a
// demo. JavaScript cannot filter what native code writes to fd 2, so a demo
// started without WEBGPU_HMM_DEMO_CHILD (withoutDawnWarnings(), first thing in each entry script) runs itself again as a child whose
// stderr it reads, dropping exactly those two lines and passing every other
// byte on; stdout and stdin are the terminal's, so progress bars still draw.
// `--dawn-warnings` runs in one process and shows them.

import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import cliProgress from 'cli-progress';
import Table from 'cli-table3';
import { createLedger, recordTrace, type AddressSpace, type TraceRecorder } from '../../src/index.ts';
import { fmtBytes, summaryRows } from '../lib/format.ts';
import {
  PREFETCH_CHOICES, THRASHING_CHOICES, UPLOAD_PATHS, type DemoHooks, type DemoOutcome, type PoolChoice, type PrefetchChoice, type ThrashingChoice,
} from '../lib/hooks.ts';

const MiB = 1024 * 1024;

const DAWN_WARNING = /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.$/;

/** Run this demo again as a child without Dawn's two warnings on stderr; resolves with its exit code. */
function rerunFilteringDawnWarnings(): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'pipe'],
    env: { ...process.env, WEBGPU_HMM_DEMO_CHILD: '1' },
  });
  // Ctrl-C reaches the child too (same process group): let it end, then exit with its code.
  const ignore = () => {};
  process.on('SIGINT', ignore);
  process.on('SIGTERM', ignore);
  let pending = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    const kept = lines.filter((l) => !DAWN_WARNING.test(l));
    if (kept.length > 0) process.stderr.write(kept.join('\n') + '\n');
  });
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      if (pending && !DAWN_WARNING.test(pending)) process.stderr.write(pending);
      resolve(code ?? (signal ? 128 + (signal === 'SIGINT' ? 2 : 15) : 1));
    });
  });
}

/**
 * Called first by each demo's entry script (not on import: tests import this
 * module): in the parent, run the demo again as a child without Dawn's two
 * warnings and exit with its code; in the child (or with --dawn-warnings or
 * --help), return and go on.
 */
export async function withoutDawnWarnings(): Promise<void> {
  if (process.env['WEBGPU_HMM_DEMO_CHILD'] === undefined && !process.argv.includes('--dawn-warnings')
    && !process.argv.includes('--help') && !process.argv.includes('-h')) {
    process.exit(await rerunFilteringDawnWarnings());
  }
}

let usageText = '';

/** Exit 2 with the message and the usage (no stack trace: the fix is in the message). */
function usageExit(message: string): never {
  process.stderr.write(`${message}\n\n${usageText}\n`);
  process.exit(2);
}

/**
 * Parse the demo's flags: `parse` calls node:util's parseArgs (strict, no
 * positionals) with the demo's options, which include commonOptions(). `--help`
 * prints `usage`; a parse error prints it after the message and exits 2, as do
 * the value checks below (num, oneOf, poolChoice) when they fail later.
 */
export function parseDemoArgs<T>(usage: string, parse: () => T): T {
  usageText = usage.trim();
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(usageText);
    process.exit(0);
  }
  try {
    return parse();
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) usageExit((e as Error).message);
    throw e;
  }
}

/** The usage lines for the flags commonOptions() adds. */
export const COMMON_USAGE = `
  --pool MiB          device pool capacity
  --page KiB          page size (a power of two, 4 KiB – 2 MiB)
  --upload PATH       auto | writeBuffer | staging (PoolOptions.uploadPath)
  --prefetch P        density | off (SpaceOptions.densityPrefetch; demand mode only)
  --thrashing T       pin | report | off (SpaceOptions.thrashing: detect and keep on the GPU, detect only, off)
  --trace FILE        write the run as a Chrome trace (ui.perfetto.dev, chrome://tracing)
  --dawn-warnings     show Dawn's two maxDynamic…BuffersPerPipelineLayout warnings (hidden by default: harmless)
  -h, --help          this text`;

/** parseArgs options every demo takes; defaults are the demo's. */
export function commonOptions(defaults: { pool: string; page: string }) {
  return {
    help: { type: 'boolean', short: 'h', default: false },
    'dawn-warnings': { type: 'boolean', default: false },
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
  if (!Number.isFinite(n) || n <= 0) usageExit(`--${name}: "${v}" is not a positive number`);
  return n;
}

/** A whole-number flag ≥ min. */
export function whole(name: string, v: string | undefined, min = 0): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) usageExit(`--${name}: "${v}" is not a whole number ≥ ${min}`);
  return n;
}

/** A flag whose value must be one of `choices`. */
export function oneOf<T extends string>(name: string, v: string | undefined, choices: readonly T[]): T {
  if (v === undefined || !(choices as readonly string[]).includes(v)) usageExit(`--${name}: "${v}" is not one of ${choices.join(', ')}`);
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

/** A text table (cli-table3, no colours, compact); columns after the first are right-aligned where every cell starts with a digit. */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const numeric = head.map((_, i) => i > 0 && rows.length > 0 && rows.every((r) => /^[-+]?\d/.test(r[i] ?? '')));
  const t = new Table({
    head: [...head],
    colAligns: numeric.map((n) => (n ? 'right' : 'left')),
    style: { head: [], border: [], compact: true },
  });
  t.push(...rows.map((r) => [...r]));
  return t.toString();
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
    console.log(table(['summary', ''], [...summaryRows(outcome), ...extra]));
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
