// `/runs/{id}`: one run, kept current from WatchRun: its facts, a Cancel and a Fork
// button (operator and admin), the graph of a graph run, the timeline of its steps, its
// transcript with the text the model is streaming, and its children.
import { useEffect, useRef, useState } from "preact/hooks";
import { rpc, watchRun } from "../api.js";
import { ErrorBox, Facts, Loading, StateBadge } from "../components.jsx";
import { usePolled } from "../hooks.js";
import { navigate } from "../router.js";
import {
  NO_LIVE_TEXT, TERMINAL_STATES, canOperate, errorText, formatCost, formatLabels, formatTime, formatTokens, isGraphRun,
  nextLiveText, num, runDuration, runPath, runWhat,
} from "../util.js";
import { GraphView } from "./graph.jsx";
import { RunsTable } from "./runs.jsx";
import { Timeline } from "./timeline.jsx";
import { Transcript } from "./transcript.jsx";

function usageText(u) {
  if (!u) return "";
  const input = num(u.inputTokens) + num(u.cacheReadInputTokens) + num(u.cacheCreationInputTokens);
  const parts = [`${formatTokens(input)} in`, `${formatTokens(u.outputTokens)} out`];
  if (num(u.cacheReadInputTokens)) parts.push(`${formatTokens(u.cacheReadInputTokens)} cache read`);
  if (num(u.cacheCreationInputTokens)) parts.push(`${formatTokens(u.cacheCreationInputTokens)} cache write`);
  parts.push(`${num(u.modelCalls)} model calls`, `${num(u.toolCalls)} tool calls`);
  return parts.join(" · ");
}

// Keeps the run, its transcript and its events current: loads the run and transcript,
// watches its events (live text included), and reloads both (at most every 300 ms)
// after durable events.
function useLiveRun(runId) {
  const [run, setRun] = useState(null);
  const [transcript, setTranscript] = useState(null);
  const [events, setEvents] = useState([]);
  const [liveText, setLiveText] = useState(NO_LIVE_TEXT);
  const [error, setError] = useState(null);
  const [ended, setEnded] = useState(false);
  const [childTick, setChildTick] = useState(0);
  const timer = useRef(null);

  useEffect(() => {
    let stopped = false;
    setRun(null);
    setTranscript(null);
    setEvents([]);
    setLiveText(NO_LIVE_TEXT);
    setError(null);
    setEnded(false);
    const load = () =>
      Promise.all([rpc("RunService", "GetRun", { runId }), rpc("RunService", "GetTranscript", { runId })]).then(
        ([r, t]) => {
          if (stopped) return;
          setRun(r);
          setTranscript(t);
          setError(null);
        },
        (e) => !stopped && setError(e),
      );
    const refresh = () => {
      if (timer.current) return;
      timer.current = setTimeout(() => {
        timer.current = null;
        if (!stopped) load();
      }, 300);
    };
    load();
    const seen = new Set();
    const stop = watchRun(runId, {
      liveText: true,
      onEvent: (e) => {
        const seq = num(e.seq);
        if (seq > 0) {
          if (seen.has(seq)) return;  // a reconnect may repeat what came before
          seen.add(seq);
        }
        setLiveText((live) => nextLiveText(live, e));
        if (e.textDelta || e.gap) return;
        setEvents((list) => [...list, e]);
        if (e.stateChanged) {
          setRun((r) => r && { ...r, state: e.stateChanged.state, workerId: e.stateChanged.workerId || r.workerId });
        }
        if (e.childStarted || e.childFinished || e.nodeStarted || e.nodeFinished) setChildTick((n) => n + 1);
        if (seq > 0) refresh();
      },
      onEnd: (end) => {
        if (stopped) return;
        setEnded(true);
        setLiveText(NO_LIVE_TEXT);
        if (end.code !== "OK") setError({ status: end.code, message: end.message });
        load();
      },
    });
    return () => {
      stopped = true;
      stop();
      if (timer.current) clearTimeout(timer.current);
      timer.current = null;
    };
  }, [runId]);

  return { run, transcript, events, liveText: liveText.byStep, error, ended, childTick };
}

