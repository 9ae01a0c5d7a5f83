// Nothing flushed is lost: a child process runs random host writes and
// dispatches on a file-backed space (a host budget of a quarter of it, so
// pages are evicted to the file between flushes) and is killed (SIGKILL) at a
// random moment. Each page of the file must then equal that page in the
// flat-memory model at the last flush that resolved, or at a later point the
// child may have reached before it was killed (an eviction may have written a
// newer page; the child awaits each flush, so it never passes the next one).

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { apply, FLUSH_EVERY, opStream, PS, SIZE } from './kill-ops.ts';

const dir = mkdtempSync(join(tmpdir(), 'hmm-kill-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const hash = (b: Uint8Array): string => createHash('sha1').update(b).digest('hex');

/** Run the child until it has flushed at least `minFlushes` times and `extraMs` more, then kill it; its stdout lines. */
function runAndKill(path: string, seed: number, minFlushes: number, extraMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'kill-child.ts'), path, String(seed)], {
      env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let armed = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const flushes = out.split('\n').filter((l) => l.startsWith('F ')).length;
      if (!armed && flushes >= minFlushes) {
        armed = true;
        setTimeout(() => child.kill('SIGKILL'), extraMs);
      }
    });
    child.stderr.on('data', (d: Buffer) => void (err += d.toString()));
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`child exited ${code} ${signal}: ${err}`));
      else resolve(out.split('\n').filter(Boolean));
    });
  });
}

test('after SIGKILL at random points, the file equals the model at the last resolved flush (or a later point per page)', async () => {
  let rng = 0x9e3779b9;
  const rand = (): number => ((rng = (Math.imul(rng, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  for (let round = 0; round < 4; round++) {
    const seed = 1 + Math.floor(rand() * 1e9);
    const path = join(dir, `kill-${round}.bin`);
    const lines = await runAndKill(path, seed, 1 + Math.floor(rand() * 3), Math.floor(rand() * 400));
    const flushed = Math.max(0, ...lines.filter((l) => l.startsWith('F ')).map((l) => Number(l.slice(2))));
    expect(flushed).toBeGreaterThan(0);
    // The model at the last flush, then every state the child may have reached before the next one.
    const mem = new Uint8Array(SIZE);
    const next = opStream(seed);
    for (let i = 0; i < flushed; i++) apply(mem, next());
    const ok = Array.from({ length: SIZE / PS }, (_, p) => new Set([hash(mem.subarray(p * PS, (p + 1) * PS))]));
    for (let i = 0; i < FLUSH_EVERY; i++) {
      const [a, b] = apply(mem, next());
      for (let p = a; p <= b; p++) ok[p]!.add(hash(mem.subarray(p * PS, (p + 1) * PS)));
    }
    const file = new Uint8Array(readFileSync(path));
    expect(file.length).toBe(SIZE);
    const bad = ok.map((set, p) => (set.has(hash(file.subarray(p * PS, (p + 1) * PS))) ? -1 : p)).filter((p) => p >= 0);
    expect(bad, `round ${round} (seed ${seed}, killed after flush ${flushed}): pages unlike any allowed state`).toEqual([]);
  }
}, 240_000);
