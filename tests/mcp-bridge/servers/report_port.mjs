// Preloaded with `node --import` into an HTTP MCP server started with PORT=0: writes
// the port it really listens on to $PORT_FILE, so tests bind port 0 only.
import http from "node:http";
import { writeFileSync, renameSync } from "node:fs";

const listen = http.Server.prototype.listen;
http.Server.prototype.listen = function (...args) {
  this.once("listening", () => {
    const file = process.env.PORT_FILE;
    if (!file) return;
    writeFileSync(file + ".tmp", String(this.address().port) + "\n");
    renameSync(file + ".tmp", file);
  });
  return listen.apply(this, args);
};
