// A graph run drawn as SVG: nodes in layers (longest path from the start, ignoring the
// edges that close cycles), edges between them, each node coloured by its state, map
// nodes with their progress, taken edges highlighted. State comes from the run's node
// events (NodeStarted, NodeFinished, EdgeTaken, MapUpdate), replayed from the first.
import { navigate } from "../router.js";
import { num, runPath } from "../util.js";

const NODE_W = 168;
const NODE_H = 52;
const GAP_X = 72;
const GAP_Y = 28;
const PAD = 16;

export function graphState(events) {
  const nodes = {};
  const taken = new Set();
  const node = (id) => (nodes[id] ||= { state: "", runs: [], progress: null, visit: 0 });
  for (const e of events) {
    if (e.nodeStarted) {
      const s = e.nodeStarted;
      const n = node(s.node);
      if (num(s.item) === 0) {
        n.state = "RUNNING";
        n.visit = num(s.visit) || 1;
        if (s.approvalId) n.approvalId = s.approvalId;
        if (num(s.items)) n.progress = { total: num(s.items), succeeded: 0, failed: 0, running: 0 };
      }
      if (s.childRunId) n.runs.push({ runId: s.childRunId, item: num(s.item), visit: num(s.visit) });
    } else if (e.nodeFinished) {
      const f = e.nodeFinished;
      if (num(f.item) === 0) node(f.node).state = f.state;
    } else if (e.mapProgress) {
      node(e.mapProgress.node).progress = e.mapProgress.progress || {};
    } else if (e.edgeTaken) {
      const t = e.edgeTaken;
      if (t.skipped) node(t.to).state = "SKIPPED";
      else if (!t.dropped) taken.add(`${t.from}->${t.to}`);
    }
  }
  return { nodes, taken };
}

// Layers by the longest path from the start over the edges that do not close a cycle
// (found by a depth-first search from the start, then from any node it missed).
export function layout(spec) {
  const ids = (spec.nodes || []).map((n) => n.id);
  const out = new Map(ids.map((id) => [id, []]));
  for (const e of spec.edges || []) if (out.has(e.from) && out.has(e.to)) out.get(e.from).push(e.to);
  const back = new Set();
  const color = new Map();
  const visit = (id) => {
    color.set(id, 1);
    for (const to of out.get(id)) {
      if (color.get(to) === 1) back.add(`${id}->${to}`);
      else if (!color.get(to)) visit(to);
    }
    color.set(id, 2);
  };
  const start = spec.start || ids[0];
  if (start && out.has(start)) visit(start);
  for (const id of ids) if (!color.get(id)) visit(id);

  const layer = new Map(ids.map((id) => [id, 0]));
  // Longest path on a DAG: relax in rounds (graphs are small).
  for (let round = 0; round < ids.length; round++) {
    let changed = false;
    for (const id of ids) {
      for (const to of out.get(id)) {
        if (back.has(`${id}->${to}`)) continue;
        if (layer.get(to) < layer.get(id) + 1) {
          layer.set(to, layer.get(id) + 1);
          changed = true;
        }
      }
    }
    if (!changed) break;
  }
  const columns = [];
  for (const id of ids) (columns[layer.get(id)] ||= []).push(id);
  const pos = new Map();
  const tallest = Math.max(...columns.map((c) => c?.length || 0), 1);
  columns.forEach((col, x) => {
    const offset = ((tallest - col.length) * (NODE_H + GAP_Y)) / 2;
    col.forEach((id, y) => pos.set(id, { x: PAD + x * (NODE_W + GAP_X), y: PAD + offset + y * (NODE_H + GAP_Y) }));
  });
  return {
    pos,
    back,
    width: PAD * 2 + columns.length * NODE_W + (columns.length - 1) * GAP_X,
    height: PAD * 2 + tallest * NODE_H + (tallest - 1) * GAP_Y,
  };
}

function kindOf(n) {
  if (n.map) return "map";
  if (n.human) return "human";
  if (n.graph) return "graph";
  return "agent";
}

