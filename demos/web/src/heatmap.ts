// The residency heatmap: one cell per page of a space on a <canvas>, coloured
// by the page's state (read from space.pageState when something happened),
// flashing when the event stream names the page in a migration (to the
// device / to the host) or an eviction. A second view colours each page by
// how many times it has been copied either way. Spaces of more than MAX_CELLS pages are drawn
// with several pages per cell (the most device-ward state wins), and the
// caption says so.

import type { AddressSpace, HmmEvent, PageStateName } from '../../../src/index.ts';

export const MAX_CELLS = 16384;
const FLASH_MS = 450;

const STATES: readonly PageStateName[] = ['unpopulated', 'host', 'shared', 'device'];
/** Index = rank in STATES (most device-ward last). */
const STATE_COLOURS = ['#e6e6e6', '#86acd9', '#5cb85c', '#ec7a2c'];
const STATE_TEXT: Record<PageStateName, string> = {
  unpopulated: 'unpopulated (never written)',
  host: 'host',
  shared: 'shared (host + device, clean)',
  device: 'device (dirty: only copy on the GPU)',
};
const Flash = { ToDevice: 1, ToHost: 2, Evicted: 3 } as const;
type Flash = (typeof Flash)[keyof typeof Flash];
const FLASH_COLOURS = ['', '#ffd60a', '#b04ef0', '#e0001b'];
const FLASH_TEXT = ['', 'migrated to the device', 'migrated to the host', 'evicted'];
const PIN_COLOUR = '#222';

export type HeatmapView = 'state' | 'moves';

