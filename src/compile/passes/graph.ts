/**
 * The graph of the steps: each one's dependencies over known ids, its dependents, every cycle
 * (named once each, in execution order), and a stable topological order.
 */
import type { CompileState } from './state.js';

/** The dependencies and dependents of each step; problems reported already (unknown ids, self) are left out. */
export function graphPass(state: CompileState): void {
  const { byId, ids, deps, dependents, issues } = state;
  for (const id of ids) dependents.set(id, []);
  for (const [id, d] of byId) {
    const list = [...d.deps].filter((x) => x !== id && byId.has(x)).sort();
    deps.set(id, list);
    for (const x of list) dependents.get(x)!.push(id);
  }
  for (const cycle of findCycles(ids, dependents)) {
    issues.push({ path: byId.get(cycle[0]!)!.path, message: `cycle: ${cycle.join(' → ')} (each step waits for the one before it)` });
  }
}

/**
 * One representative cycle per strongly connected component (Tarjan, iterative: a chain of
 * thousands of steps must not exhaust the call stack), each as a closed id list.
 */
export function findCycles(ids: string[], dependents: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const sccs: string[][] = [];
  for (const root of ids) {
    if (index.has(root)) continue;
    // Each frame: a vertex and how many of its successors it has looked at.
    const frames: { v: string; next: number }[] = [{ v: root, next: 0 }];
    index.set(root, index.size);
    low.set(root, index.get(root)!);
    stack.push(root);
    onStack.add(root);
    while (frames.length) {
      const frame = frames[frames.length - 1]!;
      const succ = dependents.get(frame.v) ?? [];
      if (frame.next < succ.length) {
        const w = succ[frame.next++]!;
        if (!index.has(w)) {
          index.set(w, index.size);
          low.set(w, index.get(w)!);
          stack.push(w);
          onStack.add(w);
          frames.push({ v: w, next: 0 });
        } else if (onStack.has(w)) {
          low.set(frame.v, Math.min(low.get(frame.v)!, index.get(w)!));
        }
        continue;
      }
      frames.pop();
      const v = frame.v;
      const parent = frames[frames.length - 1];
      if (parent) low.set(parent.v, Math.min(low.get(parent.v)!, low.get(v)!));
      if (low.get(v) !== index.get(v)) continue;
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) sccs.push(scc);
    }
  }

  // Name each cycle from its earliest-defined member, in execution order, by the shortest way back.
  const order = new Map(ids.map((id, i) => [id, i]));
  const cycles = sccs.map((scc) => {
    const inScc = new Set(scc);
    const start = scc.reduce((a, b) => (order.get(a)! <= order.get(b)! ? a : b));
    const prev = new Map<string, string>();
    const queue = [start];
    while (queue.length && !prev.has(start)) {
      const v = queue.shift()!;
      for (const w of dependents.get(v) ?? []) {
        if (!inScc.has(w) || prev.has(w)) continue;
        prev.set(w, v);
        if (w !== start) queue.push(w);
      }
    }
    const cycle = [start];
    for (let v = prev.get(start)!; v !== start; v = prev.get(v)!) cycle.unshift(v);
    return [start, ...cycle];
  });
  return cycles.sort((a, b) => order.get(a[0]!)! - order.get(b[0]!)!);
}

/** Stable Kahn: among ready steps the earliest defined goes first (a binary heap by position). Assumes no cycle. */
export function topoOrder(ids: string[], deps: Map<string, string[]>, dependents: Map<string, string[]>): string[] {
  const position = new Map(ids.map((id, i) => [id, i]));
  const waiting = new Map(ids.map((id) => [id, deps.get(id)!.length]));
  const heap: number[] = [];
  const push = (p: number) => {
    heap.push(p);
    for (let i = heap.length - 1; i > 0;) {
      const up = (i - 1) >> 1;
      if (heap[up]! <= heap[i]!) break;
      [heap[up], heap[i]] = [heap[i]!, heap[up]!];
      i = up;
    }
  };
  const pop = (): number => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length) {
      heap[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && heap[l]! < heap[m]!) m = l;
        if (r < heap.length && heap[r]! < heap[m]!) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i]!, heap[m]!];
        i = m;
      }
    }
    return top;
  };
  ids.forEach((id, i) => waiting.get(id) === 0 && push(i));
  const order: string[] = [];
  while (heap.length) {
    const id = ids[pop()]!;
    order.push(id);
    for (const w of dependents.get(id)!) {
      waiting.set(w, waiting.get(w)! - 1);
      if (waiting.get(w) === 0) push(position.get(w)!);
    }
  }
  return order;
}
