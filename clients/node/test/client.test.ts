// The Node client against a real stack (baton-model-sim, orchestrator, workers) at
// $BATON_ADDR (with $BATON_API_KEY when it runs with --auth):
// tests/clients/client_packages_test.cc starts one and runs `node --test` on this file.
import * as grpc from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { AgentSpecInput, Baton, BatonError, DeadlineExceeded, InvalidArgument, NotFound, RunEvent, Unavailable } from '../src';

const ADDR = process.env.BATON_ADDR ?? '127.0.0.1:7233';
const baton = new Baton(ADDR, { apiKey: process.env.BATON_API_KEY });
after(() => baton.close());

// Model replies come from the simulator, which follows the [sim ...] directives.
const AGENT: AgentSpecInput = {
  name: 'node-client-test', model: 'claude-sonnet-4-5', allowedTools: ['echo', 'sum', 'current_time'], maxSteps: 100,
};
const WAIT_MS = 120_000;  // generous for a loaded machine
const SLOW = '[sim steps=60 sleep_ms=500 tool=echo] Keep going';
const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

test('run creates a run and resolves to it finished', async () => {
  const run = await baton.run(AGENT, '[sim steps=3 tool=sum text=Forty-two.] What is 17 + 25?',
                              { timeoutMs: WAIT_MS, labels: { client: 'node' } });
  assert.equal(run.state, 'SUCCEEDED', run.error);
  assert.equal(run.steps, 3);
  assert.match(run.output, /Forty-two\./);
  assert.equal(run.labels.client, 'node');
  assert.deepEqual(await baton.getRun(run.runId), run);
});

test('watch yields every event once, in order, to the final one', async () => {
  const created = await baton.createRun(AGENT, '[sim steps=2 tool=echo text=Done.] Echo hi');
  const events: RunEvent[] = await collect(baton.watch(created.runId, { timeoutMs: WAIT_MS }));
  const seqs = events.map((e) => e.seq).filter((seq) => seq > 0);  // durable events; live ones have none
  assert.deepEqual(seqs, seqs.map((_, i) => i + 1));
  assert.ok(events.some((e) => e.event === 'toolCallStarted'));
  assert.equal(events.at(-1)?.stateChanged?.state, 'SUCCEEDED');
  // Resuming after an event delivers exactly what came after it.
  const resumed = await collect(baton.watch(created.runId, { afterSeq: seqs[1], timeoutMs: WAIT_MS }));
  assert.deepEqual(resumed.map((e) => e.seq).filter((seq) => seq > 0), seqs.slice(2));
});

test('a watch left early ends its call quietly', async () => {
  const created = await baton.createRun(AGENT, SLOW);
  for await (const event of baton.watch(created.runId)) {
    assert.equal(event.runId, created.runId);
    break;
  }
  await baton.cancel(created.runId, 'test over');
});

