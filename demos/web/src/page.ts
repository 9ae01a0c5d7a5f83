// What every demo page shares: inputs preset from the query string, the
// memory and policy controls (pool, page size, dispatch mode, upload path,
// density prefetch, thrashing detection and mitigation), the live view
// (progress, heatmap, counters, summary, ledger) — one per run, side by side
// where a page compares runs — the log, the status element, and the Run
// button's life cycle.

import type { DemoHooks, DemoOutcome, PoolChoice, PrefetchChoice, ThrashingChoice } from '../../lib/hooks.ts';
import { PREFETCH_CHOICES, THRASHING_CHOICES, UPLOAD_PATHS } from '../../lib/hooks.ts';
import { requestWebDevice } from './device.ts';
import type { HeatmapView } from './heatmap.ts';
import { LiveView } from './live.ts';

function el<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`page has no #${id}`);
  return e as T;
}

function make<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  return e;
}

const params = new URLSearchParams(location.search);

/**
 * A numeric control (value ≥ min, or > 0 without one). Its default is `value`
 * (the demo library's) or else the HTML's; `?id=value` in the URL overrides it.
 */
export function numberInput(id: string, min?: number, value?: number): () => number {
  const input = el<HTMLInputElement>(id);
  if (value !== undefined) input.value = String(value);
  const preset = params.get(id);
  if (preset !== null) input.value = preset;
  return () => {
    const v = Number(input.value);
    if (!Number.isFinite(v) || (min === undefined ? v <= 0 : v < min)) {
      throw new Error(`${id}: "${input.value}" is not ${min === undefined ? 'a positive number' : `a number ≥ ${min}`}`);
    }
    return v;
  };
}

export function checkboxInput(id: string): () => boolean {
  const input = el<HTMLInputElement>(id);
  const preset = params.get(id);
  if (preset !== null) input.checked = preset !== '0' && preset !== 'false';
  return () => input.checked;
}

/** A <select> of `values`; `?id=value` presets it (an unknown value fails the run, naming the choices). */
export function selectInput<T extends string>(id: string, values: readonly T[]): () => T {
  const select = el<HTMLSelectElement>(id);
  const preset = params.get(id);
  let bad: string | null = null;
  if (preset !== null) {
    if ((values as readonly string[]).includes(preset)) select.value = preset;
    else bad = preset;
  }
  return () => {
    if (bad !== null) throw new Error(`${id}: "${bad}" is not one of ${values.join(', ')}`);
    return select.value as T;
  };
}

const MODE_TEXT: Record<string, string> = {
  declared: 'declared ranges',
  transaction: 'demand paging, as a transaction',
  replay: 'demand paging, idempotent replay',
};

function labelled(text: string, control: HTMLElement, title?: string): HTMLLabelElement {
  const l = make('label');
  if (title) l.title = title;
  l.append(text, control);
  return l;
}

function numberField(id: string, value: number, min: number): HTMLInputElement {
  const i = make('input');
  i.id = id;
  i.type = 'number';
  i.min = String(min);
  i.step = 'any';
  i.value = String(value);
  return i;
}

function selectField(id: string, options: readonly [string, string][], value: string): HTMLSelectElement {
  const s = make('select');
  s.id = id;
  for (const [v, t] of options) s.append(new Option(t, v));
  s.value = value;
  return s;
}

export interface Controls<M extends string> extends PoolChoice {
  readonly mode: M;
}

const PREFETCH_TEXT: Record<PrefetchChoice, string> = {
  density: 'density (UVM: a subtree > 51 % present is fetched whole)',
  off: 'off (fetch only the pages that missed)',
};
const THRASHING_TEXT: Record<ThrashingChoice, string> = {
  pin: 'detect and pin (keep thrashing pages on the GPU)',
  report: 'detect and report only',
  off: 'off',
};

/**
 * Add the "memory" (pool, page size) and "policies" fieldsets to the page's
 * form, before the Run button, preset from the URL
 * (`?pool=MiB&page=KiB&mode=…&upload=…&prefetch=density|off&thrashing=pin|report|off&lapse=ms&hold=ms`).
 * `modes` are the dispatch modes that apply to the demo (the first is the default).
 * With `thrashing: 'compare'` the page runs both ways itself and has no
 * thrashing choice, only the detector's lapse.
 */
