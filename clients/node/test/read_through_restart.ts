// Started while the orchestrator is down; tests/clients/client_packages_test.cc starts
// it again once this has logged a retry (NODE_DEBUG=baton). A call that is not safe to
// repeat (createRun without a requestId) fails at once with UNAVAILABLE; a read
// (getRun) is retried until the orchestrator answers.
//
// Usage: node read_through_restart.js ADDR RUN_ID
import { Baton, BatonError } from '../src';

async function main(addr: string, runId: string): Promise<void> {
  const baton = new Baton(addr, { timeoutMs: 300_000, retry: { maxAttempts: 1000, maxBackoffMs: 500 } });
  try {
    try {
      await baton.createRun({ model: 'claude-sonnet-4-5' }, '[sim steps=1] hi');
      console.log('create: succeeded');
    } catch (error) {
      console.log(`create: ${(error as BatonError).codeName}`);
    }
    const run = await baton.getRun(runId);
    console.log(`read: ${run.runId} ${run.state}`);
  } finally {
    baton.close();
  }
}

main(process.argv[2], process.argv[3]).catch((error) => {
  console.error(String(error));
  process.exit(1);
});