test('watch falls back to WatchRun on an orchestrator without WatchRunBatched', async () => {
  // A RunService from before WatchRunBatched: its WatchRun streams three events.
  const definition = protoLoader.loadSync('baton/v1/run_service.proto', {
    includeDirs: [path.join(__dirname, '..', '..', 'proto')],
    longs: Number, enums: String, defaults: true, oneofs: true,
  });
  const v1 = (grpc.loadPackageDefinition(definition) as any).baton.v1;
  const server = new grpc.Server();
  server.addService(v1.RunService.service, {
    WatchRun: (call: grpc.ServerWritableStream<{ runId: string; afterSeq: number }, unknown>) => {
      for (let seq = call.request.afterSeq + 1; seq <= 3; seq++) {
        call.write({ runId: call.request.runId, seq, stateChanged: { state: seq === 3 ? 'SUCCEEDED' : 'RUNNING' } });
      }
      call.end();
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync(
      '127.0.0.1:0', grpc.ServerCredentials.createInsecure(),
      (error, bound) => (error ? reject(error) : resolve(bound))));
  const older = new Baton(`127.0.0.1:${port}`);
  try {
    const all = await collect(older.watch('run_old', { timeoutMs: WAIT_MS }));
    assert.deepEqual(all.map((e) => e.seq), [1, 2, 3]);
    const tail = await collect(older.watch('run_old', { afterSeq: 1, timeoutMs: WAIT_MS }));
    assert.deepEqual(tail.map((e) => e.seq), [2, 3]);
  } finally {
    older.close();
    server.forceShutdown();
  }
});

test('transcript holds the conversation', async () => {
  const question = '[sim steps=2 tool=sum text=The sum is 42.] Add 17 and 25';
  const run = await baton.run(AGENT, question, { timeoutMs: WAIT_MS });
  const transcript = await baton.transcript(run.runId);
  assert.equal(transcript.runId, run.runId);
  assert.equal(transcript.input, question);
  assert.match(transcript.messagesJson, /The sum is 42\./);
  assert.ok(transcript.entries.length > 0);
});

test('cancel ends the run CANCELLED with the reason', async () => {
  const created = await baton.createRun(AGENT, SLOW);
  await baton.cancel(created.runId, 'the user changed their mind');
  const run = await baton.wait(created.runId, { timeoutMs: WAIT_MS });
  assert.equal(run.state, 'CANCELLED');
  assert.match(run.error, /the user changed their mind/);
});

test('wait past its timeout is DEADLINE_EXCEEDED', async () => {
  const created = await baton.createRun(AGENT, SLOW);
  await assert.rejects(baton.wait(created.runId, { timeoutMs: 1000 }), (error: unknown) => {
    assert.ok(error instanceof DeadlineExceeded);
    assert.equal(error.code, status.DEADLINE_EXCEEDED);
    assert.match(error.message, new RegExp(`run ${created.runId} did not end within 1000 ms`));
    return true;
  });
  await baton.cancel(created.runId, 'test over');
});

test('agents put, get, and list every page', async () => {
  const names = [unique('node-agent'), unique('node-agent'), unique('node-agent')];
  for (const name of names) {
    const stored = await baton.agents.put({ name, model: 'claude-haiku-4-5', allowedTools: ['echo'] });
    assert.deepEqual([stored.name, stored.version], [name, 1]);
  }
  assert.equal((await baton.agents.put({ name: names[0], model: 'claude-sonnet-4-5' })).version, 2);
  assert.equal((await baton.agents.get(names[0])).model, 'claude-sonnet-4-5');
  assert.equal((await baton.agents.get(names[0], { version: 1 })).model, 'claude-haiku-4-5');
  const listed = (await collect(baton.agents.list({ pageSize: 1 }))).map((a) => a.name);
  assert.equal(new Set(listed).size, listed.length);
  for (const name of names) assert.ok(listed.includes(name), name);
});

test('runs.list pages through every run', async () => {
  const name = unique('node-lister');
  await baton.agents.put({ name, model: 'claude-haiku-4-5' });
  const created: string[] = [];
  for (let i = 0; i < 5; i++) created.push((await baton.createRun(name, `[sim steps=1] run ${i}`)).runId);
  const newestFirst = [...created].reverse();
  const listed = await collect(baton.runs.list({ agentName: name, pageSize: 2 }));
  assert.deepEqual(listed.map((r) => r.runId), newestFirst);  // each once
  for (const runId of created) await baton.wait(runId, { timeoutMs: WAIT_MS });
  const succeeded = await collect(baton.runs.list({ agentName: name, state: 'SUCCEEDED', pageSize: 2 }));
  assert.deepEqual(succeeded.map((r) => r.runId), newestFirst);
});

test('createRun with a requestId returns the same run', async () => {
  const requestId = unique('request');
  const first = await baton.createRun(AGENT, '[sim steps=1] once', { requestId });
  const again = await baton.createRun(AGENT, '[sim steps=1] once', { requestId });
  assert.equal(again.runId, first.runId);
});

test("errors carry the code and the server's message", async () => {
  await assert.rejects(baton.getRun('run_00000000000000000000'), (error: unknown) => {
    assert.ok(error instanceof NotFound && error instanceof BatonError);
    assert.equal(error.code, status.NOT_FOUND);
    assert.equal(error.codeName, 'NOT_FOUND');
    assert.match(error.details, /run_00000000000000000000/);
    assert.equal(error.message, `NOT_FOUND: ${error.details}`);
    return true;
  });
  await assert.rejects(baton.createRun({ model: 'claude-sonnet-4-5', maxSteps: -1 }, 'hi'), (error: unknown) => {
    assert.ok(error instanceof InvalidArgument);
    assert.match(error.details, /max_steps/);
    return true;
  });
});

test('a read of an address where nothing listens is UNAVAILABLE after its retries', async () => {
  const nowhere = new Baton('127.0.0.1:1', { timeoutMs: 10_000, retry: { maxAttempts: 3, initialBackoffMs: 50 } });
  try {
    const started = Date.now();
    await assert.rejects(nowhere.getRun('run_00000000000000000000'), Unavailable);
    assert.ok(Date.now() - started >= 50, 'retried after a backoff');
    await assert.rejects(nowhere.cancel('run_00000000000000000000'), Unavailable);
  } finally {
    nowhere.close();
  }
});