export function poolControls<M extends string>(
  defaults: { poolMiB: number; pageKiB: number; mode: M; modeNote?: string; lapseMs?: number; pinMs?: number; thrashing?: 'choice' | 'compare' },
  modes: readonly M[],
): () => Controls<M> {
  const form = el<HTMLFormElement>('controls');
  const run = el<HTMLButtonElement>('run');

  const memory = make('fieldset');
  memory.append(make('legend', 'memory'),
    labelled('pool (MiB)', numberField('pool', defaults.poolMiB, 0), 'device pool capacity'),
    labelled('page (KiB)', numberField('page', defaults.pageKiB, 4), 'page size: a power of two, 4 KiB – 2 MiB'));

  const policies = make('fieldset');
  const modeSel = selectField('mode', modes.map((m) => [m, MODE_TEXT[m] ?? m]), defaults.mode);
  if (modes.length === 1) modeSel.disabled = true;
  const upload = selectField('upload', UPLOAD_PATHS.map((u) => [u, u]), 'auto');
  const prefetch = selectField('prefetch', PREFETCH_CHOICES.map((c) => [c, PREFETCH_TEXT[c]]), 'density');
  const compare = defaults.thrashing === 'compare';
  const thrash = compare ? null : selectField('thrashing', THRASHING_CHOICES.map((c) => [c, THRASHING_TEXT[c]]), 'pin');
  const lapse = numberField('lapse', defaults.lapseMs ?? 50, 0);
  const hold = numberField('hold', defaults.pinMs ?? 500, 0);
  policies.append(make('legend', 'policies'),
    labelled('dispatch mode', modeSel, defaults.modeNote),
    labelled('upload path', upload, "PoolOptions.uploadPath: 'auto' picks per transfer size"),
    labelled('prefetch', prefetch,
      'SpaceOptions.densityPrefetch. Applies to demand paging (transaction, replay): a declared dispatch already fetches its whole declared set.'));
  if (thrash) policies.append(labelled('thrashing', thrash, 'SpaceOptions.thrashing: a page handed between host and GPU 3 times within the lapse is thrashing'));
  policies.append(labelled('thrashing lapse (ms)', lapse,
    'ThrashingOptions.lapseMs: hand-overs within this many ms count (the runtime\'s default, 50 ms, suits a real GPU)'),
    labelled('pin for (ms)', hold, 'ThrashingOptions.pinMs: how long the pin mitigation keeps a thrashing page on the GPU (default 500 ms)'));
  form.insertBefore(memory, run);
  form.insertBefore(policies, run);
  if (defaults.modeNote) {
    const note = make('p', defaults.modeNote);
    note.className = 'note';
    policies.append(note);
  }

  const pool = numberInput('pool');
  const page = numberInput('page');
  const mode = selectInput('mode', modes);
  const up = selectInput('upload', UPLOAD_PATHS);
  const pf = selectInput('prefetch', PREFETCH_CHOICES);
  const th = thrash ? selectInput('thrashing', THRASHING_CHOICES) : () => 'pin' as const;
  const lapseMs = numberInput('lapse');
  const pinMs = numberInput('hold');
  return () => ({
    poolBytes: Math.round(pool() * 1024 * 1024), pageSize: Math.round(page() * 1024), mode: mode(), uploadPath: up(),
    prefetch: pf(), thrashing: th(), thrashingLapseMs: lapseMs(), thrashingPinMs: pinMs(),
  });
}

/** One run of a page: the thrashing page has two, side by side. */
export interface Variant {
  /** Short id: element ids are prefixed with it. */
  readonly key: string;
  /** Column heading (and log prefix). */
  readonly title: string;
  run(device: GPUDevice, hooks: DemoHooks): Promise<DemoOutcome>;
}

/** What a page with several variants says about them together. */
export interface Comparison {
  readonly ok: boolean;
  /** The #status line. */
  readonly summary: string;
  /** Rows of the comparison table: [what, one cell per variant]. */
  readonly rows: readonly (readonly string[])[];
}

