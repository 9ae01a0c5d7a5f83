// Memory groups as a tree: the bookkeeping of the cgroup `dmem` controller and
// of the RFC for pinned device memory (../shared/seeds/003_*), in frames (one
// frame holds one page), with no GPU, no page tables and no spaces. The pool
// owns one tree; its root is the pool itself (max = the pool's frames, pin
// limit = the pool's pinLimit). A *member* (a space id) belongs to one node,
// leaf or inner. This module is state plus one policy, the reclaim
// classifier; eviction.ts applies the classifier's answers to the frame table
// and changes nothing else. Amounts are frames; messages say bytes.
//
// What it keeps, after mm/page_counter.c:
//   - usage: frames charged, per node for its subtree. charge/uncharge walk
//     to the root like page_counter_charge/uncharge; tryCharge fails, changing
//     nothing, naming the first node on the walk up whose max would be passed
//     (page_counter_try_charge's `fail`). The root's max is the capacity, so a
//     refusal at the root means "the pool is full".
//   - pinned: pinned frames per subtree, after the RFC's page_counter_try_pin:
//     a pin is refused when any node up to the root would pin more than its
//     pin limit. The RFC's limit is `min`; here `pinLimit` defaults to min and
//     may be set apart from it (at most max); the root's is the pool's.
//   - min / low protection, effective values computed top-down from a reclaim
//     root as page_counter_calculate_protection / effective_protection do, with
//     recursive protection on: dmem.c's dmem_cgroup_calculate_protection
//     passes `true` (memcg makes it a mount option, memory_recursiveprot; dmem
//     always uses it). Children of the reclaim root get their declared values;
//     deeper nodes get their own protection capped by their share of the
//     parent's effective protection, in proportion to the siblings' protected
//     usage when overcommitted, and the parent's unclaimed ("floating")
//     protection shared in proportion to unprotected usage otherwise.
//   - pinned frames in protection, after the RFC's cover letter: pinned frames
//     are subtracted from usage, min and low before computing, and the node's
//     pinned frames are added back to the result — so pinning uses up min for
//     every ancestor (the free protection left to share shrinks), and pinned
//     frames are never counted as reclaimable.
//   - the reclaim classifier (dmem_cgroup_state_evict_valuable, as a count):
//     for a request of `need` frames by member m in node R, one *stage* per node
//     L on the walk up from R whose max the request would pass, lowest first
//     (R's own max, an ancestor's, last the root = the pool full). A stage takes
//     frames from L's subtree only, with protection computed relative to L. A
//     node N's frames are, for that stage:
//        tier 0  above its effective low (and min)   — taken first
//        tier 1  above its effective min, below low — only when tier 0 cannot give enough
//        held    at or below its effective min       — never taken for another group
//        tier 2  the requester's own protected frames — taken for itself, last
//     and "how many": the frames N may give before N, or any ancestor of N
//     that does not contain R, would go under its floor.
//   - eviction counts per node by cause: `self` (taken for its own members),
//     `ancestorMax` (for another group under the max of a common ancestor, or
//     of the requester above it), `others` (for another group, the pool full).
//
// Where it differs from Linux, and why:
//   1. Exact counts, not a yes/no per buffer. dmem answers "may this buffer be
//      evicted" (used > emin) and TTM evicts whole buffers, which may go below
//      emin by up to a buffer; memcg scales reclaim pressure by the overage.
//      Pages are our unit, so the classifier says how many frames, and never
//      takes a node below its floor. It also checks the floors of the node's
//      ancestors up to (not including) the lowest one that contains the
//      requester: the kernel's floor division can leave children's effective
//      values summing to a little less than their parent's, and one request
//      taking from several children must not take the parent under its own.
//      Ancestors that contain the requester are not checked: frames moving
//      from one of their descendants to another do not change their usage.
//   2. A snapshot per request. The kernel recomputes protection for every
//      candidate buffer as usage changes under reclaim; a plan computes it once
//      for the request's stages and counts what it took against the snapshot.
//      Between requests the values move as in the kernel (29M/21M in the
//      selftest come from that), within one request they do not, so one request
//      never takes more from siblings than their parent's protection allows.
//   3. The requester's own protected frames are tier 2, not refused. dmem exempts
//      only the limit pool (limit_pool == test_pool); with the device full
//      (limit_pool NULL) a group's own buffers within its min are not evicted
//      even for itself, and the allocation fails. Here a group's min protects it
//      from others; for its own fault-ins its frames are the last resort, so a
//      working set that fits its group still completes (the DESIGN's progress
//      rule). The same holds for the own frames of the requester's ancestors
//      (they contain the requester; their usage does not change).
//   4. Pinned frames, literally as the cover letter says. The RFC's posted
//      patch 1/3 (2025-08-19) zeroes min/low when pinned exceeds them and keeps
//      usage and children_min_usage unchanged, while patch 2/3 adds pinned back
//      (`emin + pinned`). We subtract pinned from usage, min and low — also in
//      the siblings' protected usage a parent shares out — and add it back, so
//      every quantity of the computation is reclaimable frames.
//   5. Zero usage gives zero effective protection (the kernel leaves the old,
//      stale value: page_counter_calculate_protection returns early). Only
//      budgets read it; nothing is there to reclaim either way.
//   6. The top-level groups' min may not add up to more than the capacity
//      (createGroup refuses, and the pool checks it on shrink and recover), so
//      protection can always be honoured; the kernel allows overcommitting the
//      root and OOMs. Deeper levels may overcommit their parent's min: it is
//      shared out as in the kernel.
//   7. No low/max events, high, peak, or failcnt; pressure events are the pool's.
//
// Sources read: torvalds/linux mm/page_counter.c at 25768de50b1f (with
// track_protection and local_watermark, v6.12 or later), kernel/cgroup/dmem.c at
// a4a508df2aa3, Documentation/admin-guide/cgroup-v2.rst ("Reclaim Protection":
// protection applies relative to the reclaim target) and the selftest
// hierarchy of tools/testing/selftests/cgroup/test_memcontrol.c; the RFC
// "[RFC 0-2/3] cgroups: Add support for pinned device memory" (Lankhorst,
// 2025-08-19) from the dri-devel / linux-kernel archives.
//
// Invariants (checkInvariants; after every transition when `checks` is on —
// tests and the fuzz model turn it on — and O(depth) asserts always):
//   T1  shape: the root has no parent; every live node's parent is live, lists
//       it once among its children, and has a smaller id (ids are creation
//       order, so ascending id order visits parents before children).
//   T2  usage(N) = own(N) + Σ usage(children); pinned(N) = ownPinned(N) + Σ pinned(children).
//   T3  own(N) = Σ charged(m), ownPinned(N) = Σ pinned(m), over the members m of N;
//       every member's node is live; counts are whole and ≥ 0.
//   T4  usage(N) ≤ max(N) for every node, and usage(root) ≤ capacity.
//   T5  pinned(N) ≤ min(pinLimit(N), max(N)) for every non-root node; pinned(root) ≤ the pool's pin limit.
//   T6  Σ min of the root's children ≤ capacity.
// pinned(N) may exceed usage(N): pins outlive a lost device's frames (loss.ts
// keeps them and recover() gives them frames again). Protection counts
// min(pinned, usage) as the pinned part.
//
// Who writes what: the tree alone writes every count. The pool (groups.ts)
// derives usage rather than charging at every frame move: before it asks the
// tree anything it sync()s each member to the frame table's count and the
// space's pinned pages, and setCapacity() to the pool's; it attaches and
// detaches members at space creation and destruction, and commit()s a plan
// once its victims are chosen. charge/tryCharge/pin are for a caller that
// keeps no truth of its own (the tests' worlds).

