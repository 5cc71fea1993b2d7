/// @file
/// tickflow/core/digest.hpp — a deterministic 64-bit digest of byte sequences.
///
/// Contract
///   * digest64 is a streaming hash: feed bytes and integers in order, read value(). The same
///     sequence of calls gives the same value on every platform (little-endian reads are explicit),
///     every build and every run: it is the identity that replay compares bit for bit.
///   * Algorithm ("tickflow digest v1"): the state absorbs 8-byte little-endian words; each word
///     is xored in, multiplied by an odd 64-bit constant and rotated; a trailing partial word is
///     zero-padded and the byte count is absorbed at the end; value() applies a final avalanche
///     (the murmur3 fmix64 constants). It is not cryptographic: it detects corruption and
///     divergence, not an adversary.
///   * No allocation; noexcept.
///
/// Thread-safety: a digest64 is a value; use one per thread.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace tickflow {

/// A streaming 64-bit digest, the same on every platform, build and run (see the file contract).
class digest64 {
 public:
  /// Absorbs raw bytes.
  void bytes(std::span<const std::byte> data) noexcept {
    const std::byte* p = data.data();
    std::size_t n = data.size();
    total_ += n;
    while (n >= 8) {
      word(load_le(p));
      p += 8;
      n -= 8;
    }
    if (n != 0) {
      unsigned char tail[8] = {};
      std::memcpy(tail, p, n);
      word(load_le(reinterpret_cast<const std::byte*>(tail)));
    }
  }
  /// Absorbs an integer as 8 little-endian bytes.
  void u64(std::uint64_t v) noexcept {
    total_ += 8;
    word(v);
  }
  /// The digest of everything absorbed so far.
  [[nodiscard]] std::uint64_t value() const noexcept {
    std::uint64_t h = state_ ^ (total_ * 0x9E3779B97F4A7C15ULL);
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ULL;
    h ^= h >> 33;
    return h;
  }

 private:
  static std::uint64_t load_le(const std::byte* p) noexcept {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
    return v;
  }
  void word(std::uint64_t w) noexcept {
    state_ = std::rotl((state_ ^ w) * 0x9FB21C651E98DF25ULL, 29);
  }

  std::uint64_t state_ = 0x243F6A8885A308D3ULL;
  std::uint64_t total_ = 0;
};

}  // namespace tickflow
