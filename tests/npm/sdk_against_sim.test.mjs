// The official TypeScript SDK (@anthropic-ai/sdk) against baton-model-sim: if the
// SDK can parse what the simulator sends, so can a client that follows the API.
//
//   BATON_BIN_DIR=build/bin node --test tests/npm/sdk_against_sim.test.mjs
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import Anthropic from '@anthropic-ai/sdk';

const MODEL = 'claude-haiku-4-5';
const API_KEY = 'test-key';
const TOOLS = [
  {
    name: 'echo',
    description: 'Echoes text back',
    input_schema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
  },
  {
    name: 'sum',
    description: 'Adds two numbers',
    input_schema: {
      type: 'object',
      properties: { a: { type: 'integer' }, b: { type: 'integer' } },
      required: ['a', 'b'],
    },
  },
];

let sim;         // the child process
let simExit;     // resolves with {code, signal}
let baseURL;
let client;
let tmpDir;
let stderr = '';

async function waitForPortFile(file, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (fs.existsSync(file)) {
      const text = fs.readFileSync(file, 'utf8');
      if (text.endsWith('\n')) return Number.parseInt(text, 10);
    }
    if (sim.exitCode !== null) throw new Error(`baton-model-sim exited early: ${stderr}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no port file after ${timeoutMs} ms: ${stderr}`);
}

async function control(method, p, body) {
  const res = await fetch(`${baseURL}${p}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  assert.equal(res.status, 200, `${method} ${p}: ${JSON.stringify(json)}`);
  return json;
}

const script = (replies) => control('POST', '/_sim/script', { replies });

before(async () => {
  const binDir = process.env.BATON_BIN_DIR;
  assert.ok(binDir, 'BATON_BIN_DIR must point at the directory holding baton-model-sim');
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdk-sim-'));
  const portFile = path.join(tmpDir, 'port');
  sim = spawn(path.join(binDir, 'baton-model-sim'), ['--listen=127.0.0.1:0', `--port-file=${portFile}`], {
    env: { ...process.env, BATON_SIM_API_KEY: API_KEY },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  sim.stderr.on('data', (d) => { stderr += d; });
  simExit = new Promise((resolve) => sim.on('exit', (code, signal) => resolve({ code, signal })));
  const port = await waitForPortFile(portFile, 10000);
  baseURL = `http://127.0.0.1:${port}`;
  client = new Anthropic({ apiKey: API_KEY, baseURL, maxRetries: 0 });
});

after(async () => {
  if (sim && sim.exitCode === null) {
    sim.kill('SIGTERM');
    const killer = setTimeout(() => sim.kill('SIGKILL'), 5000);
    const { code, signal } = await simExit;
    clearTimeout(killer);
    assert.equal(signal, null, 'the simulator stops on SIGTERM by itself');
    assert.equal(code, 0);
  }
  assert.ok(!stderr.includes(API_KEY), 'the API key never reaches the log');
  fs.rmSync(tmpDir, { recursive: true, force: true });
});

beforeEach(async () => {
  await control('POST', '/_sim/reset');
});

test('non-streaming create returns a well-formed message', async () => {
  const message = await client.messages.create({
    model: MODEL,
    max_tokens: 256,
    messages: [{ role: 'user', content: 'Hello there' }],
  });
  assert.match(message.id, /^msg_/);
  assert.equal(message.type, 'message');
  assert.equal(message.role, 'assistant');
  assert.equal(message.model, MODEL);
  assert.equal(message.stop_reason, 'end_turn');
  assert.equal(message.content.length, 1);
  assert.equal(message.content[0].type, 'text');
  assert.equal(message.content[0].text, 'Done. You said: Hello there');
  assert.ok(message.usage.input_tokens > 0);
  assert.ok(message.usage.output_tokens > 0);
  assert.equal(message.usage.cache_read_input_tokens, 0);
  assert.match(message._request_id, /^req_/);

  // What the SDK sent, as the simulator logged it (the key redacted).
  const log = await control('GET', '/_sim/requests');
  assert.equal(log.length, 1);
  assert.equal(log[0].path, '/v1/messages');
  // SDK 1.x sends its own API version (2026-10-21 at 1.11); the simulator requires only presence.
  assert.match(log[0].headers['anthropic-version'], /^\d{4}-\d{2}-\d{2}$/);
  // SDK 1.x sends the key as `authorization: Bearer ...` (older ones as x-api-key); both are redacted.
  assert.equal(log[0].headers.authorization ?? log[0].headers['x-api-key'], 'REDACTED');
  assert.equal(log[0].body.model, MODEL);
  assert.ok(!JSON.stringify(log).includes(API_KEY));
});

test('a wrong API key is an AuthenticationError', async () => {
  const bad = new Anthropic({ apiKey: 'not-the-key', baseURL, maxRetries: 0 });
  await assert.rejects(
    bad.messages.create({ model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }),
    (err) => err instanceof Anthropic.AuthenticationError && err.status === 401,
  );
});

test('messages.stream delivers text events and finalMessage', async () => {
  const text = 'Streaming from the simulator works, one small chunk at a time.';
  await script([{ content: [{ type: 'text', text }], usage: { output_tokens: 42 } }]);
  const deltas = [];
  const eventTypes = new Set();
  const stream = client.messages.stream({
    model: MODEL,
    max_tokens: 256,
    messages: [{ role: 'user', content: 'stream please' }],
  });
  stream.on('text', (delta) => deltas.push(delta));
  stream.on('streamEvent', (event) => eventTypes.add(event.type));
  const message = await stream.finalMessage();
  assert.ok(deltas.length > 1, `text arrives in several deltas (got ${deltas.length})`);
  assert.equal(deltas.join(''), text);
  assert.equal(message.content[0].text, text);
  assert.equal(message.stop_reason, 'end_turn');
  assert.equal(message.usage.output_tokens, 42);
  assert.ok(message.usage.input_tokens > 0);
  for (const t of ['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop',
    'message_delta', 'message_stop']) {
    assert.ok(eventTypes.has(t), `saw ${t}`);
  }
});

