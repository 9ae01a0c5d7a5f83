// webgpu-hmm prelude, atomics. Linked only into kernels that call vm_atomic_*
// (their windows are then declared array<atomic<u32>>: WebGPU refuses the same
// buffer bound twice as writable storage, so a kernel's windows have one type).
// Each needs READ and WRITE permission. On a violation nothing is done and the
// result is 0 (for compare-exchange: exchanged = false, old_value = 0). Where a
// demand pass must not write (PROBE, outside a COMMIT's snapshot, after a
// stall) the operation runs on the invocation's private overlay (see
// prelude.wgsl), starting from the word in memory when the page is resident:
// it returns what it would have, and the invocation sees its own updates.

fn vm_x_atomic_add_u32(addr: VmAddr, v: u32) -> u32 {
  let g = vm_translate(addr, 4u, VM_RW);
  if (vm_shadowed(g)) {
    let o = vm_ov_read(addr, g);
    vm_ov_put(addr, o + v);
    return o;
  }
  if (g == VM_NONE) { return 0u; }
  return vm_atomic_add_word(g, v);
}
fn vm_x_atomic_sub_u32(addr: VmAddr, v: u32) -> u32 {
  let g = vm_translate(addr, 4u, VM_RW);
  if (vm_shadowed(g)) {
    let o = vm_ov_read(addr, g);
    vm_ov_put(addr, o - v);
    return o;
  }
  if (g == VM_NONE) { return 0u; }
  return vm_atomic_sub_word(g, v);
}
fn vm_x_atomic_max_u32(addr: VmAddr, v: u32) -> u32 {
  let g = vm_translate(addr, 4u, VM_RW);
  if (vm_shadowed(g)) {
    let o = vm_ov_read(addr, g);
    vm_ov_put(addr, max(o, v));
    return o;
  }
  if (g == VM_NONE) { return 0u; }
  return vm_atomic_max_word(g, v);
}
fn vm_x_atomic_min_u32(addr: VmAddr, v: u32) -> u32 {
  let g = vm_translate(addr, 4u, VM_RW);
  if (vm_shadowed(g)) {
    let o = vm_ov_read(addr, g);
    vm_ov_put(addr, min(o, v));
    return o;
  }
  if (g == VM_NONE) { return 0u; }
  return vm_atomic_min_word(g, v);
}
fn vm_x_atomic_and_u32(addr: VmAddr, v: u32) -> u32 {
  let g = vm_translate(addr, 4u, VM_RW);
  if (vm_shadowed(g)) {
    let o = vm_ov_read(addr, g);
    vm_ov_put(addr, o & v);
    return o;
  }
  if (g == VM_NONE) { return 0u; }
  return vm_atomic_and_word(g, v);
}
fn vm_x_atomic_or_u32(addr: VmAddr, v: u32) -> u32 {
  let g = vm_translate(addr, 4u, VM_RW);
  if (vm_shadowed(g)) {
    let o = vm_ov_read(addr, g);
    vm_ov_put(addr, o | v);
    return o;
  }
  if (g == VM_NONE) { return 0u; }
  return vm_atomic_or_word(g, v);
}
fn vm_x_atomic_xor_u32(addr: VmAddr, v: u32) -> u32 {
  let g = vm_translate(addr, 4u, VM_RW);
  if (vm_shadowed(g)) {
    let o = vm_ov_read(addr, g);
    vm_ov_put(addr, o ^ v);
    return o;
  }
  if (g == VM_NONE) { return 0u; }
  return vm_atomic_xor_word(g, v);
}
fn vm_x_atomic_exchange_u32(addr: VmAddr, v: u32) -> u32 {
  let g = vm_translate(addr, 4u, VM_RW);
  if (vm_shadowed(g)) {
    let o = vm_ov_read(addr, g);
    vm_ov_put(addr, v);
    return o;
  }
  if (g == VM_NONE) { return 0u; }
  return vm_atomic_exchange_word(g, v);
}
struct VmCasResult {
  old_value: u32,
  exchanged: bool,
}
fn vm_x_atomic_compare_exchange_u32(addr: VmAddr, cmp: u32, v: u32) -> VmCasResult {
  let g = vm_translate(addr, 4u, VM_RW);
  if (vm_shadowed(g)) {
    let o = vm_ov_read(addr, g);
    if (o == cmp) { vm_ov_put(addr, v); }
    return VmCasResult(o, o == cmp);
  }
  if (g == VM_NONE) { return VmCasResult(0u, false); }
  return vm_atomic_compare_exchange_word(g, cmp, v);
}
// ---- the public atomics: by a u32 address and by a VmPtr (prelude.wgsl's public loads) ----
fn vm_atomic_load_u32(addr: u32) -> u32 { return vm_x_load_u32(vm_a_u32(addr)); }
fn vm_atomic_store_u32(addr: u32, v: u32) { vm_x_store_u32(vm_a_u32(addr), v); }
fn vm_ptr_atomic_load_u32(p: VmPtr) -> u32 { return vm_ptr_load_u32(p); }
fn vm_ptr_atomic_store_u32(p: VmPtr, v: u32) { vm_ptr_store_u32(p, v); }
fn vm_atomic_add_u32(addr: u32, v: u32) -> u32 { return vm_x_atomic_add_u32(vm_a_u32(addr), v); }
fn vm_ptr_atomic_add_u32(p: VmPtr, v: u32) -> u32 { if (!vm_ptr_ok(p)) { return 0u; } return vm_x_atomic_add_u32(vm_a_ptr(p), v); }
fn vm_atomic_sub_u32(addr: u32, v: u32) -> u32 { return vm_x_atomic_sub_u32(vm_a_u32(addr), v); }
fn vm_ptr_atomic_sub_u32(p: VmPtr, v: u32) -> u32 { if (!vm_ptr_ok(p)) { return 0u; } return vm_x_atomic_sub_u32(vm_a_ptr(p), v); }
fn vm_atomic_max_u32(addr: u32, v: u32) -> u32 { return vm_x_atomic_max_u32(vm_a_u32(addr), v); }
fn vm_ptr_atomic_max_u32(p: VmPtr, v: u32) -> u32 { if (!vm_ptr_ok(p)) { return 0u; } return vm_x_atomic_max_u32(vm_a_ptr(p), v); }
fn vm_atomic_min_u32(addr: u32, v: u32) -> u32 { return vm_x_atomic_min_u32(vm_a_u32(addr), v); }
fn vm_ptr_atomic_min_u32(p: VmPtr, v: u32) -> u32 { if (!vm_ptr_ok(p)) { return 0u; } return vm_x_atomic_min_u32(vm_a_ptr(p), v); }
fn vm_atomic_and_u32(addr: u32, v: u32) -> u32 { return vm_x_atomic_and_u32(vm_a_u32(addr), v); }
fn vm_ptr_atomic_and_u32(p: VmPtr, v: u32) -> u32 { if (!vm_ptr_ok(p)) { return 0u; } return vm_x_atomic_and_u32(vm_a_ptr(p), v); }
fn vm_atomic_or_u32(addr: u32, v: u32) -> u32 { return vm_x_atomic_or_u32(vm_a_u32(addr), v); }
fn vm_ptr_atomic_or_u32(p: VmPtr, v: u32) -> u32 { if (!vm_ptr_ok(p)) { return 0u; } return vm_x_atomic_or_u32(vm_a_ptr(p), v); }
fn vm_atomic_xor_u32(addr: u32, v: u32) -> u32 { return vm_x_atomic_xor_u32(vm_a_u32(addr), v); }
fn vm_ptr_atomic_xor_u32(p: VmPtr, v: u32) -> u32 { if (!vm_ptr_ok(p)) { return 0u; } return vm_x_atomic_xor_u32(vm_a_ptr(p), v); }
fn vm_atomic_exchange_u32(addr: u32, v: u32) -> u32 { return vm_x_atomic_exchange_u32(vm_a_u32(addr), v); }
fn vm_ptr_atomic_exchange_u32(p: VmPtr, v: u32) -> u32 { if (!vm_ptr_ok(p)) { return 0u; } return vm_x_atomic_exchange_u32(vm_a_ptr(p), v); }
fn vm_atomic_compare_exchange_u32(addr: u32, cmp: u32, v: u32) -> VmCasResult { return vm_x_atomic_compare_exchange_u32(vm_a_u32(addr), cmp, v); }
fn vm_ptr_atomic_compare_exchange_u32(p: VmPtr, cmp: u32, v: u32) -> VmCasResult {
  if (!vm_ptr_ok(p)) { return VmCasResult(0u, false); }
  return vm_x_atomic_compare_exchange_u32(vm_a_ptr(p), cmp, v);
}
// i32 add/sub are the same bits as u32 add/sub (two's complement).
fn vm_atomic_add_i32(addr: u32, v: i32) -> i32 { return bitcast<i32>(vm_atomic_add_u32(addr, bitcast<u32>(v))); }
fn vm_atomic_sub_i32(addr: u32, v: i32) -> i32 { return bitcast<i32>(vm_atomic_sub_u32(addr, bitcast<u32>(v))); }
fn vm_ptr_atomic_add_i32(p: VmPtr, v: i32) -> i32 { return bitcast<i32>(vm_ptr_atomic_add_u32(p, bitcast<u32>(v))); }
fn vm_ptr_atomic_sub_i32(p: VmPtr, v: i32) -> i32 { return bitcast<i32>(vm_ptr_atomic_sub_u32(p, bitcast<u32>(v))); }
