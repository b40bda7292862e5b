// The gateway's HTTP API (console/CONSOLE_API: POST /api/v1/{Service}/{Method} with the
// request as protobuf JSON, /api/session for sign-in, WatchRun as server-sent events).
// The token never passes through here except in the sign-in body: the session is an
// HttpOnly cookie the page cannot read.

export class ApiError extends Error {
  constructor(httpStatus, status, message) {
    super(message || status || `HTTP ${httpStatus}`);
    this.httpStatus = httpStatus;
    this.status = status || "";
  }
}

// Called with the ApiError when a call is answered 401: the session expired or was
// signed out elsewhere, so the app shows the sign-in page again.
let onUnauthenticated = () => {};
export function setUnauthenticatedHandler(fn) {
  onUnauthenticated = fn;
}

async function errorOf(response) {
  let status = "";
  let message = "";
  try {
    const body = await response.json();
    status = body?.error?.status || "";
    message = body?.error?.message || "";
  } catch {
    // Not JSON (a proxy's page): the HTTP status says enough.
  }
  return new ApiError(response.status, status, message || `${response.status} ${response.statusText}`);
}

async function send(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    // The gateway refuses a state-changing request without this type (CSRF).
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, "UNAVAILABLE", `the console did not answer (${e.message})`);
  }
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401 && path !== "/api/session") onUnauthenticated(error);
    throw error;
  }
  if (response.status === 204) return null;
  return response.json();
}

// One unary call of the orchestrator's API, e.g. rpc("RunService", "GetRun", {runId}).
export function rpc(service, method, request = {}) {
  return send("POST", `/api/v1/${service}/${method}`, request);
}

export const session = {
  get: () => send("GET", "/api/session"),
  signIn: (token) => send("POST", "/api/session", { token }),
  // DELETE carries an (empty) JSON body so that it has the Content-Type the gateway
  // asks of every state-changing request.
  signOut: () => send("DELETE", "/api/session", {}),
};

// Streams a run's events (RunService.WatchRun through the gateway's SSE route).
// onEvent gets each RunEvent; onEnd gets {code, message} once the stream ended for good
// (the run's final event was sent, or an error). EventSource reconnects by itself after a
// dropped connection and resumes after the last durable event (Last-Event-ID). Returns a
// function that stops watching.
export function watchRun(runId, { liveText = true, includeChildren = false, onEvent, onEnd }) {
  const params = new URLSearchParams({ runId, liveText: String(liveText) });
  if (includeChildren) params.set("includeChildren", "true");
  const source = new EventSource(`/api/v1/RunService/WatchRun?${params}`);
  source.addEventListener("run", (e) => {
    let event;
    try {
      event = JSON.parse(e.data);
    } catch {
      return;
    }
    onEvent(event);
  });
  source.addEventListener("end", (e) => {
    source.close();
    let body = {};
    try {
      body = JSON.parse(e.data);
    } catch {
      // An end without a body is an end all the same.
    }
    const error = body.error;
    onEnd?.(error ? { code: error.status, message: error.message } : { code: body.code || "OK" });
  });
  // EventSource retries a dropped connection by itself; an answer that is not a stream
  // (a 401 after the session expired, a 404) closes it for good.
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) {
      onEnd?.({ code: "UNAVAILABLE", message: "the live view closed; reload the page to reconnect" });
    }
  });
  return () => source.close();
}
