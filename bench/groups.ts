// What the memory policies of issue 7 items 5–6 change, in bytes moved and in
// time: each workload twice, with and without the policy, interleaved, median
// of repetitions, counts from the pool's own counters.
//
//   access counters  a kernel that declares a large write range but writes one
//                    page in `stride`, streamed through a pool a quarter of the
//                    data: bytes written back (evictions and the final read)
//                    with the GPU's written bits vs every declared page dirty.
//                    And the second-chance pattern of the tests (declared but
//                    untouched pages beside a hot page, a stream beside them):
//                    re-faults of the hot page.
//   groups           two tenants in one pool: a "latency" space touching a hot
//                    set of half the pool again and again, a "batch" space
//                    streaming 4× the pool beside it. Without groups the batch
//                    evicts the hot set; with groups (batch max: half the pool,
//                    latency min: its hot set) it evicts only its own pages.
//                    Evictions of the latency space's pages and its bytes
//                    re-uploaded, and the time of the whole run.
//   tree             the same as a tree (issue 17): a latency tenant in a
//                    protected subtree (interactive, min: its hot set) beside
//                    two streaming tenants under a capped parent (batch, max:
//                    the rest of the pool), which evict within their subtree
//                    (cause ancestorMax) and never the hot set. The latency
//                    tenant's dispatch times, p50 and p99 over every rep, with
//                    and without the tree.
//
// Usage: npm run bench:groups [-- --quick] [--reps N]

import { parseArgs } from 'node:util';
import { requestNodeDevice } from '../src/node.ts';
import { createGroup, createKernel, createPool, createSpace, type AddressSpace, type GroupBudget, type HmmEvent, type Pool } from '../src/index.ts';
import { affine, grid } from './suite.ts';
import { KiB, median, MiB } from './lib.ts';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, reps: { type: 'string' } } });
const quick = values.quick === true;
const reps = values.reps !== undefined ? Number(values.reps) : quick ? 1 : 5;
if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps must be a positive whole number, got ${values.reps}`);
const gpu = await requestNodeDevice();
const PAGE = 64 * KiB;

/** For every `stride`-th page of [base, base + pages·PAGE): word = word·3 + 1. args [base, pages, stride]. */
const sparse = createKernel({
  label: 'bench:sparse-update',
  workgroupSize: 64,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let w = inv.global_id.x;
  if (w >= ${PAGE / 4}u) { return; }
  for (var p = 0u; p < vm_arg_u32(1u); p += vm_arg_u32(2u)) {
    let a = vm_arg_u32(0u) + p * ${PAGE}u + w * 4u;
    vm_store_u32(a, vm_load_u32(a) * 3u + 1u);
  }
}`,
});

const readWord = createKernel({ label: 'bench:read-word', workgroupSize: 1, code: 'fn kernel(inv: VmInvocation) { _ = vm_load_u32(vm_arg_u32(0u)); }' });

interface Sample {
  ms: number;
  counts: Record<string, number>;
}

/** Run `fn` `reps` times for each variant, interleaved after a warm-up round; median time, counts of the last run. */
async function compare<K extends string>(variants: readonly K[], fn: (v: K) => Promise<Sample>): Promise<Record<K, Sample>> {
  const times = new Map<K, number[]>(variants.map((v) => [v, []]));
  const last = new Map<K, Sample>();
  for (let r = -1; r < reps; r++) {
    for (const v of variants) {
      const s = await fn(v);
      if (r >= 0) times.get(v)!.push(s.ms);
      last.set(v, s);
    }
  }
  return Object.fromEntries(variants.map((v) => [v, { ms: median(times.get(v)!), counts: last.get(v)!.counts }])) as Record<K, Sample>;
}

function line(name: string, s: Sample): void {
  const counts = Object.entries(s.counts).map(([k, v]) => `${k} ${v}`).join(', ');
  console.log(`  ${name.padEnd(22)} ${s.ms.toFixed(0).padStart(7)} ms   ${counts}`);
}

// ---- access counters: sparse writes over a large declared range ----

const dataBytes = quick ? 32 * MiB : 128 * MiB;
const chunk = quick ? 4 * MiB : 16 * MiB;
const stride = 8;

