// webgpu-hmm prelude, atomics. Linked only into kernels that call vm_atomic_*
// (their windows are then declared array<atomic<u32>>: WebGPU refuses the same
// buffer bound twice as writable storage, so a kernel's windows have one type).
// Each needs READ and WRITE permission. On a violation or a miss nothing is
// done and the result is 0 (for compare-exchange: exchanged = false,
// old_value = 0). In a PROBE pass nothing is written: a read-modify-write
// returns the current value, as if it had run, so the probe follows the path a
// real run would take.

fn vm_atomic_load_u32(addr: u32) -> u32 {
  let g = vm_translate(addr, 4u, VM_R);
  if (g == VM_NONE) { return 0u; }
  return vm_read_word(g);
}
fn vm_atomic_store_u32(addr: u32, v: u32) {
  let g = vm_translate(addr, 4u, VM_W);
  if (vm_no_store(g)) { return; }
  vm_write_word(g, v);
}
fn vm_atomic_add_u32(addr: u32, v: u32) -> u32 {
  let g = vm_translate(addr, 4u, VM_RW);
  if (g == VM_NONE) { return 0u; }
  if (vm_u.mode == VM_MODE_PROBE) { return vm_read_word(g); }
  return vm_atomic_add_word(g, v);
}
fn vm_atomic_sub_u32(addr: u32, v: u32) -> u32 {
  let g = vm_translate(addr, 4u, VM_RW);
  if (g == VM_NONE) { return 0u; }
  if (vm_u.mode == VM_MODE_PROBE) { return vm_read_word(g); }
  return vm_atomic_sub_word(g, v);
}
fn vm_atomic_max_u32(addr: u32, v: u32) -> u32 {
  let g = vm_translate(addr, 4u, VM_RW);
  if (g == VM_NONE) { return 0u; }
  if (vm_u.mode == VM_MODE_PROBE) { return vm_read_word(g); }
  return vm_atomic_max_word(g, v);
}
fn vm_atomic_min_u32(addr: u32, v: u32) -> u32 {
  let g = vm_translate(addr, 4u, VM_RW);
  if (g == VM_NONE) { return 0u; }
  if (vm_u.mode == VM_MODE_PROBE) { return vm_read_word(g); }
  return vm_atomic_min_word(g, v);
}
fn vm_atomic_and_u32(addr: u32, v: u32) -> u32 {
  let g = vm_translate(addr, 4u, VM_RW);
  if (g == VM_NONE) { return 0u; }
  if (vm_u.mode == VM_MODE_PROBE) { return vm_read_word(g); }
  return vm_atomic_and_word(g, v);
}
fn vm_atomic_or_u32(addr: u32, v: u32) -> u32 {
  let g = vm_translate(addr, 4u, VM_RW);
  if (g == VM_NONE) { return 0u; }
  if (vm_u.mode == VM_MODE_PROBE) { return vm_read_word(g); }
  return vm_atomic_or_word(g, v);
}
fn vm_atomic_xor_u32(addr: u32, v: u32) -> u32 {
  let g = vm_translate(addr, 4u, VM_RW);
  if (g == VM_NONE) { return 0u; }
  if (vm_u.mode == VM_MODE_PROBE) { return vm_read_word(g); }
  return vm_atomic_xor_word(g, v);
}
fn vm_atomic_exchange_u32(addr: u32, v: u32) -> u32 {
  let g = vm_translate(addr, 4u, VM_RW);
  if (g == VM_NONE) { return 0u; }
  if (vm_u.mode == VM_MODE_PROBE) { return vm_read_word(g); }
  return vm_atomic_exchange_word(g, v);
}
struct VmCasResult {
  old_value: u32,
  exchanged: bool,
}
fn vm_atomic_compare_exchange_u32(addr: u32, cmp: u32, v: u32) -> VmCasResult {
  let g = vm_translate(addr, 4u, VM_RW);
  if (g == VM_NONE) { return VmCasResult(0u, false); }
  if (vm_u.mode == VM_MODE_PROBE) {
    let old = vm_read_word(g);
    return VmCasResult(old, old == cmp);
  }
  return vm_atomic_compare_exchange_word(g, cmp, v);
}
// i32 add/sub are the same bits as u32 add/sub (two's complement).
fn vm_atomic_add_i32(addr: u32, v: i32) -> i32 { return bitcast<i32>(vm_atomic_add_u32(addr, bitcast<u32>(v))); }
fn vm_atomic_sub_i32(addr: u32, v: i32) -> i32 { return bitcast<i32>(vm_atomic_sub_u32(addr, bitcast<u32>(v))); }
