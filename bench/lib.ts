// Measurement helpers shared by the benchmark cases: time to GPU completion,
// run variants interleaved (so drift in a noisy machine hits all alike), and
// take medians.

export interface CaseResult {
  /** The figure compared with the target (a ratio, a count, a rate). */
  readonly value: number;
  readonly target: number;
  /** 'min': value must be ≥ target; 'max': value must be ≤ target. */
  readonly direction: 'min' | 'max';
  readonly unit: string;
  /** What a hand-written version achieved (null where there is none). */
  readonly baseline: number | null;
  /** What the runtime achieved, in the same unit as the baseline. */
  readonly runtime: number;
  /** Units of `baseline` and `runtime`, and anything else worth recording. */
  readonly detail: Readonly<Record<string, string | number>>;
}

export interface BenchContext {
  readonly device: GPUDevice;
  readonly quick: boolean;
  /** Repetitions per variant after warm-up. */
  readonly reps: number;
  log(line: string): void;
}

export const MiB = 1 << 20;
export const KiB = 1 << 10;

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Milliseconds from the call to the GPU having finished everything submitted. */
export async function timeGpu(device: GPUDevice, fn: () => Promise<unknown> | unknown): Promise<number> {
  await device.queue.onSubmittedWorkDone();
  const t0 = performance.now();
  await fn();
  await device.queue.onSubmittedWorkDone();
  return performance.now() - t0;
}

/**
 * Run each variant once as warm-up, then `reps` rounds of every variant
 * (`between` runs untimed after each, to reset state). Returns the median
 * milliseconds of each.
 *
 * Each round runs the variants in a fresh order (a seeded shuffle, so runs are
 * repeatable). A variant leaves work behind that the next one pays for: Dawn
 * frees a large mapped buffer, lavapipe drops its pages, the page cache churns.
 * In a fixed order the same successor always pays (measured: a raw readback
 * run after the 64 MiB-buffer variant took 18 ms instead of 7–8), which turns
 * one variant's leftovers into another's slowness.
 */
export async function interleave<K extends string>(
  ctx: BenchContext,
  variants: Readonly<Record<K, () => Promise<number>>>,
  between?: (k: K) => Promise<void>,
): Promise<Record<K, number>> {
  const keys = Object.keys(variants) as K[];
  const times = Object.fromEntries(keys.map((k) => [k, [] as number[]])) as Record<K, number[]>;
  const next = xorshift32(0x9e3779b9 ^ keys.length);
  const random = (): number => next() / 2 ** 32;
  for (let r = -1; r < ctx.reps; r++) {
    const order = r < 0 ? keys : shuffle(keys, random);
    for (const k of order) {
      const ms = await variants[k]();
      if (r >= 0) times[k].push(ms);
      if (between) await between(k);
    }
  }
  return Object.fromEntries(keys.map((k) => [k, median(times[k])])) as Record<K, number>;
}

/** Marsaglia's xorshift32: repeatable pseudo-random u32s (data fills, variant orders). */
export function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/** Fisher–Yates on a copy. */
function shuffle<T>(xs: readonly T[], random: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

export const gbps = (bytes: number, ms: number): number => bytes / (ms / 1000) / 1e9;
