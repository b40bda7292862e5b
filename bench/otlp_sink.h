// An OTLP/HTTP receiver that only counts: where the observed stacks' processes export
// their traces in the benchmark (W2-obs), so that exporting costs what it would
// against a real collector on the same host, and the driver can tell that spans came.
#ifndef BATON_BENCH_OTLP_SINK_H_
#define BATON_BENCH_OTLP_SINK_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace baton::bench {

// Answers every POST with 200 and `{}`; counts requests, body bytes and spans (each
// span of the OTLP JSON encoding holds one "traceId"). HTTP/1.1 with keep-alive, a
// thread per connection. Loopback only.
class OtlpSink {
 public:
  OtlpSink() = default;
  ~OtlpSink();  // stops
  OtlpSink(const OtlpSink&) = delete;
  OtlpSink& operator=(const OtlpSink&) = delete;

  // Listens on 127.0.0.1, port 0; returns "http://127.0.0.1:PORT".
  absl::StatusOr<std::string> Start();
  void Stop();

  int64_t requests() const { return requests_.load(); }
  int64_t spans() const { return spans_.load(); }
  int64_t bytes() const { return bytes_.load(); }

 private:
  void AcceptLoop();
  void Serve(int fd);

  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  absl::Mutex mu_;
  std::vector<std::thread> connections_ ABSL_GUARDED_BY(mu_);
  std::vector<int> fds_ ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> requests_{0};
  std::atomic<int64_t> spans_{0};
  std::atomic<int64_t> bytes_{0};
};

}  // namespace baton::bench

#endif  // BATON_BENCH_OTLP_SINK_H_
