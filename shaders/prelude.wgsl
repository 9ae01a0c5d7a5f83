// webgpu-hmm prelude: virtual memory for WGSL kernels.
//
// Linked in front of every kernel by src/kernel/link.ts, which first emits:
//   const VM_PAGE_SHIFT, VM_FRAME_WORD_SHIFT, VM_WINDOW_WORD_SHIFT, VM_LOG_ENTRIES: u32
//   the window bindings  @group(0) @binding(3 + i) vm_w<i>: array<u32 | atomic<u32>>
//   vm_read_word(g) / vm_write_word(g, v) / vm_atomic_*_word(g, …): a switch over windows
// and after the user's code, the entry point `vm_entry`, which sets vm_gid and
// calls the user's `fn kernel(inv: VmInvocation)`.
//
// A virtual address is a u32 byte address in [0, space size). Translation:
//   page = addr >> VM_PAGE_SHIFT;  pte = vm_pt[page]
//   pte bit 31 VALID, bit 30 READ, bit 29 WRITE, bits 0..28 frame
//   global word g = frame << VM_FRAME_WORD_SHIFT | (addr & page mask) >> 2
//   window = g >> VM_WINDOW_WORD_SHIFT, index = g & window mask
// Any access that fails a check is recorded in vm_log and not carried out:
// loads return zero, stores and atomics do nothing. Nothing outside this
// space's frames can be reached: the only way to a frame is this space's PTEs.

struct VmUniforms {
  num_pages: u32,
  mode: u32,
  _pad0: u32,
  _pad1: u32,
  args: array<vec4<u32>, 16>,
}

struct VmInvocation {
  global_id: vec3<u32>,
  local_id: vec3<u32>,
  workgroup_id: vec3<u32>,
  num_workgroups: vec3<u32>,
  local_index: u32,
}

@group(0) @binding(0) var<uniform> vm_u: VmUniforms;
@group(0) @binding(1) var<storage, read> vm_pt: array<u32>;
@group(0) @binding(2) var<storage, read_write> vm_log: array<atomic<u32>>;

const VM_VALID: u32 = 0x80000000u;
const VM_R: u32 = 0x40000000u;
const VM_W: u32 = 0x20000000u;
const VM_RW: u32 = 0x60000000u;
const VM_FRAME_MASK: u32 = 0x1fffffffu;
const VM_NONE: u32 = 0xffffffffu;
const VM_PAGE_MASK: u32 = (1u << VM_PAGE_SHIFT) - 1u;
const VM_WINDOW_MASK: u32 = (1u << VM_WINDOW_WORD_SHIFT) - 1u;

// Violation kinds (src/fault/declared.ts decodes them).
const VM_KIND_RANGE: u32 = 1u;
const VM_KIND_NOREAD: u32 = 2u;
const VM_KIND_NOWRITE: u32 = 3u;
const VM_KIND_MISALIGNED: u32 = 4u;

// vm_log layout: [0] total count, [1..3] reserved, then VM_LOG_ENTRIES records
// of 8 words: addr, kind, gid.x, gid.y, gid.z, 0, 0, 0.
const VM_LOG_HEADER: u32 = 4u;
const VM_LOG_STRIDE: u32 = 8u;

var<private> vm_gid: vec3<u32>;

fn vm_violation(addr: u32, kind: u32) {
  let i = atomicAdd(&vm_log[0], 1u);
  if (i < VM_LOG_ENTRIES) {
    let b = VM_LOG_HEADER + i * VM_LOG_STRIDE;
    atomicStore(&vm_log[b], addr);
    atomicStore(&vm_log[b + 1u], kind);
    atomicStore(&vm_log[b + 2u], vm_gid.x);
    atomicStore(&vm_log[b + 3u], vm_gid.y);
    atomicStore(&vm_log[b + 4u], vm_gid.z);
  }
}

// Translate `addr` for an access of `align` bytes needing permission `need`
// (VM_R, VM_W or VM_RW). Returns the global word index, or VM_NONE after
// recording the violation.
fn vm_translate(addr: u32, align: u32, need: u32) -> u32 {
  if ((addr & (align - 1u)) != 0u) {
    vm_violation(addr, VM_KIND_MISALIGNED);
    return VM_NONE;
  }
  let page = addr >> VM_PAGE_SHIFT;
  if (page >= vm_u.num_pages) {
    vm_violation(addr, VM_KIND_RANGE);
    return VM_NONE;
  }
  let pte = vm_pt[page];
  if ((pte & need) != need) {
    vm_violation(addr, select(VM_KIND_NOREAD, VM_KIND_NOWRITE, (need & VM_W) != 0u && (pte & VM_W) == 0u));
    return VM_NONE;
  }
  return ((pte & VM_FRAME_MASK) << VM_FRAME_WORD_SHIFT) | ((addr & VM_PAGE_MASK) >> 2u);
}

