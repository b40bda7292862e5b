"""What the blocking client (Baton) and the asyncio client (AsyncBaton) share: the
connection settings, the retry policy and the requests. Nothing here calls the
orchestrator."""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Sequence, TypedDict

import grpc

from baton.errors import from_rpc_error
from baton.v1 import agent_pb2, run_pb2, run_service_pb2

if TYPE_CHECKING:
    from typing_extensions import Unpack

DEFAULT_ADDR = "127.0.0.1:7233"
# The deadline of a unary call, retries included. Default: 30 s.
DEFAULT_TIMEOUT = 30.0
TERMINAL_STATES = frozenset({run_pb2.SUCCEEDED, run_pb2.FAILED, run_pb2.CANCELLED})
# A restarted orchestrator is found within 2 s (gRPC's own reconnect backoff grows to
# 120 s, and calls fail at once while the channel waits).
CHANNEL_OPTIONS: list[tuple[str, Any]] = [("grpc.max_reconnect_backoff_ms", 2000)]

log = logging.getLogger("baton")


@dataclasses.dataclass(frozen=True)
class Tls:
    """TLS to the orchestrator (`baton up --tls` writes its CA to .baton/tls/ca.pem).

    ca_file: PEM CA that signed the orchestrator's certificate. Default: the system's roots.
    cert_file, key_file: a client certificate and its key, for mTLS. Default: none.
    """

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("Tls: cert_file and key_file go together")

        def read(path: str | None) -> bytes | None:
            if path is None:
                return None
            with open(path, "rb") as f:
                return f.read()

        return grpc.ssl_channel_credentials(root_certificates=read(self.ca_file),
                                            private_key=read(self.key_file),
                                            certificate_chain=read(self.cert_file))


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Retries of calls that are safe to repeat (reads; CreateRun with a request_id;
    WatchRun resumes after the last event it delivered) when they fail with
    UNAVAILABLE: the orchestrator is restarting or unreachable. Other calls and other
    codes are never retried. Backoff grows exponentially with jitter, within the call's
    deadline."""

    max_attempts: int = 5        # the first try included. Default: 5
    initial_backoff: float = 0.2  # seconds before the first retry. Default: 0.2
    max_backoff: float = 5.0     # Default: 5
    multiplier: float = 2.0      # Default: 2

    def delay(self, attempt: int, error: grpc.RpcError, idempotent: bool, remaining: float | None) -> float | None:
        """Seconds to wait before another try after try number `attempt` (from 1) failed
        with `error`; None when the call must not be tried again. `remaining`: seconds
        left to the call's deadline (None: no deadline)."""
        if not idempotent or error.code() != grpc.StatusCode.UNAVAILABLE or attempt >= self.max_attempts:  # type: ignore[attr-defined]
            return None
        backoff = min(self.max_backoff, self.initial_backoff * self.multiplier ** (attempt - 1))
        backoff = random.uniform(backoff / 2, backoff)
        if remaining is not None and backoff >= remaining:
            return None
        log.info("retrying in %.2f s after UNAVAILABLE (%s), try %d of %d", backoff,
                 error.details(), attempt, self.max_attempts)  # type: ignore[attr-defined]
        return backoff


class Attempts:
    """The tries of one call: its deadline, and whether and when to try again."""

    def __init__(self, policy: RetryPolicy, timeout: float | None, idempotent: bool) -> None:
        self._policy = policy
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._idempotent = idempotent
        self._failures = 0

    def remaining(self) -> float | None:
        """Seconds to the deadline (None: none), never below 0."""
        return None if self._deadline is None else max(0.0, self._deadline - time.monotonic())

    def progressed(self) -> None:
        """A stream delivered something: its retries count from zero again."""
        self._failures = 0

    def delay_after(self, error: grpc.RpcError) -> float:
        """Seconds to wait before trying again after `error`. REQUIRES: called in the
        `except` block of `error`. Raises its BatonError when the call must not be
        tried again."""
        self._failures += 1
        delay = self._policy.delay(self._failures, error, self._idempotent, self.remaining())
        if delay is None:
            raise from_rpc_error(error) from None
        return delay


class RunOptions(TypedDict, total=False):
    """CreateRunRequest's fields besides the agent and input (run_service.proto)."""

    request_id: str  # idempotency key: the same id returns the same run (and makes CreateRun retryable)
    labels: Mapping[str, str]
    priority: int
    session_id: str
    continue_from: str
    namespace: str
    agent_version: int


class RunFilter(TypedDict, total=False):
    """ListRunsRequest's filters (run_service.proto)."""

    state: run_pb2.RunState | str  # SUCCEEDED or "SUCCEEDED"
    agent_name: str
    parent_run_id: str
    session_id: str
    namespace: str
    labels: dict[str, str]  # runs that carry every one of these labels


def open_channel(module: Any, addr: str, tls: bool | Tls) -> Any:
    """A channel of `module` (grpc or grpc.aio) to `addr`: plaintext unless `tls`."""
    if not tls:
        return module.insecure_channel(addr, options=CHANNEL_OPTIONS)
    credentials = (tls if isinstance(tls, Tls) else Tls()).credentials()
    return module.secure_channel(addr, credentials, options=CHANNEL_OPTIONS)


def metadata(api_key: str | None) -> Sequence[tuple[str, str]]:
    return (("authorization", f"Bearer {api_key}"),) if api_key else ()


def create_run_request(agent: str | agent_pb2.AgentSpec, input: str,
                       **options: Unpack[RunOptions]) -> run_service_pb2.CreateRunRequest:
    """`agent`: a stored agent's name, or an inline AgentSpec."""
    request = run_service_pb2.CreateRunRequest(input=input, **options)
    if isinstance(agent, agent_pb2.AgentSpec):
        request.agent.CopyFrom(agent)
    else:
        request.agent_name = agent
    return request


def events_of(message: run_service_pb2.RunEventBatch | run_pb2.RunEvent) -> Sequence[run_pb2.RunEvent]:
    """The events of a watch stream's message: a WatchRunBatched batch, or one WatchRun event."""
    return message.events if isinstance(message, run_service_pb2.RunEventBatch) else (message,)


def predates_batched_watch(error: grpc.RpcError) -> bool:
    """An orchestrator without WatchRunBatched answers UNIMPLEMENTED, or PERMISSION_DENIED
    with authentication on (its role table does not know the method): watch with WatchRun."""
    return error.code() in (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.PERMISSION_DENIED)


def resume_after(request: run_service_pb2.WatchRunRequest, event: run_pb2.RunEvent) -> None:
    """A watch that reconnects resumes after the last event of the watched run it
    delivered (live events have no seq; a child's events have their own)."""
    if event.seq and event.run_id in ("", request.run_id):
        request.after_seq = event.seq

