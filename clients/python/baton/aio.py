"""AsyncBaton: the asyncio client, on grpc.aio. The same calls as Baton, as coroutines;
watch() and the list() calls are async iterators."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
import grpc.aio

from baton._common import (DEFAULT_ADDR, DEFAULT_TIMEOUT, TERMINAL_STATES, Attempts, RetryPolicy, RunFilter,
                           RunOptions, Tls, create_run_request, events_of, metadata, open_channel,
                           predates_batched_watch, resume_after)
from baton.errors import DeadlineExceeded
from baton.v1 import agent_pb2, agent_pb2_grpc, run_pb2, run_service_pb2, run_service_pb2_grpc

if TYPE_CHECKING:
    from typing_extensions import Unpack

Response = TypeVar("Response")


class AsyncBaton:
    """Baton for asyncio: create it inside a running event loop, and `await close()` it
    or use `async with`. The arguments are Baton's."""

    def __init__(self, addr: str = DEFAULT_ADDR, *, api_key: str | None = None, tls: bool | Tls = False,
                 timeout: float = DEFAULT_TIMEOUT, retry: RetryPolicy = RetryPolicy()) -> None:
        self.channel: grpc.aio.Channel = open_channel(grpc.aio, addr, tls)
        self._runs = run_service_pb2_grpc.RunServiceStub(self.channel)
        self._agents = agent_pb2_grpc.AgentServiceStub(self.channel)
        self._metadata = metadata(api_key)
        self._timeout = timeout
        self._retry = retry
        self.runs = AsyncRuns(self)
        self.agents = AsyncAgents(self)

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> AsyncBaton:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def create_run(self, agent: str | agent_pb2.AgentSpec, input: str,
                         **options: Unpack[RunOptions]) -> run_pb2.Run:
        request = create_run_request(agent, input, **options)
        return await self._call(self._runs.CreateRun, request, idempotent=bool(request.request_id))

    async def run(self, agent: str | agent_pb2.AgentSpec, input: str, *, timeout: float | None = None,
                  **options: Unpack[RunOptions]) -> run_pb2.Run:
        run = await self.create_run(agent, input, **options)
        return await self.wait(run.run_id, timeout=timeout)

    async def wait(self, run_id: str, *, timeout: float | None = None) -> run_pb2.Run:
        run = await self.get_run(run_id)
        if run.state not in TERMINAL_STATES:
            try:
                async for _ in self.watch(run_id, after_seq=run.last_event_seq, timeout=timeout):
                    pass
            except DeadlineExceeded:
                if timeout is None:
                    raise
                raise DeadlineExceeded(f"run {run_id} did not end within {timeout:g} s") from None
            run = await self.get_run(run_id)
        return run

    async def get_run(self, run_id: str) -> run_pb2.Run:
        return await self._call(self._runs.GetRun, run_service_pb2.GetRunRequest(run_id=run_id), idempotent=True)

    async def transcript(self, run_id: str) -> run_service_pb2.Transcript:
        request = run_service_pb2.GetTranscriptRequest(run_id=run_id)
        return await self._call(self._runs.GetTranscript, request, idempotent=True)

    async def cancel(self, run_id: str, reason: str = "") -> run_pb2.Run:
        request = run_service_pb2.CancelRunRequest(run_id=run_id, reason=reason)
        return await self._call(self._runs.CancelRun, request, idempotent=False)

    async def watch(self, run_id: str, *, after_seq: int = 0, live_text: bool = False,
                    include_children: bool = False, timeout: float | None = None) -> AsyncIterator[run_pb2.RunEvent]:
        request = run_service_pb2.WatchRunRequest(run_id=run_id, after_seq=after_seq, live_text=live_text,
                                                  include_children=include_children)
        attempts = Attempts(self._retry, timeout, idempotent=True)
        batched = True  # WatchRunBatched: several events per message
        while True:
            method = self._runs.WatchRunBatched if batched else self._runs.WatchRun
            stream = method(request, timeout=attempts.remaining(), metadata=self._metadata)
            try:
                async for message in stream:
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
            await asyncio.sleep(delay)

    async def _call(self, method: Callable[..., Awaitable[Response]], request: Any, *, idempotent: bool) -> Response:
        attempts = Attempts(self._retry, self._timeout, idempotent)
        while True:
            try:
                return await method(request, timeout=attempts.remaining(), metadata=self._metadata)
            except grpc.RpcError as error:
                delay = attempts.delay_after(error)
            await asyncio.sleep(delay)

    async def _pages(self, method: Callable[..., Awaitable[Any]], request: Any, field: str) -> AsyncIterator[Any]:
        while True:
            page = await self._call(method, request, idempotent=True)
            for item in getattr(page, field):
                yield item
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token


class AsyncRuns:
    """AsyncBaton.runs: listing runs."""

    def __init__(self, client: AsyncBaton) -> None:
        self._client = client

    def list(self, *, page_size: int = 100, **filters: Unpack[RunFilter]) -> AsyncIterator[run_pb2.Run]:
        request = run_service_pb2.ListRunsRequest(page_size=page_size, **filters)
        return self._client._pages(self._client._runs.ListRuns, request, "runs")


class AsyncAgents:
    """AsyncBaton.agents: stored agents (AgentService)."""

    def __init__(self, client: AsyncBaton) -> None:
        self._client = client

    async def put(self, agent: agent_pb2.AgentSpec, *, namespace: str = "") -> agent_pb2.AgentSpec:
        request = agent_pb2.PutAgentRequest(agent=agent, namespace=namespace)
        return (await self._client._call(self._client._agents.PutAgent, request, idempotent=False)).agent

    async def get(self, name: str, *, version: int = 0, namespace: str = "") -> agent_pb2.AgentSpec:
        request = agent_pb2.GetAgentRequest(name=name, version=version, namespace=namespace)
        return await self._client._call(self._client._agents.GetAgent, request, idempotent=True)

    def list(self, *, namespace: str = "", page_size: int = 100) -> AsyncIterator[agent_pb2.AgentSpec]:
        request = agent_pb2.ListAgentsRequest(namespace=namespace, page_size=page_size)
        return self._client._pages(self._client._agents.ListAgents, request, "agents")