async function sparseWrites(counters: boolean): Promise<Sample> {
  const pool = await createPool(gpu.device, { capacity: dataBytes / 4, pageSize: PAGE, accessCounters: counters });
  const space = createSpace(pool, { size: dataBytes });
  await space.write(0, new Uint8Array(dataBytes).fill(1));
  const s0 = pool.stats();
  const t0 = performance.now();
  for (let a = 0; a < dataBytes; a += chunk) {
    await space.dispatch(sparse, { workgroups: PAGE / 4 / 64, write: [{ addr: a, byteLength: chunk }], args: [a, chunk / PAGE, stride] });
  }
  await space.read(0, dataBytes);
  const ms = performance.now() - t0;
  const s1 = pool.stats();
  space.destroy();
  pool.destroy();
  return {
    ms,
    counts: {
      'MiB to host': (s1.bytesToHost - s0.bytesToHost) / MiB, 'write-backs': s1.evictionWritebacks - s0.evictionWritebacks,
      'MiB to device': (s1.bytesToDevice - s0.bytesToDevice) / MiB, 'kept clean': s1.pagesKeptClean,
    },
  };
}

async function secondChance(counters: boolean): Promise<Sample> {
  const pool = await createPool(gpu.device, { capacity: 4 * PAGE, pageSize: PAGE, accessCounters: counters });
  const space = createSpace(pool, { size: 256 * PAGE });
  const H = 1;
  await space.write(H * PAGE, new Uint8Array(PAGE).fill(7));
  let hIn = 0;
  const off = pool.on((e: HmmEvent) => {
    if (e.type === 'migration' && e.direction === 'to-device' && e.pageList.includes(H)) hIn++;
  });
  const rounds = quick ? 24 : 96;
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) {
    await space.dispatch(readWord, { workgroups: 1, read: [{ addr: H * PAGE, byteLength: 4 }, { addr: (8 + r) * PAGE, byteLength: 4 }], args: [H * PAGE] });
    await space.dispatch(readWord, { workgroups: 1, read: [{ addr: (128 + r) * PAGE, byteLength: 4 }], args: [(128 + r) * PAGE] });
  }
  const ms = performance.now() - t0;
  off();
  const s = pool.stats();
  space.destroy();
  pool.destroy();
  return { ms, counts: { 'hot page re-faults': hIn - 1, evictions: s.evictions } };
}

// ---- groups: a latency tenant beside a streaming tenant ----

const poolBytes = quick ? 16 * MiB : 64 * MiB;

async function tenants(grouped: boolean): Promise<Sample> {
  const pool: Pool = await createPool(gpu.device, { capacity: poolBytes, pageSize: PAGE });
  const hot = poolBytes / 2;
  const latency = createSpace(pool, {
    size: hot, label: 'latency', ...(grouped ? { group: createGroup(pool, { label: 'latency', min: hot }) } : {}),
  });
  const batch = createSpace(pool, {
    size: 4 * poolBytes, label: 'batch', ...(grouped ? { group: createGroup(pool, { label: 'batch', max: poolBytes / 2 }) } : {}),
  });
  await latency.write(0, new Uint8Array(hot).fill(2));
  await batch.write(0, new Uint8Array(4 * poolBytes).fill(3));
  const run = (s: AddressSpace, addr: number, bytes: number) =>
    s.dispatch(affine, { workgroups: grid(bytes / 4), write: [{ addr, byteLength: bytes }], args: [addr, bytes / 4, 1, 1] });
  let latencyEvicted = 0;
  const off = pool.on((e: HmmEvent) => {
    if (e.type === 'eviction' && e.space === 'latency') latencyEvicted += e.pages;
  });
  await run(latency, 0, hot);
  const s0 = pool.stats();
  const step = poolBytes / 8;
  const t0 = performance.now();
  for (let a = 0; a < 4 * poolBytes; a += step) {
    await run(batch, a, step);
    await run(latency, (a / step % 4) * (hot / 4), hot / 4); // the latency tenant keeps touching its hot set
  }
  const ms = performance.now() - t0;
  off();
  const s1 = pool.stats();
  latency.destroy();
  batch.destroy();
  pool.destroy();
  return {
    ms,
    counts: {
      'latency pages evicted': latencyEvicted, evictions: s1.evictions - s0.evictions, 'MiB to device': (s1.bytesToDevice - s0.bytesToDevice) / MiB,
      'MiB to host': (s1.bytesToHost - s0.bytesToHost) / MiB,
    },
  };
}

// ---- tree: a latency tenant in a protected subtree beside two streaming tenants ----

interface TreeSample extends Sample {
  /** The latency tenant's dispatch times (ms). */
  latency: number[];
}