import { assert, fail } from '../assert.ts';
import { GroupPinLimitError, InvalidArgumentError, PinLimitError, PoolMismatchError, WorkingSetTooLargeError } from '../errors.ts';

/**
 * Why a group's page was evicted: `'self'` to make room for its own spaces'
 * fault-ins, `'ancestorMax'` for another group's under a common ancestor's max,
 * `'others'` for another group's with the pool full.
 */
export type EvictionCause = 'self' | 'ancestorMax' | 'others';
export const EVICTION_CAUSES: readonly EvictionCause[] = ['self', 'ancestorMax', 'others'];

/** Tier of a frame for one reclaim stage: 0 above effective low, 1 above effective min, 2 the requester's own protected frames. */
export type ReclaimTier = 0 | 1 | 2;

/** Limits of a new node, in frames. */
export interface GroupNodeOptions {
  /** A name for errors and budgets. Default `group<id>`. */
  label?: string;
  /** Most frames its subtree may hold. Default: the capacity. 1 … capacity. */
  max?: number;
  /** Hard protection (frames). Default 0. At most max. */
  min?: number;
  /** Best-effort protection (frames). Default 0. At most max. */
  low?: number;
  /** Most frames its subtree may pin. Default: min (the RFC's rule). At most max. */
  pinLimit?: number;
}

/** A node of the tree: a handle, its identity and declared limits (frames). Counts are asked of the tree. */
export interface GroupNode {
  /** 0 for the root; creation order. */
  readonly id: number;
  readonly label: string;
  /** Labels from the root's child down to it, joined by '/'; the root's label for the root. */
  readonly path: string;
  readonly parent: GroupNode | undefined;
  readonly children: readonly GroupNode[];
  /** 0 for the root. */
  readonly depth: number;
  readonly isRoot: boolean;
  /** As declared (the root's: the capacity when the tree was made; see GroupTree.capacity). */
  readonly max: number;
  readonly min: number;
  readonly low: number;
  readonly pinLimit: number;
  /** Removed from the tree (GroupTree.remove): no longer usable. */
  readonly removed: boolean;
}

/** tryCharge's refusal: the first node on the walk up whose max the charge would pass. */
export interface ChargeRefusal {
  readonly node: GroupNode;
  /** Its usage now, its max in force, and by how much the charge would pass it (frames). */
  readonly usage: number;
  readonly max: number;
  readonly over: number;
}

/** Effective protection relative to one reclaim root, pinned frames added back (frames). */
export interface Protection {
  readonly root: GroupNode;
  /** Effective min of a node in the root's subtree (0 for the root itself and for nodes outside). */
  min(node: GroupNode): number;
  low(node: GroupNode): number;
}

/** The tree for budgets: limits in force, counts and effective protection relative to the root (frames). */
export interface GroupSnapshot {
  readonly id: number;
  readonly label: string;
  readonly path: string;
  readonly depth: number;
  /** Members (spaces) attached to this node itself. */
  readonly members: number;
  /** Limits in force: max cut to the capacity now; pinLimit cut to that max (the root's: the pool's). */
  readonly max: number;
  readonly min: number;
  readonly low: number;
  readonly pinLimit: number;
  /** Frames charged to its subtree, and to its own members. */
  readonly usage: number;
  readonly own: number;
  /** Pinned frames in its subtree. */
  readonly pinned: number;
  /** Effective protection against pool pressure (relative to the root), pinned frames added back. */
  readonly effectiveMin: number;
  readonly effectiveLow: number;
  /** Frames of its own members evicted, by cause (its own, not its subtree's). */
  readonly evictions: Readonly<Record<EvictionCause, number>>;
  readonly children: readonly GroupSnapshot[];
}

/** One stage of a reclaim plan: frames that must leave `limit`'s subtree. */
export interface ReclaimStage {
  /** The node whose max binds: the requester's node, an ancestor, or the root (the pool is full). */
  readonly limit: GroupNode;
  /** Frames the request would pass `limit`'s max by, when planned. */
  readonly over: number;
}

/** What one node can give in one stage, now (frames of its own members; pinned and locked frames excluded). */
export interface ReclaimCandidate {
  readonly node: GroupNode;
  /** The requester's node, one of its ancestors, or the stage's limit: never refused, protected frames are tier 2. */
  readonly kin: boolean;
  /** The tier its next frame would be taken at; undefined when none may be taken. */
  readonly tier: ReclaimTier | undefined;
  readonly tier0: number;
  readonly tier1: number;
  readonly tier2: number;
  /** Frames of its own this stage may not take: held by its protection or an ancestor's, pinned, or locked. */
  readonly held: number;
}

/**
 * The classifier's answer for one request. A snapshot: it counts what it took
 * against the usage when planned, so choose all victims, then commit() and
 * uncharge them. Siblings share their ancestors' headroom: candidates'
 * figures are each node's own; reclaimable() is the total.
 */
export interface ReclaimPlan {
  readonly requester: GroupNode;
  readonly need: number;
  /** Lowest limit first; the root last when the pool itself is short. Empty when the request fits. */
  readonly stages: readonly ReclaimStage[];
  /** Frames still to take in `stage`: its `over` less what the plan took in its subtree (in any stage). */
  remaining(stage: ReclaimStage): number;
  /** The first stage with frames still to take, or undefined. */
  current(): ReclaimStage | undefined;
  /** May one more frame of `member` be taken in `stage` at `tier` or a lower one? */
  mayTake(stage: ReclaimStage, member: number, tier: ReclaimTier): boolean;
  /** The lowest tier at which a frame of `member` may be taken in `stage` now; undefined: none. */
  tierOf(stage: ReclaimStage, member: number): ReclaimTier | undefined;
  /** Record that a frame of `member` was chosen in `stage` (it must be allowed at some tier). */
  take(stage: ReclaimStage, member: number): void;
  /** Every node of `stage`'s subtree with frames of its own: tiers and counts now. */
  classify(stage: ReclaimStage): readonly ReclaimCandidate[];
  /** The most frames `stage` could still take at tiers up to `tier` (default 2: all it may take). */
  reclaimable(stage: ReclaimStage, tier?: ReclaimTier): number;
  /** Frames of the request that can fit under `stage.limit`: need − remaining + reclaimable. */
  available(stage: ReclaimStage): number;
  /** The first stage that cannot take what it must (remaining > reclaimable), or undefined. */
  blocked(): ReclaimStage | undefined;
  /** Frames taken so far, by cause. */
  taken(): Readonly<Record<EvictionCause, number>>;
  /** Count the plan's takes as evictions of their nodes, by cause. Once. */
  commit(): void;
  /** The error for a stage that cannot make room: names the limit and the groups whose protection held. */
  tooLarge(stage: ReclaimStage, neededFrames: number, availableFrames: number, subject?: string): WorkingSetTooLargeError;
}

