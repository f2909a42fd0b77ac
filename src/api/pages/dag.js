// The run's DAG as SVG, from GET /v1/runs/:id's `dag`: columns by depth (each step right of the
// steps it depends on), nodes coloured by status, dependency edges, and the steps a running step
// added drawn inside it (laid out the same way, recursively). A join that is not `all` says so.

const SVG = 'http://www.w3.org/2000/svg';
const NODE_W = 168;
const NODE_H = 46;
const GAP_X = 56;
const GAP_Y = 18;
const PAD = 12;
const HEADER = 40;

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A join policy in words, or '' for the default `all`. */
export function joinText(join) {
  if (!join || join === 'all') return '';
  if (typeof join === 'object' && 'quorum' in join) return `join: quorum ${join.quorum}`;
  return `join: ${join}`;
}

/** Each id's depth in its group: the longest path to it over dependency edges inside the group. */
function depths(ids, depsOf) {
  const inGroup = new Set(ids);
  const memo = new Map();
  const depth = (id, seen = new Set()) => {
    if (memo.has(id)) return memo.get(id);
    if (seen.has(id)) return 0; // never in a DAG; guards the page against a bad record
    seen.add(id);
    const d = Math.max(-1, ...(depsOf.get(id) ?? []).filter((x) => inGroup.has(x)).map((x) => depth(x, seen))) + 1;
    memo.set(id, d);
    return d;
  };
  return new Map(ids.map((id) => [id, depth(id)]));
}

/** Sizes and relative positions of `ids` and, recursively, of the steps each added. */
function layoutGroup(ids, g) {
  const depth = depths(ids, g.depsOf);
  const columns = [];
  for (const id of ids) (columns[depth.get(id)] ??= []).push(id);
  const size = new Map();
  for (const id of ids) {
    const kids = g.childrenOf.get(id) ?? [];
    if (!kids.length) size.set(id, { w: NODE_W, h: NODE_H + (joinText(g.joins.get(id)) ? 14 : 0) });
    else {
      const inner = layoutGroup(kids, g);
      size.set(id, { w: Math.max(NODE_W, inner.w + 2 * PAD), h: HEADER + inner.h + PAD, inner });
    }
  }
  let x = 0;
  let height = 0;
  const placed = [];
  for (const column of columns.filter(Boolean)) {
    const w = Math.max(...column.map((id) => size.get(id).w));
    let y = 0;
    for (const id of column) {
      placed.push({ id, x, y, ...size.get(id) });
      y += size.get(id).h + GAP_Y;
    }
    height = Math.max(height, y - GAP_Y);
    x += w + GAP_X;
  }
  return { w: Math.max(0, x - GAP_X), h: height, placed };
}

/** Absolute boxes of every step: the group's offset added down the nesting. */
function place(group, ox, oy, boxes) {
  for (const p of group.placed) {
    boxes.set(p.id, { x: ox + p.x, y: oy + p.y, w: p.w, h: p.h, nested: Boolean(p.inner) });
    if (p.inner) place(p.inner, ox + p.x + PAD, oy + p.y + HEADER, boxes);
  }
}

/**
 * Draw `dag` into an SVG element. `joins` maps a step id to its join policy (from the
 * definition); `onSelect(id)` is called when a step is clicked; `selected` is outlined.
 */
export function drawDag(dag, { joins = new Map(), selected, onSelect }) {
  const ids = new Set(dag.nodes.map((n) => n.id));
  const depsOf = new Map();
  const childrenOf = new Map();
  for (const e of dag.edges) {
    if (e.kind === 'parent') continue;
    depsOf.set(e.to, [...(depsOf.get(e.to) ?? []), e.from]);
  }
  for (const n of dag.nodes) if (n.parent && ids.has(n.parent)) childrenOf.set(n.parent, [...(childrenOf.get(n.parent) ?? []), n.id]);
  const roots = dag.nodes.filter((n) => !n.parent || !ids.has(n.parent)).map((n) => n.id);
  const top = layoutGroup(roots, { depsOf, childrenOf, joins });
  const boxes = new Map();
  place(top, 8, 8, boxes);

  const root = svg('svg', { class: 'dag', width: top.w + 16, height: top.h + 16, viewBox: `0 0 ${top.w + 16} ${top.h + 16}`, role: 'img' });
  root.append(svg('title', {}, `the run's steps and their dependencies`));
  const defs = svg('defs');
  const marker = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  marker.append(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrowhead' }));
  defs.append(marker);
  root.append(defs);

  // Nested groups first (behind), then edges, then leaf nodes on top.
  const byId = new Map(dag.nodes.map((n) => [n.id, n]));
  const order = [...dag.nodes].sort((a, b) => Number(boxes.get(b.id)?.nested) - Number(boxes.get(a.id)?.nested));
  const edges = svg('g', { class: 'edges' });
  for (const e of dag.edges) {
    if (e.kind === 'parent') continue;
    const a = boxes.get(e.from);
    const b = boxes.get(e.to);
    if (!a || !b) continue;
    const x1 = a.x + a.w;
    const y1 = a.y + (a.nested ? HEADER / 2 : a.h / 2);
    const x2 = b.x;
    const y2 = b.y + (b.nested ? HEADER / 2 : b.h / 2);
    const mx = (x1 + x2) / 2;
    edges.append(
      svg('path', { d: `M ${x1} ${y1} C ${mx} ${y1}, ${mx} ${y2}, ${x2} ${y2}`, class: `edge from-${byId.get(e.from)?.status}`, 'marker-end': 'url(#arrow)' }),
    );
  }
  let edgesAdded = false;
  for (const n of order) {
    const box = boxes.get(n.id);
    if (!box) continue;
    if (!box.nested && !edgesAdded) {
      root.append(edges);
      edgesAdded = true;
    }
    const g = svg('g', {
      class: `node status-${n.status}${box.nested ? ' group' : ''}${n.id === selected ? ' selected' : ''}`,
      'data-step': n.id,
      'data-status': n.status,
      tabindex: 0,
    });
    g.append(svg('title', {}, `${n.id}: ${n.status}`));
    g.append(svg('rect', { x: box.x, y: box.y, width: box.w, height: box.h, rx: 6 }));
    g.append(svg('text', { x: box.x + 10, y: box.y + 18, class: 'label' }, n.id.length > 24 ? `${n.id.slice(0, 23)}…` : n.id));
    g.append(svg('text', { x: box.x + 10, y: box.y + 34, class: 'sub' }, `${n.agent ?? n.kind} · ${n.status}`));
    const join = joinText(joins.get(n.id));
    if (join) g.append(svg('text', { x: box.x + 10, y: box.y + 48, class: 'sub join' }, join));
    const select = (e) => {
      e.stopPropagation();
      onSelect(n.id);
    };
    g.addEventListener('click', select);
    g.addEventListener('keydown', (e) => (e.key === 'Enter' || e.key === ' ') && select(e));
    root.append(g);
  }
  if (!edgesAdded) root.append(edges);
  return root;
}
