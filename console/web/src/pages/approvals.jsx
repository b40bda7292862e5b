// `/approvals`: requests waiting for a person (gated tool calls, MCP servers asking for
// input, graphs' human nodes) with their decisions, and the ones decided, with who
// decided. Polled every 2 s.
import { useState } from "preact/hooks";
import { rpc } from "../api.js";
import { ErrorBox, Json, Loading } from "../components.jsx";
import { usePolled } from "../hooks.js";
import { useNamespace } from "../namespace.js";
import { canOperate, errorText, formatTime, parseJson, prettyJson, runPath } from "../util.js";
import { SchemaForm } from "./schema_form.jsx";

// The decisions a request allows when its rule names none.
function allowedDecisions(a) {
  if (a.decisions?.length) return a.decisions;
  if (a.kind === "ELICITATION") return ["ACCEPT", "DECLINE", "CANCEL"];
  if (a.kind === "GRAPH_NODE") return ["APPROVE", "DENY", "RESPOND"];
  return ["APPROVE", "EDIT", "DENY", "RESPOND"];
}

const LABELS = {
  APPROVE: "Approve", EDIT: "Edit input…", DENY: "Deny…", RESPOND: "Respond…",
  ACCEPT: "Accept…", DECLINE: "Decline", CANCEL: "Cancel",
};

function Decide({ approval, me, onDecided }) {
  const [mode, setMode] = useState("");
  const [message, setMessage] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const decidedBy = me?.principal || "console";

  const decide = async (decision, extra = {}) => {
    setBusy(true);
    setError(null);
    try {
      await rpc("RunService", "DecideApproval", { approvalId: approval.approvalId, decision, decidedBy, ...extra });
      setMode("");
      onDecided();
    } catch (e) {
      setError(e);
    }
    setBusy(false);
  };
  const decisions = allowedDecisions(approval);
  const schema = parseJson(approval.inputSchemaJson, null);
  return (
    <div class="decide">
      <div class="decide-buttons">
        {decisions.map((d) => (
          <button
            key={d}
            type="button"
            class={d === "APPROVE" || d === "ACCEPT" ? "primary" : d === "DENY" ? "danger" : ""}
            disabled={busy}
            aria-pressed={mode === d ? "true" : undefined}
            data-testid={`${d.toLowerCase()}-button`}
            onClick={() => (["APPROVE", "DECLINE", "CANCEL"].includes(d) ? decide(d) : setMode(mode === d ? "" : d))}
          >
            {LABELS[d] || d}
          </button>
        ))}
      </div>
      {(mode === "EDIT" || mode === "ACCEPT") && (
        <SchemaForm
          schema={schema}
          value={mode === "EDIT" ? parseJson(approval.inputJson, {}) : {}}
          submitLabel={mode === "EDIT" ? "Run with this input" : "Accept"}
          busy={busy}
          testid="edit-form"
          onSubmit={(v) => decide(mode, { inputJson: JSON.stringify(v) })}
        />
      )}
      {(mode === "DENY" || mode === "RESPOND") && (
        <form
          class="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            decide(mode, { message });
          }}
        >
          <label class="block">
            {mode === "DENY" ? "Why (the model reads it)" : "The tool's result (what the model gets)"}
            <textarea rows="3" value={message} onInput={(e) => setMessage(e.currentTarget.value)} data-testid="decision-message" />
          </label>
          <button type="submit" disabled={busy} class={mode === "DENY" ? "danger" : "primary"} data-testid="decision-submit">
            {mode === "DENY" ? "Deny" : "Respond"}
          </button>
        </form>
      )}
      {error && <p class="field-error" role="alert">{errorText(error)}</p>}
    </div>
  );
}

function What({ a }) {
  if (a.kind === "GRAPH_NODE") return <>node <code>{a.tool}</code></>;
  if (a.kind === "ELICITATION") return <>input for <code>{a.tool}</code></>;
  return <>tool <code>{a.tool}</code></>;
}

function PendingRow({ a, me, onDecided }) {
  return (
    <li class="approval" data-testid="approval-row" data-approval-id={a.approvalId} data-run-id={a.runId}>
      <div class="approval-head">
        <strong><What a={a} /></strong> · run <a href={runPath(a.runId)} class="mono">{a.runId}</a>
        {a.agentName && <> · agent {a.agentName}</>} · step {a.step || 0}
        <span class="muted"> · asked {formatTime(a.createTimeMs)}{a.expireTimeMs && `, expires ${formatTime(a.expireTimeMs)}`}</span>
      </div>
      {a.message && <p class="approval-message">{a.message}</p>}
      {a.inputJson && <Json text={prettyJson(a.inputJson)} />}
      {canOperate(me) ? <Decide approval={a} me={me} onDecided={onDecided} /> : null}
    </li>
  );
}

// The latest decisions, newest first. The API lists them oldest first, so this walks
// to the last page (at most MAX_DECIDED_PAGES of 1000).
const MAX_DECIDED_PAGES = 10;
const DECIDED_SHOWN = 50;
async function latestDecided(namespace) {
  let all = [];
  let pageToken = "";
  for (let i = 0; i < MAX_DECIDED_PAGES; i++) {
    const page = await rpc("RunService", "ListApprovals", { filter: "DECIDED", pageSize: 1000, pageToken, namespace });
    all = [...all, ...(page.approvals || [])].slice(-DECIDED_SHOWN);
    pageToken = page.nextPageToken;
    if (!pageToken) break;
  }
  return all.reverse();
}

export function ApprovalsPage({ me }) {
  const namespace = useNamespace();
  const pending = usePolled(() => rpc("RunService", "ListApprovals", { filter: "PENDING", pageSize: 100, namespace }), [namespace]);
  const decided = usePolled(() => latestDecided(namespace), [namespace], 10000);
  const reload = () => {
    pending.reload();
    decided.reload();
  };
  const list = pending.data?.approvals || [];
  const done = decided.data || [];
  return (
    <section>
      <h1>Approvals</h1>
      <h2 data-testid={pending.data ? "approvals-loaded" : undefined}>Pending</h2>
      <ErrorBox error={pending.error} />
      {pending.loading && !pending.data ? <Loading /> : list.length === 0 ? (
        <p class="muted" data-testid="no-approvals">Nothing waits for a decision.</p>
      ) : (
        <ul class="approvals">
          {list.map((a) => <PendingRow key={a.approvalId} a={a} me={me} onDecided={reload} />)}
        </ul>
      )}
      <h2>Decided <span class="muted small">(the latest {DECIDED_SHOWN})</span></h2>
      <ErrorBox error={decided.error} />
      {done.length === 0 ? <p class="muted">None yet.</p> : (
        <table class="decided">
          <thead>
            <tr><th scope="col">What</th><th scope="col">Run</th><th scope="col">Decision</th><th scope="col">By</th><th scope="col">When</th></tr>
          </thead>
          <tbody>
            {done.map((a) => (
              <tr key={a.approvalId} data-testid="decided-row">
                <td><What a={a} /></td>
                <td class="mono"><a href={runPath(a.runId)}>{a.runId}</a></td>
                <td>
                  {a.state === "ABANDONED" ? "abandoned (the run ended)" : a.decision?.decision}
                  {a.decision?.message ? `: ${a.decision.message}` : ""}
                </td>
                <td data-testid="decided-by">{a.decision?.timedOut ? "timeout" : a.decision?.decidedBy}</td>
                <td>{formatTime(a.decision?.decideTimeMs)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