interface Alloc {
  readonly addr: number;
  readonly byteLength: number;
  readonly label: string;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function swatch(colour: string, text: string): HTMLElement {
  const item = el('span', 'hm-key');
  const sw = el('i');
  sw.style.background = colour;
  item.append(sw, text);
  return item;
}

function mix(a: [number, number, number], b: [number, number, number], t: number): string {
  const c = a.map((x, i) => Math.round(x + (b[i]! - x) * t));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

export class Heatmap {
  readonly element: HTMLElement;
  readonly #canvas: HTMLCanvasElement;
  readonly #ctx: CanvasRenderingContext2D;
  readonly #caption: HTMLElement;
  readonly #info: HTMLElement;
  readonly #legend: HTMLElement;
  readonly #allocList: HTMLElement;
  #view: HeatmapView = 'state';

  #space: AddressSpace | null = null;
  #label = '';
  #pageSize = 0;
  #pages = 0;
  /** Pages per cell. */
  #group = 1;
  #cells = 0;
  #cols = 1;
  #cell = 8;
  /** Per page: rank in STATES, migrations, pins. */
  #state = new Uint8Array(0);
  #moves = new Uint32Array(0);
  #pins = new Int32Array(0);
  /** Per cell: when it last flashed and why. */
  #flashAt = new Float64Array(0);
  #flashKind = new Uint8Array(0);
  #allocs: Alloc[] = [];
  #live = false;
  #stale = true;
  #redraw = true;
  #lastFlash = 0;
  #off: (() => void) | null = null;
  #hover = -1;

  /** `view` is the default; `?view=state|moves` in the URL overrides it. `idPrefix` keeps ids unique with several heatmaps on a page. */
  constructor(view: HeatmapView = 'state', idPrefix = '') {
    const preset = new URLSearchParams(location.search).get('view');
    this.#view = preset === 'moves' || preset === 'state' ? preset : view;
    this.element = el('section', 'heatmap');
    const head = el('div', 'hm-head');
    this.#caption = el('span', 'hm-caption', 'residency: no space yet');
    const viewSel = el('select');
    viewSel.id = `${idPrefix}heatmap-view`;
    viewSel.append(new Option('colour by state', 'state'), new Option('colour by migrations', 'moves'));
    viewSel.value = this.#view;
    viewSel.addEventListener('change', () => {
      this.#view = viewSel.value as HeatmapView;
      this.#renderLegend();
      this.#redraw = true;
    });
    head.append(this.#caption, viewSel);
    this.#canvas = el('canvas');
    this.#canvas.id = `${idPrefix}heatmap`;
    const ctx = this.#canvas.getContext('2d');
    if (!ctx) throw new Error('no 2-D canvas context');
    this.#ctx = ctx;
    this.#legend = el('div', 'hm-legend');
    this.#info = el('div', 'hm-info', 'hover a cell to see its page');
    this.#allocList = el('div', 'hm-allocs');
    this.element.append(head, this.#canvas, this.#legend, this.#info, this.#allocList);
    this.#canvas.addEventListener('mousemove', (ev) => {
      const r = this.#canvas.getBoundingClientRect();
      const col = Math.floor((ev.clientX - r.left) / this.#cell);
      const row = Math.floor((ev.clientY - r.top) / this.#cell);
      const c = row * this.#cols + col;
      this.#hover = col >= 0 && col < this.#cols && c >= 0 && c < this.#cells ? c : -1;
      this.#renderInfo();
    });
    this.#canvas.addEventListener('mouseleave', () => {
      this.#hover = -1;
      this.#renderInfo();
    });
    this.#renderLegend();
    this.#layout(0);
  }

  /** Watch `space` (call before it allocates anything). The returned function takes the last look, before the space goes. */
  attach(space: AddressSpace): () => void {
    this.#off?.();
    this.#space = space;
    this.#label = space.label;
    this.#pageSize = space.pageSize;
    this.#pages = space.size / space.pageSize;
    this.#group = Math.ceil(this.#pages / MAX_CELLS);
    this.#cells = Math.ceil(this.#pages / this.#group);
    this.#state = new Uint8Array(this.#pages);
    this.#moves = new Uint32Array(this.#pages);
    this.#pins = new Int32Array(this.#pages);
    this.#flashAt = new Float64Array(this.#cells).fill(-Infinity);
    this.#flashKind = new Uint8Array(this.#cells);
    this.#allocs = [];
    this.#live = true;
    this.#stale = true;
    this.#layout(this.#cells);
    this.#caption.textContent =
      `residency of space "${space.label}": ${this.#pages} pages of ${space.pageSize / 1024} KiB` +
      (this.#group > 1 ? ` — ${this.#group} pages per cell (over ${MAX_CELLS} pages; a cell shows its most device-ward page)` : ', one cell per page');
    this.#renderAllocs();
    this.#off = space.pool.on((e) => this.#hear(e));
    return () => {
      this.#readStates();
      this.#live = false;
      this.#space = null;
      this.#off?.();
      this.#off = null;
      this.#redraw = true;
      this.#renderInfo();
    };
  }

  /** Migrations counted per page so far (both directions). */
  get moves(): Uint32Array {
    return this.#moves;
  }

  #hear(e: HmmEvent): void {
    if (e.space !== this.#label) return;
    this.#stale = true;
    const now = performance.now();
    switch (e.type) {
      case 'migration':
        for (const p of e.pageList) {
          this.#moves[p]!++;
          this.#flash(p, e.direction === 'to-device' ? Flash.ToDevice : Flash.ToHost, now);
        }
        // First touches: a zeroed frame, no copy (not counted as a migration).
        for (const p of e.clearedList) this.#flash(p, Flash.ToDevice, now);
        break;
      case 'eviction':
        for (const p of e.pageList) this.#flash(p, Flash.Evicted, now);
        break;
      case 'host':
        if (e.op === 'alloc') {
          this.#allocs.push({ addr: e.addr, byteLength: e.byteLength, label: e.label ?? '' });
          this.#allocs.sort((a, b) => a.addr - b.addr);
          this.#renderAllocs();
        } else if (e.op === 'free') {
          this.#allocs = this.#allocs.filter((a) => a.addr !== e.addr);
          this.#renderAllocs();
        } else if (e.op === 'pin' || e.op === 'unpin') {
          const d = e.op === 'pin' ? 1 : -1;
          const first = Math.floor(e.addr / this.#pageSize);
          const last = Math.floor((e.addr + e.byteLength - 1) / this.#pageSize);
          for (let p = first; p <= last && p < this.#pages; p++) this.#pins[p] = Math.max(0, this.#pins[p]! + d);
        }
        break;
      default:
        break;
    }
  }

  #flash(page: number, kind: Flash, now: number): void {
    const c = Math.floor(page / this.#group);
    if (c >= this.#cells) return;
    // An eviction's write-back arrives with the eviction: keep the stronger colour of the same moment.
    if (now - this.#flashAt[c]! < 30 && this.#flashKind[c]! > kind) return;
    this.#flashAt[c] = now;
    this.#flashKind[c] = kind;
    this.#lastFlash = now;
  }

  #readStates(): void {
    const s = this.#space;
    if (!s || !this.#stale) return;
    const ps = this.#pageSize;
    for (let p = 0; p < this.#pages; p++) this.#state[p] = STATES.indexOf(s.pageState(p * ps));
    this.#stale = false;
    this.#redraw = true;
  }

  /** One animation frame: read the states if anything happened, draw if anything changed or flashes. */
  frame(now: number): void {
    if (this.#live) this.#readStates();
    const flashing = now - this.#lastFlash < FLASH_MS + 50;
    if (!this.#redraw && !flashing) return;
    this.#redraw = false;
    this.#draw(now);
    if (this.#hover >= 0) this.#renderInfo();
  }

  #layout(cells: number): void {
    const width = Math.max(320, Math.min(this.element.clientWidth || 960, 1200));
    let cell = Math.floor(Math.sqrt((width * 280) / Math.max(1, cells)));
    cell = Math.max(3, Math.min(22, cell));
    this.#cols = Math.max(1, Math.floor(width / cell));
    const rows = Math.max(1, Math.ceil(cells / this.#cols));
    this.#cell = cell;
    const dpr = window.devicePixelRatio || 1;
    this.#canvas.style.width = `${this.#cols * cell}px`;
    this.#canvas.style.height = `${rows * cell}px`;
    this.#canvas.width = Math.round(this.#cols * cell * dpr);
    this.#canvas.height = Math.round(rows * cell * dpr);
    this.#ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    this.#redraw = true;
  }

  #cellState(c: number): number {
    let best = 0;
    const end = Math.min(this.#pages, (c + 1) * this.#group);
    for (let p = c * this.#group; p < end; p++) if (this.#state[p]! > best) best = this.#state[p]!;
    return best;
  }

  #cellMoves(c: number): number {
    let sum = 0;
    const end = Math.min(this.#pages, (c + 1) * this.#group);
    for (let p = c * this.#group; p < end; p++) sum += this.#moves[p]!;
    return sum;
  }

  #cellPinned(c: number): boolean {
    const end = Math.min(this.#pages, (c + 1) * this.#group);
    for (let p = c * this.#group; p < end; p++) if (this.#pins[p]! > 0) return true;
    return false;
  }

  #draw(now: number): void {
    const ctx = this.#ctx;
    const s = this.#cell;
    const gap = s >= 6 ? 1 : 0;
    ctx.clearRect(0, 0, this.#canvas.width, this.#canvas.height);
    let maxMoves = 1;
    if (this.#view === 'moves') for (let c = 0; c < this.#cells; c++) maxMoves = Math.max(maxMoves, this.#cellMoves(c));
    for (let c = 0; c < this.#cells; c++) {
      const x = (c % this.#cols) * s;
      const y = Math.floor(c / this.#cols) * s;
      const age = now - this.#flashAt[c]!;
      let colour: string;
      if (age < FLASH_MS) {
        colour = FLASH_COLOURS[this.#flashKind[c]!]!;
      } else if (this.#view === 'moves') {
        const m = this.#cellMoves(c);
        colour = m === 0 ? '#f4f4f4' : mix([255, 224, 178], [150, 0, 20], m / maxMoves);
      } else {
        colour = STATE_COLOURS[this.#cellState(c)]!;
      }
      ctx.fillStyle = colour;
      ctx.fillRect(x, y, s - gap, s - gap);
      if (s >= 6 && this.#cellPinned(c)) {
        ctx.strokeStyle = PIN_COLOUR;
        ctx.lineWidth = 1.5;
        ctx.strokeRect(x + 1, y + 1, s - gap - 2, s - gap - 2);
      }
    }
  }

  #renderLegend(): void {
    this.#legend.replaceChildren();
    if (this.#view === 'state') {
      STATES.forEach((st, i) => this.#legend.append(swatch(STATE_COLOURS[i]!, STATE_TEXT[st])));
    } else {
      this.#legend.append(swatch('#f4f4f4', 'never moved'), swatch(mix([255, 224, 178], [150, 0, 20], 0.2), 'few migrations'),
        swatch('rgb(150,0,20)', 'most migrations'));
    }
    for (const k of [Flash.ToDevice, Flash.ToHost, Flash.Evicted]) this.#legend.append(swatch(FLASH_COLOURS[k]!, `flash: ${FLASH_TEXT[k]}`));
    const pin = swatch('transparent', 'pinned (outlined)');
    (pin.firstChild as HTMLElement).style.outline = `2px solid ${PIN_COLOUR}`;
    this.#legend.append(pin);
  }

  #renderAllocs(): void {
    if (this.#allocs.length === 0) {
      this.#allocList.textContent = '';
      return;
    }
    const ps = this.#pageSize;
    this.#allocList.textContent = 'allocations: ' + this.#allocs
      .map((a) => `${a.label || '(no label)'} pages ${Math.floor(a.addr / ps)}–${Math.floor((a.addr + a.byteLength - 1) / ps)}`)
      .join(' · ');
  }

  #renderInfo(): void {
    const c = this.#hover;
    if (c < 0 || this.#pages === 0) {
      this.#info.textContent = 'hover a cell to see its page';
      return;
    }
    const first = c * this.#group;
    const last = Math.min(this.#pages, first + this.#group) - 1;
    const ps = this.#pageSize;
    const addr = first * ps;
    const owner = this.#allocs.filter((a) => a.addr < (last + 1) * ps && a.addr + a.byteLength > addr).map((a) => a.label || '(no label)');
    const hex = (x: number) => `0x${x.toString(16).padStart(8, '0')}`;
    this.#info.textContent =
      `${first === last ? `page ${first}` : `pages ${first}–${last}`} [${hex(addr)}, ${hex((last + 1) * ps)}) · ` +
      `${STATES[this.#cellState(c)]}${this.#cellPinned(c) ? ', pinned' : ''} · moved ${this.#cellMoves(c)}× · ` +
      (owner.length > 0 ? `allocation ${owner.join(', ')}` : 'not allocated');
  }
}
