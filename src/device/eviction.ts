// Eviction choice: CLOCK (second chance) over the pool's owned frames. A policy
// in the UVM sense: it reads the frame table and a predicate, returns victims,
// and changes nothing but the reference bits and the hand it owns. The pool
// applies the decision (write back dirty victims, drop clean ones).
//
// Clean pages are preferred within one sweep: a dirty victim costs a
// write-back, a clean one costs nothing. The first revolution takes only
// unreferenced clean frames (clearing reference bits as it passes); if that
// did not find enough, a second and third revolution take any unreferenced
// frame. After one full revolution every evictable frame's bit is clear, so
// three revolutions always find every evictable frame.

import type { FrameTable } from './frames.ts';
import { FREE } from './frames.ts';

export interface VictimQuery {
  /** May this frame's page be evicted at all (not pinned, not locked by the running operation)? */
  evictable(space: number, page: number): boolean;
  /** Is the page's only valid copy on the device (eviction must write it back)? */
  dirty(space: number, page: number): boolean;
}

export function chooseVictims(frames: FrameTable, want: number, q: VictimQuery): number[] {
  const victims: number[] = [];
  if (want <= 0) return victims;
  const n = frames.frameCount;
  const chosen = new Uint8Array(n);
  for (let round = 0; round < 3 && victims.length < want; round++) {
    const cleanOnly = round === 0;
    for (let step = 0; step < n && victims.length < want; step++) {
      const f = frames.hand;
      frames.hand = f + 1 === n ? 0 : f + 1;
      const space = frames.owner[f]!;
      if (space === FREE || chosen[f]) continue;
      const page = frames.page[f]!;
      if (!q.evictable(space, page)) continue;
      if (frames.referenced[f]) {
        frames.referenced[f] = 0;
        continue;
      }
      if (cleanOnly && q.dirty(space, page)) continue;
      chosen[f] = 1;
      victims.push(f);
    }
  }
  return victims;
}

/** How many owned frames could be evicted at all (for the "working set too large" error). */
export function countEvictable(frames: FrameTable, q: VictimQuery): number {
  let c = 0;
  for (let f = 0; f < frames.frameCount; f++) {
    const space = frames.owner[f]!;
    if (space !== FREE && q.evictable(space, frames.page[f]!)) c++;
  }
  return c;
}
