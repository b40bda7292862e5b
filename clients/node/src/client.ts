// Baton: a client of one orchestrator's RunService and AgentService.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { DeadlineExceeded, toBatonError } from './errors';
import { DEFAULT_RETRY_POLICY, RetryPolicy, retryDelayMs, sleep } from './retry';
import type { ProtoGrpcType } from './gen/run_service';
import type { AgentServiceClient } from './gen/baton/v1/AgentService';
import type { AgentSpec as AgentSpecInput, AgentSpec__Output } from './gen/baton/v1/AgentSpec';
import type { CreateRunRequest } from './gen/baton/v1/CreateRunRequest';
import type { ListAgentsResponse__Output } from './gen/baton/v1/ListAgentsResponse';
import type { ListRunsRequest } from './gen/baton/v1/ListRunsRequest';
import type { ListRunsResponse__Output } from './gen/baton/v1/ListRunsResponse';
import type { PutAgentResponse__Output } from './gen/baton/v1/PutAgentResponse';
import type { Run__Output } from './gen/baton/v1/Run';
import type { RunEvent__Output } from './gen/baton/v1/RunEvent';
import type { RunEventBatch__Output } from './gen/baton/v1/RunEventBatch';
import type { RunServiceClient } from './gen/baton/v1/RunService';
import type { Transcript__Output } from './gen/baton/v1/Transcript';

export type { AgentSpecInput };
export type AgentSpec = AgentSpec__Output;
export type Run = Run__Output;
export type RunEvent = RunEvent__Output;
type RunEventBatch = RunEventBatch__Output;
export type Transcript = Transcript__Output;
/** CreateRunRequest's fields besides the agent and input (run_service.proto). */
export type RunOptions = Omit<CreateRunRequest, 'agent' | 'agentName' | 'input' | 'graph' | 'graphName' | 'graphVersion'>;
/** ListRunsRequest's filters (run_service.proto). */
export type RunFilter = Omit<ListRunsRequest, 'pageSize' | 'pageToken'>;

export interface TlsOptions {
  /** PEM CA that signed the orchestrator's certificate. Default: the system's roots. */
  caFile?: string;
  /** A client certificate and its key (PEM), for mTLS. Default: none. */
  certFile?: string;
  keyFile?: string;
}

export interface BatonOptions {
  /** An API key or JWT, sent as `authorization: Bearer` (orchestrators with --auth). */
  apiKey?: string;
  /** false: plaintext; true: TLS with the system's roots; or TlsOptions. Default: false. */
  tls?: boolean | TlsOptions;
  /** The deadline of each unary call, retries included. Default: 30000. */
  timeoutMs?: number;
  /** When a call that is safe to repeat is tried again. Default: DEFAULT_RETRY_POLICY. */
  retry?: Partial<RetryPolicy>;
}

export interface WatchOptions {
  /** Events with a seq above this one (0: all). */
  afterSeq?: number;
  /** Also live, non-durable events (TextDelta, Gap). Default: false. */
  liveText?: boolean;
  /** Also the events of the run's subagents. Default: false. */
  includeChildren?: boolean;
  /** For the whole watch. Default: until the run ends. */
  timeoutMs?: number;
}

const TERMINAL_STATES: ReadonlySet<string> = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);
// A restarted orchestrator is found within 2 s (gRPC's own reconnect backoff grows to
// 120 s, and calls fail at once while the channel waits).
const CHANNEL_OPTIONS: grpc.ChannelOptions = { 'grpc.max_reconnect_backoff_ms': 2000 };
// `npm run build` copies the repository's proto/ here (the package's own proto/).
const PROTO_DIR = path.join(__dirname, '..', '..', 'proto');

let services: ProtoGrpcType['baton']['v1'] | undefined;
function loadServices(): ProtoGrpcType['baton']['v1'] {
  services ??= (grpc.loadPackageDefinition(protoLoader.loadSync('baton/v1/run_service.proto', {
    includeDirs: [PROTO_DIR], longs: Number, enums: String, defaults: true, oneofs: true,
  })) as unknown as ProtoGrpcType).baton.v1;
  return services;
}

function credentials(tls: boolean | TlsOptions): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  const options = tls === true ? {} : tls;
  if (!options.certFile !== !options.keyFile) throw new Error('tls: certFile and keyFile go together');
  const read = (file?: string) => (file ? readFileSync(file) : null);
  return grpc.credentials.createSsl(read(options.caFile), read(options.keyFile), read(options.certFile));
}

