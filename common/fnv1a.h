// 64-bit FNV-1a: a hash that is the same in every process, build and platform
// (std::hash and absl::Hash are not), for names and ids derived from text. Not for
// security.
#ifndef BATON_COMMON_FNV1A_H_
#define BATON_COMMON_FNV1A_H_

#include <cstdint>
#include <string_view>

namespace baton {

inline constexpr uint64_t kFnv1aOffsetBasis = 14695981039346656037ULL;

// Chains through `seed` (the hash of what came before; the offset basis to start).
inline uint64_t Fnv1a(std::string_view data, uint64_t seed = kFnv1aOffsetBasis) {
  uint64_t h = seed;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ULL;  // the FNV prime
  }
  return h;
}

}  // namespace baton

#endif  // BATON_COMMON_FNV1A_H_
