// The operations of the file-space kill test (file-space-kill.dawn.test.ts),
// from a seed: the child process (kill-child.ts) runs them on a file-backed
// space, the test replays them on flat memory. Every FLUSH_EVERY operations
// the child awaits flush() and prints `F <operations done>`.

export const PS = 4096;
export const SIZE = 1024 * 1024;
export const HOST_BUDGET = 256 * 1024;
export const FLUSH_EVERY = 8;

export type Op =
  | { kind: 'write'; addr: number; bytes: Uint8Array }
  /** words [addr, addr + 4·count) become w·3 + add (the affine kernel). */
  | { kind: 'affine'; addr: number; count: number; add: number };

export function opStream(seed: number): () => Op {
  let x = seed >>> 0 || 1;
  const next = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  return () => {
    if (next() < 0.25) {
      const count = 64 * (1 + Math.floor(next() * 64)); // up to 4 pages of words
      const addr = Math.floor(next() * ((SIZE - count * 4) / 256)) * 256;
      return { kind: 'affine', addr, count, add: 1 + Math.floor(next() * 1000) };
    }
    const len = 1 + Math.floor(next() * 3 * PS);
    const addr = Math.floor(next() * (SIZE - len));
    const bytes = new Uint8Array(len);
    const fill = Math.floor(next() * 256);
    for (let i = 0; i < len; i++) bytes[i] = (fill + i * 7) & 0xff;
    return { kind: 'write', addr, bytes };
  };
}

/** Apply `op` to flat memory; returns the pages it changed (first, last). */
export function apply(mem: Uint8Array, op: Op): [number, number] {
  if (op.kind === 'write') {
    mem.set(op.bytes, op.addr);
    return [Math.floor(op.addr / PS), Math.floor((op.addr + op.bytes.length - 1) / PS)];
  }
  const w = new Uint32Array(mem.buffer, op.addr, op.count);
  for (let i = 0; i < op.count; i++) w[i] = (Math.imul(w[i]!, 3) + op.add) >>> 0;
  return [Math.floor(op.addr / PS), Math.floor((op.addr + op.count * 4 - 1) / PS)];
}
