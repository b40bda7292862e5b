// Watches a run while the orchestrator is killed and started again
// (tests/clients/client_packages_test.cc does both): watch() reconnects after the last
// event it delivered, so the run's events arrive once each, in order, to its end.
//
// Usage: node watch_through_restart.js ADDR RUN_ID
import { Baton } from '../src';

async function main(addr: string, runId: string): Promise<void> {
  const baton = new Baton(addr, { retry: { maxAttempts: 1000, maxBackoffMs: 500 } });
  const seqs: number[] = [];
  let state = 'RUN_STATE_UNSPECIFIED';
  try {
    for await (const event of baton.watch(runId, { timeoutMs: 300_000 })) {
      if (event.seq > 0) {
        seqs.push(event.seq);
        console.log(`event ${event.seq}`);
      }
      if (event.stateChanged) state = event.stateChanged.state;
    }
  } finally {
    baton.close();
  }
  const inOrder = seqs.every((seq, i) => seq === i + 1) ? 'yes' : `no: ${seqs.join(',')}`;
  console.log(`watched ${seqs.length} events, each once in order: ${inOrder}; last state ${state}`);
}

main(process.argv[2], process.argv[3]).catch((error) => {
  console.error(String(error));
  process.exit(1);
});
