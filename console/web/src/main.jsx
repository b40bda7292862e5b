// The console's shell: the session (sign-in page when there is none), the header with
// the principal, roles and sign-out, and the client-side routes.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { session, setUnauthenticatedHandler } from "./api.js";
import { ErrorBox, Loading } from "./components.jsx";
import { onLinkClick, useLocation } from "./router.js";
import { setNamespace, useNamespace } from "./namespace.js";
import { errorText } from "./util.js";
import { ApprovalsPage } from "./pages/approvals.jsx";
import { RunPage } from "./pages/run.jsx";
import { RunsPage } from "./pages/runs.jsx";
import { SpecListPage, SpecPage } from "./pages/specs.jsx";

function SignIn({ onSignedIn, notice }) {
  const [token, setToken] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const me = await session.signIn(token.trim());
      setToken("");  // the page keeps no copy of the secret
      onSignedIn(me);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <form onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">Baton</h1>
        <p>Sign in with an API key (<code>bk_…</code>) or a bearer token (JWT).</p>
        {notice && <p class="muted">{notice}</p>}
        <label class="block">
          API key or token
          <input
            type="password"
            autocomplete="off"
            spellcheck={false}
            value={token}
            onInput={(e) => setToken(e.currentTarget.value)}
            required
            autofocus
            data-testid="token-input"
          />
        </label>
        <button type="submit" class="primary" disabled={busy} data-testid="signin-button">Sign in</button>
        {error && <p class="field-error" role="alert" data-testid="signin-error">{errorText(error)}</p>}
        <p class="muted small">
          A local stack's admin key is in <code>.baton/admin.key</code> (<code>baton status</code> says where).
        </p>
      </form>
    </main>
  );
}

// Shown when the principal may use more than one namespace ("*": any).
function NamespacePicker({ namespaces }) {
  const ns = useNamespace();
  const [draft, setDraft] = useState(ns);
  const named = namespaces.filter((n) => n !== "*");
  if (namespaces.length < 2 && !namespaces.includes("*")) {
    return named.length ? <span class="muted small" title="namespace">{named[0]}</span> : null;
  }
  const apply = (e) => {
    e.preventDefault();
    setNamespace(draft.trim());
  };
  return (
    <form class="ns-picker" onSubmit={apply}>
      <label>
        <span class="muted small">namespace</span>{" "}
        <input list="baton-namespaces" value={draft} placeholder="default" size="10"
          onInput={(e) => setDraft(e.currentTarget.value)} onChange={apply} data-testid="namespace-input" />
      </label>
      <datalist id="baton-namespaces">
        {named.map((n) => <option key={n} value={n} />)}
      </datalist>
    </form>
  );
}

function Header({ me, path, onSignOut }) {
  const nav = [
    ["/", "Runs", path === "/" || path.startsWith("/runs/")],
    ["/approvals", "Approvals", path.startsWith("/approvals")],
    ["/agents", "Agents", path.startsWith("/agents")],
    ["/graphs", "Graphs", path.startsWith("/graphs")],
  ];
  return (
    <header class="top">
      <a href="/" class="brand">Baton</a>
      <nav aria-label="Main">
        {nav.map(([href, label, active]) => (
          <a key={href} href={href} aria-current={active ? "page" : undefined}>{label}</a>
        ))}
      </nav>
      <div class="who">
        <span data-testid="principal">{me.principal || (me.authEnabled ? "?" : "no auth")}</span>
        {(me.roles || []).map((r) => <span key={r} class="role" data-testid="role">{r}</span>)}
        <NamespacePicker namespaces={me.namespaces || []} />
        {me.authEnabled && (
          <button type="button" onClick={onSignOut} data-testid="signout-button">Sign out</button>
        )}
      </div>
    </header>
  );
}

function titleOf(path) {
  if (path.startsWith("/runs/")) return `Run ${decodeURIComponent(path.slice(6))}`;
  if (path.startsWith("/agents/") || path.startsWith("/graphs/")) return decodeURIComponent(path.split("/")[2]);
  return { "/approvals": "Approvals", "/agents": "Agents", "/graphs": "Graphs" }[path] || "Runs";
}

function Route({ path, search, me }) {
  useEffect(() => {
    document.title = `${titleOf(path)} · Baton`;
  }, [path]);
  if (path === "/" || path === "") return <RunsPage search={search} />;
  if (path.startsWith("/runs/")) {
    const id = path.slice("/runs/".length).split("/").map(decodeURIComponent).join("/");
    return <RunPage runId={id} me={me} />;
  }
  if (path === "/approvals") return <ApprovalsPage me={me} />;
  for (const kind of ["agents", "graphs"]) {
    if (path === `/${kind}`) return <SpecListPage kind={kind} />;
    if (path.startsWith(`/${kind}/`)) {
      return <SpecPage kind={kind} name={decodeURIComponent(path.slice(kind.length + 2))} me={me} />;
    }
  }
  return (
    <section>
      <h1>Not found</h1>
      <p>No page at {path}. <a href="/">Runs</a></p>
    </section>
  );
}

// A principal of several namespaces (and not of all) starts in its first one; the
// orchestrator's default would be "default", which it may not be allowed to use.
function startNamespace(me) {
  const ns = me.namespaces || [];
  return ns.length > 1 && !ns.includes("*") ? ns[0] : "";
}

function App() {
  const [me, setMe] = useState(undefined);  // undefined: asking; null: signed out
  const [notice, setNotice] = useState("");
  const [error, setError] = useState(null);
  const { path, search } = useLocation();

  useEffect(() => {
    setUnauthenticatedHandler(() => {
      setNotice("Your session ended; sign in again.");
      setMe(null);
    });
    session.get().then(
      (m) => {
        setNamespace(startNamespace(m));
        setMe(m);
      },
      (e) => (e.httpStatus === 401 ? setMe(null) : setError(e)),
    );
  }, []);

  if (error) return <main class="page"><ErrorBox error={error} /></main>;
  if (me === undefined) return <main class="page"><Loading /></main>;
  if (me === null) {
    const signedIn = (m) => {
      setNotice("");
      setNamespace(startNamespace(m));
      setMe(m);
    };
    return <SignIn notice={notice} onSignedIn={signedIn} />;
  }
  const signOut = async () => {
    try {
      await session.signOut();
    } finally {
      setMe(null);
    }
  };
  return (
    <div onClick={onLinkClick}>
      <Header me={me} path={path} onSignOut={signOut} />
      <main class="page" key={path}>
        <Route path={path} search={search} me={me} />
      </main>
    </div>
  );
}

render(<App />, document.getElementById("app"));
