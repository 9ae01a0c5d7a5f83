// Development builds: the state modules check their invariants at every
// transition (the page table per page, the frame table per frame), not only
// in tests. A production bundle (NODE_ENV=production, which bundlers define)
// skips those checks; an internal bug then shows later, where it does harm.

function production(): boolean {
  try {
    // Written out in full so that bundlers replace it; in a browser without one it throws.
    return process.env.NODE_ENV === 'production';
  } catch {
    return false;
  }
}

/** Check invariants at every state transition (off only in production builds). */
export const DEV: boolean = !production();
