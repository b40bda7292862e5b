// FUZZ_CHECK: a property a fuzz target asserts about the code under test. A failure
// prints the condition and aborts, which libFuzzer reports as a crash and saves the
// input that caused it.
#ifndef BATON_TESTS_FUZZ_FUZZ_CHECK_H_
#define BATON_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#include "common/logging.h"

#define FUZZ_CHECK(cond)                                                          \
  do {                                                                            \
    if (!(cond)) {                                                                \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                               \
    }                                                                             \
  } while (0)

// The product's logs off but for fatal errors: a garbage line is logged by the code
// under test, and at thousands of inputs a second the logging would be the run's cost.
// (Each target is one translation unit, so this is defined once per binary.)
extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  baton::InitLogging("fuzz", baton::LogSeverity::kFatal);
  return 0;
}

#endif  // BATON_TESTS_FUZZ_FUZZ_CHECK_H_
