"""The Python client against a real stack (baton-model-sim, orchestrator, workers) at
$BATON_ADDR (with $BATON_API_KEY when it runs with --auth): tests/clients/client_packages_test.cc starts one and runs
`python -m unittest discover -s clients/python/tests` in the venv the build installs
the package into."""

import os
import unittest
import uuid
from collections.abc import Iterator
from concurrent import futures

import grpc

import baton
from baton import AgentSpec, AsyncBaton, Baton, RetryPolicy
from baton.v1 import run_pb2, run_service_pb2, run_service_pb2_grpc

ADDR = os.environ["BATON_ADDR"]
API_KEY = os.environ.get("BATON_API_KEY")  # for a stack with --auth
# Model replies come from the simulator, which follows the [sim ...] directives.
AGENT = AgentSpec(name="python-client-test", model="claude-sonnet-4-5",
                  allowed_tools=["echo", "sum", "current_time"], max_steps=100)
WAIT = 120  # seconds: generous for a loaded machine


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class BatonTest(unittest.TestCase):
    def setUp(self) -> None:
        self.baton = Baton(ADDR, api_key=API_KEY)
        self.addCleanup(self.baton.close)

    def test_run_creates_and_returns_the_finished_run(self) -> None:
        run = self.baton.run(AGENT, "[sim steps=3 tool=sum text=Forty-two.] What is 17 + 25?", timeout=WAIT,
                             labels={"client": "python"})
        self.assertEqual(run.state, baton.SUCCEEDED, run.error)
        self.assertEqual(run.steps, 3)
        self.assertIn("Forty-two.", run.output)
        self.assertEqual(run.labels["client"], "python")
        self.assertEqual(self.baton.get_run(run.run_id), run)

    def test_watch_yields_every_event_once_in_order_to_the_final_one(self) -> None:
        created = self.baton.create_run(AGENT, "[sim steps=2 tool=echo text=Done.] Echo hi")
        self.assertIn(created.state, (baton.QUEUED, baton.RUNNING))
        events = list(self.baton.watch(created.run_id, timeout=WAIT))
        seqs = [e.seq for e in events if e.seq]  # durable events; live ones have no seq
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)))
        self.assertIn("tool_call_started", [e.WhichOneof("event") for e in events])
        self.assertEqual(events[-1].state_changed.state, baton.SUCCEEDED)
        # Resuming after an event delivers exactly what came after it.
        resumed = [e.seq for e in self.baton.watch(created.run_id, after_seq=seqs[1], timeout=WAIT) if e.seq]
        self.assertEqual(resumed, seqs[2:])

    def test_transcript_holds_the_conversation(self) -> None:
        question = "[sim steps=2 tool=sum text=The sum is 42.] Add 17 and 25"
        run = self.baton.run(AGENT, question, timeout=WAIT)
        transcript = self.baton.transcript(run.run_id)
        self.assertEqual(transcript.run_id, run.run_id)
        self.assertEqual(transcript.input, question)
        self.assertIn("The sum is 42.", transcript.messages_json)
        self.assertGreater(len(transcript.entries), 0)

    def test_cancel_ends_the_run_cancelled_with_the_reason(self) -> None:
        created = self.baton.create_run(AGENT, "[sim steps=60 sleep_ms=500 tool=echo] Keep going")
        self.baton.cancel(created.run_id, "the user changed their mind")
        run = self.baton.wait(created.run_id, timeout=WAIT)
        self.assertEqual(run.state, baton.CANCELLED)
        self.assertIn("the user changed their mind", run.error)

    def test_wait_past_its_timeout_is_deadline_exceeded(self) -> None:
        created = self.baton.create_run(AGENT, "[sim steps=60 sleep_ms=500 tool=echo] Keep going")
        self.addCleanup(self.baton.cancel, created.run_id, "test over")
        with self.assertRaises(baton.DeadlineExceeded) as raised:
            self.baton.wait(created.run_id, timeout=1)
        self.assertEqual(raised.exception.code, grpc.StatusCode.DEADLINE_EXCEEDED)
        self.assertIn(f"run {created.run_id} did not end within 1 s", str(raised.exception))

    def test_agents_put_get_and_list_every_page(self) -> None:
        names = [unique("python-agent") for _ in range(3)]
        for name in names:
            stored = self.baton.agents.put(AgentSpec(name=name, model="claude-haiku-4-5", allowed_tools=["echo"]))
            self.assertEqual((stored.name, stored.version), (name, 1))
        self.assertEqual(self.baton.agents.put(AgentSpec(name=names[0], model="claude-sonnet-4-5")).version, 2)
        self.assertEqual(self.baton.agents.get(names[0]).model, "claude-sonnet-4-5")
        self.assertEqual(self.baton.agents.get(names[0], version=1).model, "claude-haiku-4-5")
        listed = [agent.name for agent in self.baton.agents.list(page_size=1)]
        self.assertEqual(len(listed), len(set(listed)))
        self.assertLessEqual(set(names), set(listed))

    def test_runs_list_pages_through_every_run(self) -> None:
        name = unique("python-lister")
        self.baton.agents.put(AgentSpec(name=name, model="claude-haiku-4-5"))
        created = [self.baton.create_run(name, f"[sim steps=1] run {i}").run_id for i in range(5)]
        listed = [run.run_id for run in self.baton.runs.list(agent_name=name, page_size=2)]
        self.assertEqual(listed, created[::-1])  # newest first, each once
        for run_id in created:
            self.baton.wait(run_id, timeout=WAIT)
        succeeded = [run.run_id for run in self.baton.runs.list(agent_name=name, state="SUCCEEDED", page_size=2)]
        self.assertEqual(succeeded, created[::-1])

    def test_create_run_with_a_request_id_returns_the_same_run(self) -> None:
        key = unique("request")
        first = self.baton.create_run(AGENT, "[sim steps=1] once", request_id=key)
        again = self.baton.create_run(AGENT, "[sim steps=1] once", request_id=key)
        self.assertEqual(again.run_id, first.run_id)

    def test_errors_carry_the_code_and_the_servers_message(self) -> None:
        with self.assertRaises(baton.NotFound) as raised:
            self.baton.get_run("run_00000000000000000000")
        error = raised.exception
        self.assertIsInstance(error, baton.BatonError)
        self.assertEqual(error.code, grpc.StatusCode.NOT_FOUND)
        self.assertIn("run_00000000000000000000", error.message)
        self.assertEqual(str(error), f"NOT_FOUND: {error.message}")

        with self.assertRaises(baton.InvalidArgument) as invalid:
            self.baton.create_run(AgentSpec(model="claude-sonnet-4-5", max_steps=-1), "hi")
        self.assertIn("max_steps", invalid.exception.message)

    def test_a_read_of_an_address_where_nothing_listens_is_unavailable_after_its_retries(self) -> None:
        retry = RetryPolicy(max_attempts=3, initial_backoff=0.05)
        with Baton("127.0.0.1:1", timeout=10, retry=retry) as nowhere:
            with self.assertLogs("baton", "INFO") as logs, self.assertRaises(baton.Unavailable):
                nowhere.get_run("run_00000000000000000000")
            self.assertEqual(len(logs.records), 2)  # tries 1 and 2 were retried, try 3 was not
            with self.assertNoLogs("baton", "INFO"), self.assertRaises(baton.Unavailable):
                nowhere.cancel("run_00000000000000000000")  # not safe to repeat: tried once


