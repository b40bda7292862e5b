"""Baton: the blocking client."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import grpc

from baton._common import (DEFAULT_ADDR, DEFAULT_TIMEOUT, TERMINAL_STATES, Attempts, RetryPolicy, RunFilter,
                           RunOptions, Tls, create_run_request, events_of, metadata, open_channel,
                           predates_batched_watch, resume_after)
from baton.errors import DeadlineExceeded
from baton.v1 import agent_pb2, agent_pb2_grpc, run_pb2, run_service_pb2, run_service_pb2_grpc

if TYPE_CHECKING:
    from typing_extensions import Unpack

Response = TypeVar("Response")


class Baton:
    """A client of one orchestrator's RunService and AgentService.

    Thread-safe: every call shares one gRPC channel. close() it, or use a `with` block.

    addr: HOST:PORT of the orchestrator. Default: 127.0.0.1:7233.
    api_key: an API key or JWT, sent as `authorization: Bearer` (orchestrators with
        --auth). Default: none.
    tls: False (plaintext), True (TLS, the system's CA roots) or a Tls. Default: False.
    timeout: the deadline of each unary call in seconds, retries included. Default: 30.
    retry: when a call that is safe to repeat is tried again. Default: RetryPolicy().
    """

    def __init__(self, addr: str = DEFAULT_ADDR, *, api_key: str | None = None, tls: bool | Tls = False,
                 timeout: float = DEFAULT_TIMEOUT, retry: RetryPolicy = RetryPolicy()) -> None:
        self.channel: grpc.Channel = open_channel(grpc, addr, tls)
        self._runs = run_service_pb2_grpc.RunServiceStub(self.channel)
        self._agents = agent_pb2_grpc.AgentServiceStub(self.channel)
        self._metadata = metadata(api_key)
        self._timeout = timeout
        self._retry = retry
        self.runs = Runs(self)
        self.agents = Agents(self)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Baton:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def create_run(self, agent: str | agent_pb2.AgentSpec, input: str,
                   **options: Unpack[RunOptions]) -> run_pb2.Run:
        """Creates a run of a stored agent (by name) or an inline AgentSpec and returns it
        QUEUED (or WAITING). Retried on UNAVAILABLE only with a request_id."""
        request = create_run_request(agent, input, **options)
        return self._call(self._runs.CreateRun, request, idempotent=bool(request.request_id))

    def run(self, agent: str | agent_pb2.AgentSpec, input: str, *, timeout: float | None = None,
            **options: Unpack[RunOptions]) -> run_pb2.Run:
        """Creates a run and waits for it to end: the finished run (check its state,
        output and error). timeout: seconds to wait (None: as long as it takes)."""
        return self.wait(self.create_run(agent, input, **options).run_id, timeout=timeout)

    def wait(self, run_id: str, *, timeout: float | None = None) -> run_pb2.Run:
        """Waits for a run to end (SUCCEEDED, FAILED or CANCELLED) and returns it;
        DeadlineExceeded after `timeout` seconds (None: no limit)."""
        run = self.get_run(run_id)
        if run.state not in TERMINAL_STATES:
            try:
                for _ in self.watch(run_id, after_seq=run.last_event_seq, timeout=timeout):
                    pass
            except DeadlineExceeded:
                if timeout is None:
                    raise
                raise DeadlineExceeded(f"run {run_id} did not end within {timeout:g} s") from None
            run = self.get_run(run_id)
        return run

    def get_run(self, run_id: str) -> run_pb2.Run:
        return self._call(self._runs.GetRun, run_service_pb2.GetRunRequest(run_id=run_id), idempotent=True)

    def transcript(self, run_id: str) -> run_service_pb2.Transcript:
        """The run's conversation: its input, journal entries and Messages API messages."""
        request = run_service_pb2.GetTranscriptRequest(run_id=run_id)
        return self._call(self._runs.GetTranscript, request, idempotent=True)

    def cancel(self, run_id: str, reason: str = "") -> run_pb2.Run:
        """Asks the run to stop; it ends CANCELLED (wait() for it). Not retried."""
        request = run_service_pb2.CancelRunRequest(run_id=run_id, reason=reason)
        return self._call(self._runs.CancelRun, request, idempotent=False)

    def watch(self, run_id: str, *, after_seq: int = 0, live_text: bool = False, include_children: bool = False,
              timeout: float | None = None) -> Iterator[run_pb2.RunEvent]:
        """The run's events after `after_seq` (0: all), ending after its final event.

        After UNAVAILABLE it reconnects (per the retry policy, whose count starts again
        with each event) after the last event it delivered: none is lost or repeated.
        timeout: seconds for the whole watch (None: until the run ends).
        """
        request = run_service_pb2.WatchRunRequest(run_id=run_id, after_seq=after_seq, live_text=live_text,
                                                  include_children=include_children)
        attempts = Attempts(self._retry, timeout, idempotent=True)
        batched = True  # WatchRunBatched: several events per message
        while True:
            method = self._runs.WatchRunBatched if batched else self._runs.WatchRun
            stream = method(request, timeout=attempts.remaining(), metadata=self._metadata)
            try:
                for message in stream:
                    for event in events_of(message):
                        attempts.progressed()
                        resume_after(request, event)
                        yield event
                return
            except grpc.RpcError as error:
                if batched and predates_batched_watch(error):
                    batched = False
                    continue
                delay = attempts.delay_after(error)
            finally:
                stream.cancel()
            time.sleep(delay)

    def _call(self, method: Callable[..., Response], request: Any, *, idempotent: bool) -> Response:
        """One unary call within the client's timeout, tried again as the retry policy says."""
        attempts = Attempts(self._retry, self._timeout, idempotent)
        while True:
            try:
                return method(request, timeout=attempts.remaining(), metadata=self._metadata)
            except grpc.RpcError as error:
                delay = attempts.delay_after(error)
            time.sleep(delay)

    def _pages(self, method: Callable[..., Any], request: Any, field: str) -> Iterator[Any]:
        """Every item of a paged List call, one page at a time."""
        while True:
            page = self._call(method, request, idempotent=True)
            yield from getattr(page, field)
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token


class Runs:
    """Baton.runs: listing runs."""

    def __init__(self, client: Baton) -> None:
        self._client = client

    def list(self, *, page_size: int = 100, **filters: Unpack[RunFilter]) -> Iterator[run_pb2.Run]:
        """Every run that matches the filters, newest first, fetched a page at a time."""
        request = run_service_pb2.ListRunsRequest(page_size=page_size, **filters)
        return self._client._pages(self._client._runs.ListRuns, request, "runs")


class Agents:
    """Baton.agents: stored agents (AgentService)."""

    def __init__(self, client: Baton) -> None:
        self._client = client

    def put(self, agent: agent_pb2.AgentSpec, *, namespace: str = "") -> agent_pb2.AgentSpec:
        """Stores a new version of the agent; returns it with its version. Not retried."""
        request = agent_pb2.PutAgentRequest(agent=agent, namespace=namespace)
        return self._client._call(self._client._agents.PutAgent, request, idempotent=False).agent

    def get(self, name: str, *, version: int = 0, namespace: str = "") -> agent_pb2.AgentSpec:
        """The agent's `version` (0: the latest)."""
        request = agent_pb2.GetAgentRequest(name=name, version=version, namespace=namespace)
        return self._client._call(self._client._agents.GetAgent, request, idempotent=True)

    def list(self, *, namespace: str = "", page_size: int = 100) -> Iterator[agent_pb2.AgentSpec]:
        """The latest version of every stored agent, fetched a page at a time."""
        request = agent_pb2.ListAgentsRequest(namespace=namespace, page_size=page_size)
        return self._client._pages(self._client._agents.ListAgents, request, "agents")
