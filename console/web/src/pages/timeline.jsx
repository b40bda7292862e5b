// The timing of a run's steps, from its events: each model call (from its start, which
// the worker journals with the turn, to the turn's StepFinished), each tool call (its
// journaled start and measured duration), and each wait for a person or a child run.
import { useEffect, useState } from "preact/hooks";
import { formatDuration, num, runPath } from "../util.js";

export function buildTimeline(events) {
  const rows = [];
  const byKey = new Map();
  const open = (key, row) => {
    rows.push(row);
    byKey.set(key, row);
  };
  for (const e of events) {
    const t = num(e.timeMs);
    const seq = num(e.seq);
    if (e.stepStarted) {
      // The durable StepStarted carries the time the model call started (its journaled
      // turn's time); the live one (seq 0) comes as it starts. StepFinished ends it.
      const step = num(e.stepStarted.step);
      const label = `step ${step}: ${e.stepStarted.model}`;
      const row = byKey.get(`model-${step}`);
      if (row) Object.assign(row, { label, start: seq === 0 ? t : Math.min(row.start, t) });
      else open(`model-${step}`, { kind: "model", label, start: t, end: 0 });
    } else if (e.stepFinished) {
      const row = byKey.get(`model-${num(e.stepFinished.step)}`);
      if (row) {
        const u = e.stepFinished.usage || {};
        row.end = Math.max(t, row.start);
        row.detail = `${num(u.inputTokens) + num(u.cacheReadInputTokens) + num(u.cacheCreationInputTokens)} in / ${num(u.outputTokens)} out · ${e.stepFinished.stopReason || ""}`;
      }
    } else if (e.toolCallStarted) {
      const c = e.toolCallStarted;
      open(`tool-${c.toolUseId}`, { kind: "tool", label: `tool ${c.name}`, start: t, end: 0 });
    } else if (e.toolCallFinished) {
      const c = e.toolCallFinished;
      const row = byKey.get(`tool-${c.toolUseId}`);
      const end = row ? row.start + num(c.durationMs) : t;
      if (row) Object.assign(row, { end: Math.max(end, row.start), error: c.isError });
      else open(`tool-${c.toolUseId}`, { kind: "tool", label: `tool ${c.name}`, start: t - num(c.durationMs), end: t, error: c.isError });
    } else if (e.childStarted) {
      open(`child-${e.childStarted.childRunId}`, {
        kind: "child", label: `subagent ${e.childStarted.name}`, start: t, end: 0, runId: e.childStarted.childRunId,
      });
    } else if (e.childFinished) {
      const row = byKey.get(`child-${e.childFinished.childRunId}`);
      if (row) Object.assign(row, { end: t, error: e.childFinished.state !== "SUCCEEDED" });
    } else if (e.approvalRequested) {
      const a = e.approvalRequested.approval || {};
      open(`approval-${a.approvalId}`, { kind: "approval", label: `approval of ${a.tool}`, start: t, end: 0 });
    } else if (e.approvalDecided) {
      const row = byKey.get(`approval-${e.approvalDecided.approvalId}`);
      if (row) Object.assign(row, { end: t, detail: e.approvalDecided.decision?.decision });
    } else if (e.nodeStarted) {
      const n = e.nodeStarted;
      const name = `node ${n.node}${num(n.item) ? ` #${n.item}` : ""}${num(n.visit) > 1 ? ` (visit ${n.visit})` : ""}`;
      open(`node-${n.node}-${num(n.visit)}-${num(n.item)}`, { kind: "node", label: name, start: t, end: 0, runId: n.childRunId });
    } else if (e.nodeFinished) {
      const n = e.nodeFinished;
      const row = byKey.get(`node-${n.node}-${num(n.visit)}-${num(n.item)}`);
      if (row) Object.assign(row, { end: t, error: n.state !== "SUCCEEDED", detail: n.state.toLowerCase() });
    } else if (e.contextCompacted) {
      open(`compact-${seq}`, { kind: "compaction", label: "context compacted", start: t, end: t });
    }
  }
  return rows;
}

export function Timeline({ events, ended }) {
  // While the run goes on, open bars grow with the clock.
  const [, setNow] = useState(0);
  useEffect(() => {
    if (ended) return undefined;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [ended]);
  const rows = buildTimeline(events);
  if (!rows.length) return <p class="muted">No steps yet.</p>;
  const now = Date.now();
  const t0 = Math.min(...rows.map((r) => r.start));
  const t1 = Math.max(...rows.map((r) => r.end || (ended ? r.start : now)), t0 + 1);
  const span = t1 - t0;
  return (
    <ol class="timeline" data-testid="timeline">
      {rows.map((r, i) => {
        const running = !r.end && !ended;
        const end = r.end || (ended ? r.start : now);
        const left = ((r.start - t0) / span) * 100;
        const width = Math.max(((end - r.start) / span) * 100, 0.4);
        return (
          <li key={i} class={`tl-row tl-${r.kind}${r.error ? " tl-error" : ""}`} data-testid="timeline-row" data-kind={r.kind}>
            <span class="tl-label">{r.runId ? <a href={runPath(r.runId)}>{r.label}</a> : r.label}</span>
            <span class="tl-track" aria-hidden="true">
              <span class={`tl-bar${running ? " tl-running" : ""}`} style={{ left: `${left}%`, width: `${width}%` }} />
            </span>
            <span class="tl-dur">
              {running ? "running…" : formatDuration(end - r.start)}
              {r.error ? " · error" : ""}
              {r.detail ? ` · ${r.detail}` : ""}
            </span>
          </li>
        );
      })}
    </ol>
  );
}
