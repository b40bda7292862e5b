// baton-handoff-bench: what handing work from one thread to another costs on this
// machine, against event loops doing the same work without hand-offs. It sizes what
// driving a worker's slots from one event loop per core could save (docs/PERFORMANCE.md,
// "What is left"): a slot thread sleeps and is woken about four times per model step
// (the HTTP answer, the two appends' acknowledgements, gRPC's threads between them).
//
//   baton-handoff-bench [--threads=64] [--in-flight=16] [--loops=<cores>] [--bytes=65536]
//                       [--items=200000] [--repeats=5]
// --threads threads form a ring; --in-flight tokens go round it. A thread that takes a
// token works on its own --bytes of memory (as a slot touches its run's state), then
// wakes the next thread (absl::Mutex, a futex underneath, as AppendBatcher's
// notifications). The loops do the same items over the same buffers, --loops threads
// each taking its share round robin, never waking another. Prints one JSON line: the
// CPU time (user + system, all threads) per item of each, medians and ranges over the
// repeats, and their difference: the cost of one hand-off, cache refills after each
// switch included.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/flags.h"

namespace baton::bench {
namespace {

// What the work summed, kept so the compiler cannot drop it.
volatile uint64_t g_sink = 0;

double CpuSeconds() {
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// Reads and rewrites every word of `buffer`.
uint64_t Work(std::vector<uint64_t>& buffer) {
  uint64_t sum = 0;
  for (size_t i = 0; i < buffer.size(); ++i) {
    sum += buffer[i];
    buffer[i] = sum ^ i;
  }
  return sum;
}

// CPU microseconds per item with `loops` threads, each doing its share of the items
// round robin over its share of the buffers, with no hand-offs: an event loop per core.
double Loops(std::vector<std::vector<uint64_t>>& buffers, int64_t items, int loops, uint64_t* sink) {
  std::atomic<uint64_t> sum{0};
  const double start = CpuSeconds();
  std::vector<std::thread> threads;
  for (int l = 0; l < loops; ++l) {
    threads.emplace_back([&, l] {
      uint64_t local = 0;
      for (int64_t k = l; k < items; k += loops) local += Work(buffers[k % buffers.size()]);
      sum += local;
    });
  }
  for (std::thread& thread : threads) thread.join();
  *sink += sum.load();
  return (CpuSeconds() - start) / static_cast<double>(items) * 1e6;
}

// CPU microseconds per item with the items handed round a ring of threads.
double Ring(std::vector<std::vector<uint64_t>>& buffers, int64_t items, int in_flight, uint64_t* sink) {
  struct Slot {
    absl::Mutex mu;
    int tokens ABSL_GUARDED_BY(mu) = 0;
    bool stop ABSL_GUARDED_BY(mu) = false;
    bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return tokens > 0 || stop; }
  };
  const int n = static_cast<int>(buffers.size());
  std::vector<Slot> slots(n);
  std::atomic<int64_t> done{0};
  std::atomic<uint64_t> sum{0};
  const auto stop_all = [&] {
    for (Slot& slot : slots) {
      absl::MutexLock lock(&slot.mu);
      slot.stop = true;
    }
  };
  const double start = CpuSeconds();
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      Slot& self = slots[i];
      Slot& next = slots[(i + 1) % n];
      uint64_t local = 0;
      for (;;) {
        {
          absl::MutexLock lock(&self.mu);
          self.mu.Await(absl::Condition(&self, &Slot::Ready));
          if (self.stop) break;
          --self.tokens;
        }
        local += Work(buffers[i]);
        if (done.fetch_add(1) + 1 >= items) {
          stop_all();
          break;
        }
        absl::MutexLock lock(&next.mu);
        ++next.tokens;
      }
      sum += local;
    });
  }
  for (int t = 0; t < in_flight; ++t) {
    Slot& first = slots[static_cast<size_t>(t) * n / in_flight];
    absl::MutexLock lock(&first.mu);
    ++first.tokens;
  }
  for (std::thread& thread : threads) thread.join();
  *sink += sum.load();
  return (CpuSeconds() - start) / static_cast<double>(done.load()) * 1e6;
}

std::string Summary(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return absl::StrFormat(R"({"p50":%.2f,"min":%.2f,"max":%.2f})", values[values.size() / 2], values.front(),
                         values.back());
}

int Main(int argc, char** argv) {
  Flags flags({"threads", "in-flight", "loops", "bytes", "items", "repeats"}, {});
  if (absl::Status s = flags.Parse(argc, argv); !s.ok()) {
    std::fprintf(stderr,
                 "%s\nusage: baton-handoff-bench [--threads=N] [--in-flight=N] [--loops=N] [--bytes=N] "
                 "[--items=N] [--repeats=N]\n",
                 std::string(s.message()).c_str());
    return 2;
  }
  std::string error;
  const int64_t threads = flags.GetInt("threads", 64, &error);
  const int64_t in_flight = flags.GetInt("in-flight", 16, &error);
  const int64_t loops = flags.GetInt("loops", std::max(1u, std::thread::hardware_concurrency()), &error);
  const int64_t bytes = flags.GetInt("bytes", 65536, &error);
  const int64_t items = flags.GetInt("items", 200000, &error);
  const int64_t repeats = flags.GetInt("repeats", 5, &error);
  if (error.empty() && (threads < 2 || threads > 4096)) error = "--threads must be 2-4096";
  if (error.empty() && (in_flight < 1 || in_flight > threads)) error = "--in-flight must be 1 to --threads";
  if (error.empty() && (loops < 1 || loops > threads)) error = "--loops must be 1 to --threads";
  if (error.empty() && (bytes < 8 || bytes > (int64_t{1} << 26))) error = "--bytes must be 8 to 64 MiB";
  if (error.empty() && (items < threads || repeats < 1)) error = "--items must be at least --threads, --repeats >= 1";
  if (!error.empty()) {
    std::fprintf(stderr, "bad flags: %s\n", error.c_str());
    return 2;
  }
  std::vector<std::vector<uint64_t>> buffers(threads, std::vector<uint64_t>(static_cast<size_t>(bytes) / 8, 1));
  uint64_t sink = 0;
  std::vector<double> loop_us, ring_us, handoff_us;
  for (int64_t r = 0; r < repeats; ++r) {
    loop_us.push_back(Loops(buffers, items, static_cast<int>(loops), &sink));
    ring_us.push_back(Ring(buffers, items, static_cast<int>(in_flight), &sink));
    handoff_us.push_back(ring_us.back() - loop_us.back());
  }
  std::printf(
      R"({"threads":%d,"in_flight":%d,"loops":%d,"bytes":%d,"items":%d,"repeats":%d,)"
      R"("loops_cpu_us_per_item":%s,"threads_cpu_us_per_item":%s,"handoff_cpu_us":%s})"
      "\n",
      static_cast<int>(threads), static_cast<int>(in_flight), static_cast<int>(loops), static_cast<int>(bytes),
      static_cast<int>(items), static_cast<int>(repeats), Summary(loop_us).c_str(), Summary(ring_us).c_str(),
      Summary(handoff_us).c_str());
  g_sink = sink;
  return 0;
}

}  // namespace
}  // namespace baton::bench

int main(int argc, char** argv) { return baton::bench::Main(argc, argv); }