async function treeTenants(tree: boolean): Promise<TreeSample> {
  const pool: Pool = await createPool(gpu.device, { capacity: poolBytes, pageSize: PAGE });
  const hot = poolBytes / 4;
  const streamed = 2 * poolBytes;
  const interactive = tree ? createGroup(pool, { label: 'interactive', min: hot }) : undefined;
  const batch = tree ? createGroup(pool, { label: 'batch', max: poolBytes - hot }) : undefined;
  const group = (parent: typeof interactive, label: string) => (parent ? { group: createGroup(parent, { label }) } : {});
  const latency = createSpace(pool, { size: hot, label: 'latency', ...group(interactive, 'latency') });
  const streams = ['stream-a', 'stream-b'].map((label) => createSpace(pool, { size: streamed, label, ...group(batch, label) }));
  await latency.write(0, new Uint8Array(hot).fill(2));
  for (const s of streams) await s.write(0, new Uint8Array(streamed).fill(3));
  const run = (s: AddressSpace, addr: number, bytes: number) =>
    s.dispatch(affine, { workgroups: grid(bytes / 4), write: [{ addr, byteLength: bytes }], args: [addr, bytes / 4, 1, 1] });
  let latencyEvicted = 0;
  const off = pool.on((e: HmmEvent) => {
    if (e.type === 'eviction' && e.space === 'latency') latencyEvicted += e.pages;
  });
  await run(latency, 0, hot);
  const s0 = pool.stats();
  const step = poolBytes / 8;
  const touch = hot / 8;
  const times: number[] = [];
  let k = 0;
  const t0 = performance.now();
  for (let a = 0; a < streamed; a += step) {
    for (const s of streams) await run(s, a, step);
    for (let i = 0; i < 4; i++) {
      const t = performance.now();
      await run(latency, (k++ % 8) * touch, touch); // a quarter of its requests' worth, round the hot set
      times.push(performance.now() - t);
    }
  }
  const ms = performance.now() - t0;
  off();
  const s1 = pool.stats();
  let ancestorMax = 0;
  const walk = (n: GroupBudget) => {
    ancestorMax += n.evictions.ancestorMax;
    n.children.forEach(walk);
  };
  walk(pool.budget().tree);
  latency.destroy();
  for (const s of streams) s.destroy();
  pool.destroy();
  return {
    ms,
    latency: times,
    counts: {
      'latency pages evicted': latencyEvicted, evictions: s1.evictions - s0.evictions, 'for an ancestor max': ancestorMax,
      'MiB to device': (s1.bytesToDevice - s0.bytesToDevice) / MiB,
    },
  };
}

/** The q-quantile of `xs` (nearest rank). */
function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

console.log(`memory policies on ${gpu.adapterName}; ${quick ? 'quick, ' : ''}median of ${reps}, interleaved`);
console.log(`\naccess counters: ${dataBytes / MiB} MiB through a ${dataBytes / 4 / MiB} MiB pool, ${chunk / MiB} MiB declared per dispatch, 1 page in ${stride} written`);
const sw = await compare(['on', 'off'] as const, (v) => sparseWrites(v === 'on'));
line('counters on', sw.on);
line('counters off', sw.off);
console.log('\naccess counters: a hot page beside declared-but-untouched pages and a stream, 4-frame pool');
const sc = await compare(['on', 'off'] as const, (v) => secondChance(v === 'on'));
line('counters on', sc.on);
line('counters off', sc.off);
console.log(`\ngroups: a latency space (hot set ${poolBytes / 2 / MiB} MiB) beside a batch space streaming ${4 * poolBytes / MiB} MiB, ${poolBytes / MiB} MiB pool`);
const gr = await compare(['groups', 'none'] as const, (v) => tenants(v === 'groups'));
line('with groups', gr.groups);
line('without groups', gr.none);
console.log(`\ntree: a latency space (hot set ${poolBytes / 4 / MiB} MiB, protected subtree) beside two spaces streaming ${2 * poolBytes / MiB} MiB each (capped subtree), ${poolBytes / MiB} MiB pool`);
{
  // Every rep's latency samples but the warm-up round's, for the percentiles.
  const samples = { tree: [] as number[], none: [] as number[] };
  const runs = { tree: 0, none: 0 };
  const tr = await compare(['tree', 'none'] as const, async (v) => {
    const s = await treeTenants(v === 'tree');
    if (runs[v]++ > 0) samples[v].push(...s.latency);
    return s;
  });
  for (const [name, v] of [['with the tree', 'tree'], ['without groups', 'none']] as const) {
    const x = samples[v];
    line(name, { ms: tr[v].ms, counts: { ...tr[v].counts, 'latency p50 ms': +quantile(x, 0.5).toFixed(2), 'p99 ms': +quantile(x, 0.99).toFixed(2), samples: x.length } });
  }
}
gpu.destroy();
