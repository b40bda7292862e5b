// Checks deploy/ without a cluster (ctest deploy_manifests):
//  - every Kubernetes object, in each manifest file and as each kustomization renders
//    it, against the API's schemas: kubernetes-models for the built-in kinds,
//    @kubernetes-models/keda and /prometheus-operator for ScaledObject and
//    ServiceMonitor (the CRDs' OpenAPI schemas, compiled to validators);
//  - that the objects fit together: selectors find pods, Services' and probes' ports are
//    the containers', which the processes' --*listen flags bind, the addresses processes
//    dial are Services, autoscalers target the worker Deployment, ConfigMaps exist, the
//    worker's grace period outlasts its drain;
//  - that the bridge's config uses MCP servers the bridge image installs, and that
//    compose.yaml's mounts exist;
//  - that deploy/grafana/baton.json parses and every PromQL expression in it, in the
//    autoscalers and in the adapter rule names only metrics documented in
//    docs/operations.md ("## Metrics"), with histogram quantiles over `_bucket` by `le`.
//
//   node validate.mjs REPO_ROOT
// The compiled schemas check types, required fields and enums but, like the API
// server's default decoding, let unknown fields through; so every object is also
// type-checked by the TypeScript compiler against the same packages' interfaces, whose
// excess-property check names a misspelt or misplaced field.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { parseAllDocuments } from "yaml";

const root = path.resolve(process.argv[2] ?? "../..");
const errors = [];
const fail = (where, message) => errors.push(`${where}: ${message}`);

function readYamlDocuments(file, text = fs.readFileSync(file, "utf8")) {
  const objects = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) {
      fail(file, doc.errors.map((e) => e.message).join("; "));
      continue;
    }
    const value = doc.toJS();
    if (value != null) objects.push(value);
  }
  return objects;
}

// The file's JSON, or null (and a failure) when it does not parse.
function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    fail(file, `does not parse: ${e.message}`);
    return null;
  }
}

// apiVersion "group/version" (or "v1") and kind -> the model class of the package that
// has it.
const kSchemaPackages = ["kubernetes-models", "@kubernetes-models/keda", "@kubernetes-models/prometheus-operator"];
async function modelFor(apiVersion, kind) {
  const dir = apiVersion.includes("/") ? apiVersion : `v1`;
  for (const pkg of kSchemaPackages) {
    const specifier = `${pkg}/${dir}/${kind}`;
    try {
      const module = await import(specifier);
      return { Model: module[kind], specifier };
    } catch (e) {
      if (e.code !== "ERR_MODULE_NOT_FOUND" && e.code !== "ERR_PACKAGE_PATH_NOT_EXPORTED") throw e;
    }
  }
  return null;
}

// Objects whose schema was found, for the TypeScript pass.
const typed = [];

async function validateSchema(where, object) {
  if (typeof object.apiVersion !== "string" || typeof object.kind !== "string") {
    fail(where, "not a Kubernetes object (no apiVersion/kind)");
    return;
  }
  const found = await modelFor(object.apiVersion, object.kind);
  if (found == null) {
    fail(where, `no schema for ${object.apiVersion} ${object.kind}`);
    return;
  }
  try {
    new found.Model(object).validate();
  } catch (e) {
    fail(`${where} ${object.kind}/${object.metadata?.name}`, e.message);
  }
  typed.push({ where: `${where} ${object.kind}/${object.metadata?.name}`, specifier: found.specifier, object });
}

// One in-memory TypeScript file assigns each object, as a literal, to its kind's
// interface (`IDeployment` of kubernetes-models/apps/v1/Deployment); tsc's errors are
// mapped back to the object by line. The file is "in" this folder, so the imports
// resolve to its node_modules; nothing is written.
function typeCheck() {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const file = path.join(here, "__deploy_manifests__.ts");
  const aliases = new Map();
  const lines = [];
  const owners = [];  // [first line, entry]
  for (const entry of typed) {
    if (!aliases.has(entry.specifier)) aliases.set(entry.specifier, `T${aliases.size}`);
  }
  for (const [specifier, alias] of aliases) {
    const kind = specifier.split("/").pop();
    lines.push(`import type { I${kind} as ${alias} } from "${specifier}";`);
  }
  typed.forEach((entry, i) => {
    owners.push([lines.length, entry]);
    lines.push(...`export const o${i}: ${aliases.get(entry.specifier)} = ${JSON.stringify(entry.object, null, 1)};`.split("\n"));
  });
  const source = lines.join("\n");
  const options = {
    noEmit: true, strict: true, skipLibCheck: true, types: [], target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists } = host;
  host.getSourceFile = (f, language, ...rest) =>
    f === file ? ts.createSourceFile(f, source, language) : getSourceFile.call(host, f, language, ...rest);
  host.fileExists = (f) => f === file || fileExists.call(host, f);
  const program = ts.createProgram([file], options, host);
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(d.messageText, " ");
    if (d.file?.fileName !== file) {
      fail("typescript", message);
      continue;
    }
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    const owner = owners.filter(([first]) => first <= line).pop();
    fail(owner ? owner[1].where : file, `${message} (at: ${lines[line].trim()})`);
  }
  console.log(`typescript: ${typed.length} objects checked for unknown fields`);
}

