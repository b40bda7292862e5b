// When a call that is safe to repeat is tried again.
import { status } from '@grpc/grpc-js';
import { debuglog } from 'node:util';
import { codeOf } from './errors';

/**
 * Retries of calls that are safe to repeat (reads; createRun with a requestId; watch
 * resumes after the last event it delivered) when they fail with UNAVAILABLE: the
 * orchestrator is restarting or unreachable. Other calls and other codes are never
 * retried. Backoff grows exponentially with jitter, within the call's deadline.
 */
export interface RetryPolicy {
  /** Tries in all, the first included. Default: 5. */
  maxAttempts: number;
  /** Before the first retry. Default: 200. */
  initialBackoffMs: number;
  /** Default: 5000. */
  maxBackoffMs: number;
  /** Default: 2. */
  multiplier: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 5, initialBackoffMs: 200, maxBackoffMs: 5000, multiplier: 2 };

// NODE_DEBUG=baton prints each retry on stderr.
const log = debuglog('baton');

/**
 * Milliseconds to wait before another try after try number `attempt` (from 1) failed
 * with `error`; undefined when the call must not be tried again. `remainingMs`: time
 * left to the call's deadline (Infinity: none).
 */
export function retryDelayMs(policy: RetryPolicy, attempt: number, error: unknown, idempotent: boolean,
                             remainingMs: number): number | undefined {
  if (!idempotent || codeOf(error) !== status.UNAVAILABLE || attempt >= policy.maxAttempts) return undefined;
  const backoff = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * policy.multiplier ** (attempt - 1));
  const delay = backoff / 2 + Math.random() * (backoff / 2);
  if (delay >= remainingMs) return undefined;
  log('retrying in %d ms after UNAVAILABLE (%s), try %d of %d', Math.round(delay),
      (error as { details?: string }).details, attempt, policy.maxAttempts);
  return delay;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