export interface PlanOptions {
  /** Frames per member that may not be taken whatever the tiers say (the request's own locked pages). */
  readonly locked?: ReadonlyMap<number, number>;
}

export interface GroupTree {
  readonly root: GroupNode;
  readonly pageSize: number;
  /** The root's max: the pool's frames now. */
  readonly capacity: number;
  /** The root's pin limit: the pool's pinLimit in frames now. */
  readonly pinLimit: number;
  /** Live nodes, root first, parents before children. */
  nodes(): readonly GroupNode[];
  /** A node under `parent`. Throws InvalidArgumentError for limits that cannot hold (numbers in bytes). */
  create(parent: GroupNode, options?: GroupNodeOptions): GroupNode;
  /** Take out a node with no children, members, usage or pins. */
  remove(node: GroupNode): void;
  /** The pool's frames and pin limit changed (out-of-memory shrink, recover). */
  setCapacity(frames: number, pinLimit?: number): void;
  /** Σ min of the root's children: what the capacity must keep (T6). */
  committedMin(): number;

  attach(member: number, node: GroupNode): void;
  /** Detach a member, uncharging and unpinning what it still holds; returns that. */
  detach(member: number): { charged: number; pinned: number };
  /** The member's node; the root for a member never attached. */
  nodeOf(member: number): GroupNode;
  isAttached(member: number): boolean;

  tryCharge(member: number, frames: number): ChargeRefusal | undefined;
  /** tryCharge that must succeed (the caller made room): asserts. */
  charge(member: number, frames: number): void;
  uncharge(member: number, frames: number): void;
  /**
   * Set a member's counts to the truth kept elsewhere (the frame table's frames of a space, the space's pinned
   * pages), moving the difference up to the root without admission: for a pool that derives usage rather than
   * charging at every frame move. The result must keep the invariants (asserted).
   */
  sync(member: number, charged: number, pinned: number): void;
  /** The device is gone and every frame with it: all usage to 0. Members, pins, limits and counts stay. */
  resetCharges(): void;
  /** The error pin() would throw, or undefined: the first node up to the root whose pin limit would be passed. */
  checkPin(member: number, frames: number): PinLimitError | undefined;
  /** Pin frames of a member: all nodes up to the root, or nothing (throws the error checkPin gives). */
  pin(member: number, frames: number): void;
  unpin(member: number, frames: number): void;

  usage(node: GroupNode): number;
  own(node: GroupNode): number;
  pinned(node: GroupNode): number;
  charged(member: number): number;
  pinnedOf(member: number): number;
  /** max cut to the capacity (the root: the capacity). */
  maxInForce(node: GroupNode): number;
  /** Frames the node may still take before some max on its walk up binds, and the node whose max binds first. */
  room(node: GroupNode): { frames: number; limit: GroupNode };
  evictions(node: GroupNode): Readonly<Record<EvictionCause, number>>;
  /** Count `count` evictions of `member`'s frames by `cause` (when not through a plan). */
  noteEviction(member: number, cause: EvictionCause, count?: number): void;

  /** Effective protection relative to `reclaimRoot` (default the root). */
  protection(reclaimRoot?: GroupNode): Protection;
  planReclaim(member: number, need: number, options?: PlanOptions): ReclaimPlan;
  snapshot(): GroupSnapshot;
  /**
   * Throws (an internal error) naming the first broken invariant. With `external`, also checks each
   * member's counts against the truth outside (the frame table's per-space counts, the spaces' pins).
   */
  checkInvariants(external?: { charged(member: number): number; pinned(member: number): number }): void;
}

export interface GroupTreeOptions {
  /** Frames of the pool (the root's max). */
  capacity: number;
  /** The pool's pin limit in frames (the root's pin limit). Default: capacity. */
  pinLimit?: number;
  /** Bytes per frame, for messages. Default 1 (messages then count frames). */
  pageSize?: number;
  /** The root's label. Default 'root'. */
  rootLabel?: string;
  /** Check every invariant after every transition (development builds: tests, the fuzz model). Default false. */
  checks?: boolean;
}

/**
 * effective_protection() of mm/page_counter.c, on whole frames with the
 * kernel's floor division: the protection a child enjoys given its usage, its
 * setting (min or low), its parent's usage and effective protection, and the
 * sum over the parent's children of min(usage, setting).
 */
export function effectiveProtection(
  usage: number, parentUsage: number, setting: number, parentEffective: number, siblingsProtected: number, recursive: boolean,
): number {
  const protectedUsage = Math.min(usage, setting);
  // Overcommitted: shares in proportion to protected usage (work-conserving).
  if (siblingsProtected > parentEffective) return Math.floor((protectedUsage * parentEffective) / siblingsProtected);
  let ep = protectedUsage;
  if (!recursive) return ep;
  // Unclaimed ("floating") protection from above, shared in proportion to unprotected usage.
  if (parentEffective > siblingsProtected && parentUsage > siblingsProtected && usage > protectedUsage) {
    ep += Math.floor(((parentEffective - siblingsProtected) * (usage - protectedUsage)) / (parentUsage - siblingsProtected));
  }
  return ep;
}

// ---------------------------------------------------------------------------

class NodeImpl implements GroupNode {
  readonly id: number;
  readonly label: string;
  readonly path: string;
  readonly parent: NodeImpl | undefined;
  readonly depth: number;
  readonly max: number;
  readonly min: number;
  readonly low: number;
  readonly pinLimit: number;
  readonly #tree: GroupTreeImpl;
  readonly #children: NodeImpl[] = [];
  #removed = false;

  constructor(tree: GroupTreeImpl, id: number, label: string, parent: NodeImpl | undefined, max: number, min: number, low: number, pinLimit: number) {
    this.#tree = tree;
    this.id = id;
    this.label = label;
    this.parent = parent;
    this.depth = parent ? parent.depth + 1 : 0;
    this.path = !parent ? label : parent.parent ? `${parent.path}/${label}` : label;
    this.max = max;
    this.min = min;
    this.low = low;
    this.pinLimit = pinLimit;
  }

  get children(): readonly NodeImpl[] {
    return this.#children;
  }

  get isRoot(): boolean {
    return this.parent === undefined;
  }

  get removed(): boolean {
    return this.#removed;
  }

  belongsTo(tree: GroupTreeImpl): boolean {
    return this.#tree === tree;
  }

  adopt(child: NodeImpl): void {
    this.#children.push(child);
  }

  /** Out of its parent's children, for good. */
  detachFromParent(): void {
    const siblings = this.parent!.#children;
    siblings.splice(siblings.indexOf(this), 1);
    this.#removed = true;
  }
}

interface MemberState {
  node: NodeImpl;
  charged: number;
  pinned: number;
}

const isCount = (n: number): boolean => Number.isInteger(n) && n >= 0;

