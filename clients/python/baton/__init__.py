"""Baton's Python client.

    from baton import AgentSpec, Baton

    with Baton("127.0.0.1:7233") as baton:
        run = baton.run(AgentSpec(model="claude-sonnet-4-5", allowed_tools=["sum"]), "What is 17 + 25?")
        print(run.state, run.output)

Baton is the blocking client, AsyncBaton the asyncio one. Calls return the messages of
proto/baton/v1 (generated into baton.v1 when the package is built) and raise a
BatonError subclass per gRPC status code (baton.errors).
"""

from baton._common import RetryPolicy, Tls
from baton.aio import AsyncBaton
from baton.client import Baton
from baton.errors import (Aborted, AlreadyExists, BatonError, Cancelled, DataLoss, DeadlineExceeded,
                          FailedPrecondition, Internal, InvalidArgument, NotFound, OutOfRange, PermissionDenied,
                          ResourceExhausted, Unauthenticated, Unavailable, Unimplemented, Unknown)
from baton.v1.agent_pb2 import AgentSpec
from baton.v1.run_pb2 import (CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, WAITING, FailureKind, Run, RunEvent,
                              RunState)
from baton.v1.run_service_pb2 import Transcript

__all__ = [
    "AgentSpec", "AsyncBaton", "Baton", "FailureKind", "RetryPolicy", "Run", "RunEvent", "RunState", "Tls", "Transcript",
    "QUEUED", "RUNNING", "WAITING", "SUCCEEDED", "FAILED", "CANCELLED",
    "BatonError", "Aborted", "AlreadyExists", "Cancelled", "DataLoss", "DeadlineExceeded", "FailedPrecondition",
    "Internal", "InvalidArgument", "NotFound", "OutOfRange", "PermissionDenied", "ResourceExhausted",
    "Unauthenticated", "Unavailable", "Unimplemented", "Unknown",
]
