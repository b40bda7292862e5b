"""Started while the orchestrator is down; tests/clients/client_packages_test.cc starts
it again once this has logged a retry. A call that is not safe to repeat (CreateRun
without a request_id) fails at once with Unavailable; a read (GetRun) is retried until
the orchestrator answers.

Usage: read_through_restart.py ADDR RUN_ID"""

import logging
import sys

import baton

logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s: %(message)s")
addr, run_id = sys.argv[1:3]
patient = baton.RetryPolicy(max_attempts=1000, max_backoff=0.5)
with baton.Baton(addr, timeout=300, retry=patient) as client:
    try:
        client.create_run(baton.AgentSpec(model="claude-sonnet-4-5"), "[sim steps=1] hi")
        print("create: succeeded", flush=True)
    except baton.Unavailable as error:
        print(f"create: {error.code.name}", flush=True)
    run = client.get_run(run_id)
    print(f"read: {run.run_id} {baton.RunState.Name(run.state)}", flush=True)
