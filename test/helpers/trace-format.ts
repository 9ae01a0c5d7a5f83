// A checker for the Trace Event Format rules that Perfetto and chrome://tracing
// depend on, so that every trace the test suite records (and the demos write
// with --trace) is known to open without misdrawn or dropped slices. Perfetto
// truncates or drops a complete event that overlaps another on its track
// without nesting; chrome://tracing draws it over its neighbour. Neither says
// so loudly, which is why this runs on every recorded trace, not on one sample.
//
// It returns the problems as sentences (empty: valid) instead of throwing, so a
// test shows all of them at once and the soak run (no vitest) can use it too.
// It covers the phases the runtime writes and the ones a fix might switch to:
// B/E, X, i/I, C, M, and nestable async b/e/n.

/** Slack for comparing timestamps (µs): 1 ns, or a part in 10⁹ of large ones. */
function slack(t: number): number {
  return Math.max(1e-3, Math.abs(t) * 1e-9);
}

const PHASES = new Set(['B', 'E', 'X', 'i', 'I', 'C', 'M', 'b', 'e', 'n']);
/** Phases that belong to one thread track (pid, tid); instants only when thread-scoped. */
const ON_THREAD = new Set(['B', 'E', 'X']);
const METADATA = new Set(['process_name', 'process_sort_index', 'process_labels', 'thread_name', 'thread_sort_index']);

type Raw = Readonly<Record<string, unknown>>;