class OlderOrchestrator(run_service_pb2_grpc.RunServiceServicer):
    """A RunService from before WatchRunBatched: its WatchRun streams three events."""

    def WatchRun(self, request: run_service_pb2.WatchRunRequest,
                 context: grpc.ServicerContext) -> Iterator[run_pb2.RunEvent]:
        for seq in range(request.after_seq + 1, 4):
            state = baton.SUCCEEDED if seq == 3 else baton.RUNNING
            yield run_pb2.RunEvent(run_id=request.run_id, seq=seq,
                                   state_changed=run_pb2.RunEvent.StateChanged(state=state))


class OlderOrchestratorTest(unittest.TestCase):
    def test_watch_falls_back_to_watch_run(self) -> None:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        run_service_pb2_grpc.add_RunServiceServicer_to_server(OlderOrchestrator(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self.addCleanup(server.stop, None)
        with Baton(f"127.0.0.1:{port}") as client:
            self.assertEqual([e.seq for e in client.watch("run_old", timeout=WAIT)], [1, 2, 3])
            self.assertEqual([e.seq for e in client.watch("run_old", after_seq=1, timeout=WAIT)], [2, 3])


class AsyncBatonTest(unittest.IsolatedAsyncioTestCase):
    async def test_the_same_calls_as_coroutines(self) -> None:
        async with AsyncBaton(ADDR, api_key=API_KEY) as client:
            run = await client.run(AGENT, "[sim steps=2 tool=sum text=Async forty-two.] 17 + 25?", timeout=WAIT)
            self.assertEqual(run.state, baton.SUCCEEDED, run.error)
            self.assertIn("Async forty-two.", run.output)

            events = [event async for event in client.watch(run.run_id, timeout=WAIT) if event.seq]
            self.assertEqual([e.seq for e in events], list(range(1, len(events) + 1)))
            self.assertEqual(events[-1].state_changed.state, baton.SUCCEEDED)
            self.assertIn("Async forty-two.", (await client.transcript(run.run_id)).messages_json)

            name = unique("python-async")
            await client.agents.put(AgentSpec(name=name, model="claude-haiku-4-5"))
            self.assertEqual((await client.agents.get(name)).version, 1)
            self.assertIn(name, [agent.name async for agent in client.agents.list(page_size=1)])
            created = [(await client.create_run(name, f"[sim steps=1] {i}")).run_id for i in range(3)]
            listed = [r.run_id async for r in client.runs.list(agent_name=name, page_size=2)]
            self.assertEqual(listed, created[::-1])

            slow = await client.create_run(AGENT, "[sim steps=60 sleep_ms=500 tool=echo] Keep going")
            await client.cancel(slow.run_id, "async cancel")
            self.assertEqual((await client.wait(slow.run_id, timeout=WAIT)).state, baton.CANCELLED)

            with self.assertRaises(baton.NotFound) as raised:
                await client.get_run("run_00000000000000000000")
            self.assertIn("run_00000000000000000000", raised.exception.message)


if __name__ == "__main__":
    unittest.main()