/**
 * Wire the Run button: request a device, run with hooks that feed the live
 * view, and leave `#status` with data-status="ok" or "fail" and the outcome's
 * summary (what e2e tests wait for and check). `?autorun` runs on load.
 */
export function setupPage(
  label: string, run: (device: GPUDevice, hooks: DemoHooks) => Promise<DemoOutcome>, options: { view?: HeatmapView } = {},
): void {
  setupVariants(label, [{ key: '', title: '', run }], options);
}

/**
 * Several runs of a demo, one after the other, each in its own column with
 * its own live view (heatmap, counters, summary, ledger; element ids prefixed
 * with `${key}-`), then `compare` over their outcomes as a table
 * (#comparison) and the #status line. One variant with key '' is a plain page.
 */
export function setupVariants(
  label: string, variants: readonly Variant[],
  options: { view?: HeatmapView; compare?: (outcomes: readonly DemoOutcome[]) => Comparison } = {},
): void {
  const button = el<HTMLButtonElement>('run');
  const logEl = el<HTMLPreElement>('log');
  const status = el<HTMLElement>('status');
  const container = el<HTMLElement>('live');
  const several = variants.length > 1;
  if (several) container.classList.add('variants');
  const views = variants.map((v) => {
    let box = container;
    if (several) {
      box = make('section');
      box.className = 'variant';
      box.id = `${v.key}-column`;
      box.append(make('h2', v.title));
      container.append(box);
    }
    return new LiveView(box, options.view, v.key ? `${v.key}-` : '');
  });
  let table: HTMLTableElement | null = null;
  if (options.compare) {
    const head = make('h2', 'Side by side');
    table = make('table');
    table.id = 'comparison';
    table.className = 'summary comparison';
    container.after(head, table);
  }
  const setStatus = (state: string, text: string) => {
    status.dataset.status = state;
    status.textContent = text;
  };

  const go = async () => {
    button.disabled = true;
    logEl.textContent = '';
    table?.replaceChildren();
    setStatus('running', 'running…');
    const outcomes: DemoOutcome[] = [];
    let failed: string | null = null;
    for (const [i, v] of variants.entries()) {
      const live = views[i]!;
      const prefix = several ? `[${v.title}] ` : '';
      const log = (line: string) => {
        logEl.textContent += prefix + line + '\n';
        console.log(prefix + line);
      };
      if (several) setStatus('running', `running ${i + 1} of ${variants.length}: ${v.title}…`);
      let wd: Awaited<ReturnType<typeof requestWebDevice>> | undefined;
      try {
        const hooks = live.start(log);
        wd = await requestWebDevice(label);
        log(`adapter: ${wd.adapterName}`);
        const outcome = await v.run(wd.device, hooks);
        log(`done in ${(outcome.ms / 1000).toFixed(2)} s`);
        const gpuErrors = wd.uncaptured.length > 0 ? `; uncaptured WebGPU errors: ${wd.uncaptured.join(' | ')}` : '';
        if (gpuErrors) log(gpuErrors.slice(2));
        live.finish(outcome);
        outcomes.push(outcome);
        if (!outcome.ok || gpuErrors) failed = prefix + outcome.summary + gpuErrors;
      } catch (e) {
        const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
        log(`error: ${msg}${wd?.lost ? ` (device lost: ${wd.lost})` : ''}`);
        live.finish(null);
        failed = `FAILED: ${prefix}${msg}`;
      } finally {
        wd?.device.destroy();
      }
      if (failed) break;
    }
    if (failed) {
      setStatus('fail', failed);
    } else if (options.compare && table) {
      const c = options.compare(outcomes);
      const header = make('tr');
      header.append(make('th', ''), ...variants.map((v) => make('th', v.title)));
      table.append(header, ...c.rows.map((r) => {
        const tr = make('tr');
        tr.append(make('th', r[0] ?? ''), ...r.slice(1).map((x) => make('td', x)));
        return tr;
      }));
      setStatus(c.ok ? 'ok' : 'fail', c.summary);
    } else {
      setStatus('ok', outcomes[0]!.summary);
    }
    button.disabled = false;
  };
  button.addEventListener('click', () => void go());
  if (params.has('autorun')) void go();
}
