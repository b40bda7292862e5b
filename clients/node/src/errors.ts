// Errors of Baton calls: one BatonError subclass per gRPC status code, carrying the
// code and the server's own message (which names what was wrong).
import { status } from '@grpc/grpc-js';

/** A call that failed. `message` reads "NOT_FOUND: run run_... not found". */
export class BatonError extends Error {
  constructor(
    /** The gRPC status code. */
    readonly code: status,
    /** The server's message. */
    readonly details: string,
  ) {
    super(`${status[code]}: ${details}`);
    this.name = new.target.name;
  }

  /** The code's name, e.g. "NOT_FOUND". */
  get codeName(): string {
    return status[this.code];
  }
}

export class Cancelled extends BatonError {}
export class Unknown extends BatonError {}
export class InvalidArgument extends BatonError {}
export class DeadlineExceeded extends BatonError {}
export class NotFound extends BatonError {}
export class AlreadyExists extends BatonError {}
export class PermissionDenied extends BatonError {}
export class ResourceExhausted extends BatonError {}
export class FailedPrecondition extends BatonError {}
export class Aborted extends BatonError {}
export class OutOfRange extends BatonError {}
export class Unimplemented extends BatonError {}
export class Internal extends BatonError {}
export class Unavailable extends BatonError {}
export class DataLoss extends BatonError {}
export class Unauthenticated extends BatonError {}

const byCode = new Map<status, typeof BatonError>([
  [status.CANCELLED, Cancelled],
  [status.UNKNOWN, Unknown],
  [status.INVALID_ARGUMENT, InvalidArgument],
  [status.DEADLINE_EXCEEDED, DeadlineExceeded],
  [status.NOT_FOUND, NotFound],
  [status.ALREADY_EXISTS, AlreadyExists],
  [status.PERMISSION_DENIED, PermissionDenied],
  [status.RESOURCE_EXHAUSTED, ResourceExhausted],
  [status.FAILED_PRECONDITION, FailedPrecondition],
  [status.ABORTED, Aborted],
  [status.OUT_OF_RANGE, OutOfRange],
  [status.UNIMPLEMENTED, Unimplemented],
  [status.INTERNAL, Internal],
  [status.UNAVAILABLE, Unavailable],
  [status.DATA_LOSS, DataLoss],
  [status.UNAUTHENTICATED, Unauthenticated],
]);

/** The gRPC status code of a failed call (UNKNOWN for anything else thrown). */
export function codeOf(error: unknown): status {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' && code in status ? code : status.UNKNOWN;
}

/** The BatonError for an error of @grpc/grpc-js. */
export function toBatonError(error: unknown): BatonError {
  if (error instanceof BatonError) return error;
  const details = (error as { details?: unknown } | null)?.details;
  const code = codeOf(error);
  const ErrorClass = byCode.get(code) ?? BatonError;
  return new ErrorClass(code, typeof details === 'string' ? details : String(error));
}
