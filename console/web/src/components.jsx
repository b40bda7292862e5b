import { errorText } from "./util.js";

export function StateBadge({ state, testid }) {
  const s = state || "RUN_STATE_UNSPECIFIED";
  return (
    <span class={`badge state-${s.toLowerCase()}`} data-testid={testid} data-state={s}>
      {s}
    </span>
  );
}

export function ErrorBox({ error }) {
  if (!error) return null;
  return (
    <div class="error-box" role="alert">
      {errorText(error)}
    </div>
  );
}

export function Json({ text, value }) {
  const shown = value !== undefined ? JSON.stringify(value, null, 2) : text;
  return <pre class="json">{shown}</pre>;
}

// A definition list of [label, value] pairs, skipping empty values.
export function Facts({ items }) {
  return (
    <dl class="facts">
      {items
        .filter(([, v]) => v !== undefined && v !== null && v !== "" && v !== false)
        .map(([k, v, testid]) => (
          <div class="fact" key={k}>
            <dt>{k}</dt>
            <dd data-testid={testid}>{v}</dd>
          </div>
        ))}
    </dl>
  );
}

export function Loading() {
  return <p class="muted">Loading…</p>;
}
