/// @file
/// tickflow/core/crc32c.hpp — CRC-32C (Castagnoli), the checksum of log records and checkpoints.
///
/// Contract
///   * crc32c(data, seed) returns the standard CRC-32C (reflected polynomial 0x82F63B78, initial
///     and final xor 0xFFFFFFFF) of `data`; chaining: crc32c(b, crc32c(a)) == crc32c(a ++ b).
///     Check value: crc32c("123456789") == 0xE3069283.
///   * On x86-64 the SSE4.2 crc32 instruction is used when the running CPU has it (checked once,
///     at run time, so the library needs no -msse4.2); otherwise a slicing-by-8 table version.
///     Both give identical results (tested on random data).
///   * noexcept, no allocation; the tables are built at compile time.
///
/// Thread-safety: pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

namespace tickflow {

namespace detail {

inline constexpr std::uint32_t crc32c_poly = 0x82F63B78U;

constexpr std::array<std::array<std::uint32_t, 256>, 8> make_crc32c_tables() noexcept {
  std::array<std::array<std::uint32_t, 256>, 8> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1U) != 0 ? (c >> 1) ^ crc32c_poly : c >> 1;
    t[0][i] = c;
  }
  for (std::size_t s = 1; s < 8; ++s)
    for (std::uint32_t i = 0; i < 256; ++i) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFFU];
  return t;
}
inline constexpr auto crc32c_tables = make_crc32c_tables();

/// Table-driven CRC over raw state (no initial/final xor).
inline std::uint32_t crc32c_sw(std::uint32_t crc, const unsigned char* p, std::size_t n) noexcept {
  const auto& t = crc32c_tables;
  while (n >= 8) {
    std::uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
    lo ^= crc;  // little-endian hosts; the hardware path covers x86, this one is portable enough
    crc = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
          t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- != 0) crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xFFU];
  return crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#  define TICKFLOW_HAVE_CRC32C_HW 1
__attribute__((target("sse4.2"))) inline std::uint32_t crc32c_hw(std::uint32_t crc, const unsigned char* p,
                                                                  std::size_t n) noexcept {
  std::uint64_t c = crc;
  while (n >= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    c = __builtin_ia32_crc32di(c, v);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<std::uint32_t>(c);
  while (n-- != 0) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return c32;
}
// Four independent buffers: the crc32 instruction has a latency of 3 cycles and a throughput of
// 1, so four interleaved streams beat one (short log records are checked this way).
__attribute__((target("sse4.2"))) inline void crc32c_hw_x4(const unsigned char* p0, const unsigned char* p1,
                                                            const unsigned char* p2, const unsigned char* p3,
                                                            const std::size_t* n, std::uint32_t* out) noexcept {
  std::uint64_t c0 = 0xFFFFFFFFU, c1 = 0xFFFFFFFFU, c2 = 0xFFFFFFFFU, c3 = 0xFFFFFFFFU;
  std::size_t common = n[0] < n[1] ? n[0] : n[1];
  common = common < n[2] ? common : n[2];
  common = (common < n[3] ? common : n[3]) & ~std::size_t{7};
  for (std::size_t i = 0; i < common; i += 8) {
    std::uint64_t a, b, c, d;
    std::memcpy(&a, p0 + i, 8);
    std::memcpy(&b, p1 + i, 8);
    std::memcpy(&c, p2 + i, 8);
    std::memcpy(&d, p3 + i, 8);
    c0 = __builtin_ia32_crc32di(c0, a);
    c1 = __builtin_ia32_crc32di(c1, b);
    c2 = __builtin_ia32_crc32di(c2, c);
    c3 = __builtin_ia32_crc32di(c3, d);
  }
  out[0] = ~crc32c_hw(static_cast<std::uint32_t>(c0), p0 + common, n[0] - common);
  out[1] = ~crc32c_hw(static_cast<std::uint32_t>(c1), p1 + common, n[1] - common);
  out[2] = ~crc32c_hw(static_cast<std::uint32_t>(c2), p2 + common, n[2] - common);
  out[3] = ~crc32c_hw(static_cast<std::uint32_t>(c3), p3 + common, n[3] - common);
}
inline bool crc32c_hw_available() noexcept {
  static const bool yes = __builtin_cpu_supports("sse4.2");
  return yes;
}
#endif

}  // namespace detail

/// out[k] = crc32c(data[k]) for four buffers at once (faster than four calls for short ones).
inline void crc32c_x4(const std::span<const std::byte>* data, std::uint32_t* out) noexcept {
  const auto p = [&](int k) { return reinterpret_cast<const unsigned char*>(data[k].data()); };
#if defined(TICKFLOW_HAVE_CRC32C_HW)
  if (detail::crc32c_hw_available()) {
    const std::size_t n[4] = {data[0].size(), data[1].size(), data[2].size(), data[3].size()};
    detail::crc32c_hw_x4(p(0), p(1), p(2), p(3), n, out);
    return;
  }
#endif
  for (int k = 0; k < 4; ++k) out[k] = ~detail::crc32c_sw(0xFFFFFFFFU, p(k), data[k].size());
}

/// CRC-32C of `data`, continuing from `seed` (the CRC of what came before; 0 to start).
[[nodiscard]] inline std::uint32_t crc32c(std::span<const std::byte> data, std::uint32_t seed = 0) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  std::uint32_t crc = ~seed;
#if defined(TICKFLOW_HAVE_CRC32C_HW)
  if (detail::crc32c_hw_available()) return ~detail::crc32c_hw(crc, p, data.size());
#endif
  return ~detail::crc32c_sw(crc, p, data.size());
}

}  // namespace tickflow