// ---- arguments (u32 words passed with the dispatch) ----

fn vm_arg_u32(i: u32) -> u32 { return vm_u.args[i >> 2u][i & 3u]; }
fn vm_arg_i32(i: u32) -> i32 { return bitcast<i32>(vm_arg_u32(i)); }
fn vm_arg_f32(i: u32) -> f32 { return bitcast<f32>(vm_arg_u32(i)); }

// ---- scalar loads and stores ----

fn vm_load_u32(addr: u32) -> u32 {
  let g = vm_translate(addr, 4u, VM_R);
  if (g == VM_NONE) { return 0u; }
  return vm_read_word(g);
}
fn vm_load_i32(addr: u32) -> i32 { return bitcast<i32>(vm_load_u32(addr)); }
fn vm_load_f32(addr: u32) -> f32 { return bitcast<f32>(vm_load_u32(addr)); }

fn vm_store_u32(addr: u32, v: u32) {
  let g = vm_translate(addr, 4u, VM_W);
  if (g == VM_NONE) { return; }
  vm_write_word(g, v);
}
fn vm_store_i32(addr: u32, v: i32) { vm_store_u32(addr, bitcast<u32>(v)); }
fn vm_store_f32(addr: u32, v: f32) { vm_store_u32(addr, bitcast<u32>(v)); }

// ---- vectors (aligned to their size, so never split across pages) ----

fn vm_load_vec2u(addr: u32) -> vec2<u32> {
  let g = vm_translate(addr, 8u, VM_R);
  if (g == VM_NONE) { return vec2<u32>(0u); }
  return vec2<u32>(vm_read_word(g), vm_read_word(g + 1u));
}
fn vm_load_vec2i(addr: u32) -> vec2<i32> { return bitcast<vec2<i32>>(vm_load_vec2u(addr)); }
fn vm_load_vec2f(addr: u32) -> vec2<f32> { return bitcast<vec2<f32>>(vm_load_vec2u(addr)); }

fn vm_load_vec4u(addr: u32) -> vec4<u32> {
  let g = vm_translate(addr, 16u, VM_R);
  if (g == VM_NONE) { return vec4<u32>(0u); }
  return vec4<u32>(vm_read_word(g), vm_read_word(g + 1u), vm_read_word(g + 2u), vm_read_word(g + 3u));
}
fn vm_load_vec4i(addr: u32) -> vec4<i32> { return bitcast<vec4<i32>>(vm_load_vec4u(addr)); }
fn vm_load_vec4f(addr: u32) -> vec4<f32> { return bitcast<vec4<f32>>(vm_load_vec4u(addr)); }

fn vm_store_vec2u(addr: u32, v: vec2<u32>) {
  let g = vm_translate(addr, 8u, VM_W);
  if (g == VM_NONE) { return; }
  vm_write_word(g, v.x);
  vm_write_word(g + 1u, v.y);
}
fn vm_store_vec2i(addr: u32, v: vec2<i32>) { vm_store_vec2u(addr, bitcast<vec2<u32>>(v)); }
fn vm_store_vec2f(addr: u32, v: vec2<f32>) { vm_store_vec2u(addr, bitcast<vec2<u32>>(v)); }

fn vm_store_vec4u(addr: u32, v: vec4<u32>) {
  let g = vm_translate(addr, 16u, VM_W);
  if (g == VM_NONE) { return; }
  vm_write_word(g, v.x);
  vm_write_word(g + 1u, v.y);
  vm_write_word(g + 2u, v.z);
  vm_write_word(g + 3u, v.w);
}
fn vm_store_vec4i(addr: u32, v: vec4<i32>) { vm_store_vec4u(addr, bitcast<vec4<u32>>(v)); }
fn vm_store_vec4f(addr: u32, v: vec4<f32>) { vm_store_vec4u(addr, bitcast<vec4<u32>>(v)); }
