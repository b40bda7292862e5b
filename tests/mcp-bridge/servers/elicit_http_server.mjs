// A Streamable HTTP MCP server on the official SDK whose tools ask the client for
// input (elicitation/create), for the bridge's elicitation tests. Start it with
// `node --import report_port.mjs` and PORT=0. Environment:
//   GET_DELAY_MS  how long the server's GET stream takes to open (default 0)
// Tools (each returns the client's ElicitResult as JSON text):
//   ask_on_call_stream  the request goes on the tools/call's own response stream
//                       (extra.sendRequest, as most servers do)
//   ask_on_get_stream   the request carries no related request, so it goes on the
//                       GET stream and is dropped while none is open (as the
//                       conformance suite's elicitation scenario does)
import http from "node:http";
import { randomUUID } from "node:crypto";

const sdk = (path) => import(new URL(`../../npm/node_modules/@modelcontextprotocol/sdk/dist/esm/${path}`, import.meta.url));
const { Server } = await sdk("server/index.js");
const { StreamableHTTPServerTransport } = await sdk("server/streamableHttp.js");
const { CallToolRequestSchema, ListToolsRequestSchema, ElicitResultSchema } = await sdk("types.js");

const getDelay = Number(process.env.GET_DELAY_MS ?? 0);
const schema = {
  type: "object",
  properties: {
    name: { type: "string", description: "Who orders", default: "Ada" },
    size: { type: "string", enum: ["S", "M", "L"], default: "M" },
    gift: { type: "boolean" },
  },
  required: ["name"],
};

function makeServer() {
  const server = new Server({ name: "baton-elicit-server", version: "1.0.0" }, { capabilities: { tools: {} } });
  const obj = { type: "object", properties: {} };
  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: [
      { name: "ask_on_call_stream", description: "Asks on the call's stream", inputSchema: obj },
      { name: "ask_on_get_stream", description: "Asks on the GET stream", inputSchema: obj },
    ],
  }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const params = { message: "Who is ordering?", requestedSchema: schema };
    let result;
    if (request.params.name === "ask_on_call_stream") {
      result = await extra.sendRequest({ method: "elicitation/create", params }, ElicitResultSchema);
    } else {
      result = await server.request({ method: "elicitation/create", params }, ElicitResultSchema);
    }
    return { content: [{ type: "text", text: JSON.stringify(result) }] };
  });
  return server;
}

const sessions = {};
const httpServer = http.createServer(async (req, res) => {
  let body = "";
  for await (const chunk of req) body += chunk;
  const parsed = body ? JSON.parse(body) : undefined;
  const id = req.headers["mcp-session-id"];
  let transport = id ? sessions[id] : undefined;
  if (!transport) {
    if (req.method !== "POST" || parsed?.method !== "initialize") {
      res.writeHead(404).end();
      return;
    }
    transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (sid) => {
        sessions[sid] = transport;
      },
    });
    await makeServer().connect(transport);
  }
  if (req.method === "GET" && getDelay > 0) await new Promise((r) => setTimeout(r, getDelay));
  await transport.handleRequest(req, res, parsed);
});
httpServer.listen(Number(process.env.PORT ?? 0), "127.0.0.1");
