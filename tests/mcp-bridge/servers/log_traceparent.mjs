// Preloaded with `node --import` into an HTTP MCP server: appends the traceparent
// header of every request that has one to $TRACEPARENT_LOG, one a line, followed by
// " tracestate=<header>" when the request has that header too.
import http from "node:http";
import { appendFileSync } from "node:fs";

const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (event, request, ...rest) {
  const file = process.env.TRACEPARENT_LOG;
  if (event === "request" && file && request.headers.traceparent) {
    const state = request.headers.tracestate ? ` tracestate=${request.headers.tracestate}` : "";
    appendFileSync(file, `${request.method} ${request.headers.traceparent}${state}\n`);
  }
  return emit.call(this, event, request, ...rest);
};