function edgePath(a, b, isBack) {
  if (isBack) {
    // Around the bottom of both nodes, back to the left.
    const y = Math.max(a.y, b.y) + NODE_H + GAP_Y / 2;
    return `M${a.x + NODE_W / 2},${a.y + NODE_H} C${a.x + NODE_W / 2},${y} ${b.x + NODE_W / 2},${y} ${b.x + NODE_W / 2},${b.y + NODE_H}`;
  }
  const x1 = a.x + NODE_W;
  const y1 = a.y + NODE_H / 2;
  const x2 = b.x;
  const y2 = b.y + NODE_H / 2;
  const mx = (x1 + x2) / 2;
  return `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`;
}

export function GraphView({ spec, events }) {
  const { nodes: state, taken } = graphState(events);
  const { pos, back, width, height } = layout(spec);
  const openNode = (id) => {
    const runs = state[id]?.runs || [];
    const last = runs[runs.length - 1];
    if (last) navigate(runPath(last.runId));
    else if (state[id]?.approvalId) navigate("/approvals");
  };
  return (
    <figure class="graph">
      <svg
        viewBox={`0 0 ${width} ${height + GAP_Y}`}
        width={width}
        height={height + GAP_Y}
        role="group"
        aria-label={`Graph ${spec.name || ""}: its nodes and their states`}
        data-testid="graph"
      >
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="10" markerHeight="10" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" class="arrow" />
          </marker>
          <marker id="arrow-taken" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="10" markerHeight="10" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" class="arrow-taken" />
          </marker>
        </defs>
        {(spec.edges || []).map((e, i) => {
          const a = pos.get(e.from);
          const b = pos.get(e.to);
          if (!a || !b) return null;
          const isTaken = taken.has(`${e.from}->${e.to}`);
          return (
            <path
              key={i}
              d={edgePath(a, b, back.has(`${e.from}->${e.to}`))}
              class={`edge${isTaken ? " taken" : ""}${e.when || e.default ? " conditional" : ""}`}
              marker-end={isTaken ? "url(#arrow-taken)" : "url(#arrow)"}
              data-testid={`graph-edge-${e.from}-${e.to}`}
              data-taken={isTaken ? "true" : "false"}
            />
          );
        })}
        {(spec.nodes || []).map((n) => {
          const p = pos.get(n.id);
          const s = state[n.id] || {};
          const st = s.state || "PENDING";
          const progress = s.progress;
          const done = progress ? num(progress.succeeded) + num(progress.failed) : 0;
          const clickable = s.runs?.length || s.approvalId;
          return (
            <g
              key={n.id}
              class={`node state-${st.toLowerCase()}${clickable ? " clickable" : ""}`}
              transform={`translate(${p.x},${p.y})`}
              data-testid={`graph-node-${n.id}`}
              data-state={st}
              tabIndex={clickable ? 0 : undefined}
              role={clickable ? "link" : undefined}
              aria-label={`${n.id}: ${st}`}
              onClick={() => clickable && openNode(n.id)}
              onKeyDown={(e) => clickable && (e.key === "Enter" || e.key === " ") && openNode(n.id)}
            >
              <title>{n.description || n.id}</title>
              <rect width={NODE_W} height={NODE_H} rx="8" />
              <text x="12" y="21" class="node-name">{n.id}</text>
              <text x="12" y="39" class="node-sub">
                {kindOf(n)} · {st === "RUNNING" && n.human ? "waiting for a person" : st.toLowerCase()}
                {progress ? ` · ${done}/${num(progress.total)}` : ""}
                {s.visit > 1 ? ` · visit ${s.visit}` : ""}
              </text>
            </g>
          );
        })}
      </svg>
      <figcaption class="legend">
        {["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "SKIPPED"].map((s) => (
          <span key={s} class={`legend-item state-${s.toLowerCase()}`}>{s.toLowerCase()}</span>
        ))}
      </figcaption>
    </figure>
  );
}
