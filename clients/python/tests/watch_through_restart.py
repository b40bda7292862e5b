"""Watches a run while the orchestrator is killed and started again
(tests/clients/client_packages_test.cc does both): watch() reconnects after the last
event it delivered, so the run's events arrive once each, in order, to its end.

Usage: watch_through_restart.py ADDR RUN_ID"""

import logging
import sys

import baton
from baton.v1 import run_pb2

logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s: %(message)s")
addr, run_id = sys.argv[1:3]
patient = baton.RetryPolicy(max_attempts=1000, max_backoff=0.5)
seqs = []
state = run_pb2.RUN_STATE_UNSPECIFIED
with baton.Baton(addr, retry=patient) as client:
    for event in client.watch(run_id, timeout=300):
        if event.seq:
            seqs.append(event.seq)
            print(f"event {event.seq}", flush=True)
        if event.WhichOneof("event") == "state_changed":
            state = event.state_changed.state
in_order = "yes" if seqs == list(range(1, len(seqs) + 1)) else f"no: {seqs}"
print(f"watched {len(seqs)} events, each once in order: {in_order}; last state {baton.RunState.Name(state)}")