// --- Metric names ----------------------------------------------------------------------

// The names in the "## Metrics" section of docs/operations.md; a histogram's line says
// "histogram", which also allows its _bucket, _count and _sum series.
function documentedMetrics() {
  const doc = fs.readFileSync(path.join(root, "docs/operations.md"), "utf8");
  const section = doc.split(/^(?=## )/m).find((s) => /^## Metrics\b/.test(s));
  const names = new Map();
  if (section == null) {
    fail("docs/operations.md", 'no "## Metrics" section to check metric names against');
    return names;
  }
  for (const line of section.split("\n")) {
    for (const [, name] of line.matchAll(/`(baton_[a-z0-9_]+)[`{]/g)) {
      names.set(name, names.get(name) === "histogram" || /\bhistogram\b/.test(line) ? "histogram" : "other");
    }
  }
  if (names.size === 0) fail("docs/operations.md", "the Metrics section names no baton_ metric");
  return names;
}

const kPromqlWords = new Set([
  "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "group",
  "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "bool",
  "rate", "irate", "increase", "delta", "idelta", "deriv", "histogram_quantile", "vector", "scalar", "abs", "ceil",
  "floor", "round", "clamp_min", "clamp_max", "clamp", "label_replace", "label_join", "time", "timestamp",
  "absent", "absent_over_time", "avg_over_time", "max_over_time", "min_over_time", "sum_over_time",
  "count_over_time", "last_over_time", "changes", "resets", "sort", "sort_desc", "predict_linear", "inf", "nan",
]);

// Every metric an expression selects must be documented; returns how many it selects.
function checkPromql(where, expr, metrics) {
  if (typeof expr !== "string" || expr.trim() === "") {
    fail(where, "empty PromQL expression");
    return 0;
  }
  // Drop what holds label names and values, not metrics: strings, {matchers},
  // [ranges], by/without (labels), Grafana's $variables.
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, "")
    .replace(/\[[^\]]*\]/g, "")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, "")
    .replace(/\$\{?\w+\}?/g, "");
  let selected = 0;
  for (const [, word] of bare.matchAll(/(?<![\w.])([a-zA-Z_:][\w:]*)/g)) {
    if (kPromqlWords.has(word)) continue;
    selected++;
    const base = word.replace(/_(bucket|count|sum)$/, "");
    if (metrics.has(word)) continue;
    if (base !== word && metrics.get(base) === "histogram") continue;
    fail(where, `${word} is not a metric of docs/operations.md's Metrics section (in: ${expr})`);
  }
  for (const [, inner] of expr.matchAll(/histogram_quantile\(\s*[\d.]+\s*,(.*)$/g)) {
    if (!/_bucket\b/.test(inner) || !/\ble\b/.test(inner)) {
      fail(where, `histogram_quantile needs a _bucket series summed by le (in: ${expr})`);
    }
  }
  return selected;
}

