// `/`: counts by state, the runs table (a page of 50, newest first), filters, paging.
// Polled every 2 s while visible, so new runs and state changes show without a reload.
import { useState } from "preact/hooks";
import { rpc } from "../api.js";
import { StateBadge, ErrorBox, Loading } from "../components.jsx";
import { usePolled } from "../hooks.js";
import { useNamespace } from "../namespace.js";
import { navigate } from "../router.js";
import {
  RUN_STATES, formatCost, formatLabels, formatTime, num, parseLabels, runDuration, runPath, runWhat,
} from "../util.js";

const PAGE_SIZE = 50;

// The filters live in the URL's query, so a reload or a link keeps them.
function filtersFrom(search) {
  const q = new URLSearchParams(search);
  return {
    state: q.get("state") || "",
    agent: q.get("agent") || "",
    label: q.get("label") || "",
    parent: q.get("parent") || "",
  };
}

function queryOf(filters) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(filters)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? `/?${s}` : "/";
}

function Counts({ counts, active, filters }) {
  const byState = Object.fromEntries((counts || []).map((c) => [c.state, num(c.count)]));
  const total = Object.values(byState).reduce((a, b) => a + b, 0);
  return (
    <nav class="counts" aria-label="Runs by state">
      <a href={queryOf({ ...filters, state: "" })} class={!active ? "count active" : "count"} data-testid="runs-count-ALL">
        <span class="count-n">{total.toLocaleString("en-US")}</span> all
      </a>
      {RUN_STATES.map((s) => (
        <a
          key={s}
          href={queryOf({ ...filters, state: s })}
          class={`count state-${s.toLowerCase()}${active === s ? " active" : ""}`}
          data-testid={`runs-count-${s}`}
          data-count={byState[s] || 0}
        >
          <span class="count-n">{(byState[s] || 0).toLocaleString("en-US")}</span> {s.toLowerCase()}
        </a>
      ))}
    </nav>
  );
}

function Filters({ filters }) {
  const [draft, setDraft] = useState(filters);
  const [labelError, setLabelError] = useState("");
  const set = (k) => (e) => setDraft({ ...draft, [k]: e.currentTarget.value });
  const submit = (e) => {
    e.preventDefault();
    if (draft.label && parseLabels(draft.label) === null) {
      setLabelError("labels are k=v, separated by commas");
      return;
    }
    setLabelError("");
    navigate(queryOf(draft));
  };
  return (
    <form class="filters" onSubmit={submit} aria-label="Filter runs">
      <label>
        State
        <select value={draft.state} onChange={set("state")} data-testid="filter-state">
          <option value="">any</option>
          {RUN_STATES.map((s) => (
            <option key={s} value={s}>{s}</option>
          ))}
        </select>
      </label>
      <label>
        Agent
        <input value={draft.agent} onInput={set("agent")} placeholder="name" data-testid="filter-agent" />
      </label>
      <label>
        Label
        <input value={draft.label} onInput={set("label")} placeholder="k=v" data-testid="filter-label"
          aria-invalid={labelError ? "true" : undefined} />
      </label>
      <label>
        Parent run
        <input value={draft.parent} onInput={set("parent")} placeholder="run id" data-testid="filter-parent" />
      </label>
      <button type="submit">Apply</button>
      {labelError && <span class="field-error" role="alert">{labelError}</span>}
    </form>
  );
}

export function RunsTable({ runs, showParent }) {
  if (!runs.length) return <p class="muted">No runs.</p>;
  return (
    <table class="runs" data-testid="runs-table">
      <thead>
        <tr>
          <th scope="col">Run</th>
          <th scope="col">Agent / graph</th>
          <th scope="col">State</th>
          <th scope="col" class="num">Steps</th>
          <th scope="col" class="num">Cost</th>
          <th scope="col">Created</th>
          <th scope="col">Duration</th>
          <th scope="col">Labels</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((r) => (
          <tr key={r.runId} data-testid="run-row" data-run-id={r.runId} data-state={r.state}>
            <td class="mono">
              <a href={runPath(r.runId)}>{r.runId}</a>
              {r.graphNode && <span class="muted"> · node {r.graphNode}{r.mapItem ? ` #${r.mapItem}` : ""}</span>}
            </td>
            <td>{runWhat(r)}</td>
            <td><StateBadge state={r.state} /></td>
            <td class="num">{num(r.steps)}</td>
            <td class="num">{formatCost(r.treeUsage?.costUsd ?? r.usage?.costUsd)}</td>
            <td>{formatTime(r.createTimeMs)}</td>
            <td>{runDuration(r)}</td>
            <td class="labels">{formatLabels(r.labels)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function RunsPage({ search }) {
  const filters = filtersFrom(search);
  const namespace = useNamespace();
  // Tokens of the pages before this one, to go back; "" is the first page.
  const [pages, setPages] = useState([""]);
  const key = `${namespace}|${queryOf(filters)}`;
  const [pagesKey, setPagesKey] = useState(key);
  if (pagesKey !== key) {
    setPagesKey(key);
    setPages([""]);
  }
  const token = pages[pages.length - 1];
  const labels = filters.label ? parseLabels(filters.label) || {} : {};

  const list = usePolled(
    () =>
      rpc("RunService", "ListRuns", {
        state: filters.state || undefined,
        agentName: filters.agent,
        parentRunId: filters.parent,
        labels,
        pageSize: PAGE_SIZE,
        pageToken: token,
        namespace,
      }),
    [key, token],
  );
  const counts = usePolled(
    () => rpc("RunService", "CountRuns", { agentName: filters.agent, parentRunId: filters.parent, labels, namespace }),
    [key],
  );

  const runs = list.data?.runs || [];
  const next = list.data?.nextPageToken;
  return (
    <section>
      <h1>Runs</h1>
      <Counts counts={counts.data?.counts} active={filters.state} filters={filters} />
      <ErrorBox error={counts.error} />
      <Filters key={key} filters={filters} />
      <ErrorBox error={list.error} />
      {list.loading && !list.data ? <Loading /> : <RunsTable runs={runs} />}
      <div class="pager">
        <button type="button" disabled={pages.length <= 1} onClick={() => setPages(pages.slice(0, -1))}>
          ← Newer
        </button>
        <span class="muted">Page {pages.length}</span>
        <button type="button" disabled={!next} onClick={() => setPages([...pages, next])} data-testid="next-page">
          Older →
        </button>
      </div>
    </section>
  );
}
