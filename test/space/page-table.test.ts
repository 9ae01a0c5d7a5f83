import { describe, expect, it } from 'vitest';
import { NO_FRAME, PageFlag, PageState, PageTable } from '../../src/space/page-table.ts';

describe('PageTable', () => {
  it('starts unpopulated, no frames, no pins, and satisfies its invariants', () => {
    const t = new PageTable(8, 16);
    expect([...t.state]).toEqual(new Array(8).fill(PageState.Unpopulated));
    expect([...t.frame]).toEqual(new Array(8).fill(NO_FRAME));
    expect(() => t.checkInvariants()).not.toThrow();
  });

  it('stays within the 16-bytes-per-page metadata budget', () => {
    expect(PageTable.BYTES_PER_PAGE).toBeLessThanOrEqual(16);
  });

  it('I1: a resident page needs a frame, a frame needs a resident page', () => {
    const t = new PageTable(4, 16);
    t.state[1] = PageState.Shared;
    expect(() => t.checkInvariants()).toThrow(/I1/);
    t.frame[1] = 3;
    expect(() => t.checkInvariants()).not.toThrow();
    t.state[1] = PageState.Host;
    expect(() => t.checkInvariants()).toThrow(/I1/);
  });

  it('I2: an in-flight page is device state with no frame', () => {
    const t = new PageTable(2, 16);
    t.state[0] = PageState.Device;
    t.flags[0] = PageFlag.InFlight;
    expect(() => t.checkInvariants()).not.toThrow();
    t.frame[0] = 5;
    expect(() => t.checkInvariants()).toThrow(/I2/);
    t.frame[0] = NO_FRAME;
    t.state[0] = PageState.Host;
    expect(() => t.checkInvariants()).toThrow(/I2/);
  });

  it('I3: a pinned page is resident', () => {
    const t = new PageTable(2, 16);
    t.pins[0] = 1;
    expect(() => t.checkInvariants()).toThrow(/I3/);
    t.state[0] = PageState.Device;
    t.frame[0] = 0;
    expect(() => t.checkInvariants()).not.toThrow();
  });

  it('counts states and tells which pages need a write-back', () => {
    const t = new PageTable(4, 16);
    t.state.set([PageState.Host, PageState.Device, PageState.Shared, PageState.Device]);
    t.frame.set([NO_FRAME, 0, 1, NO_FRAME]);
    t.flags[3] = PageFlag.InFlight; // evicted, its write-back not landed yet
    t.checkInvariants();
    expect(t.countInState(PageState.Device)).toBe(2);
    expect(t.needsWriteback(1)).toBe(true);
    expect(t.needsWriteback(3)).toBe(true);
    expect(t.needsWriteback(2)).toBe(false);
    // Resident means "has a frame": an InFlight page is device-only data without one.
    expect(t.isResident(2)).toBe(true);
    expect(t.isResident(0)).toBe(false);
    expect(t.isResident(3)).toBe(false);
  });
});