function checkDashboard(metrics) {
  const file = path.join(root, "deploy/grafana/baton.json");
  const dashboard = readJson(file);
  if (dashboard == null) return;
  const panels = [];
  const walk = (list) => {
    for (const p of list ?? []) {
      panels.push(p);
      walk(p.panels);
    }
  };
  walk(dashboard.panels);
  const ids = new Set();
  let exprs = 0;
  for (const p of panels) {
    if (ids.has(p.id)) fail(file, `panel id ${p.id} is used twice`);
    ids.add(p.id);
    if (p.type === "row") continue;
    if (!(p.targets?.length > 0)) fail(file, `panel "${p.title}" has no query`);
    for (const t of p.targets ?? []) {
      if (checkPromql(`${file} panel "${p.title}"`, t.expr, metrics) === 0) {
        fail(file, `panel "${p.title}" selects no metric: ${t.expr}`);
      }
      exprs++;
    }
  }
  for (const v of dashboard.templating?.list ?? []) {
    if (v.type !== "query") continue;
    const query = typeof v.query === "string" ? v.query : v.query?.query;
    const m = /^label_values\(\s*([^,]+),\s*\w+\s*\)$/.exec(query ?? "");
    if (m == null) fail(file, `variable ${v.name}: expected label_values(METRIC, LABEL), got ${query}`);
    else checkPromql(`${file} variable ${v.name}`, m[1], metrics);
  }
  // What the dashboard must show (issue 13): each of these is queried somewhere.
  const all = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join("\n");
  for (const needed of ["baton_queue_depth", "baton_queue_oldest_age_seconds", "baton_runs", "baton_submit_to_start_seconds_bucket",
                        "baton_append_step_seconds_bucket", "baton_model_call_seconds_bucket",
                        "baton_model_time_to_first_token_seconds_bucket", "baton_model_tokens_total",
                        "baton_model_cost_usd_total", "baton_tool_call_seconds", "baton_mcp_server_up",
                        "baton_mcp_server_restarts_total", "baton_rocksdb_live_sst_bytes"]) {
    if (!new RegExp(`\\b${needed}`).test(all)) fail(file, `no panel queries ${needed}`);
  }
  console.log(`dashboard: ${panels.length} panels, ${exprs} expressions checked`);
}

// --- Kustomizations ----------------------------------------------------------------------

// The objects a kustomization renders: `kubectl kustomize` when kubectl is there (it is
// kustomize itself); else resources, configMapGenerator and `$patch: delete` patches,
// which is all deploy/ uses, read here.
function renderKustomization(dir) {
  try {
    const out = execFileSync("kubectl", ["kustomize", dir], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    return { objects: readYamlDocuments(`kubectl kustomize ${dir}`, out), by: "kubectl kustomize" };
  } catch (e) {
    if (e.code !== "ENOENT") {
      fail(dir, `kubectl kustomize failed: ${e.stderr || e.message}`);
      return { objects: [], by: "kubectl kustomize" };
    }
  }
  return { objects: readKustomization(dir), by: "validate.mjs" };
}

function readKustomization(dir) {
  const [k] = readYamlDocuments(path.join(dir, "kustomization.yaml"));
  let objects = [];
  for (const r of k?.resources ?? []) {
    const p = path.join(dir, r);
    objects.push(...(fs.statSync(p).isDirectory() ? readKustomization(p) : readYamlDocuments(p)));
  }
  for (const g of k?.configMapGenerator ?? []) {
    const data = {};
    for (const f of g.files ?? []) data[path.basename(f)] = fs.readFileSync(path.join(dir, f), "utf8");
    objects.push({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: g.name }, data });
  }
  for (const { patch } of k?.patches ?? []) {
    const [p] = readYamlDocuments(dir, patch);
    if (p?.$patch !== "delete") throw new Error(`${dir}: only $patch: delete patches are read without kubectl`);
    objects = objects.filter((o) => !(o.kind === p.kind && o.metadata?.name === p.metadata?.name));
  }
  return objects;
}

// --- How the objects fit together ----------------------------------------------------------

const matches = (selector, labels) =>
  Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v) && Object.keys(selector ?? {}).length > 0;

