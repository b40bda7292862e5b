// A run's transcript as a conversation: the input, then each journal entry — the
// model's turns (text, thinking, tool calls with their inputs), tool results and
// errors, compaction summaries, approval requests and decisions — plus the text the
// model is streaming right now.
import { Json } from "../components.jsx";
import { formatDuration, formatTime, formatTokens, num, parseJson, prettyJson, runPath } from "../util.js";

// A tool_result's content (a JSON string, or an array of blocks) as text.
function resultText(contentJson) {
  const content = parseJson(contentJson, contentJson);
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((b) => (b.type === "text" ? b.text : b.type === "image" ? "[image]" : JSON.stringify(b)))
      .join("\n");
  }
  return JSON.stringify(content, null, 2);
}

function Block({ block, toolCalls }) {
  switch (block.type) {
    case "text":
      return <div class="msg-text">{block.text}</div>;
    case "thinking":
      return (
        <details class="thinking">
          <summary>Thinking</summary>
          <div class="msg-text">{block.thinking}</div>
        </details>
      );
    case "redacted_thinking":
      return <div class="muted">[redacted thinking]</div>;
    case "tool_use": {
      const call = toolCalls.get(block.id);
      return (
        <div class="tool-use" data-testid="tool-use" data-tool={block.name}>
          <div class="tool-head">
            <span class="tag">tool call</span> <code>{block.name}</code>
            {call?.childRunId && (
              <span>
                {" "}→ child run <a href={runPath(call.childRunId)} class="mono">{call.childRunId}</a>
              </span>
            )}
          </div>
          <Json value={block.input ?? {}} />
          {call?.editedInputJson && (
            <div>
              <span class="tag tag-warn">edited by a reviewer</span>
              <Json text={prettyJson(call.editedInputJson)} />
            </div>
          )}
        </div>
      );
    }
    default:
      return <Json value={block} />;
  }
}

function Entry({ entry, toolCalls }) {
  const step = num(entry.step);
  if (entry.modelTurn) {
    const turn = entry.modelTurn;
    const blocks = parseJson(turn.contentJson, []);
    return (
      <div class={`msg msg-assistant${turn.discarded ? " discarded" : ""}`} data-testid="msg-assistant">
        <div class="msg-meta">
          Assistant · step {step} · {turn.model}
          {turn.modelRule && turn.modelRule !== "default" ? ` (${turn.modelRule})` : ""} · {turn.stopReason}
          {turn.usage && ` · ${formatTokens(num(turn.usage.inputTokens) + num(turn.usage.cacheReadInputTokens) + num(turn.usage.cacheCreationInputTokens))} in / ${formatTokens(turn.usage.outputTokens)} out`}
          {turn.discarded && " · discarded (context window exceeded)"}
        </div>
        {(Array.isArray(blocks) ? blocks : []).map((b, i) => (
          <Block key={i} block={b} toolCalls={toolCalls} />
        ))}
      </div>
    );
  }
  if (entry.toolResult) {
    const r = entry.toolResult;
    return (
      <div class={`msg msg-tool${r.isError ? " is-error" : ""}`} data-testid="tool-result" data-error={r.isError ? "true" : "false"}>
        <div class="msg-meta">
          {r.isError ? "Tool error" : "Tool result"} · <code>{r.name}</code>
          {r.durationMs !== undefined && ` · ${formatDuration(r.durationMs)}`}
        </div>
        <pre class="result">{resultText(r.contentJson)}</pre>
      </div>
    );
  }
  if (entry.summary) {
    const s = entry.summary;
    return (
      <div class="msg msg-summary" data-testid="compaction-summary">
        <div class="msg-meta">
          Context compacted before step {step}: steps 0–{num(s.throughStep)} summarized by {s.model} ·{" "}
          {formatTokens(s.tokensBefore)} → {formatTokens(s.tokensAfter)} tokens{s.reason ? ` · ${s.reason}` : ""}
        </div>
        <div class="msg-text">{s.text}</div>
      </div>
    );
  }
  if (entry.approvalRequest) {
    const a = entry.approvalRequest;
    return (
      <div class="msg msg-event" data-testid="approval-request">
        <span class="tag tag-warn">approval</span> <code>{a.name}</code> waits for a person's decision
        {a.expireTimeMs && ` (expires ${formatTime(a.expireTimeMs)})`} · <a href="/approvals">approvals</a>
      </div>
    );
  }
  if (entry.approvalDecision) {
    const d = entry.approvalDecision;
    return (
      <div class="msg msg-event" data-testid="approval-decision">
        <span class="tag">decision</span> {d.decision}
        {d.timedOut ? " (timed out)" : d.decidedBy ? ` by ${d.decidedBy}` : ""}
        {d.message && `: ${d.message}`}
        {d.inputJson && <Json text={prettyJson(d.inputJson)} />}
      </div>
    );
  }
  if (entry.nodeStarted) {
    const n = entry.nodeStarted;
    return (
      <div class="msg msg-event">
        node <code>{n.node}</code>{num(n.item) ? ` #${n.item}` : ""} started
        {n.childRunId && <> · <a href={runPath(n.childRunId)} class="mono">{n.childRunId}</a></>}
      </div>
    );
  }
  if (entry.nodeFinished) {
    const n = entry.nodeFinished;
    return (
      <div class="msg msg-event">
        node <code>{n.node}</code>{num(n.item) ? ` #${n.item}` : ""} {n.state}
        {n.error ? `: ${n.error}` : ""}
      </div>
    );
  }
  return null;  // ToolCall entries are shown with the tool_use block they execute.
}

export function Transcript({ transcript, run, liveText }) {
  const entries = transcript?.entries || [];
  const toolCalls = new Map();
  for (const e of entries) if (e.toolCall) toolCalls.set(e.toolCall.toolUseId, e.toolCall);
  const live = Object.entries(liveText || {}).filter(([, t]) => t);
  return (
    <div class="transcript" data-testid="transcript">
      {(transcript?.historyRunIds || []).length > 0 && (
        <p class="muted">
          Continues the conversation of{" "}
          {transcript.historyRunIds.map((id) => (
            <a key={id} href={runPath(id)} class="mono">{id} </a>
          ))}
        </p>
      )}
      <div class="msg msg-user" data-testid="msg-user">
        <div class="msg-meta">User · input</div>
        <div class="msg-text">{transcript?.input ?? run.input}</div>
      </div>
      {entries.map((e) => (
        <Entry key={e.seq} entry={e} toolCalls={toolCalls} />
      ))}
      {live.map(([step, text]) => (
        <div class="msg msg-assistant streaming" key={`live-${step}`} data-testid="live-text" aria-live="polite">
          <div class="msg-meta">Assistant · step {step} · streaming…</div>
          <div class="msg-text">{text}</div>
        </div>
      ))}
      {run.state === "FAILED" && run.error && (
        <div class="msg msg-error" role="alert">
          <div class="msg-meta">Run failed{run.failureKind ? ` · ${run.failureKind}` : ""}</div>
          <div class="msg-text">{run.error}</div>
        </div>
      )}
    </div>
  );
}