class GroupTreeImpl implements GroupTree {
  readonly pageSize: number;
  readonly root: NodeImpl;
  #capacity: number;
  #pinLimit: number;
  readonly #checks: boolean;
  /** By id; undefined once removed. */
  readonly #nodes: (NodeImpl | undefined)[] = [];
  readonly #own: number[] = [];
  readonly #usage: number[] = [];
  readonly #ownPinned: number[] = [];
  readonly #pinned: number[] = [];
  readonly #memberCount: number[] = [];
  readonly #evicted: Record<EvictionCause, number[]> = { self: [], ancestorMax: [], others: [] };
  readonly #members = new Map<number, MemberState>();

  constructor(o: GroupTreeOptions) {
    if (!o || !isCount(o.capacity) || o.capacity < 1) throw new InvalidArgumentError(`createGroupTree: capacity must be a whole number of frames ≥ 1, got ${String(o?.capacity)}`);
    const pinLimit = o.pinLimit ?? o.capacity;
    if (!isCount(pinLimit)) throw new InvalidArgumentError(`createGroupTree: pinLimit must be a whole number of frames, got ${String(pinLimit)}`);
    this.pageSize = o.pageSize ?? 1;
    this.#capacity = o.capacity;
    this.#pinLimit = pinLimit;
    this.#checks = o.checks ?? false;
    this.root = this.#add(undefined, o.rootLabel ?? 'root', o.capacity, 0, 0, pinLimit);
    this.#after();
  }

  get capacity(): number {
    return this.#capacity;
  }

  get pinLimit(): number {
    return this.#pinLimit;
  }