function checkWiring(where, objects) {
  const workloads = objects.filter((o) => ["Deployment", "StatefulSet"].includes(o.kind));
  const podsOf = (selector) => workloads.filter((w) => matches(selector, w.spec.template.metadata?.labels));
  const containerPorts = (w) => w.spec.template.spec.containers.flatMap((c) => c.ports ?? []);
  const byKind = (kind) => objects.filter((o) => o.kind === kind);
  const name = (o) => `${where} ${o.kind}/${o.metadata.name}`;
  const configMaps = new Set(byKind("ConfigMap").map((c) => c.metadata.name));

  for (const w of workloads) {
    if (!matches(w.spec.selector.matchLabels, w.spec.template.metadata?.labels)) {
      fail(name(w), "its selector does not match its pod template's labels");
    }
    const ports = containerPorts(w);
    for (const c of w.spec.template.spec.containers) {
      for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
        const port = c[probe]?.grpc?.port;
        if (port != null && !ports.some((p) => p.containerPort === port)) {
          fail(name(w), `${probe} probes port ${port}, which no container declares`);
        }
      }
    }
    for (const v of w.spec.template.spec.volumes ?? []) {
      if (v.configMap && !configMaps.has(v.configMap.name)) fail(name(w), `volume ${v.name}: no ConfigMap ${v.configMap.name}`);
    }
  }
  for (const s of byKind("Service")) {
    const pods = podsOf(s.spec.selector);
    if (pods.length === 0) fail(name(s), "selects no pods");
    for (const p of s.spec.ports) {
      for (const w of pods) {
        const target = p.targetPort ?? p.port;
        if (!containerPorts(w).some((c) => c.name === target || c.containerPort === target)) {
          fail(name(s), `port ${p.name} targets ${target}, which ${w.metadata.name}'s containers do not declare`);
        }
      }
    }
  }
  for (const o of [...byKind("PodDisruptionBudget"), ...byKind("NetworkPolicy")]) {
    const selector = o.kind === "NetworkPolicy" ? o.spec.podSelector.matchLabels : o.spec.selector.matchLabels;
    if (podsOf(selector).length === 0) fail(name(o), "selects no pods");
    if (o.kind === "PodDisruptionBudget" && (o.spec.minAvailable == null) === (o.spec.maxUnavailable == null)) {
      fail(name(o), "needs exactly one of minAvailable and maxUnavailable");
    }
  }
  for (const m of byKind("ServiceMonitor")) {
    const services = byKind("Service").filter((s) => matches(m.spec.selector.matchLabels, s.metadata.labels));
    for (const e of m.spec.endpoints) {
      if (!services.some((s) => s.spec.ports.some((p) => p.name === e.port))) {
        fail(name(m), `no Service it selects has a port named ${e.port}`);
      }
    }
  }
  const deployments = new Set(byKind("Deployment").map((d) => d.metadata.name));
  const autoscalers = [...byKind("ScaledObject"), ...byKind("HorizontalPodAutoscaler")];
  if (autoscalers.length !== 1) fail(where, `expected one worker autoscaler, found ${autoscalers.length}`);
  for (const a of autoscalers) {
    if (!deployments.has(a.spec.scaleTargetRef.name)) fail(name(a), `scales ${a.spec.scaleTargetRef.name}, not a Deployment here`);
    const target = byKind("Deployment").find((d) => d.metadata.name === a.spec.scaleTargetRef.name);
    if (target?.spec.replicas != null) fail(name(target), "sets replicas, which every apply would reset under its autoscaler");
  }
  // Ports and addresses in the processes' flags: each declared container port is one a
  // --*listen flag binds, and each address a process dials is a Service port here.
  const services = byKind("Service");
  for (const w of workloads) {
    for (const c of w.spec.template.spec.containers) {
      const args = c.args ?? [];
      const bound = args.map((a) => /^--[\w-]*listen=.*:(\d+)$/.exec(a)?.[1]).filter(Boolean).map(Number);
      for (const p of c.ports ?? []) {
        if (!bound.includes(p.containerPort)) fail(name(w), `declares port ${p.containerPort}, which no --*listen flag binds`);
      }
      for (const a of args) {
        const dial = /^--(orchestrator|tool-bridge)=([^:]+):(\d+)$/.exec(a);
        if (dial && !services.some((s) => s.metadata.name === dial[2] && s.spec.ports.some((p) => p.port === Number(dial[3])))) {
          fail(name(w), `${a}: no Service ${dial[2]} with port ${dial[3]}`);
        }
      }
    }
  }
  // The kubelet must not SIGKILL a worker that is still draining.
  for (const d of byKind("Deployment")) {
    for (const c of d.spec.template.spec.containers) {
      const drain = (c.args ?? []).map((a) => /^--drain-timeout-ms=(\d+)$/.exec(a)).find(Boolean);
      if (!drain) continue;
      const grace = d.spec.template.spec.terminationGracePeriodSeconds ?? 30;
      if (grace * 1000 < Number(drain[1]) + 10000) {
        fail(name(d), `terminationGracePeriodSeconds ${grace} leaves under 10 s past --drain-timeout-ms=${drain[1]}`);
      }
    }
  }
}