interface Slice {
  readonly start: number;
  readonly end: number;
  /** Index of the event (the B for B/E pairs) in traceEvents. */
  readonly index: number;
  readonly name: string;
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

function describe(e: Raw, i: number): string {
  return `#${i} ${String(e['ph'])} "${String(e['name'] ?? '')}"`;
}

/**
 * Every way `trace` breaks the Trace Event Format rules that viewers rely on:
 * B/E balanced per (pid, tid); complete events (and B/E slices) nested per
 * (pid, tid) — no partial overlap, within a nanosecond; async b/e matched by
 * (pid, cat, id, name); counters with numeric values; thread_name metadata for
 * every (pid, tid) an event uses and process_name for every pid; ts and dur
 * finite and non-negative. An empty list means valid.
 */
export function traceProblems(trace: { readonly traceEvents: readonly object[] } | readonly object[]): string[] {
  const events = (Array.isArray(trace) ? trace : (trace as { traceEvents: readonly object[] }).traceEvents) as readonly Raw[];
  const problems: string[] = [];
  const threadNames = new Map<string, string>();
  const processNames = new Map<number, string>();
  const usedThreads = new Map<string, number>(); // key → first event index
  const usedPids = new Map<number, number>();
  const slices = new Map<string, Slice[]>();
  const durations = new Map<string, { ph: 'B' | 'E'; ts: number; index: number; name: string }[]>();
  const asyncs = new Map<string, { ph: 'b' | 'e'; ts: number; index: number }[]>();

  events.forEach((e, i) => {
    if (typeof e !== 'object' || e === null) {
      problems.push(`#${i} is not an object`);
      return;
    }
    const ph = e['ph'];
    const at = describe(e, i);
    if (typeof ph !== 'string' || !PHASES.has(ph)) {
      problems.push(`${at}: unknown phase`);
      return;
    }
    if (ph !== 'E' && typeof e['name'] !== 'string') problems.push(`${at}: name must be a string`);
    const pid = e['pid'];
    if (!isInt(pid)) {
      problems.push(`${at}: pid must be a whole number, got ${String(pid)}`);
      return;
    }
    usedPids.set(pid, usedPids.get(pid) ?? i);
    const ts = e['ts'];
    if (!isNum(ts) || ts < 0) {
      problems.push(`${at}: ts must be a non-negative number, got ${String(ts)}`);
      return;
    }
    const tid = e['tid'];
    if (tid !== undefined && !isInt(tid)) problems.push(`${at}: tid must be a whole number, got ${String(tid)}`);
    const onThread = ON_THREAD.has(ph) || ((ph === 'i' || ph === 'I') && (e['s'] ?? 't') === 't');
    if ((ph === 'i' || ph === 'I') && !['t', 'p', 'g', undefined].includes(e['s'] as string | undefined)) {
      problems.push(`${at}: instant scope must be t, p or g, got ${String(e['s'])}`);
    }
    const thread = `${pid}/${String(tid)}`;
    if (onThread) {
      if (!isInt(tid)) {
        problems.push(`${at}: needs a tid (it belongs to a thread track)`);
        return;
      }
      if (!usedThreads.has(thread)) usedThreads.set(thread, i);
    }
    const name = String(e['name'] ?? '');
    const args = e['args'];
    switch (ph) {
      case 'X': {
        const dur = e['dur'];
        if (!isNum(dur) || dur < 0) {
          problems.push(`${at}: dur must be a non-negative number, got ${String(dur)}`);
          return;
        }
        const list = slices.get(thread) ?? [];
        list.push({ start: ts, end: ts + dur, index: i, name });
        slices.set(thread, list);
        return;
      }
      case 'B':
      case 'E': {
        const list = durations.get(thread) ?? [];
        list.push({ ph, ts, index: i, name });
        durations.set(thread, list);
        return;
      }
      case 'C': {
        if (typeof args !== 'object' || args === null || Object.keys(args).length === 0) {
          problems.push(`${at}: a counter needs args with at least one value`);
          return;
        }
        for (const [k, v] of Object.entries(args)) if (!isNum(v)) problems.push(`${at}: counter value ${k} is not a finite number: ${JSON.stringify(v)}`);
        return;
      }
      case 'b':
      case 'e':
      case 'n': {
        const id = e['id'] ?? (e['id2'] as Raw | undefined)?.['local'] ?? (e['id2'] as Raw | undefined)?.['global'];
        if (typeof id !== 'string' && !isNum(id)) problems.push(`${at}: an async event needs an id`);
        if (typeof e['cat'] !== 'string') problems.push(`${at}: an async event needs a cat`);
        if (ph === 'n') return;
        const key = `${pid}|${String(e['cat'])}|${String(id)}|${name}`;
        const list = asyncs.get(key) ?? [];
        list.push({ ph, ts, index: i });
        asyncs.set(key, list);
        return;
      }
      case 'M': {
        if (!METADATA.has(name)) {
          problems.push(`${at}: unknown metadata record`);
          return;
        }
        const a = (typeof args === 'object' && args !== null ? args : {}) as Raw;
        if (name === 'process_name' || name === 'thread_name') {
          if (typeof a['name'] !== 'string' || a['name'] === '') problems.push(`${at}: args.name must be a non-empty string`);
        }
        if ((name === 'process_sort_index' || name === 'thread_sort_index') && !isInt(a['sort_index'])) problems.push(`${at}: args.sort_index must be a whole number`);
        if (name === 'thread_name' || name === 'thread_sort_index') {
          if (!isInt(tid)) {
            problems.push(`${at}: needs a tid`);
            return;
          }
        }
        if (name === 'thread_name') {
          const before = threadNames.get(thread);
          if (before !== undefined && before !== a['name']) problems.push(`${at}: thread ${thread} named twice ("${before}", "${String(a['name'])}")`);
          threadNames.set(thread, String(a['name']));
        }
        if (name === 'process_name') {
          const before = processNames.get(pid);
          if (before !== undefined && before !== a['name']) problems.push(`${at}: process ${pid} named twice ("${before}", "${String(a['name'])}")`);
          processNames.set(pid, String(a['name']));
        }
        return;
      }
    }
  });

  // B/E: a stack per thread, in time order (the file's order among equal times).
  for (const [thread, list] of durations) {
    const ordered = list.map((d, k) => ({ ...d, k })).sort((a, b) => a.ts - b.ts || a.k - b.k);
    const open: typeof ordered = [];
    for (const d of ordered) {
      if (d.ph === 'B') {
        open.push(d);
        continue;
      }
      const top = open.pop();
      if (!top) {
        problems.push(`#${d.index} E on ${thread} at ${d.ts} has no open B`);
        continue;
      }
      if (d.name !== '' && d.name !== top.name) problems.push(`#${d.index} E "${d.name}" on ${thread} closes B "${top.name}" (#${top.index})`);
      const list2 = slices.get(thread) ?? [];
      list2.push({ start: top.ts, end: d.ts, index: top.index, name: top.name });
      slices.set(thread, list2);
    }
    for (const b of open) problems.push(`#${b.index} B "${b.name}" on ${thread} is never closed`);
  }

  // Nesting: by start, the longer first among equal starts (it is the parent); a slice must end
  // within the innermost slice still open when it starts.
  for (const [thread, list] of slices) {
    list.sort((a, b) => a.start - b.start || b.end - a.end || a.index - b.index);
    const open: Slice[] = [];
    for (const s of list) {
      while (open.length > 0 && open[open.length - 1]!.end <= s.start + slack(s.start)) open.pop();
      const parent = open[open.length - 1];
      if (parent && s.end > parent.end + slack(parent.end)) {
        problems.push(
          `#${s.index} "${s.name}" [${s.start}, ${s.end}] on ${thread} overlaps #${parent.index} "${parent.name}" [${parent.start}, ${parent.end}] without nesting`,
        );
        continue; // judge the rest against the slices that do nest
      }
      open.push(s);
    }
  }

  // Async: every e closes an earlier b of the same (pid, cat, id, name); every b is closed.
  for (const [key, list] of asyncs) {
    const ordered = list.map((a, k) => ({ ...a, k })).sort((a, b) => a.ts - b.ts || a.k - b.k);
    let open = 0;
    for (const a of ordered) {
      if (a.ph === 'b') open++;
      else if (open === 0) problems.push(`#${a.index} e (${key}) has no open b`);
      else open--;
    }
    if (open > 0) problems.push(`async ${key}: ${open} b without an e`);
  }

  for (const [thread, i] of usedThreads) {
    if (!threadNames.has(thread)) problems.push(`thread ${thread} (first used by #${i}) has no thread_name metadata`);
  }
  for (const [pid, i] of usedPids) {
    if (!processNames.has(pid)) problems.push(`process ${pid} (first used by #${i}) has no process_name metadata`);
  }
  return problems;
}