  #add(parent: NodeImpl | undefined, label: string, max: number, min: number, low: number, pinLimit: number): NodeImpl {
    const id = this.#nodes.length;
    const n = new NodeImpl(this, id, label, parent, max, min, low, pinLimit);
    this.#nodes.push(n);
    this.#own.push(0);
    this.#usage.push(0);
    this.#ownPinned.push(0);
    this.#pinned.push(0);
    this.#memberCount.push(0);
    for (const c of EVICTION_CAUSES) this.#evicted[c].push(0);
    parent?.adopt(n);
    return n;
  }

  /** A node of this tree, live; typed errors for a foreign or removed one (user input reaches here). */
  #mine(node: GroupNode, what: string): NodeImpl {
    if (!(node instanceof NodeImpl) || !node.belongsTo(this)) {
      throw new PoolMismatchError(`${what}: the group belongs to another pool (or is not a group); use a group created on this pool`);
    }
    if (node.removed) throw new InvalidArgumentError(`${what}: group "${node.path}" was removed`);
    return node;
  }

  #member(member: number): MemberState {
    const m = this.#members.get(member);
    if (!(m !== undefined)) fail(`group tree: member ${member} is not attached`);
    return m;
  }

  #bytes(frames: number): number {
    return frames * this.pageSize;
  }

  #after(): void {
    if (this.#checks) this.checkInvariants();
  }

  nodes(): readonly GroupNode[] {
    return this.#nodes.filter((n): n is NodeImpl => n !== undefined);
  }

  create(parentNode: GroupNode, options: GroupNodeOptions = {}): GroupNode {
    const parent = this.#mine(parentNode, 'createGroup');
    if (!options || typeof options !== 'object') throw new InvalidArgumentError('createGroup: pass { label?, max?, min?, low?, pinLimit? }');
    const id = this.#nodes.length;
    const label = options.label ?? `group${id}`;
    if (typeof label !== 'string' || label.length === 0) throw new InvalidArgumentError(`createGroup: label must be a non-empty string, got ${String(label)}`);
    const cap = this.#capacity;
    const b = (f: number): number => this.#bytes(f);
    const frames = (what: string, v: number | undefined, d: number): number => {
      if (v === undefined) return d;
      if (typeof v !== 'number' || !isCount(v)) throw new InvalidArgumentError(`createGroup "${label}": ${what} must be a whole number of pages ≥ 0, got ${String(v)}`);
      return v;
    };
    const max = frames('max', options.max, cap);
    const min = frames('min', options.min, 0);
    const low = frames('low', options.low, 0);
    const pinLimit = frames('pinLimit', options.pinLimit, min);
    if (max === 0) throw new InvalidArgumentError(`createGroup "${label}": max must be at least one page (${b(1)} bytes)`);
    if (max > cap) throw new InvalidArgumentError(`createGroup "${label}": max ${b(max)} exceeds the pool's capacity ${b(cap)}`);
    if (min > max) throw new InvalidArgumentError(`createGroup "${label}": min ${b(min)} exceeds its max ${b(max)}`);
    if (low > max) throw new InvalidArgumentError(`createGroup "${label}": low ${b(low)} exceeds its max ${b(max)}; protection above max could never be used`);
    if (pinLimit > max) throw new InvalidArgumentError(`createGroup "${label}": pinLimit ${b(pinLimit)} exceeds its max ${b(max)}; pinned bytes count toward max`);
    if (parent.isRoot) {
      const sum = this.committedMin() + min;
      if (sum > cap) {
        throw new InvalidArgumentError(
          `createGroup "${label}": the top-level groups' min would add up to ${b(sum)} bytes, over the pool's capacity ${b(cap)}; ` +
            `protection could not be honoured: lower min here or in other top-level groups, or use a larger pool ` +
            `(a nested group's min is shared out of its parent's and may overcommit it)`,
        );
      }
    }
    const n = this.#add(parent, label, max, min, low, pinLimit);
    this.#after();
    return n;
  }

  remove(nodeIn: GroupNode): void {
    const n = this.#mine(nodeIn, 'removeGroup');
    if (n.isRoot) throw new InvalidArgumentError('removeGroup: the root group is the pool; destroy the pool instead');
    if (n.children.length > 0) throw new InvalidArgumentError(`removeGroup "${n.path}": it has ${n.children.length} child groups; remove them first`);
    if (this.#memberCount[n.id]! > 0) throw new InvalidArgumentError(`removeGroup "${n.path}": ${this.#memberCount[n.id]} spaces still belong to it; destroy them first`);
    if (!(this.#usage[n.id] === 0 && this.#pinned[n.id] === 0)) fail(`removeGroup "${n.path}": no members but usage ${this.#usage[n.id]}, pinned ${this.#pinned[n.id]}`);
    n.detachFromParent();
    this.#nodes[n.id] = undefined;
    this.#after();
  }

  setCapacity(frames: number, pinLimit: number = Math.min(this.#pinLimit, frames)): void {
    if (!(isCount(frames) && frames >= 1 && isCount(pinLimit))) fail(`setCapacity(${frames}, ${pinLimit})`);
    if (!(frames >= this.#usage[0]!)) fail(`setCapacity(${frames}): ${this.#usage[0]} frames are charged`);
    if (!(frames >= this.committedMin())) fail(`setCapacity(${frames}): the top-level groups' min add up to ${this.committedMin()} (T6)`);
    this.#capacity = frames;
    this.#pinLimit = pinLimit;
    this.#after();
  }

  committedMin(): number {
    let n = 0;
    for (const c of this.root.children) n += c.min;
    return n;
  }

  attach(member: number, nodeIn: GroupNode): void {
    const n = this.#mine(nodeIn, 'createSpace');
    if (this.#members.has(member)) fail(`group tree: member ${member} is attached already`);
    this.#members.set(member, { node: n, charged: 0, pinned: 0 });
    this.#memberCount[n.id]!++;
    this.#after();
  }

  detach(member: number): { charged: number; pinned: number } {
    const m = this.#member(member);
    const out = { charged: m.charged, pinned: m.pinned };
    this.#walk(m.node, -m.charged, -m.pinned);
    this.#own[m.node.id]! -= m.charged;
    this.#ownPinned[m.node.id]! -= m.pinned;
    this.#memberCount[m.node.id]!--;
    this.#members.delete(member);
    this.#after();
    return out;
  }

  nodeOf(member: number): GroupNode {
    return this.#members.get(member)?.node ?? this.root;
  }

  isAttached(member: number): boolean {
    return this.#members.has(member);
  }

  /** Add to usage and pinned of `from` and every ancestor. */
  #walk(from: NodeImpl, usage: number, pinned: number): void {
    for (let a: NodeImpl | undefined = from; a; a = a.parent) {
      this.#usage[a.id]! += usage;
      this.#pinned[a.id]! += pinned;
      if (!(this.#usage[a.id]! >= 0 && this.#pinned[a.id]! >= 0)) fail(`group "${a.path}": usage ${this.#usage[a.id]}, pinned ${this.#pinned[a.id]} below zero`);
    }
  }

  maxInForce(nodeIn: GroupNode): number {
    const n = nodeIn as NodeImpl;
    return n.isRoot ? this.#capacity : Math.min(n.max, this.#capacity);
  }

  #pinLimitInForce(n: NodeImpl): number {
    return n.isRoot ? this.#pinLimit : Math.min(n.pinLimit, this.maxInForce(n));
  }

  tryCharge(member: number, frames: number): ChargeRefusal | undefined {
    if (!(isCount(frames))) fail(`tryCharge(${member}, ${frames})`);
    const m = this.#member(member);
    for (let a: NodeImpl | undefined = m.node; a; a = a.parent) {
      const max = this.maxInForce(a);
      const u = this.#usage[a.id]!;
      if (u + frames > max) return { node: a, usage: u, max, over: u + frames - max };
    }
    m.charged += frames;
    this.#own[m.node.id]! += frames;
    this.#walk(m.node, frames, 0);
    this.#after();
    return undefined;
  }

  charge(member: number, frames: number): void {
    const refused = this.tryCharge(member, frames);
    if (!(refused === undefined)) fail(`charge(${member}, ${frames}): over the max of "${refused?.node.path}" (${refused?.usage} + ${frames} > ${refused?.max})`);
  }

  uncharge(member: number, frames: number): void {
    if (!(isCount(frames))) fail(`uncharge(${member}, ${frames})`);
    const m = this.#member(member);
    if (!(m.charged >= frames)) fail(`uncharge(${member}, ${frames}): the member has ${m.charged} frames charged`);
    m.charged -= frames;
    this.#own[m.node.id]! -= frames;
    this.#walk(m.node, -frames, 0);
    this.#after();
  }

  sync(member: number, charged: number, pinned: number): void {
    if (!(isCount(charged) && isCount(pinned))) fail(`sync(${member}, ${charged}, ${pinned})`);
    const m = this.#member(member);
    const dc = charged - m.charged;
    const dp = pinned - m.pinned;
    if (dc === 0 && dp === 0) return;
    m.charged = charged;
    m.pinned = pinned;
    this.#own[m.node.id]! += dc;
    this.#ownPinned[m.node.id]! += dp;
    this.#walk(m.node, dc, dp);
    if (dc > 0) {
      for (let a: NodeImpl | undefined = m.node; a; a = a.parent) {
        if (!(this.#usage[a.id]! <= this.maxInForce(a))) fail(`sync(${member}): group "${a.path}" holds ${this.#usage[a.id]} frames, over its max ${this.maxInForce(a)} (T4)`);
      }
    }
    this.#after();
  }

  resetCharges(): void {
    for (const m of this.#members.values()) m.charged = 0;
    this.#own.fill(0);
    this.#usage.fill(0);
    this.#after();
  }

  checkPin(member: number, frames: number): PinLimitError | undefined {
    if (!(isCount(frames))) fail(`checkPin(${member}, ${frames})`);
    if (frames === 0) return undefined;
    const m = this.#member(member);
    const ps = this.pageSize;
    for (let a: NodeImpl | undefined = m.node; a; a = a.parent) {
      const limit = this.#pinLimitInForce(a);
      const pinned = this.#pinned[a.id]!;
      if (pinned + frames <= limit) continue;
      if (a.isRoot) return new PinLimitError(frames * ps, pinned * ps, limit * ps);
      return new GroupPinLimitError(a.path, frames * ps, pinned * ps, limit * ps, a === m.node ? undefined : m.node.path);
    }
    return undefined;
  }

  pin(member: number, frames: number): void {
    const refused = this.checkPin(member, frames);
    if (refused) throw refused;
    const m = this.#member(member);
    m.pinned += frames;
    this.#ownPinned[m.node.id]! += frames;
    this.#walk(m.node, 0, frames);
    this.#after();
  }

  unpin(member: number, frames: number): void {
    if (!(isCount(frames))) fail(`unpin(${member}, ${frames})`);
    const m = this.#member(member);
    if (!(m.pinned >= frames)) fail(`unpin(${member}, ${frames}): the member has ${m.pinned} frames pinned`);
    m.pinned -= frames;
    this.#ownPinned[m.node.id]! -= frames;
    this.#walk(m.node, 0, -frames);
    this.#after();
  }

  usage(node: GroupNode): number {
    return this.#usage[this.#mine(node, 'usage').id]!;
  }

  own(node: GroupNode): number {
    return this.#own[this.#mine(node, 'usage').id]!;
  }

  pinned(node: GroupNode): number {
    return this.#pinned[this.#mine(node, 'usage').id]!;
  }

  charged(member: number): number {
    return this.#members.get(member)?.charged ?? 0;
  }

  pinnedOf(member: number): number {
    return this.#members.get(member)?.pinned ?? 0;
  }

  room(nodeIn: GroupNode): { frames: number; limit: GroupNode } {
    let best = Infinity;
    let limit: NodeImpl = this.root;
    for (let a: NodeImpl | undefined = this.#mine(nodeIn, 'room'); a; a = a.parent) {
      const r = this.maxInForce(a) - this.#usage[a.id]!;
      if (r < best) {
        best = r;
        limit = a;
      }
    }
    return { frames: Math.max(0, best), limit };
  }

  evictions(nodeIn: GroupNode): Readonly<Record<EvictionCause, number>> {
    const id = this.#mine(nodeIn, 'evictions').id;
    return { self: this.#evicted.self[id]!, ancestorMax: this.#evicted.ancestorMax[id]!, others: this.#evicted.others[id]! };
  }

  noteEviction(member: number, cause: EvictionCause, count = 1): void {
    if (!(isCount(count))) fail(`noteEviction(${member}, ${cause}, ${count})`);
    this.#evicted[cause][this.#member(member).node.id]! += count;
    this.#after();
  }

  /** Count evictions of a node's frames (a plan's commit). */
  countEvictions(node: NodeImpl, cause: EvictionCause, count: number): void {
    this.#evicted[cause][node.id]! += count;
  }

  /** Copies of the counts a plan snapshots. */
  counts(): { usage: number[]; own: number[]; pinned: number[]; ownPinned: number[] } {
    return { usage: [...this.#usage], own: [...this.#own], pinned: [...this.#pinned], ownPinned: [...this.#ownPinned] };
  }

  /** Live nodes by id (undefined holes for removed ones). */
  get slots(): readonly (NodeImpl | undefined)[] {
    return this.#nodes;
  }

  memberNode(member: number): NodeImpl {
    return this.#members.get(member)?.node ?? this.root;
  }

  protection(reclaimRoot: GroupNode = this.root): Protection {
    const L = this.#mine(reclaimRoot, 'protection');
    const { emin, elow } = computeProtection(this.#nodes, L, this.#usage, this.#pinned);
    const at = (a: Float64Array, node: GroupNode): number => a[this.#mine(node, 'protection').id] ?? 0;
    return { root: L, min: (node) => at(emin, node), low: (node) => at(elow, node) };
  }

  planReclaim(member: number, need: number, options: PlanOptions = {}): ReclaimPlan {
    if (!(isCount(need))) fail(`planReclaim(${member}, ${need})`);
    return new ReclaimPlanImpl(this, this.memberNode(member), need, options);
  }

  snapshot(): GroupSnapshot {
    const { emin, elow } = computeProtection(this.#nodes, this.root, this.#usage, this.#pinned);
    const make = (n: NodeImpl): GroupSnapshot => {
      const id = n.id;
      const max = this.maxInForce(n);
      return {
        id, label: n.label, path: n.path, depth: n.depth, members: this.#memberCount[id]!,
        max, min: n.min, low: n.low, pinLimit: this.#pinLimitInForce(n),
        usage: this.#usage[id]!, own: this.#own[id]!, pinned: this.#pinned[id]!,
        effectiveMin: emin[id]!, effectiveLow: elow[id]!,
        evictions: this.evictions(n),
        children: n.children.map(make),
      };
    };
    return make(this.root);
  }

  checkInvariants(external?: { charged(member: number): number; pinned(member: number): number }): void {
    const N = this.#nodes.length;
    const usage = new Array<number>(N).fill(0);
    const pinned = new Array<number>(N).fill(0);
    const own = new Array<number>(N).fill(0);
    const ownPinned = new Array<number>(N).fill(0);
    const members = new Array<number>(N).fill(0);
    for (const [id, m] of this.#members) {
      if (!(this.#nodes[m.node.id] === m.node)) fail(`member ${id} belongs to removed group "${m.node.path}" (T3)`);
      if (!(isCount(m.charged) && isCount(m.pinned))) fail(`member ${id}: charged ${m.charged}, pinned ${m.pinned} (T3)`);
      if (external) {
        if (!(external.charged(id) === m.charged)) fail(`member ${id}: the tree charges ${m.charged} frames, it holds ${external.charged(id)}`);
        if (!(external.pinned(id) === m.pinned)) fail(`member ${id}: the tree counts ${m.pinned} pinned, it has ${external.pinned(id)}`);
      }
      own[m.node.id]! += m.charged;
      ownPinned[m.node.id]! += m.pinned;
      members[m.node.id]!++;
    }
    // Children have larger ids than their parents (T1): descending order sums subtrees bottom-up.
    for (let id = N - 1; id >= 0; id--) {
      const n = this.#nodes[id];
      if (!n) continue;
      if (!(n.id === id)) fail(`group id ${n.id} in slot ${id} (T1)`);
      if (n.parent) {
        if (!(n.parent.id < id && this.#nodes[n.parent.id] === n.parent)) fail(`group "${n.path}": parent "${n.parent.path}" not live or not older (T1)`);
        if (!(n.parent.children.filter((c) => c === n).length === 1)) fail(`group "${n.path}" is not listed once among its parent's children (T1)`);
        if (!(n.depth === n.parent.depth + 1)) fail(`group "${n.path}": depth ${n.depth} (T1)`);
      } else {
        if (!(n === this.root && id === 0)) fail(`group "${n.path}" has no parent but is not the root (T1)`);
      }
      for (const c of n.children) if (!(this.#nodes[c.id] === c && c.parent === n)) fail(`group "${n.path}": child "${c.path}" not live or not its child (T1)`);
      if (!(own[id] === this.#own[id] && ownPinned[id] === this.#ownPinned[id] && members[id] === this.#memberCount[id]))
        fail(`group "${n.path}": own ${this.#own[id]}/${own[id]}, own pinned ${this.#ownPinned[id]}/${ownPinned[id]}, members ${this.#memberCount[id]}/${members[id]} (T3)`);
      usage[id]! += own[id]!;
      pinned[id]! += ownPinned[id]!;
      if (!(usage[id] === this.#usage[id] && pinned[id] === this.#pinned[id]))
        fail(`group "${n.path}": usage ${this.#usage[id]} but its subtree holds ${usage[id]}; pinned ${this.#pinned[id]} but ${pinned[id]} (T2)`);
      if (n.parent) {
        usage[n.parent.id]! += usage[id]!;
        pinned[n.parent.id]! += pinned[id]!;
      }
      if (!(usage[id]! <= this.maxInForce(n))) fail(`group "${n.path}": usage ${usage[id]} over its max in force ${this.maxInForce(n)} (T4)`);
      const pinCap = n.isRoot ? this.#pinLimit : Math.min(n.pinLimit, n.max);
      if (!(pinned[id]! <= pinCap)) fail(`group "${n.path}": ${pinned[id]} pinned, over its pin limit ${pinCap} (T5)`);
    }
    if (!(this.committedMin() <= this.#capacity)) fail(`the top-level groups' min add up to ${this.committedMin()}, over the capacity ${this.#capacity} (T6)`);
  }
}

/**
 * Effective min/low of every node in `L`'s subtree relative to the reclaim root
 * `L`, pinned frames subtracted before and added back after (the header).
 * Indexed by node id; 0 for `L` itself and nodes outside.
 */
function computeProtection(
  nodes: readonly (NodeImpl | undefined)[], L: NodeImpl, usage: readonly number[], pinned: readonly number[],
): { emin: Float64Array; elow: Float64Array; inSub: Uint8Array } {
  const N = nodes.length;
  const emin = new Float64Array(N);
  const elow = new Float64Array(N);
  // Unpinned space: u' = usage − min(pinned, usage); min' = min − that; low' likewise.
  const pr = (id: number): number => Math.min(pinned[id]!, usage[id]!);
  const u = (id: number): number => usage[id]! - pr(id);
  const minU = new Float64Array(N);
  const lowU = new Float64Array(N);
  const childrenMin = new Float64Array(N);
  const childrenLow = new Float64Array(N);
  const inSub = new Uint8Array(N);
  inSub[L.id] = 1;
  for (let id = L.id + 1; id < N; id++) {
    const n = nodes[id];
    if (n?.parent && inSub[n.parent.id]) inSub[id] = 1;
  }
  for (let id = 0; id < N; id++) {
    const n = nodes[id];
    if (!n || !inSub[id] || n === L) continue;
    minU[id] = Math.max(0, n.min - pr(id));
    lowU[id] = Math.max(0, n.low - pr(id));
    // propagate_protected_usage: the parent's children_min_usage / children_low_usage.
    childrenMin[n.parent!.id]! += Math.min(u(id), minU[id]!);
    childrenLow[n.parent!.id]! += Math.min(u(id), lowU[id]!);
  }
  // Ascending ids: parents before children.
  for (let id = 0; id < N; id++) {
    const n = nodes[id];
    if (!n || !inSub[id] || n === L) continue;
    const p = n.parent!;
    const uid = u(id);
    let m = 0;
    let l = 0;
    if (uid > 0) {
      if (p === L) {
        m = minU[id]!;
        l = lowU[id]!;
      } else {
        const pu = u(p.id);
        m = effectiveProtection(uid, pu, minU[id]!, emin[p.id]! - pr(p.id), childrenMin[p.id]!, true);
        l = effectiveProtection(uid, pu, lowU[id]!, elow[p.id]! - pr(p.id), childrenLow[p.id]!, true);
      }
    }
    emin[id] = m + pr(id);
    elow[id] = l + pr(id);
  }
  return { emin, elow, inSub };
}

// ---------------------------------------------------------------------------

class StageImpl implements ReclaimStage {
  readonly limit: NodeImpl;
  readonly over: number;
  /** Nodes in limit's subtree (by id). */
  readonly inSub: Uint8Array;
  /** Floors relative to `limit` (pinned added back): at tier 0 max(elow, emin), at tier 1 emin. */
  readonly lowFloor: Float64Array;
  readonly minFloor: Float64Array;

  constructor(limit: NodeImpl, over: number, inSub: Uint8Array, lowFloor: Float64Array, minFloor: Float64Array) {
    this.limit = limit;
    this.over = over;
    this.inSub = inSub;
    this.lowFloor = lowFloor;
    this.minFloor = minFloor;
  }
}

class ReclaimPlanImpl implements ReclaimPlan {
  readonly requester: NodeImpl;
  readonly need: number;
  readonly stages: readonly StageImpl[];
  readonly #tree: GroupTreeImpl;
  readonly #nodes: readonly (NodeImpl | undefined)[];
  readonly #usage: number[];
  readonly #own: number[];
  readonly #pinned: number[];
  readonly #ownPinned: number[];
  /** Frames that may not be taken per node (locked members' frames). */
  readonly #locked: Float64Array;
  /** Ancestors-or-self of the requester (by id). */
  readonly #kin: Uint8Array;
  readonly #takenOwn: Float64Array;
  readonly #takenSub: Float64Array;
  /** Frames taken per node id and cause, for commit(). */
  readonly #byCause: Record<EvictionCause, Float64Array>;
  #committed = false;

  constructor(tree: GroupTreeImpl, requester: NodeImpl, need: number, options: PlanOptions) {
    this.#tree = tree;
    this.requester = requester;
    this.need = need;
    this.#nodes = [...tree.slots];
    const N = this.#nodes.length;
    const c = tree.counts();
    this.#usage = c.usage;
    this.#own = c.own;
    this.#pinned = c.pinned;
    this.#ownPinned = c.ownPinned;
    this.#locked = new Float64Array(N);
    for (const [member, frames] of options.locked ?? []) {
      if (!(isCount(frames))) fail(`planReclaim: ${frames} locked frames of member ${member}`);
      this.#locked[tree.memberNode(member).id]! += frames;
    }
    this.#kin = new Uint8Array(N);
    for (let a: NodeImpl | undefined = requester; a; a = a.parent) this.#kin[a.id] = 1;
    this.#takenOwn = new Float64Array(N);
    this.#takenSub = new Float64Array(N);
    this.#byCause = { self: new Float64Array(N), ancestorMax: new Float64Array(N), others: new Float64Array(N) };
    const stages: StageImpl[] = [];
    for (let a: NodeImpl | undefined = requester; a; a = a.parent) {
      const over = this.#usage[a.id]! + need - tree.maxInForce(a);
      if (over <= 0) continue;
      const { emin, elow, inSub } = computeProtection(this.#nodes, a, this.#usage, this.#pinned);
      const lowFloor = new Float64Array(N);
      for (let id = 0; id < N; id++) lowFloor[id] = Math.max(emin[id]!, elow[id]!);
      stages.push(new StageImpl(a, over, inSub, lowFloor, emin));
    }
    this.stages = stages;
  }

  #stage(stage: ReclaimStage): StageImpl {
    assert(stage instanceof StageImpl && this.stages.includes(stage), 'reclaim plan: a stage of another plan');
    return stage;
  }

  #node(member: number): NodeImpl {
    const n = this.#tree.memberNode(member);
    if (!(this.#nodes[n.id] === n)) fail(`reclaim plan: member ${member}'s group was created after the plan`);
    return n;
  }

  /** Own frames of `id` that may still go: not pinned, not locked, not taken. */
  #ownLeft(id: number): number {
    const own = this.#own[id]!;
    return Math.max(0, own - Math.min(this.#ownPinned[id]!, own) - this.#locked[id]! - this.#takenOwn[id]!);
  }

  #headroom(s: StageImpl, id: number, tier: ReclaimTier): number {
    const floor = tier === 0 ? s.lowFloor[id]! : s.minFloor[id]!;
    return this.#usage[id]! - this.#takenSub[id]! - floor;
  }

  /** Tier of a kin node's next frame: the limit's own frames are always tier 0 (dmem: limit_pool == test_pool). */
  #kinTier(s: StageImpl, n: NodeImpl): ReclaimTier {
    if (n === s.limit) return 0;
    if (this.#headroom(s, n.id, 0) > 0) return 0;
    if (this.#headroom(s, n.id, 1) > 0) return 1;
    return 2;
  }

  /** Frames of `n`'s own that may be taken in `s` at tiers up to `tier` now. */
  #allowance(s: StageImpl, n: NodeImpl, tier: ReclaimTier): number {
    if (!s.inSub[n.id]) return 0;
    const left = this.#ownLeft(n.id);
    if (left === 0) return 0;
    if (this.#kin[n.id]) return this.#kinTier(s, n) <= tier ? left : 0;
    const t: ReclaimTier = tier === 0 ? 0 : 1;
    let a = left;
    // n and its ancestors up to (not including) the lowest one that contains the requester: all inside s.limit.
    for (let x: NodeImpl | undefined = n; x && !this.#kin[x.id]; x = x.parent) a = Math.min(a, this.#headroom(s, x.id, t));
    return Math.max(0, a);
  }

  remaining(stage: ReclaimStage): number {
    const s = this.#stage(stage);
    return Math.max(0, s.over - this.#takenSub[s.limit.id]!);
  }

  current(): ReclaimStage | undefined {
    return this.stages.find((s) => this.remaining(s) > 0);
  }

  mayTake(stage: ReclaimStage, member: number, tier: ReclaimTier): boolean {
    return this.#allowance(this.#stage(stage), this.#node(member), tier) > 0;
  }

  tierOf(stage: ReclaimStage, member: number): ReclaimTier | undefined {
    const s = this.#stage(stage);
    const n = this.#node(member);
    for (const t of [0, 1, 2] as const) if (this.#allowance(s, n, t) > 0) return t;
    return undefined;
  }

  take(stage: ReclaimStage, member: number): void {
    const s = this.#stage(stage);
    const n = this.#node(member);
    assert(!this.#committed, 'reclaim plan: take() after commit()');
    if (!(this.#allowance(s, n, 2) > 0)) fail(`reclaim plan: a frame of "${n.path}" may not be taken for "${this.requester.path}" under "${s.limit.path}"`);
    this.#takenOwn[n.id]!++;
    for (let a: NodeImpl | undefined = n; a; a = a.parent) this.#takenSub[a.id]!++;
    const cause: EvictionCause = n === this.requester ? 'self' : s.limit.isRoot ? 'others' : 'ancestorMax';
    this.#byCause[cause][n.id]!++;
  }

  classify(stage: ReclaimStage): readonly ReclaimCandidate[] {
    const s = this.#stage(stage);
    const out: ReclaimCandidate[] = [];
    for (const n of this.#nodes) {
      if (!n || !s.inSub[n.id] || this.#own[n.id] === 0) continue;
      const left = this.#ownLeft(n.id);
      const kin = this.#kin[n.id] === 1;
      let tier0: number;
      let tier1: number;
      let tier2: number;
      if (kin) {
        const within = (t: ReclaimTier): number => (n === s.limit ? left : Math.min(left, Math.max(0, this.#headroom(s, n.id, t))));
        tier0 = within(0);
        tier1 = Math.max(0, within(1) - tier0);
        tier2 = left - tier0 - tier1;
      } else {
        tier0 = this.#allowance(s, n, 0);
        tier1 = this.#allowance(s, n, 1) - tier0;
        tier2 = 0;
      }
      const tier: ReclaimTier | undefined = tier0 > 0 ? 0 : tier1 > 0 ? 1 : tier2 > 0 ? 2 : undefined;
      const own = this.#own[n.id]! - this.#takenOwn[n.id]!;
      out.push({ node: n, kin, tier, tier0, tier1, tier2, held: own - tier0 - tier1 - tier2 });
    }
    return out;
  }

  reclaimable(stage: ReclaimStage, tier: ReclaimTier = 2): number {
    const s = this.#stage(stage);
    const t: ReclaimTier = tier === 0 ? 0 : 1;
    // Bottom-up over s.limit's subtree (descending ids: children before parents). Non-kin subtrees are
    // capped by their headroom (nested caps, so greedy taking reaches this total); kin nodes are not.
    const N = this.#nodes.length;
    const sub = new Float64Array(N);
    for (let id = N - 1; id >= 0; id--) {
      const n = this.#nodes[id];
      if (!n || !s.inSub[id]) continue;
      let r = sub[id]!;
      if (this.#kin[id]) {
        const left = this.#ownLeft(id);
        r += n === s.limit || tier === 2 ? left : Math.min(left, Math.max(0, this.#headroom(s, id, t)));
      } else {
        r = Math.max(0, Math.min(this.#headroom(s, id, t), r + this.#ownLeft(id)));
      }
      if (n === s.limit) return r;
      sub[n.parent!.id]! += r;
    }
    return 0;
  }

  available(stage: ReclaimStage): number {
    return this.need - this.remaining(stage) + this.reclaimable(stage);
  }

  blocked(): ReclaimStage | undefined {
    return this.stages.find((s) => this.remaining(s) > this.reclaimable(s));
  }

  taken(): Readonly<Record<EvictionCause, number>> {
    const sum = (a: Float64Array): number => a.reduce((x, y) => x + y, 0);
    return { self: sum(this.#byCause.self), ancestorMax: sum(this.#byCause.ancestorMax), others: sum(this.#byCause.others) };
  }

  commit(): void {
    assert(!this.#committed, 'reclaim plan: commit() twice');
    this.#committed = true;
    for (const cause of EVICTION_CAUSES) {
      const a = this.#byCause[cause];
      for (let id = 0; id < a.length; id++) {
        const n = this.#nodes[id];
        if (a[id]! > 0 && n && !n.removed) this.#tree.countEvictions(n, cause, a[id]!);
      }
    }
  }

  tooLarge(stage: ReclaimStage, neededFrames: number, availableFrames: number, subject = 'the working set'): WorkingSetTooLargeError {
    const s = this.#stage(stage);
    const tree = this.#tree;
    const ps = tree.pageSize;
    const L = s.limit;
    // Groups in the stage whose protection held frames the request could not take, most first.
    const held = this.classify(s)
      .filter((c) => !c.kin && c.held > 0)
      .sort((a, b) => b.held - a.held);
    const names = held.slice(0, 4).map((c) => `"${c.node.path}" ${c.held * ps}`).join(', ') + (held.length > 4 ? `, and ${held.length - 4} more` : '');
    const heldBytes = held.reduce((x, c) => x + c.held, 0) * ps;
    const rootPinned = this.#pinned[0]! * ps;
    if (L.isRoot) {
      return new WorkingSetTooLargeError(
        neededFrames * ps, availableFrames * ps, tree.capacity * ps, rootPinned,
        this.requester.isRoot ? subject : `${subject} of memory group "${this.requester.path}"`,
        held.length > 0
          ? `other memory groups hold ${heldBytes} bytes that it may not evict (their effective min and pins: ${names}): ` +
              `split the dispatch, unpin, lower those groups' min (or their ancestors'), or use a larger pool`
          : 'split the dispatch into smaller ranges, unpin, or use a larger pool',
      );
    }
    const where = L === this.requester ? `memory group "${L.path}"` : `memory group "${this.requester.path}" under "${L.path}"`;
    return new WorkingSetTooLargeError(
      neededFrames * ps, availableFrames * ps, tree.capacity * ps, rootPinned,
      `${subject} in ${where} (the max of "${L.path}" is ${tree.maxInForce(L) * ps} bytes, ${this.#usage[L.id]! * ps} used, ` +
        `${this.#pinned[L.id]! * ps} pinned in its subtree)`,
      `the max of "${L.path}" caps it at ${availableFrames * ps} bytes` +
        (held.length > 0 ? `, with ${heldBytes} bytes under it held by protection (${names})` : '') +
        `: create "${L.path}" with a larger max, unpin under it, or split the dispatch`,
    );
  }
}

/** A tree with only the root: the pool of `capacity` frames. */
export function createGroupTree(options: GroupTreeOptions): GroupTree {
  return new GroupTreeImpl(options);
}
