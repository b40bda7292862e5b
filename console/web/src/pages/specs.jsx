// `/agents`, `/graphs` and `/agents/{name}`, `/graphs/{name}`: stored specs, their
// versions and JSON, and a form that starts a run of one (operator and admin).
import { useEffect, useState } from "preact/hooks";
import { rpc } from "../api.js";
import { ErrorBox, Json, Loading } from "../components.jsx";
import { usePolled } from "../hooks.js";
import { useNamespace } from "../namespace.js";
import { navigate } from "../router.js";
import { canOperate, errorText, num, parseLabels, runPath } from "../util.js";

const KINDS = {
  agents: {
    title: "Agents", service: "AgentService", list: "ListAgents", get: "GetAgent", items: "agents",
    nameField: "agentName", versionField: "agentVersion", noun: "agent",
  },
  graphs: {
    title: "Graphs", service: "GraphService", list: "ListGraphs", get: "GetGraph", items: "graphs",
    nameField: "graphName", versionField: "graphVersion", noun: "graph",
  },
};

export function SpecListPage({ kind }) {
  const k = KINDS[kind];
  const namespace = useNamespace();
  const [pages, setPages] = useState([""]);
  const token = pages[pages.length - 1];
  const list = usePolled(() => rpc(k.service, k.list, { pageSize: 100, pageToken: token, namespace }), [kind, token, namespace], 0);
  const specs = list.data?.[k.items] || [];
  return (
    <section>
      <h1>{k.title}</h1>
      <ErrorBox error={list.error} />
      {list.loading && !list.data ? <Loading /> : specs.length === 0 ? (
        <p class="muted">No {k.noun}s stored yet (baton {kind} put FILE).</p>
      ) : (
        <table class="specs">
          <thead>
            <tr>
              <th scope="col">Name</th><th scope="col" class="num">Latest version</th>
              {kind === "agents" ? <th scope="col">Model</th> : <th scope="col" class="num">Nodes</th>}
              <th scope="col">Description</th>
            </tr>
          </thead>
          <tbody>
            {specs.map((s) => (
              <tr key={s.name} data-testid={`${k.noun}-row`}>
                <td><a href={`/${kind}/${encodeURIComponent(s.name)}`}>{s.name}</a></td>
                <td class="num">{num(s.version)}</td>
                {kind === "agents" ? <td>{s.model}</td> : <td class="num">{(s.nodes || []).length}</td>}
                <td>{s.description}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div class="pager">
        <button type="button" disabled={pages.length <= 1} onClick={() => setPages(pages.slice(0, -1))}>← Previous</button>
        <button type="button" disabled={!list.data?.nextPageToken} onClick={() => setPages([...pages, list.data.nextPageToken])}>Next →</button>
      </div>
    </section>
  );
}

function StartRun({ k, name, version }) {
  const namespace = useNamespace();
  const [input, setInput] = useState("");
  const [labels, setLabels] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    const parsed = parseLabels(labels);
    if (parsed === null) {
      setError({ message: "labels are k=v, separated by commas or lines" });
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const run = await rpc("RunService", "CreateRun", {
        [k.nameField]: name, [k.versionField]: version, input, labels: parsed, namespace,
      });
      navigate(runPath(run.runId));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <form class="start-run" onSubmit={submit} aria-label="Start a run">
      <h2>Start a run</h2>
      <label class="block">
        Input
        <textarea rows="4" value={input} onInput={(e) => setInput(e.currentTarget.value)} data-testid="start-run-input" required />
      </label>
      <label class="block">
        Labels <span class="muted">(k=v, separated by commas)</span>
        <input value={labels} onInput={(e) => setLabels(e.currentTarget.value)} data-testid="start-run-labels" />
      </label>
      <button type="submit" class="primary" disabled={busy} data-testid="start-run-submit">
        Start a run of {name} v{version}
      </button>
      {error && <p class="field-error" role="alert">{errorText(error)}</p>}
    </form>
  );
}

export function SpecPage({ kind, name, me }) {
  const k = KINDS[kind];
  const namespace = useNamespace();
  const [version, setVersion] = useState(0);
  const [latest, setLatest] = useState(0);
  const [spec, setSpec] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    setVersion(0);
    setLatest(0);
  }, [kind, name, namespace]);
  useEffect(() => {
    let stopped = false;
    setError(null);
    rpc(k.service, k.get, { name, version, namespace }).then(
      (s) => {
        if (stopped) return;
        setSpec(s);
        if (!version) setLatest(num(s.version));
      },
      (e) => !stopped && setError(e),
    );
    return () => {
      stopped = true;
    };
  }, [kind, name, version, namespace]);

  const shown = num(spec?.version);
  return (
    <section>
      <p class="crumbs"><a href={`/${kind}`}>{k.title}</a> /</p>
      <h1>{name}</h1>
      <ErrorBox error={error} />
      {!spec ? (!error && <Loading />) : (
        <>
          {spec.description && <p>{spec.description}</p>}
          <div class="versions">
            <label>
              Version{" "}
              <select value={shown} onChange={(e) => setVersion(num(e.currentTarget.value))} data-testid="version-select">
                {Array.from({ length: latest || shown }, (_, i) => (latest || shown) - i).map((v) => (
                  <option key={v} value={v}>v{v}{v === latest ? " (latest)" : ""}</option>
                ))}
              </select>
            </label>{" "}
            {kind === "agents" && <a href={`/?agent=${encodeURIComponent(name)}`}>Runs of {name}</a>}
          </div>
          {canOperate(me) && <StartRun k={k} name={name} version={shown} />}
          <h2>Spec</h2>
          <Json value={spec} />
        </>
      )}
    </section>
  );
}
