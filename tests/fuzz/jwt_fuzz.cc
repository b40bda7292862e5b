// libFuzzer target: JwtVerifier::Verify on arbitrary bytes, with a fixed JWKS (one
// RSA 2048, one EC P-256 and one Ed25519 key) and a fixed clock, so that the seeds in
// tests/fuzz/corpus/jwt/ (signed with those keys' private halves, since discarded)
// reach the claim checks.
//   clang++ -std=c++20 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/jwt_fuzz.cc \
//     common/auth/*.cc common/json_file.cc common/logging.cc \
//     $(pkg-config --libs absl_status absl_statusor absl_strings absl_str_format \
//       absl_synchronization absl_time) -lcrypto -o jwt_fuzz
//   ./jwt_fuzz tests/fuzz/corpus/jwt
// Besides crashes and sanitizer reports, it aborts when an error message repeats a
// long input (tokens must never reach logs through errors) or an accepted token has
// no subject.
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>

#include "common/auth/jwt.h"
#include "common/clock.h"
#include "common/logging.h"

namespace {

// The fuzzing corpus' tokens are valid at this instant (iat/nbf at 1700000000).
constexpr int64_t kNowUnixSeconds = 1'700'000'100;

constexpr char kJwks[] = R"JWKS({"keys": [
    {"kty": "RSA", "n": "qrYVjImJaU9jeUKuOMRn-7n_BJ_xeDQ1y57FNkB5su-sE2hcYV5YUNA73auRFBNEUpRAYjB3ieidAVFrdjYNgsSUS6Re7rG0FetkUBCdPJJ8NmlGG5akqiiYRemYRMCKkSP4IITH6K0e8KGeCxPL1iPmjk_sVGZZT1VJFyn8HkfRfN-GJ1u2NmE4bDw_JZVa0wXwe4JnViImSZnDVnpyWfNdasHJJgoivwfGpN1a9gGaSlsFMCtCkkF4iyCJ9lQwXQkoAqNzfaGjT028GOkO5FYVSCJZvXRsCL2FvQ9lEkyxhQJhp3i8BQQqtRywcTXc4sZdPwFT6vT-XDx8gPlQxQ", "e": "AQAB", "kid": "rsa-1", "use": "sig"},
    {"kty": "EC", "x": "sd_rVa8lMJE3OcimqJ9_KMMXrWH3QUNamqGI1lNRh7Y", "y": "zXSVLT_LQNRXWqOfGljiUUc-epw-gyGx4XECAxQU8ZU", "crv": "P-256", "kid": "ec-1", "use": "sig"},
    {"crv": "Ed25519", "x": "xqH6Urg-7ycOUSnJHvBD56mho8H9SiYM8MM05wuGT30", "kty": "OKP", "kid": "ed-1", "use": "sig"}
]})JWKS";

// An input this long cannot appear whole in any error message, which quotes at most
// 64 characters of one header or claim value.
constexpr size_t kEchoCheckBytes = 400;

const baton::auth::JwtVerifier& Verifier() {
  static const baton::auth::JwtVerifier* verifier = [] {
    baton::InitLogging("jwt_fuzz", baton::LogSeverity::kError);
    std::string path = (std::filesystem::temp_directory_path() / "jwt_fuzz_jwks_XXXXXX").string();
    int fd = mkstemp(path.data());
    BATON_CHECK(fd >= 0) << "mkstemp";
    close(fd);
    std::ofstream(path, std::ios::trunc) << kJwks;
    static baton::FakeClock clock(absl::FromUnixSeconds(kNowUnixSeconds));
    baton::auth::JwtConfig config;
    config.jwks_file = path;
    config.issuer = "https://issuer.example";
    config.audiences = {"baton"};
    auto created = baton::auth::JwtVerifier::Create(config, clock);
    std::filesystem::remove(path);
    BATON_CHECK(created.ok()) << created.status().ToString();
    return created->release();  // lives for the whole process
  }();
  return *verifier;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view token(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<baton::auth::VerifiedToken> result = Verifier().Verify(token);
  if (result.ok()) {
    if (result->subject.empty()) abort();
  } else {
    if (result.status().code() != absl::StatusCode::kUnauthenticated) abort();
    std::string_view message(result.status().message().data(), result.status().message().size());
    if (size >= kEchoCheckBytes && message.find(token) != std::string_view::npos) abort();
  }
  return 0;
}