type Start<T> = (metadata: grpc.Metadata, options: grpc.CallOptions, done: grpc.requestCallback<T>) => void;

/**
 * A client of one orchestrator. Every call shares one gRPC channel; close() it when done.
 * Calls resolve to the messages of proto/baton/v1 (camelCase fields, enums as names,
 * 64-bit integers as numbers) and reject with a BatonError subclass per status code.
 */
export class Baton {
  readonly runs: Runs;
  readonly agents: Agents;
  private readonly runService: RunServiceClient;
  private readonly agentService: AgentServiceClient;
  private readonly apiKey?: string;
  private readonly timeoutMs: number;
  private readonly retry: RetryPolicy;

  /** addr: HOST:PORT of the orchestrator. Default: 127.0.0.1:7233. */
  constructor(addr = '127.0.0.1:7233', options: BatonOptions = {}) {
    const v1 = loadServices();
    this.runService = new v1.RunService(addr, credentials(options.tls ?? false), CHANNEL_OPTIONS);
    this.agentService = new v1.AgentService(addr, credentials(options.tls ?? false),
                                            { channelOverride: this.runService.getChannel() });
    this.apiKey = options.apiKey;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.runs = new Runs(this, this.runService);
    this.agents = new Agents(this, this.agentService);
  }

  close(): void {
    this.runService.close();
  }

  /**
   * Creates a run of a stored agent (by name) or an inline AgentSpec; it comes back
   * QUEUED (or WAITING). Retried on UNAVAILABLE only with a requestId.
   */
  createRun(agent: string | AgentSpecInput, input: string, options: RunOptions = {}): Promise<Run> {
    const request: CreateRunRequest = { ...options, input, ...(typeof agent === 'string' ? { agentName: agent } : { agent }) };
    return this.call(Boolean(request.requestId), (md, opts, done) => this.runService.CreateRun(request, md, opts, done));
  }

  /** Creates a run and waits for it to end: the finished run (check its state, output and error). */
  async run(agent: string | AgentSpecInput, input: string, options: RunOptions & { timeoutMs?: number } = {}): Promise<Run> {
    const { timeoutMs, ...runOptions } = options;
    const run = await this.createRun(agent, input, runOptions);
    return this.wait(run.runId, { timeoutMs });
  }

  /** Waits for a run to end and returns it; DeadlineExceeded after timeoutMs (default: no limit). */
  async wait(runId: string, options: { timeoutMs?: number } = {}): Promise<Run> {
    const run = await this.getRun(runId);
    if (TERMINAL_STATES.has(run.state)) return run;
    try {
      for await (const _ of this.watch(runId, { afterSeq: run.lastEventSeq, timeoutMs: options.timeoutMs })) {
        // Only its end matters.
      }
    } catch (error) {
      if (!(error instanceof DeadlineExceeded) || options.timeoutMs === undefined) throw error;
      throw new DeadlineExceeded(error.code, `run ${runId} did not end within ${options.timeoutMs} ms`);
    }
    return this.getRun(runId);
  }

  getRun(runId: string): Promise<Run> {
    return this.call(true, (md, opts, done) => this.runService.GetRun({ runId }, md, opts, done));
  }

  /** The run's conversation: its input, journal entries and Messages API messages. */
  transcript(runId: string): Promise<Transcript> {
    return this.call(true, (md, opts, done) => this.runService.GetTranscript({ runId }, md, opts, done));
  }

  /** Asks the run to stop; it ends CANCELLED (wait() for it). Not retried. */
  cancel(runId: string, reason = ''): Promise<Run> {
    return this.call(false, (md, opts, done) => this.runService.CancelRun({ runId, reason }, md, opts, done));
  }

