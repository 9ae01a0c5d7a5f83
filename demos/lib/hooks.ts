// What a demo run tells its host (a Node CLI, a web page, a test) while it
// goes: log lines, progress, and the space it works in, so that the host can
// watch it (a residency heatmap, a ledger, a trace) without the demo knowing.

import {
  createPool, createSpace, type AddressSpace, type Pool, type PoolOptions, type PoolStats, type SpaceOptions,
} from '../../src/index.ts';

export interface DemoHooks {
  /** One line of the demo's report. */
  log?(line: string): void;
  /** `done` of `total` units of the phase named `phase` are finished (called at least at 0 and at total). */
  progress?(phase: string, done: number, total: number): void;
  /**
   * Called once the demo's space exists, before anything is allocated in it (so a
   * listener on `space.pool.on` sees every allocation). The function it returns
   * runs after the demo's work, just before the space is destroyed: the last
   * moment to read its state.
   */
  attach?(space: AddressSpace): (() => void) | void;
}

/** SpaceOptions.densityPrefetch: 'density' (the default: UVM's 51 % subtree rule) or 'off'. */
export type PrefetchChoice = 'density' | 'off';
/** SpaceOptions.thrashing: 'pin' (the default: detect and keep thrashing pages on the device), 'report' (detect only), 'off'. */
export type ThrashingChoice = 'pin' | 'report' | 'off';

/** The pool knobs every demo takes, and the space's policies. */
export interface PoolChoice {
  readonly poolBytes: number;
  readonly pageSize: number;
  /** PoolOptions.uploadPath. */
  readonly uploadPath: NonNullable<PoolOptions['uploadPath']>;
  /** Default 'density'. */
  readonly prefetch?: PrefetchChoice;
  /** Default 'pin'. */
  readonly thrashing?: ThrashingChoice;
  /**
   * ThrashingOptions.lapseMs: hand-overs of a page within this many ms make it thrashing (default the
   * runtime's, 50 ms, which suits a real GPU; a demo round on a software GPU takes longer than that).
   */
  readonly thrashingLapseMs?: number;
  /** ThrashingOptions.pinMs: how long the 'pin' mitigation keeps a thrashing page on the device (default the runtime's, 500 ms). */
  readonly thrashingPinMs?: number;
}

export const UPLOAD_PATHS: readonly PoolChoice['uploadPath'][] = ['auto', 'writeBuffer', 'staging'];
export const PREFETCH_CHOICES: readonly PrefetchChoice[] = ['density', 'off'];
export const THRASHING_CHOICES: readonly ThrashingChoice[] = ['pin', 'report', 'off'];

/** The space options a choice stands for. */
export function spacePolicies(
  choice: Pick<PoolChoice, 'prefetch' | 'thrashing' | 'thrashingLapseMs' | 'thrashingPinMs'>,
): Pick<SpaceOptions, 'densityPrefetch' | 'thrashing'> {
  const thrashing = choice.thrashing ?? 'pin';
  return {
    densityPrefetch: (choice.prefetch ?? 'density') === 'density',
    thrashing: thrashing === 'off' ? false : {
      mitigation: thrashing === 'pin' ? 'pin' : 'none',
      ...(choice.thrashingLapseMs !== undefined ? { lapseMs: choice.thrashingLapseMs } : {}),
      ...(choice.thrashingPinMs !== undefined ? { pinMs: choice.thrashingPinMs } : {}),
    },
  };
}

/** What every demo outcome carries besides its own figures. */
export interface DemoOutcome {
  readonly ok: boolean;
  /** One line: what was verified and how it came out (the pages' #status). */
  readonly summary: string;
  /** The whole run, ms. */
  readonly ms: number;
  /** The pool's counters at the end of the run. */
  readonly stats: PoolStats;
  /** Bytes of data the demo works on, and that over the pool's capacity. */
  readonly dataBytes: number;
  readonly ratio: number;
}

/**
 * Create the pool and one space, tell the hooks, run `fn`, and tear down in
 * order (the attach hook's detach, the space, the pool) whatever happens.
 * `fn` gets the pool's stats at its end through the returned value's `stats`.
 */
export async function withPoolAndSpace<T>(
  device: GPUDevice, choice: PoolChoice, space: { size: number; label: string }, hooks: DemoHooks,
  fn: (space: AddressSpace, pool: Pool) => Promise<T>,
): Promise<T> {
  const pool = await createPool(device, {
    capacity: choice.poolBytes, pageSize: choice.pageSize, uploadPath: choice.uploadPath, label: `${space.label}-pool`,
  });
  try {
    const size = Math.ceil(space.size / choice.pageSize) * choice.pageSize;
    const s = createSpace(pool, { size, label: space.label, ...spacePolicies(choice) });
    let detach: (() => void) | void = undefined;
    try {
      detach = hooks.attach?.(s);
      return await fn(s, pool);
    } finally {
      try {
        detach?.();
      } finally {
        s.destroy();
      }
    }
  } finally {
    pool.destroy();
  }
}

/** Report `total` steps of a phase: progress(0) now, then one call per step. */
export function phase(hooks: DemoHooks, name: string, total: number): (done: number) => void {
  hooks.progress?.(name, 0, total);
  return (done) => hooks.progress?.(name, done, total);
}
