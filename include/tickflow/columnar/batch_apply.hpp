// tickflow/columnar/batch_apply.hpp — applying a whole delta_batch to a page store, atomically.
//
// Contract
//   * batch_applier::apply(store, batch) validates every row exactly as page_store::validate
//     would, each against the epochs the earlier rows leave (so a row whose epoch is below an
//     earlier row's on the same page is an epoch regression), and applies all rows in batch order
//     only if every row is valid. Otherwise nothing changes and the error's detail is the index of
//     the first invalid row. The result equals applying the rows one by one (tests check digests).
//   * How: pass 1 resolves every row's page (prefetching table entries ahead) and checks it,
//     recording the page address; pass 2 writes, prefetching the pages of rows a fixed distance
//     ahead so that the cache misses of random pages overlap instead of queueing. Dense rows copy
//     whole 64-byte mask words with one store; partial words use AVX-512 masked byte stores when
//     the CPU has AVX-512BW, an AVX2 load-blend-store when it has AVX2, a bit loop otherwise
//     (chosen at run time; each is tested against the bit loop).
//   * Allocation: scratch buffers grow to the largest batch seen and are reused: a warmed-up
//     applier does not allocate.
//
// Thread-safety: an applier is used by one thread at a time; the store must not be used
// concurrently with apply().
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#  include <immintrin.h>
#endif

#include "tickflow/columnar/delta_batch.hpp"
#include "tickflow/core/result.hpp"
#include "tickflow/page/page_store.hpp"

namespace tickflow {

namespace detail {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx512bw"))) inline void masked_copy64_avx512(std::byte* dst, const std::byte* src,
                                                                      std::uint64_t mask) noexcept {
  const __m512i v = _mm512_loadu_si512(static_cast<const void*>(src));
  _mm512_mask_storeu_epi8(static_cast<void*>(dst), static_cast<__mmask64>(mask), v);
}
// 32 mask bits -> 32 bytes of 0x00 / 0xFF: byte j takes mask byte j/8, then tests bit j%8.
__attribute__((target("avx2"))) inline __m256i expand_mask32_avx2(std::uint32_t bits) noexcept {
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(bits)),
      _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ULL));
  return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}
__attribute__((target("avx2"))) inline void masked_copy64_avx2(std::byte* dst, const std::byte* src,
                                                                std::uint64_t mask) noexcept {
  for (int half = 0; half < 2; ++half) {
    auto* d = reinterpret_cast<__m256i*>(dst + 32 * half);
    const __m256i s = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 32 * half));
    const __m256i old = _mm256_loadu_si256(d);
    const __m256i m = expand_mask32_avx2(static_cast<std::uint32_t>(mask >> (32 * half)));
    _mm256_storeu_si256(d, _mm256_blendv_epi8(old, s, m));
  }
}
inline bool have_avx512bw() noexcept {
  static const bool yes = __builtin_cpu_supports("avx512bw");
  return yes;
}
inline bool have_avx2() noexcept {
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes;
}
#endif

/// Writes src[i] to dst[i] for every set bit i of `mask` (up to 64 bytes; src and dst must have
/// 64 readable/writable bytes when the AVX-512 path is taken: callers guarantee that only for
/// whole words, partial tails go through the bit loop).
inline void masked_copy_word(std::byte* dst, const std::byte* src, std::uint64_t mask, bool whole) noexcept {
  if (mask == ~std::uint64_t{0}) {
    std::memcpy(dst, src, 64);
    return;
  }
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (whole && have_avx512bw()) {
    masked_copy64_avx512(dst, src, mask);
    return;
  }
  if (whole && have_avx2()) {
    masked_copy64_avx2(dst, src, mask);  // read-modify-write of the 64 bytes: the blend
    return;
  }
#endif
  for (std::uint64_t b = mask; b != 0; b &= b - 1) {
    const int i = std::countr_zero(b);
    dst[i] = src[i];
  }
}

}  // namespace detail

class batch_applier {
 public:
  /// Rows ahead of the current one whose pages are prefetched.
  static constexpr std::size_t prefetch_distance = 16;

  /// Validates then applies every row of `batch` (see the file contract). Returns the rows applied.
  result<std::size_t> apply(page_store& store, const delta_batch& batch) {
    const std::size_t n = batch.size();
    if (pages_.size() < n) pages_.resize(n);
    // A fresh stamp marks "touched by this batch"; stamps are per applier and per call, and a
    // wrap-around (2^32 calls) clears the marks.
    stamp_ = next_stamp();
    if (stamp_ == 1)
      for (auto& e : store.entries_) e.batch_stamp = 0;
    const auto page_col = batch.pages();
    // Pass 1: resolve and check, in batch order.
    for (std::size_t i = 0; i < n; ++i) {
      if (i + prefetch_distance < n) store.prefetch_entry(page_id{page_col[i + prefetch_distance]});
      const delta_row r = batch.row(i);
      if (auto ok = check_shape(r.offset, r.length, r.kind, r.mask, r.payload.size()); !ok)
        return unexpected(ok.error().code, i, ok.error().message);
      page_store::entry* e = store.find(r.page);
      if (e == nullptr) return unexpected(errc::not_found, i, "delta to an unknown page");
      if (std::uint64_t{r.offset} + r.length > e->bytes) return unexpected(errc::out_of_range, i, "window past the end of the page");
      // Running epoch per page: the page's own on first touch in this batch, then the last row's.
      const epoch current = e->batch_stamp == stamp_ ? e->batch_epoch : e->at;
      if (r.at < current) return unexpected(errc::epoch_regression, i, "delta epoch below the page's");
      e->batch_stamp = stamp_;
      e->batch_epoch = r.at;
      pages_[i] = page_store::page_handle{store.classes_[e->cls].page(e->slot), e->bytes, &e->at};
    }
    // Pass 2: write, prefetching pages ahead.
    for (std::size_t i = 0; i < n; ++i) {
      if (i + prefetch_distance < n) {
        const page_store::page_handle& ahead = pages_[i + prefetch_distance];
        __builtin_prefetch(ahead.data + batch.offsets()[i + prefetch_distance], 1, 3);
      }
      const delta_row r = batch.row(i);
      std::byte* base = pages_[i].data + r.offset;
      if (r.kind == delta_kind::dense) {
        const std::size_t words = r.mask.size();
        for (std::size_t w = 0; w < words; ++w) {
          const bool whole = (w + 1) * 64 <= r.length;
          detail::masked_copy_word(base + w * 64, r.payload.data() + w * 64, r.mask[w], whole);
        }
      } else {
        std::size_t k = 0;
        for (std::size_t w = 0; w < r.mask.size(); ++w)
          for (std::uint64_t b = r.mask[w]; b != 0; b &= b - 1)
            base[w * 64 + static_cast<std::size_t>(std::countr_zero(b))] = r.payload[k++];
      }
      *pages_[i].at = r.at;
    }
    return n;
  }

 private:
  // Stamps come from one counter shared by all appliers, so two appliers used in turn on one
  // store never mistake each other's marks for their own.
  static std::uint32_t next_stamp() noexcept {
    static std::atomic<std::uint32_t> counter{0};
    std::uint32_t s = counter.fetch_add(1, std::memory_order_relaxed) + 1;
    if (s == 0) s = counter.fetch_add(1, std::memory_order_relaxed) + 1;
    return s;
  }

  std::vector<page_store::page_handle> pages_;
  std::uint32_t stamp_ = 0;
};

}  // namespace tickflow
