// An OTLP/HTTP trace receiver for tests/integration/tracing_test.cc, with the caller's
// span made by the official OpenTelemetry JS SDK.
//
//   node otlp_receiver.mjs            (environment: SPANS_FILE, TRACEPARENT_FILE, PORT_FILE)
//
// 1. Listens on 127.0.0.1 (port 0) for POST /v1/traces with the OTLP JSON encoding.
// 2. Starts a span "caller" with @opentelemetry/sdk-trace-base, writes its W3C
//    traceparent (made by @opentelemetry/core's W3CTraceContextPropagator) to
//    TRACEPARENT_FILE, ends it and exports it here with the SDK's own OTLP/HTTP
//    exporter, so Baton's spans and the SDK's go through the same decoder.
// 3. Writes the port to PORT_FILE (last: the caller's span is in by then).
// Each export is decoded by the OTLP JSON mapping (independently of Baton's encoder:
// hex ids, int64 as decimal strings, AnyValue variants) into one JSON line per span in
// SPANS_FILE; a request that does not decode is answered 400 and logged there as
// {"error": ...}.
import http from "node:http";
import { createRequire } from "node:module";
import { appendFileSync, renameSync, writeFileSync } from "node:fs";

// The SDK comes from tests/npm (scripts/setup runs npm ci there).
const require = createRequire(new URL("../npm/package.json", import.meta.url));
const { context, trace, ROOT_CONTEXT, SpanKind, defaultTextMapSetter } = require("@opentelemetry/api");
const { BasicTracerProvider, SimpleSpanProcessor } = require("@opentelemetry/sdk-trace-base");
const { OTLPTraceExporter } = require("@opentelemetry/exporter-trace-otlp-http");
const { W3CTraceContextPropagator } = require("@opentelemetry/core");

const spansFile = process.env.SPANS_FILE;
const record = (obj) => appendFileSync(spansFile, JSON.stringify(obj) + "\n");

function hexId(value, digits, what) {
  if (typeof value !== "string" || !new RegExp(`^[0-9a-f]{${digits}}$`).test(value) || /^0+$/.test(value)) {
    throw new Error(`${what} ${JSON.stringify(value)} is not ${digits} lowercase hex digits`);
  }
  return value;
}

// int64 / fixed64 in the JSON mapping: a decimal string (a number is accepted too, as
// proto3 JSON parsers do, and reported).
function int64(value, what) {
  if (typeof value === "string" && /^-?[0-9]+$/.test(value)) return { value: BigInt(value), string: true };
  if (typeof value === "number" && Number.isInteger(value)) return { value: BigInt(value), string: false };
  throw new Error(`${what} ${JSON.stringify(value)} is not an int64`);
}

function anyValue(v, what) {
  if (v === null || typeof v !== "object") throw new Error(`${what}: AnyValue ${JSON.stringify(v)} is not an object`);
  if ("stringValue" in v) return v.stringValue;
  if ("boolValue" in v) return v.boolValue;
  if ("intValue" in v) return Number(int64(v.intValue, what).value);
  if ("doubleValue" in v) return Number(v.doubleValue);
  if ("arrayValue" in v) return (v.arrayValue.values ?? []).map((x) => anyValue(x, what));
  if ("kvlistValue" in v) return keyValues(v.kvlistValue.values ?? [], what);
  if ("bytesValue" in v) return v.bytesValue;
  throw new Error(`${what}: AnyValue ${JSON.stringify(v)} has no known value`);
}

function keyValues(list, what) {
  if (!Array.isArray(list)) throw new Error(`${what}: attributes are not an array`);
  const out = {};
  for (const kv of list) {
    if (typeof kv.key !== "string") throw new Error(`${what}: an attribute has no key`);
    out[kv.key] = anyValue(kv.value, `${what} ${kv.key}`);
  }
  return out;
}

function decode(request) {
  const spans = [];
  for (const rs of request.resourceSpans ?? []) {
    const resource = keyValues(rs.resource?.attributes ?? [], "resource");
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        const start = int64(s.startTimeUnixNano, "startTimeUnixNano");
        const end = int64(s.endTimeUnixNano, "endTimeUnixNano");
        if (end.value < start.value) throw new Error(`span ${s.name} ends before it starts`);
        spans.push({
          service: resource["service.name"],
          resource,
          scope: ss.scope?.name ?? "",
          traceId: hexId(s.traceId, 32, "traceId"),
          spanId: hexId(s.spanId, 16, "spanId"),
          parentSpanId: s.parentSpanId ? hexId(s.parentSpanId, 16, "parentSpanId") : "",
          traceState: s.traceState ?? "",
          name: s.name,
          kind: s.kind ?? 0,
          startTimeUnixNano: start.value.toString(),
          endTimeUnixNano: end.value.toString(),
          int64AsString: start.string && end.string,
          attributes: keyValues(s.attributes ?? [], s.name),
          events: (s.events ?? []).map((e) => ({ name: e.name, attributes: keyValues(e.attributes ?? [], e.name) })),
          status: { code: s.status?.code ?? 0, message: s.status?.message ?? "" },
        });
      }
    }
  }
  return spans;
}

const server = http.createServer(async (req, res) => {
  let body = "";
  for await (const chunk of req) body += chunk;
  try {
    if (req.method !== "POST" || req.url !== "/v1/traces") throw new Error(`${req.method} ${req.url}`);
    if (!(req.headers["content-type"] ?? "").startsWith("application/json")) {
      throw new Error(`content-type ${req.headers["content-type"]}`);
    }
    const spans = decode(JSON.parse(body));
    for (const span of spans) record({ ...span, headers: { "x-test-header": req.headers["x-test-header"] ?? "" } });
    res.writeHead(200, { "content-type": "application/json" }).end("{}");
  } catch (e) {
    record({ error: String(e.message ?? e) });
    res.writeHead(400).end();
  }
});

server.listen(0, "127.0.0.1", async () => {
  const port = server.address().port;
  const exporter = new OTLPTraceExporter({ url: `http://127.0.0.1:${port}/v1/traces` });
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const caller = provider.getTracer("baton-tracing-test").startSpan("caller", { kind: SpanKind.CLIENT });
  const carrier = {};
  new W3CTraceContextPropagator().inject(trace.setSpan(ROOT_CONTEXT, caller), carrier, defaultTextMapSetter);
  writeFileSync(process.env.TRACEPARENT_FILE, carrier.traceparent + "\n");
  caller.end();
  await provider.forceFlush();
  writeFileSync(process.env.PORT_FILE + ".tmp", `${port}\n`);
  renameSync(process.env.PORT_FILE + ".tmp", process.env.PORT_FILE);
});
void context;