// The bridge config's stdio servers run from the bridge image: each npm package a
// server's command or args load from /opt/mcp must be one the Dockerfile installs by
// default (ARG MCP_NPM_PACKAGES).
function checkBridgeImage() {
  const dockerfile = fs.readFileSync(path.join(root, "deploy/Dockerfile"), "utf8");
  const arg = /^ARG MCP_NPM_PACKAGES="([^"]*)"/m.exec(dockerfile);
  if (arg == null) fail("deploy/Dockerfile", "no ARG MCP_NPM_PACKAGES default");
  const installed = (arg?.[1] ?? "").split(/\s+/).filter(Boolean).map((p) => p.replace(/(.)@[^@/]*$/, "$1"));
  if (!/^FROM runtime AS bridge$/m.test(dockerfile)) fail("deploy/Dockerfile", "no bridge target");
  const file = path.join(root, "deploy/kubernetes/bridge/bridge.json");
  const config = readJson(file);
  if (config == null) return;
  for (const [name, server] of Object.entries(config.servers ?? {})) {
    for (const word of [server.command, ...(server.args ?? [])]) {
      const pkg = /^\/opt\/mcp\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(word ?? "")?.[1];
      if (pkg && !installed.includes(pkg)) fail(file, `server ${name} runs ${pkg}, which the bridge image does not install`);
    }
  }
}

// compose.yaml: parses, and the files it mounts from the repository exist.
function checkCompose() {
  const file = path.join(root, "deploy/compose.yaml");
  const [compose] = readYamlDocuments(file);
  for (const [name, service] of Object.entries(compose?.services ?? {})) {
    for (const volume of service.volumes ?? []) {
      const source = typeof volume === "string" ? volume.split(":")[0] : volume.source;
      if (source.startsWith(".") && !fs.existsSync(path.join(root, "deploy", source))) {
        fail(file, `service ${name} mounts ${source}, which does not exist`);
      }
    }
  }
}

// --- Main ---------------------------------------------------------------------------------

const metrics = documentedMetrics();
const kustomizations = ["deploy/kubernetes", "deploy/kubernetes-hpa"];
const listed = new Set();
for (const dir of kustomizations) {
  const abs = path.join(root, dir);
  const [k] = readYamlDocuments(path.join(abs, "kustomization.yaml"));
  for (const r of k?.resources ?? []) listed.add(path.join(abs, r));
  const { objects, by } = renderKustomization(abs);
  for (const o of objects) await validateSchema(dir, o);
  checkWiring(dir, objects);
  for (const o of objects.filter((x) => x.kind === "ScaledObject")) {
    for (const t of o.spec.triggers) checkPromql(`${dir} ScaledObject/${o.metadata.name}`, t.metadata?.query, metrics);
  }
  console.log(`${dir}: ${objects.length} objects (${by}): ${objects.map((o) => o.kind).join(", ")}`);
}
// Each manifest on its own (so none escapes for want of a kustomization listing it).
for (const dir of kustomizations) {
  for (const f of fs.readdirSync(path.join(root, dir))) {
    if (!f.endsWith(".yaml") || f === "kustomization.yaml" || f === "adapter-rules.yaml") continue;
    const file = path.join(root, dir, f);
    if (!listed.has(file)) fail(file, "no kustomization lists it");
    for (const o of readYamlDocuments(file)) await validateSchema(file, o);
  }
}
const [adapter] = readYamlDocuments(path.join(root, "deploy/kubernetes-hpa/adapter-rules.yaml"));
const hpaMetrics = readYamlDocuments(path.join(root, "deploy/kubernetes-hpa/hpa.yaml"))
  .flatMap((h) => h.spec.metrics.map((m) => m.external?.metric.name));
for (const rule of adapter?.rules?.external ?? []) {
  checkPromql("adapter-rules.yaml seriesQuery", rule.seriesQuery, metrics);
  checkPromql("adapter-rules.yaml metricsQuery", rule.metricsQuery, metrics);
  if (!hpaMetrics.includes(rule.name?.as)) fail("adapter-rules.yaml", `serves ${rule.name?.as}, which hpa.yaml does not use`);
}
if (!(adapter?.rules?.external?.length > 0)) fail("adapter-rules.yaml", "no external rule");
checkDashboard(metrics);
checkBridgeImage();
checkCompose();
typeCheck();

if (errors.length) {
  for (const e of errors) console.error(`FAIL ${e}`);
  console.error(`${errors.length} problems`);
  process.exit(1);
}
console.log("deploy/ is valid");