test('tool use: stop_reason tool_use, input parsed from input_json_delta, then the answer', async () => {
  const prompt = 'Add the numbers [sim tool=sum steps=2]';
  const jsonDeltas = [];
  const stream = client.messages.stream({
    model: MODEL,
    max_tokens: 256,
    tools: TOOLS,
    messages: [{ role: 'user', content: prompt }],
  });
  stream.on('inputJson', (partial) => jsonDeltas.push(partial));
  const first = await stream.finalMessage();
  assert.equal(first.stop_reason, 'tool_use');
  const toolUse = first.content.find((b) => b.type === 'tool_use');
  assert.ok(toolUse, 'a tool_use block');
  assert.equal(toolUse.name, 'sum');
  assert.match(toolUse.id, /^toolu_/);
  assert.deepEqual(toolUse.input, { a: 2, b: 3 });
  assert.ok(jsonDeltas.filter((d) => d.length > 0).length > 1, 'input arrives in several partial_json chunks');
  assert.equal(first.content[0].type, 'text');
  assert.equal(first.content[0].text, "I'll call sum.");

  const second = await client.messages.create({
    model: MODEL,
    max_tokens: 256,
    tools: TOOLS,
    messages: [
      { role: 'user', content: prompt },
      { role: 'assistant', content: first.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: toolUse.id, content: '5' }] },
    ],
  });
  assert.equal(second.stop_reason, 'end_turn');
  assert.equal(second.content[0].text, 'Done. sum returned 5');

  // Replaying the same prefix gives the same tool_use id.
  const replay = await client.messages.create({
    model: MODEL,
    max_tokens: 256,
    tools: TOOLS,
    messages: [{ role: 'user', content: prompt }],
  });
  assert.equal(replay.content.find((b) => b.type === 'tool_use').id, toolUse.id);
});

test('a missing tool_result is a BadRequestError naming the message', async () => {
  await assert.rejects(
    client.messages.create({
      model: MODEL,
      max_tokens: 64,
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_abc', name: 'echo', input: {} }] },
        { role: 'user', content: 'no result here' },
      ],
    }),
    (err) => {
      assert.ok(err instanceof Anthropic.BadRequestError, `got ${err}`);
      assert.equal(err.status, 400);
      assert.match(err.message, /messages\.1: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_abc/);
      return true;
    },
  );
});

test('a scripted 400 surfaces as Anthropic.BadRequestError with its message', async () => {
  const msg = 'prompt is too long: 250000 tokens > 200000 maximum';
  await script([{ status: 400, error: { type: 'invalid_request_error', message: msg } }]);
  await assert.rejects(
    client.messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'x' }] }),
    (err) => {
      assert.ok(err instanceof Anthropic.BadRequestError, `got ${err}`);
      assert.equal(err.status, 400);
      assert.ok(err.message.includes(msg), err.message);
      assert.equal(err.error.error.type, 'invalid_request_error');
      assert.match(err.requestID, /^req_/);
      return true;
    },
  );
});

test('a scripted 429 with retry-after, then success, succeeds with maxRetries 1', async () => {
  await script([
    { status: 429, error: { type: 'rate_limit_error', message: 'Number of requests has exceeded your rate limit' },
      headers: { 'retry-after': '1' } },
    { content: 'after the retry' },
  ]);
  const retrying = new Anthropic({ apiKey: API_KEY, baseURL, maxRetries: 1 });
  const started = Date.now();
  const message = await retrying.messages.create({
    model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'x' }],
  });
  const elapsed = Date.now() - started;
  assert.equal(message.content[0].text, 'after the retry');
  assert.ok(elapsed >= 900, `the SDK waited for retry-after (${elapsed} ms)`);
  const stats = await control('GET', '/_sim/stats');
  assert.equal(stats.requests, 2);
  assert.equal(stats.by_status['429'], 1);
  assert.equal(stats.by_status['200'], 1);
});

test('a 429 with maxRetries 0 is a RateLimitError', async () => {
  await script([{ status: 429, error: { type: 'rate_limit_error', message: 'slow down' } }]);
  await assert.rejects(
    client.messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'x' }] }),
    (err) => err instanceof Anthropic.RateLimitError && err.status === 429,
  );
});

test('a mid-stream error event rejects the stream with the error type', async () => {
  await script([{ stream_error: { type: 'overloaded_error', message: 'Overloaded' }, after_events: 4 }]);
  const stream = client.messages.stream({
    model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'x' }],
  });
  await assert.rejects(stream.finalMessage(), (err) => {
    assert.ok(err instanceof Anthropic.APIError, `got ${err}`);
    assert.equal(err.type ?? err.error?.error?.type, 'overloaded_error');
    return true;
  });
});

test('countTokens returns input_tokens consistent with create', async () => {
  const params = {
    model: MODEL,
    system: 'You are terse.',
    tools: TOOLS,
    messages: [{ role: 'user', content: 'How many tokens is this sentence?' }],
  };
  const counted = await client.messages.countTokens(params);
  assert.ok(Number.isInteger(counted.input_tokens) && counted.input_tokens > 0);
  const message = await client.messages.create({ ...params, max_tokens: 64, tool_choice: { type: 'none' } });
  assert.equal(message.usage.input_tokens, counted.input_tokens);
});
