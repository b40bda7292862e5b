"""Errors of Baton calls: one BatonError subclass per gRPC status code, carrying the
code and the server's own message (which names what was wrong)."""

from __future__ import annotations

import grpc


class BatonError(Exception):
    """A call that failed. `code` is the gRPC status code, `message` the server's words:
    str(error) reads "NOT_FOUND: run run_... not found"."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"


class Cancelled(BatonError):
    code = grpc.StatusCode.CANCELLED


class Unknown(BatonError):
    code = grpc.StatusCode.UNKNOWN


class InvalidArgument(BatonError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class DeadlineExceeded(BatonError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class NotFound(BatonError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(BatonError):
    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(BatonError):
    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhausted(BatonError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class FailedPrecondition(BatonError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Aborted(BatonError):
    code = grpc.StatusCode.ABORTED


class OutOfRange(BatonError):
    code = grpc.StatusCode.OUT_OF_RANGE


class Unimplemented(BatonError):
    code = grpc.StatusCode.UNIMPLEMENTED


class Internal(BatonError):
    code = grpc.StatusCode.INTERNAL


class Unavailable(BatonError):
    code = grpc.StatusCode.UNAVAILABLE


class DataLoss(BatonError):
    code = grpc.StatusCode.DATA_LOSS


class Unauthenticated(BatonError):
    code = grpc.StatusCode.UNAUTHENTICATED


_BY_CODE: dict[grpc.StatusCode, type[BatonError]] = {cls.code: cls for cls in BatonError.__subclasses__()}


def from_rpc_error(error: grpc.RpcError) -> BatonError:
    """The BatonError for a failed call of grpc or grpc.aio."""
    code: grpc.StatusCode = error.code()  # type: ignore[attr-defined]
    details: str = error.details() or ""  # type: ignore[attr-defined]
    return _BY_CODE.get(code, BatonError)(details, code)