  /**
   * The run's events after afterSeq, ending after its final event. After UNAVAILABLE
   * it reconnects (per the retry policy, whose count starts again with each event)
   * after the last event it delivered: none is lost or repeated.
   */
  async *watch(runId: string, options: WatchOptions = {}): AsyncGenerator<RunEvent, void, undefined> {
    const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
    let afterSeq = options.afterSeq ?? 0;
    // WatchRunBatched (several events per message) unless the orchestrator predates it.
    let batched = true;
    for (let attempt = 1; ; attempt++) {
      const request = { runId, afterSeq, liveText: options.liveText, includeChildren: options.includeChildren };
      const stream = batched
        ? this.runService.WatchRunBatched(request, this.metadata(), { deadline })
        : this.runService.WatchRun(request, this.metadata(), { deadline });
      let ended = false;
      try {
        for await (const message of stream as AsyncIterable<RunEventBatch | RunEvent>) {
          for (const event of 'events' in message ? message.events : [message]) {
            attempt = 1;
            if (event.seq > 0 && (event.runId === '' || event.runId === runId)) afterSeq = event.seq;
            yield event;
          }
        }
        ended = true;
        return;
      } catch (error) {
        ended = true;
        if (batched && predatesBatchedWatch(error)) {
          // An orchestrator without WatchRunBatched: UNIMPLEMENTED, or PERMISSION_DENIED
          // with authentication on (its role table does not know the method).
          batched = false;
          attempt = 0;
          continue;
        }
        const delay = retryDelayMs(this.retry, attempt, error, true, deadline - Date.now());
        if (delay === undefined) throw toBatonError(error);
        await sleep(delay);
      } finally {
        if (!ended) {
          // The caller stopped early: end the call (its CANCELLED status is expected).
          stream.on('error', () => {});
          stream.cancel();
        }
      }
    }
  }

  /**
   * One unary call within the client's timeout, tried again as the retry policy says
   * (the calls above, runs and agents use it; `start` makes one try).
   */
  async call<T>(idempotent: boolean, start: Start<T>): Promise<T> {
    const deadline = Date.now() + this.timeoutMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await new Promise<T>((resolve, reject) =>
          start(this.metadata(), { deadline }, (error, value) => (error ? reject(error) : resolve(value as T))));
      } catch (error) {
        const delay = retryDelayMs(this.retry, attempt, error, idempotent, deadline - Date.now());
        if (delay === undefined) throw toBatonError(error);
        await sleep(delay);
      }
    }
  }

  private metadata(): grpc.Metadata {
    const metadata = new grpc.Metadata();
    if (this.apiKey) metadata.set('authorization', `Bearer ${this.apiKey}`);
    return metadata;
  }
}

/** Every item of a paged List call, one page at a time. */
async function* pages<Item, Page extends { nextPageToken: string }>(
  fetch: (pageToken: string) => Promise<Page>, items: (page: Page) => Item[]): AsyncGenerator<Item, void, undefined> {
  let pageToken = '';
  do {
    const page = await fetch(pageToken);
    yield* items(page);
    pageToken = page.nextPageToken;
  } while (pageToken);
}

/** Baton.runs: listing runs. */
export class Runs {
  constructor(private readonly client: Baton, private readonly service: RunServiceClient) {}

  /** Every run that matches the filter, newest first, fetched a page at a time. */
  list(filter: RunFilter & { pageSize?: number } = {}): AsyncGenerator<Run, void, undefined> {
    const { pageSize = 100, ...rest } = filter;
    return pages((pageToken) => this.client.call<ListRunsResponse__Output>(true, (md, opts, done) =>
      this.service.ListRuns({ ...rest, pageSize, pageToken }, md, opts, done)), (page) => page.runs);
  }
}

/** Baton.agents: stored agents (AgentService). */
export class Agents {
  constructor(private readonly client: Baton, private readonly service: AgentServiceClient) {}

  /** Stores a new version of the agent; resolves to it with its version. Not retried. */
  async put(agent: AgentSpecInput, options: { namespace?: string } = {}): Promise<AgentSpec> {
    const response = await this.client.call<PutAgentResponse__Output>(false, (md, opts, done) =>
      this.service.PutAgent({ agent, namespace: options.namespace }, md, opts, done));
    return response.agent!;
  }

  /** The agent's version (0 or none: the latest). */
  get(name: string, options: { version?: number; namespace?: string } = {}): Promise<AgentSpec> {
    return this.client.call(true, (md, opts, done) => this.service.GetAgent({ name, ...options }, md, opts, done));
  }

  /** The latest version of every stored agent, fetched a page at a time. */
  list(options: { namespace?: string; pageSize?: number } = {}): AsyncGenerator<AgentSpec, void, undefined> {
    const { namespace, pageSize = 100 } = options;
    return pages((pageToken) => this.client.call<ListAgentsResponse__Output>(true, (md, opts, done) =>
      this.service.ListAgents({ namespace, pageSize, pageToken }, md, opts, done)), (page) => page.agents);
  }
}

function predatesBatchedWatch(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === grpc.status.UNIMPLEMENTED || code === grpc.status.PERMISSION_DENIED;
}