function Actions({ run, me }) {
  const [confirming, setConfirming] = useState(false);
  const [forking, setForking] = useState(false);
  const [forkAt, setForkAt] = useState("0");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  if (!canOperate(me)) return null;  // a reader sees no buttons; the orchestrator refuses anyway
  const active = !TERMINAL_STATES.has(run.state);

  const cancel = async () => {
    setBusy(true);
    try {
      await rpc("RunService", "CancelRun", { runId: run.runId, reason: "cancelled from the console" });
      setConfirming(false);
    } catch (e) {
      setError(e);
    }
    setBusy(false);
  };
  const fork = async (e) => {
    e.preventDefault();
    setBusy(true);
    try {
      const forked = await rpc("RunService", "ForkRun", { runId: run.runId, atJournalSeq: String(num(forkAt)) });
      navigate(runPath(forked.runId));
    } catch (err) {
      setError(err);
    }
    setBusy(false);
  };
  return (
    <div class="actions">
      {active && !confirming && (
        <button type="button" class="danger" onClick={() => setConfirming(true)} data-testid="cancel-button">
          Cancel run
        </button>
      )}
      {active && confirming && (
        <span class="confirm">
          Cancel this run?{" "}
          <button type="button" class="danger" disabled={busy} onClick={cancel} data-testid="cancel-confirm">
            Yes, cancel
          </button>{" "}
          <button type="button" onClick={() => setConfirming(false)}>No</button>
        </span>
      )}
      {!forking && (
        <button type="button" onClick={() => setForking(true)} data-testid="fork-button">
          Fork…
        </button>
      )}
      {forking && (
        <form class="inline-form" onSubmit={fork}>
          <label>
            Fork after journal entry{" "}
            <input type="number" min="0" max={num(run.lastJournalSeq)} value={forkAt}
              onInput={(e) => setForkAt(e.currentTarget.value)} class="narrow" />
          </label>{" "}
          <span class="muted">(0 starts over; this run has {num(run.lastJournalSeq)})</span>{" "}
          <button type="submit" disabled={busy} data-testid="fork-submit">Fork</button>{" "}
          <button type="button" onClick={() => setForking(false)}>Close</button>
        </form>
      )}
      {error && <span class="field-error" role="alert">{errorText(error)}</span>}
    </div>
  );
}

function Children({ runId, tick, active }) {
  const children = usePolled(
    () => rpc("RunService", "ListRuns", { parentRunId: runId, pageSize: 50 }),
    [runId, tick],
    active ? 3000 : 0,
  );
  const runs = children.data?.runs || [];
  if (!runs.length && !children.error) return null;
  return (
    <section>
      <h2>Children</h2>
      <ErrorBox error={children.error} />
      <RunsTable runs={runs} />
      {children.data?.nextPageToken && (
        <p><a href={`/?parent=${encodeURIComponent(runId)}`}>All children…</a></p>
      )}
    </section>
  );
}

export function RunPage({ runId, me }) {
  const { run, transcript, events, liveText, error, ended, childTick } = useLiveRun(runId);
  if (!run) {
    return (
      <section>
        <h1 class="mono">{runId}</h1>
        {error ? <ErrorBox error={error} /> : <Loading />}
      </section>
    );
  }
  const graph = isGraphRun(run);
  const active = !TERMINAL_STATES.has(run.state);
  return (
    <section>
      <p class="crumbs"><a href="/">Runs</a> /</p>
      <h1 class="run-title">
        <span class="mono">{run.runId}</span> <StateBadge state={run.state} testid="run-state" />
      </h1>
      <ErrorBox error={error} />
      <Actions run={run} me={me} />
      <Facts
        items={[
          [graph ? "Graph" : "Agent", runWhat(run)],
          ["Model", !graph && run.agent?.model],
          ["Attempt", `${num(run.attempt) || 1}${num(run.agent?.maxAttempts) ? ` of ${num(run.agent.maxAttempts)}` : ""}`, "run-attempt"],
          ["Worker", run.workerId, "run-worker"],
          ["Steps", String(num(run.steps)), "run-steps"],
          ["Usage", usageText(run.usage), "run-usage"],
          ["Cost", formatCost(run.usage?.costUsd), "run-cost"],
          ["Cost with children", num(run.treeUsage?.costUsd) !== num(run.usage?.costUsd) && formatCost(run.treeUsage?.costUsd)],
          ["Created", formatTime(run.createTimeMs)],
          ["Started", formatTime(run.startTimeMs)],
          ["Ended", formatTime(run.endTimeMs)],
          ["Duration", runDuration(run)],
          ["Parent", run.parentRunId && <a href={runPath(run.parentRunId)} class="mono">{run.parentRunId}</a>],
          ["Graph node", run.graphNode && `${run.graphNode}${num(run.mapItem) ? ` #${run.mapItem}` : ""}`],
          ["Forked from", run.forkedFrom && <a href={runPath(run.forkedFrom)} class="mono">{run.forkedFrom}</a>],
          ["Session", run.sessionId && `${run.sessionId} #${num(run.sessionSeq)}`],
          ["Labels", formatLabels(run.labels)],
          ["Lost leases", num(run.leaseLosses) ? String(num(run.leaseLosses)) : ""],
          ["Failure", run.failureKind],
          ["Waiting for", (run.waits || []).filter((w) => !w.done).map((w) => w.approvalId ? `approval of ${w.name}` : w.childRunId ? `child ${w.childRunId}` : `previous run ${w.previousRunId}`).join(", ")],
        ]}
      />
      {run.output && (
        <section>
          <h2>Output</h2>
          <pre class="output" data-testid="run-output">{run.output}</pre>
        </section>
      )}
      {graph && (
        <section>
          <h2>Graph</h2>
          <GraphView spec={run.graph} events={events} />
        </section>
      )}
      <section>
        <h2>Timeline</h2>
        <Timeline events={events} ended={ended || !active} />
      </section>
      <Children runId={run.runId} tick={childTick} active={active} />
      <section>
        <h2>Transcript</h2>
        <Transcript transcript={transcript} run={run} liveText={liveText} />
      </section>
    </section>
  );
}
