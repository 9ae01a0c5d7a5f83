// Packaging: what `npm pack` ships is what a consumer gets. The repository is
// packed once (prepack builds dist/ with tsc) and the tarball is installed from
// the registry's point of view into two scratch projects in a temp dir:
//
// - a Node project, with `webgpu` (Dawn) installed beside it, where
//   - a plain .mjs script imports 'webgpu-hmm' and 'webgpu-hmm/node' by name,
//     runs a kernel on a Dawn device and checks the data it reads back;
//   - the repository's own tsc type-checks a .ts consumer of both entries with
//     moduleResolution NodeNext, the types coming from dist/*.d.ts;
// - a browser project WITHOUT `webgpu`, where
//   - node_modules holds webgpu-hmm alone, under 2 MB (Dawn and @webgpu/types
//     are optional peers: nothing pulls them in);
//   - webgpu-hmm/node fails with the typed error that says `npm i webgpu`;
//   - Vite (the repository's) bundles a page that dispatches a kernel; the
//     bundle holds no Node built-in, a page that imports one error class
//     leaves the runtime out (sideEffects: false), and the bundled page runs
//     in Chromium (SwiftShader's WebGPU) and verifies its result.
// Nothing here imports src/: a broken "exports", "files", "types" or
// "peerDependencies" field, a missing dist file or an import that only
// resolves inside the repo fails here.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../e2e/chromium.ts';

const TIMEOUT = 240_000;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSC = join(ROOT, 'node_modules', '.bin', 'tsc');

interface Ran {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

// The child processes get a clean npm environment: under `npx vitest` or
// `npm test` the parent npm exports npm_config_local_prefix=<repo> and friends,
// which would make `npm install` in the scratch project install into the repo.
function childEnv(): NodeJS.ProcessEnv {
  const keep = /^npm_config_(cache|userconfig|globalconfig|registry|cafile|strict_ssl|proxy|https_proxy|noproxy)$/i;
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) && !keep.test(k)) continue;
    if (k === 'INIT_CWD') continue;
    env[k] = v;
  }
  env['XDG_RUNTIME_DIR'] = '/tmp';
  return env;
}

function run(cmd: string, args: readonly string[], cwd: string): Ran {
  const r = spawnSync(cmd, args, { cwd, env: childEnv(), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: TIMEOUT });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function runOk(cmd: string, args: readonly string[], cwd: string): Ran {
  const r = run(cmd, args, cwd);
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited with ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  }
  return r;
}

function walk(dir: string, base = dir): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p, base));
    else out.push(relative(base, p).split(sep).join('/'));
  }
  return out.sort();
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += dirBytes(p);
    else if (e.isFile()) n += statSync(p).size;
  }
  return n;
}

const MIME: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json' };

/** Serve `dir` on 127.0.0.1 (an ephemeral port) until close(). */
async function serveStatic(dir: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^([/\\])+/, '');
    const file = join(dir, path || 'index.html');
    if (!file.startsWith(dir) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

interface PackResult {
  readonly filename: string;
  readonly files: readonly { readonly path: string }[];
}

let temp = '';
let tarball = '';
let packed: string[] = [];
/** The Node project: the tarball and `webgpu`. */
let app = '';
/** The browser project: the tarball alone. */
let web = '';

function makeProject(dir: string, name: string): void {
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '0.0.0', private: true, type: 'module' }, null, 2));
}

