// Formatting and small helpers shared by the pages. Protobuf's JSON mapping prints
// int64 fields as strings and leaves out fields at their default: everything numeric
// goes through num().

export const RUN_STATES = ["QUEUED", "RUNNING", "WAITING", "SUCCEEDED", "FAILED", "CANCELLED"];
export const TERMINAL_STATES = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);

export function num(v) {
  if (v === undefined || v === null || v === "") return 0;
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
}

export function formatTime(ms) {
  const t = num(ms);
  if (!t) return "";
  const d = new Date(t);
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  const time = d.toLocaleTimeString(undefined, { hour12: false });
  return sameDay ? time : `${d.toISOString().slice(0, 10)} ${time}`;
}

export function formatDuration(ms) {
  const t = Math.max(0, num(ms));
  if (t < 1000) return `${Math.round(t)} ms`;
  if (t < 60000) return `${(t / 1000).toFixed(t < 10000 ? 2 : 1)} s`;
  const m = Math.floor(t / 60000);
  const s = Math.round((t % 60000) / 1000);
  if (m < 60) return `${m} min ${s} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function formatCost(usd) {
  const c = num(usd);
  if (!c) return "$0";
  return c < 0.01 ? `$${c.toFixed(4)}` : `$${c.toFixed(2)}`;
}

export function formatTokens(n) {
  return num(n).toLocaleString("en-US");
}

// A run's duration so far: from its first start to its end, or to now while it goes.
export function runDuration(run) {
  const start = num(run.startTimeMs);
  if (!start) return "";
  const end = num(run.endTimeMs) || Date.now();
  return formatDuration(end - start);
}

// What a run executes: "assistant v2", or the graph's name.
export function runWhat(run) {
  const spec = run.graph?.name ? run.graph : run.agent;
  if (!spec?.name) return run.graph ? "inline graph" : "inline agent";
  return spec.version ? `${spec.name} v${spec.version}` : spec.name;
}

export function isGraphRun(run) {
  return Boolean(run.graph && (run.graph.name || run.graph.nodes));
}

// "k=v, k2=v2" (or one per line) into a labels map; null when a part has no "=".
export function parseLabels(text) {
  const labels = {};
  for (const part of text.split(/[,\n]/)) {
    const p = part.trim();
    if (!p) continue;
    const eq = p.indexOf("=");
    if (eq <= 0) return null;
    labels[p.slice(0, eq).trim()] = p.slice(eq + 1).trim();
  }
  return labels;
}

export function formatLabels(labels) {
  return Object.entries(labels || {})
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
}

// Pretty JSON of a JSON text; the text itself when it is not JSON.
export function prettyJson(text) {
  if (text === undefined || text === null || text === "") return "";
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return String(text);
  }
}

export function parseJson(text, fallback) {
  try {
    return JSON.parse(text);
  } catch {
    return fallback;
  }
}

// Operator and admin may change things (cancel, fork, decide, start runs); a reader
// and a worker may only look. The orchestrator checks every call regardless.
export function canOperate(me) {
  const roles = me?.roles || [];
  return roles.includes("operator") || roles.includes("admin");
}

// Routes carry run ids, which hold a "/" after their namespace: each segment is encoded
// on its own so the path stays readable.
export function runPath(runId) {
  return `/runs/${runId.split("/").map(encodeURIComponent).join("/")}`;
}

export function errorText(e) {
  if (!e) return "";
  return e.status ? `${e.status}: ${e.message}` : e.message || String(e);
}

// The text the model is streaming, by step, as a watch's events change it: a step's
// deltas add to its text until the step's turn is journaled (its durable StepStarted),
// which drops it, as the transcript shows the turn from then on. Live text travels
// apart from the durable events, so a step's last deltas can come after that: they
// are not shown again. `live` is { byStep: { [step]: text }, journaled: the last step
// journaled, or -1 }; returns the next value, or `live` itself when `event` (a
// RunEvent in protobuf's JSON mapping) changes nothing.
export function nextLiveText(live, event) {
  if (event.textDelta) {
    const step = num(event.textDelta.step);
    if (step <= live.journaled) return live;
    const byStep = { ...live.byStep, [step]: (live.byStep[step] || "") + (event.textDelta.text || "") };
    return { ...live, byStep };
  }
  if (event.stepStarted && num(event.seq) > 0) {
    const step = num(event.stepStarted.step);
    const { [step]: _, ...byStep } = live.byStep;
    return { byStep, journaled: Math.max(live.journaled, step) };
  }
  return live;
}

export const NO_LIVE_TEXT = Object.freeze({ byStep: Object.freeze({}), journaled: -1 });
