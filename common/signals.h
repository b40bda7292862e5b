// Shutdown on SIGTERM / SIGINT for the long-running processes.
#ifndef BATON_COMMON_SIGNALS_H_
#define BATON_COMMON_SIGNALS_H_

namespace baton {

// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts
// afterwards, so they queue for WaitForShutdownSignal instead of killing the process.
// REQUIRES: called in main() before any thread is started.
void BlockShutdownSignals();

// Waits until SIGTERM or SIGINT arrives; returns the signal number.
// REQUIRES: BlockShutdownSignals() was called.
int WaitForShutdownSignal();

}  // namespace baton

#endif  // BATON_COMMON_SIGNALS_H_