describe('npm pack → install → use from a scratch project', () => {
  beforeAll(() => {
    temp = realpathSync(mkdtempSync(join(tmpdir(), 'webgpu-hmm-pack-')));
    // prepack runs `npm run build` (embed shaders, tsc -p tsconfig.build.json);
    // with --json its output goes to stderr and the report to stdout.
    const pack = runOk('npm', ['pack', '--json', '--pack-destination', temp], ROOT);
    const report = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as PackResult[];
    expect(report).toHaveLength(1);
    const first = report[0]!;
    tarball = join(temp, first.filename);
    packed = first.files.map((f) => f.path).sort();
    expect(existsSync(tarball), `tarball ${tarball}`).toBe(true);

    // `webgpu` at the version the repository tests with (from the npm cache
    // that `npm ci` filled, so no download in the usual case).
    const webgpuVersion = (JSON.parse(readFileSync(join(ROOT, 'node_modules', 'webgpu', 'package.json'), 'utf8')) as { version: string }).version;
    app = join(temp, 'app');
    makeProject(app, 'hmm-node-consumer');
    runOk('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, `webgpu@${webgpuVersion}`], app);
    web = join(temp, 'web');
    makeProject(web, 'hmm-browser-consumer');
    runOk('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], web);
  }, TIMEOUT);

  afterAll(() => {
    if (temp) rmSync(temp, { recursive: true, force: true });
  });

  test('the tarball holds the built entries and nothing from the repository it should not', () => {
    for (const f of ['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/node.js', 'dist/node.d.ts']) {
      expect(packed, f).toContain(f);
    }
    const stray = packed.filter((f) =>
      /^(src|test|scratch|demos|bench|scripts|node_modules|coverage)\//.test(f) ||
      /^(tsconfig[^/]*\.json|vitest\.config\.ts|package-lock\.json)$/.test(f) ||
      f.endsWith('.tgz') ||
      (f.endsWith('.ts') && !f.endsWith('.d.ts')) ||
      /\.(test|spec)\.(js|d\.ts)$/.test(f));
    expect(stray, 'files that do not belong in the package').toEqual([]);

    // dist/ is exactly the compiled src/: no stale modules from an earlier build.
    const srcModules = walk(join(ROOT, 'src')).filter((f) => f.endsWith('.ts')).map((f) => f.replace(/\.ts$/, '')).sort();
    const distModules = packed.filter((f) => f.startsWith('dist/') && f.endsWith('.js')).map((f) => f.slice(5, -3)).sort();
    expect(distModules).toEqual(srcModules);
    for (const m of srcModules) expect(packed, `dist/${m}.d.ts`).toContain(`dist/${m}.d.ts`);

    // Everything package.json points at is in the tarball.
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      main?: string; types?: string; exports?: Record<string, Record<string, string>>; sideEffects?: unknown;
      dependencies?: Record<string, string>; peerDependencies?: Record<string, string>;
      peerDependenciesMeta?: Record<string, { optional?: boolean }>;
    };
    // No runtime dependencies: Dawn, the WebGPU types and TypeGPU (for its schemas' interop) are optional peers.
    expect(pkg.dependencies ?? {}, 'dependencies').toEqual({});
    expect(Object.keys(pkg.peerDependencies ?? {}).sort()).toEqual(['@webgpu/types', 'typegpu', 'webgpu']);
    for (const peer of Object.keys(pkg.peerDependencies ?? {})) expect(pkg.peerDependenciesMeta?.[peer]?.optional, `${peer} is an optional peer`).toBe(true);
    expect(pkg.sideEffects).toBe(false);
    const targets = [pkg.main, pkg.types, ...Object.values(pkg.exports ?? {}).flatMap((c) => Object.values(c))];
    for (const t of targets) {
      expect(t, 'package.json entry').toBeTypeOf('string');
      expect(packed, `package.json points at ${t}`).toContain(t!.replace(/^\.\//, ''));
    }

    // src/ is not shipped, so the source maps must carry their sources.
    for (const map of packed.filter((f) => f.endsWith('.js.map'))) {
      const m = JSON.parse(readFileSync(join(app, 'node_modules', 'webgpu-hmm', map), 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
      expect(m.sourcesContent?.length ?? 0, `${map} sourcesContent`).toBe(m.sources.length);
      expect(m.sourcesContent?.every((s) => typeof s === 'string' && s.length > 0), `${map} sourcesContent`).toBe(true);
    }
  });

  test('the main entry is browser-neutral: only dist/node.js imports anything outside the package', () => {
    const dist = join(app, 'node_modules', 'webgpu-hmm', 'dist');
    const seen = new Set<string>();
    const bare = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const code = readFileSync(join(dist, file), 'utf8');
      // Static imports and re-exports, side-effect imports, and dynamic import() — not the word "import"
      // inside a string (the list of WGSL reserved words holds 'import').
      for (const m of code.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]|(?:^|[^\w'".])import\s*\(\s*['"]([^'"]+)['"]/g)) {
        const spec = m[1] ?? m[2] ?? m[3]!;
        if (spec.startsWith('.')) {
          expect(spec, `${file} imports ${spec}`).toMatch(/\.js$/);
          visit(join(file, '..', spec).split(sep).join('/'));
        } else {
          bare.add(spec);
        }
      }
    };
    visit('index.js');
    expect(seen.size).toBeGreaterThan(5);
    expect([...bare], 'non-relative imports reachable from dist/index.js').toEqual([]);
  });

  test('an .mjs consumer imports both entries by name and runs a kernel on Dawn', () => {
    const script = String.raw`
import { createPool, createSpace, createKernel } from 'webgpu-hmm';
import { requestNodeDevice } from 'webgpu-hmm/node';

const MiB = 1 << 20;
const resolved = { main: import.meta.resolve('webgpu-hmm'), node: import.meta.resolve('webgpu-hmm/node') };
const nd = await requestNodeDevice();
let result;
try {
  const pool = await createPool(nd.device, { capacity: 4 * MiB });
  const space = createSpace(pool, { size: 8 * MiB });
  const n = MiB / 4; // 1 MiB of u32
  const a = space.alloc(n * 4);
  const data = new Uint32Array(n);
  for (let i = 0; i < n; i++) data[i] = (i * 2654435761) >>> 0;
  await space.write(a, data);
  const inc = createKernel({ label: 'inc', workgroupSize: 64, code: ` + '`' + String.raw`
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  let base = vm_arg_u32(0);
  let n = vm_arg_u32(1);
  if (i >= n) { return; }
  let addr = base + i * 4u;
  vm_store_u32(addr, vm_load_u32(addr) + 1u);
}` + '`' + String.raw` });
  const r = await space.dispatch(inc, { workgroups: Math.ceil(n / 64), write: [{ addr: a, byteLength: n * 4 }], args: [a, n] });
  const bytes = await space.read(a, n * 4);
  const out = new Uint32Array(bytes.buffer, bytes.byteOffset, n);
  let mismatches = 0;
  for (let i = 0; i < n; i++) if (out[i] !== ((data[i] + 1) >>> 0)) mismatches++;
  space.checkInvariants();
  const stats = pool.stats();
  space.destroy();
  pool.destroy();
  result = { ok: mismatches === 0, n, mismatches, pagesUploaded: r.pagesUploaded, dispatches: stats.dispatches, adapter: nd.adapterName, resolved };
} finally {
  nd.destroy();
}
console.log(JSON.stringify(result));
`;
    writeFileSync(join(app, 'consume.mjs'), script);
    const r = run(process.execPath, ['consume.mjs'], app);
    const detail = `exit ${r.status}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
    expect(r.status, detail).toBe(0);
    const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
    expect(line, detail).toBeDefined();
    const result = JSON.parse(line!) as {
      ok: boolean; n: number; mismatches: number; pagesUploaded: number; dispatches: number; adapter: string;
      resolved: { main: string; node: string };
    };
    expect(result.mismatches, detail).toBe(0);
    expect(result.ok).toBe(true);
    expect(result.n).toBe(262_144);
    expect(result.pagesUploaded).toBeGreaterThan(0);
    expect(result.dispatches).toBe(1);
    // Resolved through the scratch project's node_modules, not the repository.
    const installed = join(app, 'node_modules', 'webgpu-hmm', 'dist');
    expect(fileURLToPath(result.resolved.main)).toBe(join(installed, 'index.js'));
    expect(fileURLToPath(result.resolved.node)).toBe(join(installed, 'node.js'));
  });

  test('a TypeScript consumer (NodeNext) gets the types of both entries from dist/*.d.ts', () => {
    writeFileSync(join(app, 'consume.ts'), `
import {
  createPool, createSpace, createKernel, HmmError, DEFAULT_PAGE_SIZE,
  type Pool, type AddressSpace, type Kernel, type DispatchResult, type PoolStats,
} from 'webgpu-hmm';
import { requestNodeDevice, type NodeDevice, type NodeDeviceOptions } from 'webgpu-hmm/node';

export async function run(): Promise<DispatchResult> {
  const options: NodeDeviceOptions = { limits: 'max' };
  const nd: NodeDevice = await requestNodeDevice(options);
  const device: GPUDevice = nd.device;
  const pool: Pool = await createPool(device, { capacity: 4 << 20 });
  const space: AddressSpace = createSpace(pool, { size: 8 << 20 });
  const kernel: Kernel = createKernel({ code: 'fn kernel(inv: VmInvocation) {}' });
  const addr: number = space.alloc(DEFAULT_PAGE_SIZE);
  const bytes: Uint8Array = await space.read(addr, 4);
  const stats: PoolStats = pool.stats();
  void bytes; void stats;
  return space.dispatch(kernel, { workgroups: 1, write: [{ addr, byteLength: 4 }] });
}

export const isHmm = (e: unknown): e is HmmError => e instanceof HmmError;

// The declarations are real types, not \`any\`: each line below must be an error.
// @ts-expect-error a number is not a Pool
createSpace(42, { size: 1 });
// @ts-expect-error dispatch needs workgroups
export const bad = (s: AddressSpace, k: Kernel) => s.dispatch(k, {});
// @ts-expect-error NodeDevice.device is a GPUDevice (from the WebGPU types), not a string
export const notADevice = (nd: NodeDevice): string => nd.device;
`);
    const common = {
      target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true,
      exactOptionalPropertyTypes: true, verbatimModuleSyntax: true,
    };
    const configs: Record<string, object> = {
      // A browser-style consumer: WebGPU's globals from TypeScript's own DOM lib;
      // library checking on, so the shipped .d.ts files themselves must be clean.
      'tsconfig.dom.json': { ...common, lib: ['ES2022', 'DOM'], types: [], skipLibCheck: false },
      // A Node consumer like this repository: no DOM; WebGPU's globals from
      // @webgpu/types, installed here as a dependency of `webgpu`.
      'tsconfig.node.json': { ...common, lib: ['ES2022'], types: ['@webgpu/types'], skipLibCheck: true },
    };
    for (const [name, compilerOptions] of Object.entries(configs)) {
      writeFileSync(join(app, name), JSON.stringify({ compilerOptions, files: ['consume.ts'] }, null, 2));
      const r = run(TSC, ['-p', name, '--listFiles'], app);
      const errors = r.stdout.split('\n').filter((l) => /error TS\d+/.test(l));
      expect(errors, `${name}:\n${r.stdout}\n${r.stderr}`).toEqual([]);
      expect(r.status, `${name}:\n${r.stdout}\n${r.stderr}`).toBe(0);
      const files = r.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
      const installed = join(app, 'node_modules', 'webgpu-hmm', 'dist');
      expect(files, name).toContain(join(installed, 'index.d.ts'));
      expect(files, name).toContain(join(installed, 'node.d.ts'));
      expect(files.filter((f) => f.startsWith(join(ROOT, 'src'))), `${name}: nothing from the repository's src/`).toEqual([]);
      if (name === 'tsconfig.node.json') {
        expect(files.some((f) => f.startsWith(join(app, 'node_modules', '@webgpu', 'types'))), `${name}: @webgpu/types`).toBe(true);
      }
    }
  });
  test('a browser project installs webgpu-hmm alone: no Dawn, no @webgpu/types, under 2 MB', () => {
    const nm = join(web, 'node_modules');
    const installed = readdirSync(nm).filter((d) => !d.startsWith('.'));
    expect(installed, 'packages in the browser project').toEqual(['webgpu-hmm']);
    const bytes = dirBytes(nm);
    console.log(`browser project: node_modules ${(bytes / 1024).toFixed(0)} KiB (${installed.join(', ')})`);
    expect(bytes).toBeLessThan(2 * 1024 * 1024);
  });

  test('without webgpu installed, webgpu-hmm/node imports, and requestNodeDevice() fails with the fix: npm i webgpu', () => {
    writeFileSync(join(web, 'no-dawn.mjs'), `
import { NoAdapterError, HmmError } from 'webgpu-hmm';
import { requestNodeDevice, DawnUnavailableError } from 'webgpu-hmm/node';
try {
  await requestNodeDevice();
  console.log(JSON.stringify({ threw: false }));
} catch (e) {
  console.log(JSON.stringify({
    threw: true, name: e.name, code: e.code, reason: e.reason, message: e.message,
    typed: e instanceof DawnUnavailableError && e instanceof NoAdapterError && e instanceof HmmError,
  }));
}
`);
    const r = runOk(process.execPath, ['no-dawn.mjs'], web);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { threw: boolean; name: string; code: string; reason: string; message: string; typed: boolean };
    expect(out.threw).toBe(true);
    expect(out).toMatchObject({ name: 'DawnUnavailableError', code: 'NO_ADAPTER', reason: 'not-installed', typed: true });
    expect(out.message).toContain('npm i webgpu');
  });

  test('Vite bundles a page that dispatches a kernel: no Node built-ins, tree-shaken, and it runs in Chromium', async () => {
    // The page: a kernel that adds 1 to 64 Ki u32 in a 1 MiB pool; it checks the
    // data and says ok or fail in #status.
    writeFileSync(join(web, 'index.html'), `<!doctype html>
<html lang="en"><head><meta charset="utf-8" /><title>webgpu-hmm consumer</title><link rel="icon" href="data:," /></head>
<body><output id="status" data-status="running">running…</output><script type="module" src="./main.js"></script></body></html>
`);
    writeFileSync(join(web, 'main.js'), `
import { createPool, createSpace, createKernel } from 'webgpu-hmm';

const status = document.getElementById('status');
const say = (state, text) => { status.dataset.status = state; status.textContent = text; };

async function main() {
  const adapter = await navigator.gpu?.requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter');
  const device = await adapter.requestDevice({
    requiredLimits: { maxStorageBuffersPerShaderStage: adapter.limits.maxStorageBuffersPerShaderStage },
  });
  const pool = await createPool(device, { capacity: 1 << 20 });
  const space = createSpace(pool, { size: 4 << 20 });
  const n = 1 << 16;
  const a = space.alloc(n * 4);
  const data = Uint32Array.from({ length: n }, (_, i) => (i * 2654435761) >>> 0);
  await space.write(a, data);
  const inc = createKernel({ label: 'inc', workgroupSize: 64, code: \`
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(1u)) { return; }
  let addr = vm_arg_u32(0u) + i * 4u;
  vm_store_u32(addr, vm_load_u32(addr) + 1u);
}\` });
  await space.dispatch(inc, { workgroups: n / 64, write: [{ addr: a, byteLength: n * 4 }], args: [a, n] });
  const bytes = await space.read(a, n * 4);
  const out = new Uint32Array(bytes.buffer, bytes.byteOffset, n);
  let bad = 0;
  for (let i = 0; i < n; i++) if (out[i] !== ((data[i] + 1) >>> 0)) bad++;
  const dispatches = pool.stats().dispatches;
  space.destroy();
  pool.destroy();
  device.destroy();
  say(bad === 0 ? 'ok' : 'fail', bad === 0 ? \`ok: \${n} words, \${dispatches} dispatch\` : \`fail: \${bad} of \${n} words differ\`);
}
main().catch((e) => say('fail', String(e)));
`);
    // A page that imports one error class: with "sideEffects": false the
    // runtime (kernels, the WGSL prelude, the pool) must not be in its bundle.
    writeFileSync(join(web, 'tiny.html'), `<!doctype html>
<html lang="en"><head><meta charset="utf-8" /><title>tiny</title></head><body><script type="module" src="./tiny.js"></script></body></html>
`);
    writeFileSync(join(web, 'tiny.js'), `import { HmmError } from 'webgpu-hmm';\ndocument.title = String(new HmmError('INVALID_ARGUMENT', 'x') instanceof Error);\n`);
    // Plain object configs: the scratch project has no vite to import. The
    // tiny page is built on its own, so that no chunk is shared with the main one.
    const config = (input: string, outDir: string) => `export default {
  logLevel: 'warn',
  build: { outDir: '${outDir}', emptyOutDir: true, minify: false, rolldownOptions: { input: '${input}' } },
};
`;
    writeFileSync(join(web, 'vite.config.mjs'), config('index.html', 'dist'));
    writeFileSync(join(web, 'vite.tiny.config.mjs'), config('tiny.html', 'dist-tiny'));
    const vite = join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');
    const bundle = (configFile: string, outDir: string) => {
      const built = runOk(process.execPath, [vite, 'build', '--config', configFile], web);
      expect(`${built.stdout}\n${built.stderr}`, 'Vite warned about a Node module in the browser build')
        .not.toMatch(/externalized for browser compatibility|node:/);
      const assets = join(web, outDir, 'assets');
      return readdirSync(assets).filter((f) => f.endsWith('.js')).map((f) => readFileSync(join(assets, f), 'utf8')).join('\n');
    };
    const all = bundle('vite.config.mjs', 'dist');
    const tiny = bundle('vite.tiny.config.mjs', 'dist-tiny');
    // No Node built-in, by import or by global.
    for (const code of [all, tiny]) {
      expect(code).not.toMatch(/\bfrom\s*["']node:|\bimport\s*\(\s*["']node:|__vite-browser-external|\brequire\s*\(/);
      expect(code).not.toMatch(/\bprocess\.(env|versions|platform)\b|\bBuffer\.(from|alloc)\b/);
    }
    expect(all, 'the main page has the runtime').toContain('vm_load_u32');
    expect(tiny, 'the error-class page has the class').toContain('HmmError');
    expect(tiny, 'the error-class page is tree-shaken: no kernels, no prelude').not.toContain('vm_load_u32');
    console.log(`browser bundle: page ${(all.length / 1024).toFixed(0)} KiB (unminified), error-class-only page ${(tiny.length / 1024).toFixed(1)} KiB`);
    expect(tiny.length).toBeLessThan(all.length / 10);

    // The bundled page in Chromium, served from 127.0.0.1 (a secure context).
    const server = await serveStatic(join(web, 'dist'));
    const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...CHROMIUM_ARGS] });
    try {
      const page = await browser.newPage();
      const console_: string[] = [];
      page.on('console', (m) => console_.push(`[${m.type()}] ${m.text()}`));
      page.on('pageerror', (e) => console_.push(`[pageerror] ${e.message}`));
      await page.goto(`${server.url}/index.html`);
      await page.waitForFunction("['ok', 'fail'].includes(document.getElementById('status')?.dataset.status)", undefined, { timeout: 90_000, polling: 250 });
      const text = (await page.locator('#status').textContent()) ?? '';
      expect(await page.locator('#status').getAttribute('data-status'), `${text}\n${console_.join('\n')}`).toBe('ok');
      expect(text).toBe('ok: 65536 words, 1 dispatch');
    } finally {
      await browser.close();
      await server.close();
    }
  }, TIMEOUT);

  test('a browser TypeScript consumer (lib DOM, no @webgpu/types) type-checks against dist/index.d.ts', () => {
    writeFileSync(join(web, 'consume.ts'), `
import { createPool, createSpace, type Pool, type AddressSpace } from 'webgpu-hmm';
export async function start(device: GPUDevice): Promise<AddressSpace> {
  const pool: Pool = await createPool(device, { capacity: 1 << 20 });
  return createSpace(pool, { size: 4 << 20 });
}
`);
    writeFileSync(join(web, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', module: 'ESNext', moduleResolution: 'Bundler', strict: true, noEmit: true,
        lib: ['ES2022', 'DOM'], types: [], skipLibCheck: false,
      },
      files: ['consume.ts'],
    }, null, 2));
    const r = run(TSC, ['-p', 'tsconfig.json'], web);
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
  });
});
