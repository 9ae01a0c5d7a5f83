// What every demo page shares: inputs preset from the query string, the
// memory and policy controls, the live view (progress, heatmap, counters,
// summary, ledger), the log, the status element, and the Run button's life
// cycle.

import type { DemoHooks, DemoOutcome, PoolChoice } from '../../lib/hooks.ts';
import { UPLOAD_PATHS } from '../../lib/hooks.ts';
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

/**
 * Add the "memory" (pool, page size) and "policies" fieldsets to the page's
 * form, before the Run button, preset from the URL (`?pool=MiB&page=KiB&mode=…&upload=…`).
 * `modes` are the dispatch modes that apply to the demo (the first is the default).
 */
export function poolControls<M extends string>(
  defaults: { poolMiB: number; pageKiB: number; mode: M; modeNote?: string }, modes: readonly M[],
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
  // Placeholders for the policies of a later issue: shown, not faked.
  const prefetch = selectField('prefetch', [['none', 'none (not built yet)']], 'none');
  prefetch.disabled = true;
  const thrash = selectField('thrashing', [['none', 'none (not built yet)']], 'none');
  thrash.disabled = true;
  policies.append(make('legend', 'policies'),
    labelled('dispatch mode', modeSel, defaults.modeNote),
    labelled('upload path', upload, "PoolOptions.uploadPath: 'auto' picks per transfer size"),
    labelled('prefetch', prefetch, 'prefetch policies arrive in a later issue'),
    labelled('thrashing mitigation', thrash, 'thrashing mitigation arrives in a later issue'));
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
  return () => ({ poolBytes: Math.round(pool() * 1024 * 1024), pageSize: Math.round(page() * 1024), mode: mode(), uploadPath: up() });
}

/**
 * Wire the Run button: request a device, run with hooks that feed the live
 * view, and leave `#status` with data-status="ok" or "fail" and the outcome's
 * summary (what e2e tests wait for and check). `?autorun` runs on load.
 */
export function setupPage(
  label: string, run: (device: GPUDevice, hooks: DemoHooks) => Promise<DemoOutcome>, options: { view?: HeatmapView } = {},
): void {
  const button = el<HTMLButtonElement>('run');
  const logEl = el<HTMLPreElement>('log');
  const status = el<HTMLElement>('status');
  const live = new LiveView(el<HTMLElement>('live'), options.view);
  const log = (line: string) => {
    logEl.textContent += line + '\n';
    console.log(line);
  };
  const setStatus = (state: string, text: string) => {
    status.dataset.status = state;
    status.textContent = text;
  };

  const go = async () => {
    button.disabled = true;
    logEl.textContent = '';
    setStatus('running', 'running…');
    let wd: Awaited<ReturnType<typeof requestWebDevice>> | undefined;
    let outcome: DemoOutcome | null = null;
    try {
      const hooks = live.start(log);
      wd = await requestWebDevice(label);
      log(`adapter: ${wd.adapterName}`);
      outcome = await run(wd.device, hooks);
      log(`done in ${(outcome.ms / 1000).toFixed(2)} s`);
      const gpuErrors = wd.uncaptured.length > 0 ? `; uncaptured WebGPU errors: ${wd.uncaptured.join(' | ')}` : '';
      if (gpuErrors) log(gpuErrors.slice(2));
      live.finish(outcome);
      setStatus(outcome.ok && !gpuErrors ? 'ok' : 'fail', outcome.summary + gpuErrors);
    } catch (e) {
      const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      log(`error: ${msg}${wd?.lost ? ` (device lost: ${wd.lost})` : ''}`);
      live.finish(null);
      setStatus('fail', `FAILED: ${msg}`);
    } finally {
      wd?.device.destroy();
      button.disabled = false;
    }
  };
  button.addEventListener('click', () => void go());
  if (params.has('autorun')) void go();
}
