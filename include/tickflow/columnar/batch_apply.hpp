/// @file
/// tickflow/columnar/batch_apply.hpp — applying a whole delta_batch to a page store, atomically.
///
/// Contract
///   * batch_applier::apply(store, batch) validates every row exactly as page_store::validate
///     would, each against the epochs the earlier rows leave (so a row whose epoch is below an
///     earlier row's on the same page is an epoch regression), and applies all rows only if every
///     row is valid. Otherwise nothing changes and the error's detail is the index of the first
///     invalid row in batch order. The result equals applying the rows one by one, in batch order
///     (tests check digests, page bytes and epochs).
///   * How (docs/decisions.md has the measurements behind it):
///       1. In batch order, the checks that need no page (the shapes, which delta_batch checked
///          as the rows were appended; the id's index in the table), and a 32-byte record per
///          row (16 bytes when every row of the batch is a full window near its page's start,
///          delta_batch::full_windows) appended to its bucket: a stable radix partition on the
///          high bits of the page's table index, sized so that one bucket's pages, table entries
///          and coverage bits fit in a core's L2 (`bucket_bytes`). On x86-64 the records go out
///          a whole line at a time with streaming stores, from a one-line staging buffer per list,
///          so that the lists' lines are never read for ownership.
///       2. Bucket by bucket, rows newest first: the checks against the page, and for each row the
///          bytes it still owns, i.e. that no later row on its page writes (one coverage bit per
///          page byte). A row that owns nothing is dropped; nothing is written yet.
///       3. If every row is valid, the owned bytes of the remaining rows are written, bucket by
///          bucket, with payloads and pages prefetched ahead. Each page byte is written at most
///          once. Dense rows use a masked 64-byte copy: AVX-512BW masked byte stores when the CPU
///          has them, an AVX2 load-blend-store with AVX2, a bit loop otherwise (chosen at run time;
///          each is tested against the bit loop). Sparse rows scatter their bytes.
///   * Direct path: a batch whose rows all write the same window [0, s) with one epoch
///     (delta_batch::full_windows, offset_bound() == 0, payload_stride() == s, single_epoch) needs
///     no partition: on each page the newest row owns the whole window and every older row owns
///     nothing, and every check but the id's generation is the same for all rows of a page. The
///     rows are read twice, by concurrent tasks: one keeps the newest row per table index in a
///     4-byte owner table (all rows, in batch order), the others check each row's index and
///     generation against the store's generation array (rows in contiguous chunks). Then, over
///     ranges of table indices, the pages with an owner are checked (alive, s bytes long, epoch
///     not above the batch's), and if every check passed the owners' payloads are written in
///     table order. Any failed check hands the batch to the partitioned passes below, which find
///     the first error and write nothing. Used when the owner table and the generation array fit
///     in `direct_bytes` (12 MiB, about a third of this machine's L3: both are used at random;
///     docs/decisions.md).
///   * Parallel form: apply(store, batch, fork, workers) runs pass 1 over `workers` contiguous
///     chunks of rows (each chunk appends to its own bucket lists) and passes 2 and 3 bucket by
///     bucket, through `fork` (an executor's parallel_for; engine/parallel_apply.hpp wraps it). A
///     bucket's rows are read chunk by chunk from the last, so "newest first" is batch order
///     reversed whatever the chunking: pages, epochs and the error are the same for every worker
///     count (tests compare 1..8 workers with page_store::apply_all). Per-worker scratch holds
///     what pass 2 leaves for pass 3. Nothing is written before every check has passed.
///   * Stores whose pages total at most `in_order_bytes` (4 MiB) fit in cache: there the rows are
///     validated, then written, in batch order, with the same results and errors (one thread).
///   * Sparse batches on larger stores (at most one row per `stream_pages_per_row` table entries,
///     e.g. a step's cut on a large store) are streamed in batch order on the calling thread: a
///     pass that checks each row against its page's running epoch, kept in the store's entry as
///     it goes (the old epochs are saved and put back, newest first, on an error), then a pass
///     that writes the rows in batch order. No partition: each row's page entry and page are
///     fetched once, ahead of use. Same results and errors as the other paths. On stores of more
///     than `nontemporal_bytes` of pages (x86-64), a row that replaces a whole 64-byte line (a
///     dense 64-byte window, every mask bit set, line-aligned) is written with non-temporal
///     stores: the line is not read first (no read for ownership) and is not kept in cache, where
///     a random line of a store that large would not stay anyway. The pass ends with a store
///     fence, so the bytes are ordered before apply returns.
///   * A batch holds at most 2^32 - 1 rows (errc::invalid_argument otherwise, nothing applied).
///   * Allocation: scratch buffers (about 32 bytes per row, from huge_page_allocator for the
///     records; 16 bytes per row on the streaming path; 4 bytes per table index on the direct
///     path) grow as needed and are kept: after a
///     batch or two of similar size and spread over the pages, apply() does not allocate.
///
/// Thread-safety: an applier is used by one thread at a time (its fork's tasks are its own); the
/// store must not be used concurrently with apply().
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <vector>

#if defined(__x86_64__)
#  include <immintrin.h>
#endif

#include "tickflow/columnar/delta_batch.hpp"
#include "tickflow/core/huge_alloc.hpp"
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
// One aligned 64-byte line from src, with non-temporal stores (two 32-byte halves).
__attribute__((target("avx"))) inline void stream_line_avx(std::byte* dst, const std::byte* src) noexcept {
  _mm256_stream_si256(reinterpret_cast<__m256i*>(dst), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src)));
  _mm256_stream_si256(reinterpret_cast<__m256i*>(dst + 32), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 32)));
}
inline bool have_avx512bw() noexcept {
  static const bool yes = __builtin_cpu_supports("avx512bw");
  return yes;
}
inline bool have_avx2() noexcept {
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes;
}
inline bool have_avx() noexcept {
  static const bool yes = __builtin_cpu_supports("avx");
  return yes;
}
// One aligned 64-byte line from src with non-temporal stores: two 32-byte stores where AVX is
// there (measured faster than four 16-byte ones: docs/decisions.md), else four.
inline void stream_line(std::byte* dst, const std::byte* src) noexcept {
  if (have_avx()) {
    stream_line_avx(dst, src);
    return;
  }
  for (int k = 0; k < 4; ++k)
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst) + k, _mm_loadu_si128(reinterpret_cast<const __m128i*>(src) + k));
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

/// Applies a delta batch to a page store, all or nothing, grouping the rows by page so that each page is written by one worker (see the file contract).
class batch_applier {
 public:
  /// Target bytes of one bucket's working set (its pages, their table entries and coverage
  /// bits); a bucket's pages are written while they sit in one core's L2.
  std::size_t bucket_bytes = 256 * 1024;

  /// Largest scratch of the direct path (see the contract): one 4-byte owner per table index,
  /// plus the store's generations, must fit in this many bytes of cache.
  std::size_t direct_bytes = 12 * 1024 * 1024;

  /// Stores whose pages total at most this many bytes stay in cache whole: their batches are
  /// applied in batch order, without the partition.
  std::size_t in_order_bytes = 4 * 1024 * 1024;

  /// Bytes of scratch the applier keeps between batches (capacities).
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    std::size_t b = blocks_.capacity() * sizeof(block_unit) + owners_.capacity() * 4 + (head_block_.capacity() + prev_block_.capacity()) * 4 +
                    (fill_.capacity() + block_lo_.capacity()) * sizeof(void*) + stage_.capacity() * sizeof(stage_line) +
                    chunk_bad_.capacity() * sizeof(std::size_t) + out_.capacity() * sizeof(bucket_out) +
                    small_.capacity() * sizeof(small_page) + stream_.capacity() * sizeof(stream_row);
    for (const auto& w : scratch_)
      b += w.local.capacity() * sizeof(local_page) + (w.stamp.capacity() + w.first_touch.capacity()) * 4 +
           (w.coverage.capacity() + w.extra_masks.capacity()) * 8 + w.live.capacity() * sizeof(live_row) +
           w.touched.capacity() * sizeof(touched_page);
    return b;
  }

  /// Validates then applies every row of `batch` (see the file contract). Returns the rows applied.
  result<std::size_t> apply(page_store& store, const delta_batch& batch) {
    return apply(store, batch, [](std::size_t count, auto&& fn) {
      for (std::size_t i = 0; i < count; ++i) fn(i, std::size_t{0});
    }, 1);
  }

  /// The same, with the work spread over `workers` workers by `fork(count, fn)`, which must call
  /// fn(index, worker) once for every index in [0, count), worker in [0, workers), and return
  /// when all calls have (an executor's parallel_for, engine/executor.hpp). Rows are split into
  /// `workers` contiguous chunks for pass 1 and pages into buckets for passes 2 and 3; each
  /// bucket's rows are read back in batch order whatever the chunking, so the pages, the epochs
  /// and the error are the same for every worker count. Small stores (in_order_bytes) take the
  /// sequential in-order path.
  /// A batch with at most one row per this many table entries (few rows for a large store) is
  /// applied in batch order, streaming over its rows on the calling thread with the pages
  /// fetched ahead, instead of partitioned (0: every batch of a large store streams).
  std::size_t stream_pages_per_row = 2;
  /// Stores with more page bytes than this take non-temporal stores for whole-line rows on the
  /// streaming path (see the contract; 0: every store, SIZE_MAX: never). The default is the
  /// last-level cache of one core complex on current server parts.
  std::size_t nontemporal_bytes = std::size_t{32} << 20;

  /// Applies `batch` to `store` over `workers` tasks started by `fork`: every row, or none (the first error, nothing written); returns the rows applied.
  template <class Fork>
  result<std::size_t> apply(page_store& store, const delta_batch& batch, Fork&& fork, std::size_t workers) {
    const std::size_t n = batch.size();
    if (n > max_rows) return unexpected(errc::invalid_argument, n, "batch has more than 2^32 - 1 rows");
    store.thaw_listed(batch.pages());  // cold pages the batch writes come back first (nothing if none is cold)
    workers = std::max<std::size_t>(1, workers);
    std::size_t lines = 0;
    for (const auto& c : store.classes_) lines += std::size_t{c.next_slot} * c.lines;
    if (lines * page_store::line <= in_order_bytes) return apply_in_order(store, batch);
    if (stream_pages_per_row == 0 || n <= store.entries_.size() / stream_pages_per_row)
      return apply_streaming(store, batch, lines * page_store::line > nontemporal_bytes);
    const std::size_t chunks = std::min<std::size_t>(workers, std::max<std::size_t>(1, n / per_block));
    if (const auto direct = apply_direct(store, batch, fork, chunks, workers)) return *direct;
    plan_buckets(store, chunks);
    reserve_blocks(n);
    if (scratch_.size() < workers) scratch_.resize(workers);
    for (auto& w : scratch_) w.clear();
    out_.assign(buckets_, bucket_out{});

    // Pass 1, rows in `chunks` contiguous chunks: the id must be in the table (the batch has
    // checked every row's shape as it was appended), and a record per row into its bucket's
    // list of the chunk.
    const std::size_t checked = std::min(n, batch.first_ill_formed());
    chunk_bad_.assign(chunks, no_row);
    // Batches of full windows near the page start (the common row) take 16-byte records.
    compact_ = batch.full_windows() && batch.offset_bound() < 1024 && shift_ <= 16;
    // Rows that all write the same window (offset 0, the payload's length: a dense full window's
    // payload is as long as it), or all carry one epoch, need those columns not read at all.
    const bool same_window = batch.offset_bound() == 0 && batch.payload_stride() != 0;
    const bool same_epoch = batch.single_epoch();
    fork(chunks, [&](std::size_t t, std::size_t) {
      const std::size_t first = checked * t / chunks, last = checked * (t + 1) / chunks;
      if (!compact_) partition_rows<record, false, false>(store, batch, t, first, last);
      else if (same_window && same_epoch) partition_rows<compact_record, true, true>(store, batch, t, first, last);
      else if (same_window) partition_rows<compact_record, true, false>(store, batch, t, first, last);
      else if (same_epoch) partition_rows<compact_record, false, true>(store, batch, t, first, last);
      else partition_rows<compact_record, false, false>(store, batch, t, first, last);
    });
    std::size_t first_bad = n;  // the first invalid row, if < n
    error bad{};
    if (checked < n) {
      first_bad = checked;
      bad = batch.shape_error();
    }
    for (std::size_t t = 0; t < chunks; ++t)
      if (chunk_bad_[t] < first_bad) {
        first_bad = chunk_bad_[t];
        bad = error{errc::not_found, first_bad, "delta to an unknown page"};
      }

    // Pass 2, bucket by bucket: the checks against the page, then (newest row first) the bytes
    // each row still owns; nothing is written yet.
    const std::size_t known_bad = first_bad;
    fork(buckets_, [&](std::size_t b, std::size_t w) {
      if (!compact_) scan_bucket<record, false>(store, batch, b, w, known_bad, n);
      else if (same_window && same_epoch) scan_bucket<compact_record, true>(store, batch, b, w, known_bad, n);
      else scan_bucket<compact_record, false>(store, batch, b, w, known_bad, n);
    });
    for (const bucket_out& o : out_)
      if (o.bad_row < first_bad) {
        first_bad = o.bad_row;
        bad = o.bad;
      }
    if (first_bad < n) return unexpected(bad.code, bad.detail, bad.message);

    // Pass 3, bucket by bucket: write the owned bytes (every byte at most once), then the epochs.
    fork(buckets_, [&](std::size_t b, std::size_t) { write_bucket(store, batch, b); });
    return n;
  }

 private:
  static constexpr std::size_t prefetch_distance = 16;
  static constexpr std::size_t record_prefetch_bytes = 2048;  // records are read from memory (pass 1 streamed them out)
  static constexpr std::size_t max_rows = 0xFFFFFFFF;  // rows are numbered in 32 bits
  // 32-byte units per block: 64 KiB + 64 bytes, so that the blocks' starts (where the buckets'
  // write heads begin) fall on different cache sets. A block holds 2050 records, or 4100
  // compact records.
  static constexpr std::size_t per_block = 2050;
  struct alignas(32) block_unit {
    std::byte bytes[32];
  };

  // A row as pass 1 leaves it: what pass 2 needs to check it against its page and to find the
  // bytes it owns. Two records per cache line.
  struct record {
    std::uint32_t row;
    std::uint32_t at;
    std::uint32_t generation;
    std::uint32_t offset;
    std::uint64_t mask;          // the mask word, when the window is at most 64 bytes
    std::uint32_t length;
    std::uint32_t local_kind;    // index within the bucket << 1 | kind
  };
  static_assert(sizeof(record) == 32);
  // The same for a row of a batch of full windows (delta_batch::full_windows) with offsets
  // below 1024, in a bucket of at most 2^16 pages: the mask is all ones over the length and the
  // kind is dense, so four words say it all. Four per cache line: pass 1 writes, and pass 2
  // reads, half the bytes.
  struct compact_record {
    std::uint32_t row;
    std::uint32_t at;
    std::uint32_t generation;
    std::uint32_t packed;  // local index << 16 | (length - 1) << 10 | offset
  };
  static_assert(sizeof(compact_record) == 16);
  // What pass 2 reads of either record.
  struct record_view {
    std::uint32_t row, at, generation, offset, length;
    std::uint64_t mask;
    std::uint32_t local;
    std::uint32_t kind;  // delta_kind's value
  };
  static record_view view(const record& r) noexcept {
    return {r.row, r.at, r.generation, r.offset, r.length, r.mask, r.local_kind >> 1, r.local_kind & 1};
  }
  static record_view view(const compact_record& r) noexcept {
    const std::uint32_t length = ((r.packed >> 10) & 63) + 1;
    return {r.row, r.at, r.generation, r.packed & 1023, length, length == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << length) - 1,
            r.packed >> 16, static_cast<std::uint32_t>(delta_kind::dense)};
  }
  template <class R>
  static constexpr std::size_t records_per_block = per_block * sizeof(block_unit) / sizeof(R);

  // A row that still owns bytes after every later row on its page: where, which, from where.
  struct live_row {
    std::byte* dst;       // page bytes at the window
    std::uint64_t owned;  // owned bits (windows <= 64 bytes), else index into extra_masks_
    std::uint32_t row;
    std::uint32_t length_kind;  // length (<= 2^24) | kind << 31
  };

  void plan_buckets(const page_store& store, std::size_t chunks) {
    // Bytes per table index: its entry, its page (padded), and coverage bits for the page.
    std::size_t lines = 0;
    for (const auto& c : store.classes_) lines += std::size_t{c.next_slot} * c.lines;
    const std::size_t table = std::max<std::size_t>(1, store.entries_.size());
    const std::size_t per_index = sizeof(page_store::entry) + (lines * (page_store::line + 8)) / table;
    unsigned shift = 6;
    while (shift < 31 && (std::size_t{2} << shift) * per_index <= bucket_bytes) ++shift;
    shift_ = shift;
    buckets_ = (table + (std::size_t{1} << shift) - 1) >> shift;
    chunks_ = chunks;
    head_block_.assign(buckets_ * chunks, none);
    fill_.assign(buckets_ * chunks, nullptr);
    block_lo_.assign(buckets_ * chunks, nullptr);
    next_block_.store(0, std::memory_order_relaxed);
  }

  // Every allocation of pass 1 happens here, so that append() cannot allocate (it is noexcept).
  void reserve_blocks(std::size_t n) {
    const std::size_t need = n / per_block + buckets_ * chunks_ + 1;  // each list wastes under one block
    if (blocks_.size() < need * per_block) blocks_.resize(need * per_block);
    if (prev_block_.size() < need) prev_block_.resize(need);
    if (stage_.size() < buckets_ * chunks_) stage_.resize(buckets_ * chunks_);
    // Blocks are whole lines (per_block units of 32 bytes, an even number) if the first is.
    static_assert(per_block % 2 == 0);
    stream_records_ = (reinterpret_cast<std::uintptr_t>(blocks_.data()) & 63) == 0;
  }

  // Blocks fill downwards: a bucket's newest record is at the lowest address of its newest
  // block, so reading newest first (pass 2) walks each block upwards.
  // List l = chunk * buckets + bucket; only chunk's task appends to it.
  // Returns where the list's next R goes; the caller puts it there (emit).
  template <class R>
  std::byte* append(std::size_t l) noexcept {
    std::byte* slot = fill_[l];
    if (slot == block_lo_[l]) {
      // Relaxed: the block is this list's alone once taken; the fork's join publishes it.
      const std::size_t blk = next_block_.fetch_add(1, std::memory_order_relaxed);
      auto* block = reinterpret_cast<std::byte*>(blocks_.data() + blk * per_block);
      prev_block_[blk] = head_block_[l];
      head_block_[l] = static_cast<std::uint32_t>(blk);
      block_lo_[l] = block;
      slot = block + per_block * sizeof(block_unit);
    }
    slot -= sizeof(R);
    fill_[l] = slot;
    return slot;
  }

  // Puts record `rec` at `slot` (from append) of list l. With streaming (x86-64 and blocks on
  // 64-byte boundaries), the record goes to the list's line in stage_, and the line is stored
  // to memory whole, bypassing the cache, when its lowest record is written: the lists' lines
  // are not read for ownership first, which would cost as many bytes again as the records. The
  // chunk's partly filled lines are copied out at its end (flush_stage).
  template <class R>
  void emit(std::size_t l, std::byte* slot, const R& rec) noexcept {
#if defined(__x86_64__)
    if (stream_records_) {
      std::byte* line = stage_[l].bytes;
      const std::size_t at = reinterpret_cast<std::uintptr_t>(slot) & 63;
      std::memcpy(line + at, &rec, sizeof(R));
      if (at == 0) {
        const auto* from = reinterpret_cast<const __m128i*>(line);
        auto* to = reinterpret_cast<__m128i*>(slot);
        for (int k = 0; k < 4; ++k) _mm_stream_si128(to + k, _mm_load_si128(from + k));
      }
      return;
    }
#endif
    std::memcpy(slot, &rec, sizeof(R));
  }
  // The end of chunk t's pass 1: the rest of its staged lines, and the streamed lines ordered
  // before the fork's join publishes them.
  void flush_stage(std::size_t t) noexcept {
#if defined(__x86_64__)
    if (!stream_records_) return;
    for (std::size_t l = t * buckets_; l < (t + 1) * buckets_; ++l) {
      std::byte* slot = fill_[l];
      const std::size_t at = reinterpret_cast<std::uintptr_t>(slot) & 63;
      if (slot != nullptr && at != 0) std::memcpy(slot, stage_[l].bytes + at, 64 - at);
    }
    _mm_sfence();
#else
    (void)t;
#endif
  }

  // Pass 1 for rows [first, last) (chunk t): records into the chunk's bucket lists, stopping at
  // the first row whose id is not in the table (chunk_bad_[t]).
  // SameWindow, SameEpoch (compact records only): every row has offset 0 and the batch's payload
  // stride as its length, or the first row's epoch; those columns are then not read.
  template <class R, bool SameWindow, bool SameEpoch>
  void partition_rows(const page_store& store, const delta_batch& batch, std::size_t t, std::size_t first, std::size_t last) noexcept {
    const std::size_t table = store.entries_.size();
    const std::uint64_t* page_col = batch.pages().data();
    const std::uint32_t* epoch_col = batch.epochs().data();
    const std::uint32_t* offset_col = batch.offsets().data();
    const std::uint32_t* length_col = batch.lengths().data();
    const std::uint8_t* kind_col = batch.kinds().data();
    const std::uint64_t* masks = batch.mask_arena();
    const std::size_t base = t * buckets_;
    std::size_t mask_at = batch.mask_offsets()[first];  // then a running sum: shapes are valid
    const auto window = SameWindow ? static_cast<std::uint32_t>((batch.payload_stride() - 1) << 10) : 0U;
    const std::uint32_t the_epoch = SameEpoch ? epoch_col[0] : 0;
    for (std::size_t i = first; i < last; ++i) {
      const std::uint64_t index = page_col[i] >> 32;
      // Generation 0 is never valid; it also marks dead pages in pass 2.
      const auto generation = static_cast<std::uint32_t>(page_col[i]);
      if (index >= table || generation == 0) [[unlikely]] {
        chunk_bad_[t] = i;
        break;
      }
      const std::size_t l = base + static_cast<std::size_t>(index >> shift_);
      std::byte* out = append<R>(l);
      const auto local = static_cast<std::uint32_t>(index & ((std::size_t{1} << shift_) - 1));
      const auto row = static_cast<std::uint32_t>(i);
      if constexpr (std::is_same_v<R, compact_record>) {  // one mask word per row, all ones: not read
        const std::uint32_t at = SameEpoch ? the_epoch : epoch_col[i];
        const std::uint32_t packed = SameWindow ? window : ((length_col[i] - 1) << 10) | offset_col[i];
        emit(l, out, compact_record{row, at, generation, (local << 16) | packed});
      } else {
        const std::uint32_t length = length_col[i];
        emit(l, out, record{row, epoch_col[i], generation, offset_col[i], length <= 64 ? masks[mask_at] : 0, length, (local << 1) | kind_col[i]});
        mask_at += mask_words(length);
      }
    }
    flush_stage(t);
  }

  // The direct path, for a batch whose rows all write [0, s) with one epoch E (see the contract):
  // a page's newest row owns the whole window and every older row nothing, so the partition is
  // not needed when the owner table stays in cache. Returns the rows applied, or nothing
  // if the path does not apply or any check fails (the partitioned path then finds the first
  // error and writes nothing); nothing has been written in that case.
  template <class Fork>
  std::optional<std::size_t> apply_direct(page_store& store, const delta_batch& batch, Fork& fork, std::size_t chunks,
                                          std::size_t workers) {
    const std::size_t n = batch.size(), table = store.entries_.size();
    const std::size_t stride = batch.payload_stride();
    if (!batch.full_windows() || batch.offset_bound() != 0 || stride == 0 || !batch.single_epoch() || batch.first_ill_formed() < n)
      return std::nullopt;
    if (2 * table * sizeof(std::uint32_t) > direct_bytes) return std::nullopt;
    if (owners_.size() < table) owners_.resize(table);
    // A: one task writes the owner table over all rows in batch order (so the newest row on a
    // page is its owner); the others check the rows' indices and generations, in `checkers`
    // contiguous chunks. Each task's random accesses span one table, not two, and are all
    // writes or all reads (faster apart even on one thread; docs/decisions.md).
    const std::size_t checkers = std::max<std::size_t>(1, chunks - 1);
    chunk_bad_.assign(checkers + 1, 0);
    const std::uint64_t* page_col = batch.pages().data();
    const std::uint32_t* generations = store.generations_.data();
    std::uint32_t* owner = owners_.data();
    fork(checkers + 1, [&](std::size_t task, std::size_t) {
      bool bad = false;
      if (task == 0) {
        std::fill_n(owner, table, none);
        for (std::size_t i = 0; i < n; ++i) {
          const std::uint64_t index = page_col[i] >> 32;
          if (index >= table) [[unlikely]] {
            bad = true;
            continue;
          }
          owner[index] = static_cast<std::uint32_t>(i);
        }
      } else {
        const std::size_t first = n * (task - 1) / checkers, last = n * task / checkers;
        for (std::size_t i = first; i < last; ++i) {
          const std::uint64_t index = page_col[i] >> 32;
          bad |= index >= table || generations[std::min<std::uint64_t>(index, table - 1)] != static_cast<std::uint32_t>(page_col[i]);
        }
      }
      chunk_bad_[task] = bad ? 1 : 0;
    });
    for (const std::size_t b : chunk_bad_)
      if (b != 0) return std::nullopt;
    // B and C over ranges of table indices.
    const std::size_t ranges = std::clamp<std::size_t>(table / 8192, 1, 64 * workers);
    const auto owner_of = [&](std::size_t index) noexcept { return owner[index]; };
    const std::uint32_t at = batch.epochs()[0];
    std::atomic<bool> failed{false};
    fork(ranges, [&](std::size_t r, std::size_t) {
      const std::size_t lo = table * r / ranges, hi = table * (r + 1) / ranges;
      bool bad = false;
      for (std::size_t i = lo; i < hi; ++i) {
        if (owner_of(i) == none) continue;
        const auto& e = store.entries_[i];
        bad |= !e.live || e.cold || e.bytes < stride || e.at.value() > at;
      }
      if (bad) failed.store(true, std::memory_order_relaxed);
    });
    if (failed.load(std::memory_order_relaxed)) return std::nullopt;
    const std::byte* arena = batch.payload_arena();
    fork(ranges, [&](std::size_t r, std::size_t) {
      const std::size_t lo = table * r / ranges, hi = table * (r + 1) / ranges;
      for (std::size_t i = lo; i < hi; ++i) {
        if (i + prefetch_distance < hi) {
          if (const std::uint32_t ahead = owner_of(i + prefetch_distance); ahead != none) {
            __builtin_prefetch(arena + std::size_t{ahead} * stride, 0, 3);
            const auto& e = store.entries_[i + prefetch_distance];
            __builtin_prefetch(store.class_of(e).page(e.slot), 1, 3);
          }
        }
        const std::uint32_t o = owner_of(i);
        if (o == none) continue;
        auto& e = store.entries_[i];
        std::memcpy(store.class_of(e).page(e.slot), arena + std::size_t{o} * stride, stride);
        e.at = epoch{at};
      }
    });
    return n;
  }

  // Per page of the bucket, for pass 2: a copy of what the checks read from the page's entry,
  // next to the scan's own state, so that a row costs one lookup.
  struct local_page {
    std::uint32_t generation;  // 0 if the page is not alive (0 is never a valid generation)
    std::uint32_t bytes;
    std::uint32_t at;          // the page's epoch before the batch
    std::uint32_t cov;         // where its coverage bits start
    std::uint32_t later_row;   // none: no later row of this batch on the page
    std::uint32_t later_at;    // none while later_row is
    std::uint32_t final_at;    // the epoch of the page's newest row of this batch
    std::uint32_t uncovered;   // page bytes no row seen so far writes; at 0 older rows own nothing
  };
  static_assert(sizeof(local_page) == 32);
  static constexpr std::uint32_t none = 0xFFFFFFFF;

  struct touched_page {
    std::uint32_t index;
    std::uint32_t at;
  };
  // What pass 2 leaves per worker (live rows, their long masks, touched pages) and per bucket
  // (which worker, where in its lists, the bucket's first error).
  struct worker_scratch {
    std::vector<local_page> local;         // per table index of the bucket being scanned
    std::vector<std::uint32_t> stamp;      // sparse buckets: local[i] is set up iff stamp[i] == current
    std::uint32_t current = 0;
    std::vector<std::uint32_t> first_touch;  // sparse buckets: local indices set up, in order
    std::vector<std::uint64_t> coverage;
    std::size_t coverage_words = 0;
    std::vector<live_row> live;
    std::vector<std::uint64_t> extra_masks;
    std::vector<touched_page> touched;
    void clear() noexcept {
      live.clear();
      extra_masks.clear();
      touched.clear();
    }
  };
  struct bucket_out {
    std::uint32_t worker = 0;
    std::size_t live_begin = 0, live_end = 0, touched_begin = 0, touched_end = 0;
    std::size_t bad_row = no_row;
    error bad{};
  };

  // Sets up the pages of table indices [lo, hi): coverage bits (one per byte, zeroed) and no
  // later row. Reading the entries in order also brings them into cache for the lookups after.
  // A bucket with few rows for its pages (a small batch on a large store) sets its pages up only
  // when a row first names them, so that it costs its rows, not its pages. The rows are counted
  // from the bucket's block lists.
  template <class R>
  std::size_t rows_in(std::size_t b) const noexcept {
    std::size_t rows = 0;
    for (std::size_t t = 0; t < chunks_; ++t) {
      const std::size_t l = t * buckets_ + b;
      for (std::uint32_t blk = head_block_[l]; blk != none; blk = prev_block_[blk]) {
        const auto* end = reinterpret_cast<const std::byte*>(blocks_.data() + (std::size_t{blk} + 1) * per_block);
        rows += blk == head_block_[l] ? static_cast<std::size_t>(end - fill_[l]) / sizeof(R) : records_per_block<R>;
      }
    }
    return rows;
  }
  static void begin_sparse_bucket(std::size_t size, worker_scratch& ws) {
    if (ws.local.size() < size) ws.local.resize(size);
    if (ws.stamp.size() < size) ws.stamp.resize(size, 0);
    if (++ws.current == 0) {  // wrapped: clear the stamps once
      std::fill(ws.stamp.begin(), ws.stamp.end(), 0U);
      ws.current = 1;
    }
    ws.first_touch.clear();
    ws.coverage_words = 0;
  }
  static void set_up_page(const page_store& store, std::size_t lo, std::size_t i, worker_scratch& ws) {
    const auto& e = store.entries_[lo + i];
    const std::size_t words = e.live ? (e.bytes + 63) / 64 : 0;
    if (ws.coverage.size() < ws.coverage_words + words) ws.coverage.resize(std::max(2 * ws.coverage.size(), ws.coverage_words + words));
    std::fill_n(ws.coverage.begin() + static_cast<std::ptrdiff_t>(ws.coverage_words), words, std::uint64_t{0});
    ws.local[i] = local_page{e.live ? store.generations_[lo + i] : 0, e.bytes, e.at.value(), static_cast<std::uint32_t>(ws.coverage_words),
                             none, none, 0, e.live ? static_cast<std::uint32_t>(e.bytes) : 0u};
    ws.coverage_words += words;
    ws.stamp[i] = ws.current;
    ws.first_touch.push_back(static_cast<std::uint32_t>(i));
  }

  void prepare_bucket(const page_store& store, std::size_t lo, std::size_t hi, worker_scratch& ws) {
    ws.local.resize(hi - lo);
    std::size_t words = 0;
    for (std::size_t i = lo; i < hi; ++i) {
      const auto& e = store.entries_[i];
      ws.local[i - lo] = local_page{e.live ? store.generations_[i] : 0, e.bytes, e.at.value(), static_cast<std::uint32_t>(words),
                                    none, none, 0, e.live ? static_cast<std::uint32_t>(e.bytes) : 0u};
      if (e.live) words += (e.bytes + 63) / 64;
    }
    if (ws.coverage.size() < words) ws.coverage.resize(words);
    std::fill_n(ws.coverage.begin(), words, std::uint64_t{0});
  }

  // One pass over bucket b's rows, newest first. It checks each row against its page exactly as
  // page_store::validate would in batch order: the checks of one row need no other row, except
  // the epoch, and "each row's epoch is at least the page's and at least its predecessor's on
  // the page" is checked from the other side, as "a row's successor is not below it". The
  // lowest failing row is therefore the first error of batch order (the error returned). It also
  // keeps, for each row, only the bytes no later row on its page writes: the final pages are the
  // same, and a row that owns nothing is never read again.
  // Pass 2 for bucket b on worker w: `known_bad` is the first error pass 1 found (n if none).
  // The bucket's rows are read newest first: the lists of the later chunks first, each list
  // newest first. Leaves the bucket's live rows, touched pages and first error in out_[b].
  // Same (compact records only): every row writes [0, payload_stride) with the batch's one epoch,
  // so a page's newest row owns the whole window and every older row owns nothing: no coverage
  // bits, and the epoch order on a page holds by itself. Same checks, same results.
  template <class R, bool Same>
  void scan_bucket(const page_store& store, const delta_batch& batch, std::size_t b, std::size_t w, std::size_t known_bad,
                   std::size_t no_error) {
    const std::size_t lo = b << shift_;
    const std::size_t hi = std::min(store.entries_.size(), lo + (std::size_t{1} << shift_));
    worker_scratch& ws = scratch_[w];
    bucket_out& out = out_[b];
    out.worker = static_cast<std::uint32_t>(w);
    out.live_begin = ws.live.size();
    out.touched_begin = ws.touched.size();
    bool any = false;
    for (std::size_t t = 0; t < chunks_ && !any; ++t) any = head_block_[t * buckets_ + b] != none;
    if (!any) {
      out.live_end = out.live_begin;
      out.touched_end = out.touched_begin;
      return;
    }
    const bool sparse = rows_in<R>(b) * 4 < hi - lo;
    if (sparse) begin_sparse_bucket(hi - lo, ws);
    else prepare_bucket(store, lo, hi, ws);
    std::size_t bad_row = known_bad;
    error bad{};
    const auto fail = [&](std::uint32_t row, errc code, const char* why) {
      if (row < bad_row) {
        bad_row = row;
        bad = error{code, row, why};
      }
    };
    const page_store::entry* entries = store.entries_.data() + lo;
    local_page* local = ws.local.data();
    std::uint64_t* coverage = ws.coverage.data();
    for (std::size_t t = chunks_; t-- > 0;) {
    const std::size_t l = t * buckets_ + b;
    for (std::uint32_t blk = head_block_[l]; blk != none; blk = prev_block_[blk]) {
      const R* block = std::launder(reinterpret_cast<const R*>(blocks_.data() + std::size_t{blk} * per_block));
      const R* first = blk == head_block_[l] ? std::launder(reinterpret_cast<const R*>(fill_[l])) : block;
      const R* last = block + records_per_block<R>;
      if (prev_block_[blk] != none) {  // the head of the block read next
        const auto* next = reinterpret_cast<const char*>(blocks_.data() + std::size_t{prev_block_[blk]} * per_block);
        for (std::size_t line = 0; line < 8; ++line) __builtin_prefetch(next + 64 * line, 0, 3);
      }
      for (const R* p = first; p != last; ++p) {
        __builtin_prefetch(reinterpret_cast<const void*>(reinterpret_cast<std::uintptr_t>(p) + record_prefetch_bytes), 0, 3);
        // Rows after a known error need no check (the lowest error wins) but are harmless to
        // check, so there is no test for them here.
        const record_view r = view(*p);
        const std::size_t local_index = r.local;
        if (sparse && ws.stamp[local_index] != ws.current) {
          set_up_page(store, lo, local_index, ws);
          local = ws.local.data();
          coverage = ws.coverage.data();  // may have grown
        }
        local_page& pg = local[local_index];
        if constexpr (Same) {
          const bool ok = (pg.generation == r.generation) & (r.length <= pg.bytes) & (r.at >= pg.at);
          if (!ok) [[unlikely]] {
            if (pg.generation != r.generation)
              fail(r.row, errc::not_found, "delta to an unknown page");
            else if (r.length > pg.bytes)
              fail(r.row, errc::out_of_range, "window past the end of the page");
            else
              fail(r.row, errc::epoch_regression, "delta epoch below the page's");
            continue;
          }
          if (pg.later_row != none) continue;  // an older row on the page: it owns nothing
          pg.later_row = r.row;
          pg.later_at = r.at;
          pg.final_at = r.at;
          if (bad_row != no_error) continue;
          const page_store::entry& e = entries[local_index];
          ws.live.push_back(live_row{store.class_of(e).page(e.slot), r.mask, r.row, r.length});
          continue;
        }
        const std::uint32_t offset = r.offset, length = r.length;
        const bool known = pg.generation == r.generation;
        const bool fits = known & (std::uint64_t{offset} + length <= pg.bytes) & (r.at >= pg.at);
        if (!fits) [[unlikely]] {
          if (!known)
            fail(r.row, errc::not_found, "delta to an unknown page");
          else if (std::uint64_t{offset} + length > pg.bytes)
            fail(r.row, errc::out_of_range, "window past the end of the page");
          else
            fail(r.row, errc::epoch_regression, "delta epoch below the page's");
          continue;
        }
        if (pg.later_at < r.at) [[unlikely]]  // never true while the page has no later row
          fail(pg.later_row, errc::epoch_regression, "delta epoch below the page's");
        pg.final_at = pg.later_row == none ? r.at : pg.final_at;  // the newest row's epoch
        pg.later_row = r.row;
        pg.later_at = r.at;
        if (bad_row != no_error || pg.uncovered == 0) continue;  // nothing will be written / owned
        std::uint64_t* cov = coverage + pg.cov;
        std::uint64_t owned = 0;
        if (length <= 64) {
          owned = r.mask & ~take_bits(cov, offset, length);
          if (owned == 0) continue;
          put_bits(cov, offset, length, owned);
          pg.uncovered -= static_cast<std::uint32_t>(std::popcount(owned));
        } else {
          const auto mask = batch.row(r.row).mask;
          const std::size_t at = ws.extra_masks.size();
          bool owns = false;
          for (std::size_t mw = 0; mw < mask.size(); ++mw) {
            const std::uint32_t bits = std::min<std::uint32_t>(64, length - static_cast<std::uint32_t>(mw) * 64);
            const std::uint32_t off = offset + static_cast<std::uint32_t>(mw) * 64;
            const std::uint64_t mine = mask[mw] & ~take_bits(cov, off, bits);
            put_bits(cov, off, bits, mine);
            pg.uncovered -= static_cast<std::uint32_t>(std::popcount(mine));
            ws.extra_masks.push_back(mine);
            owns = owns || mine != 0;
          }
          if (!owns) {
            ws.extra_masks.resize(at);
            continue;
          }
          owned = at;
        }
        const page_store::entry& e = entries[local_index];
        ws.live.push_back(live_row{store.class_of(e).page(e.slot) + offset, owned, r.row, length | (r.kind << 31)});
      }
    }
    }
    if (sparse) {
      for (const std::uint32_t i : ws.first_touch)
        if (local[i].later_row != none) ws.touched.push_back(touched_page{static_cast<std::uint32_t>(lo + i), local[i].final_at});
    } else {
      for (std::size_t i = lo; i < hi; ++i)
        if (local[i - lo].later_row != none) ws.touched.push_back(touched_page{static_cast<std::uint32_t>(i), local[i - lo].final_at});
    }
    out.live_end = ws.live.size();
    out.touched_end = ws.touched.size();
    out.bad_row = bad_row;
    out.bad = bad;
  }

  // Pass 3 for bucket b: its owned bytes, with payloads and pages fetched ahead, then its epochs.
  void write_bucket(page_store& store, const delta_batch& batch, std::size_t b) const noexcept {
    const bucket_out& o = out_[b];
    const worker_scratch& ws = scratch_[o.worker];
    const auto payload_at = batch.payload_offsets();
    const std::byte* arena = batch.payload_arena();
    const live_row* live = ws.live.data();
    if (const std::size_t stride = batch.payload_stride(); stride != 0) {  // row i's payload at i * stride: no lookup
      for (std::size_t k = o.live_begin; k < o.live_end; ++k) {
        if (k + prefetch_distance < o.live_end) {
          const live_row& ahead = live[k + prefetch_distance];
          __builtin_prefetch(arena + std::size_t{ahead.row} * stride, 0, 3);
          __builtin_prefetch(ahead.dst, 1, 3);
        }
        write_owned(live[k], arena + std::size_t{live[k].row} * stride, batch, ws.extra_masks);
      }
    } else {
    for (std::size_t k = o.live_begin; k < o.live_end; ++k) {
      if (k + 2 * prefetch_distance < o.live_end) __builtin_prefetch(&payload_at[live[k + 2 * prefetch_distance].row], 0, 3);
      if (k + prefetch_distance < o.live_end) {
        const live_row& ahead = live[k + prefetch_distance];
        __builtin_prefetch(arena + payload_at[ahead.row], 0, 3);
        __builtin_prefetch(ahead.dst, 1, 3);
      }
      write_owned(live[k], arena + payload_at[live[k].row], batch, ws.extra_masks);
    }
    }
    for (std::size_t k = o.touched_begin; k < o.touched_end; ++k) store.entries_[ws.touched[k].index].at = epoch{ws.touched[k].at};
  }

  // `bits` (<= 64) coverage bits starting at bit `off`, as the low bits of a word.
  static std::uint64_t take_bits(const std::uint64_t* cov, std::uint32_t off, std::uint32_t bits) noexcept {
    const std::uint32_t w = off / 64, sh = off % 64;
    std::uint64_t v = cov[w] >> sh;
    if (sh != 0 && sh + bits > 64) v |= cov[w + 1] << (64 - sh);
    return bits == 64 ? v : v & ((std::uint64_t{1} << bits) - 1);
  }
  static void put_bits(std::uint64_t* cov, std::uint32_t off, std::uint32_t bits, std::uint64_t v) noexcept {
    const std::uint32_t w = off / 64, sh = off % 64;
    cov[w] |= v << sh;
    if (sh != 0 && sh + bits > 64) cov[w + 1] |= v >> (64 - sh);
  }

  // Small stores: validate in batch order against a running epoch per table index, then write in
  // batch order. Page addresses are resolved once per table index, not once per row.
  result<std::size_t> apply_in_order(page_store& store, const delta_batch& batch) {
    const std::size_t n = batch.size(), table = store.entries_.size();
    small_.resize(table);
    for (std::size_t i = 0; i < table; ++i) {
      const auto& e = store.entries_[i];
      small_[i] = small_page{e.live && !e.cold ? store.class_of(e).page(e.slot) : nullptr, e.live ? store.generations_[i] : 0,
                             e.bytes, e.at.value(), 0};
    }
    const std::size_t checked = std::min(n, batch.first_ill_formed());
    const std::uint64_t* page_col = batch.pages().data();
    const std::uint32_t* epoch_col = batch.epochs().data();
    const std::uint32_t* offset_col = batch.offsets().data();
    const std::uint32_t* length_col = batch.lengths().data();
    for (std::size_t i = 0; i < checked; ++i) {
      if (i + prefetch_distance < checked) {
        const std::uint64_t ahead = page_col[i + prefetch_distance] >> 32;
        if (ahead < table) __builtin_prefetch(&small_[ahead], 1, 3);
      }
      const std::uint64_t index = page_col[i] >> 32;
      const auto gen = static_cast<std::uint32_t>(page_col[i]);
      // Generation 0 is never valid and marks dead pages here.
      if (index >= table || gen == 0 || small_[index].generation != gen) return unexpected(errc::not_found, i, "delta to an unknown page");
      small_page& pg = small_[index];
      if (std::uint64_t{offset_col[i]} + length_col[i] > pg.bytes) return unexpected(errc::out_of_range, i, "window past the end of the page");
      if (epoch_col[i] < pg.running) return unexpected(errc::epoch_regression, i, "delta epoch below the page's");
      pg.running = epoch_col[i];
    }
    if (checked < n) {
      const error e = batch.shape_error();
      return unexpected(e.code, e.detail, e.message);
    }
    // Ahead: the page's entry, then (once that is in cache) the page bytes themselves.
    write_in_order(batch, [&](std::size_t i) { return small_[page_col[i] >> 32].base + offset_col[i]; }, [&](std::size_t i) {
      if (i + prefetch_distance < n) __builtin_prefetch(&small_[page_col[i + prefetch_distance] >> 32], 0, 3);
      __builtin_prefetch(small_[page_col[i] >> 32].base + offset_col[i], 1, 3);
    });
    for (std::size_t i = 0; i < table; ++i) store.entries_[i].at = epoch{small_[i].running};
    return n;
  }

  // Sparse batches: rows in batch order, in two passes, with no partition.
  //   A. Each row is checked against its page's running epoch, which the pass keeps in the
  //      store's own entries (the row's epoch is stored as soon as it is checked; the old one is
  //      saved), so a page's entry is fetched once; the row's destination is saved too. On an
  //      error the saved epochs are put back, newest first, and nothing else has changed.
  //   B. The rows are written in batch order, each page fetched ahead from the saved addresses.
  // Entries (pass A) and pages (pass B) are prefetched a fixed distance ahead of the rows.
  result<std::size_t> apply_streaming(page_store& store, const delta_batch& batch, bool nontemporal) {
    const std::size_t n = batch.size(), table = store.entries_.size();
    const std::size_t checked = std::min(n, batch.first_ill_formed());
    const std::uint64_t* page_col = batch.pages().data();
    const std::uint32_t* epoch_col = batch.epochs().data();
    const std::uint32_t* offset_col = batch.offsets().data();
    const std::uint32_t* length_col = batch.lengths().data();
    page_store::entry* entries = store.entries_.data();
    if (stream_.size() < n) stream_.resize(n);
    stream_row* rows = stream_.data();
    const auto undo = [&](std::size_t done) {
      for (std::size_t i = done; i-- > 0;) entries[page_col[i] >> 32].at = epoch{rows[i].old_at};
    };
    constexpr std::size_t ahead = 2 * prefetch_distance;
    for (std::size_t i = 0; i < checked; ++i) {
      if (i + ahead < checked) {
        const std::uint64_t index = page_col[i + ahead] >> 32;
        if (index < table) __builtin_prefetch(entries + index, 1, 3);
      }
      const std::uint64_t index = page_col[i] >> 32;
      const auto gen = static_cast<std::uint32_t>(page_col[i]);
      errc code = errc::ok;
      const char* why = nullptr;
      if (index >= table || gen == 0 || entries[index].generation != gen || !entries[index].live) [[unlikely]] {
        code = errc::not_found, why = "delta to an unknown page";
      } else if (std::uint64_t{offset_col[i]} + length_col[i] > entries[index].bytes) [[unlikely]] {
        code = errc::out_of_range, why = "window past the end of the page";
      } else if (epoch_col[i] < entries[index].at.value()) [[unlikely]] {
        code = errc::epoch_regression, why = "delta epoch below the page's";
      }
      if (code != errc::ok) [[unlikely]] {
        undo(i);
        return unexpected(code, i, why);
      }
      page_store::entry& e = entries[index];
      rows[i] = stream_row{store.class_of(e).page(e.slot) + offset_col[i], e.at.value()};
      e.at = epoch{epoch_col[i]};
    }
    if (checked < n) {
      undo(checked);
      const error e = batch.shape_error();
      return unexpected(e.code, e.detail, e.message);
    }
#if defined(__x86_64__)
    if (nontemporal) {
      // Whole-line rows are not fetched: their stores do not read the line.
      const std::uint8_t* kind_col = batch.kinds().data();
      write_in_order<true>(batch, [&](std::size_t i) { return rows[i].dst; }, [&](std::size_t i) {
        if (length_col[i] != 64 || kind_col[i] != static_cast<std::uint8_t>(delta_kind::dense)) __builtin_prefetch(rows[i].dst, 1, 3);
      });
      _mm_sfence();  // non-temporal stores are weakly ordered: order them before returning
      return n;
    }
#else
    (void)nontemporal;
#endif
    write_in_order(batch, [&](std::size_t i) { return rows[i].dst; }, [&](std::size_t i) { __builtin_prefetch(rows[i].dst, 1, 3); });
    return n;
  }

  // Writes every row in batch order at dst(i), the page bytes under row i's window; ahead(i)
  // fetches what row i needs, a prefetch distance before it is written. Nontemporal: rows that
  // replace a whole aligned line are written with non-temporal stores (the caller fences).
  template <bool Nontemporal = false, class Dst, class Ahead>
  static void write_in_order(const delta_batch& batch, Dst&& dst, Ahead&& ahead) noexcept {
    const std::size_t n = batch.size();
    const std::uint32_t* length_col = batch.lengths().data();
    const std::uint8_t* kind_col = batch.kinds().data();
    const std::uint64_t* masks = batch.mask_arena();
    const std::byte* payloads = batch.payload_arena();
    const std::size_t* payload_at = batch.payload_offsets().data();
    std::size_t mask_at = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (i + prefetch_distance < n) {
        ahead(i + prefetch_distance);
        __builtin_prefetch(payloads + payload_at[i + prefetch_distance], 0, 3);
      }
      const std::uint32_t length = length_col[i];
      if (length <= 64 && kind_col[i] == static_cast<std::uint8_t>(delta_kind::dense)) {
        std::byte* to = dst(i);
#if defined(__x86_64__)
        if (Nontemporal && length == 64 && masks[mask_at] == ~std::uint64_t{0} && (reinterpret_cast<std::uintptr_t>(to) & 63) == 0) {
          detail::stream_line(to, payloads + payload_at[i]);
          mask_at += 1;
          continue;
        }
#endif
        detail::masked_copy_word(to, payloads + payload_at[i], masks[mask_at], length == 64);
      } else {
        write_row(dst(i), batch.row(i));
      }
      mask_at += mask_words(length);
    }
  }

  static void write_row(std::byte* base, const delta_row& r) noexcept {
    write_masked(base, r.kind, r.mask.size(), [&](std::size_t w) { return r.mask[w]; }, r.payload.data());
  }

  static void write_owned(const live_row& w, const std::byte* payload, const delta_batch& batch,
                          const std::vector<std::uint64_t>& extra_masks) noexcept {
    const std::uint32_t length = w.length_kind & 0x7FFFFFFF;
    const auto kind = static_cast<delta_kind>(w.length_kind >> 31);
    if (length <= 64) {
      if (kind == delta_kind::dense) {
        detail::masked_copy_word(w.dst, payload, w.owned, length == 64);
      } else {
        // Sparse payload: the k-th byte belongs to the k-th set bit of the row's whole mask.
        const std::uint64_t mask = batch.row(w.row).mask[0];
        std::size_t k = 0;
        for (std::uint64_t b = mask; b != 0; b &= b - 1, ++k) {
          const int i = std::countr_zero(b);
          if ((w.owned >> i) & 1) w.dst[i] = payload[k];
        }
      }
      return;
    }
    const std::uint64_t* owned = extra_masks.data() + w.owned;
    const std::size_t words = mask_words(length);
    if (kind == delta_kind::dense) {
      for (std::size_t i = 0; i < words; ++i)
        detail::masked_copy_word(w.dst + i * 64, payload + i * 64, owned[i], (i + 1) * 64 <= length);
    } else {
      const auto mask = batch.row(w.row).mask;
      std::size_t k = 0;
      for (std::size_t i = 0; i < words; ++i)
        for (std::uint64_t b = mask[i]; b != 0; b &= b - 1, ++k) {
          const int bit = std::countr_zero(b);
          if ((owned[i] >> bit) & 1) w.dst[i * 64 + static_cast<std::size_t>(bit)] = payload[k];
        }
    }
  }

  static constexpr std::size_t no_row = ~std::size_t{0};
  unsigned shift_ = 0;
  std::size_t buckets_ = 0, chunks_ = 1;
  // Per list (chunk * buckets + bucket), its blocks from the newest: head_block_[l], then
  // prev_block_[that], ...; a list is appended to by its chunk's task only.
  std::vector<std::uint32_t> head_block_;
  std::vector<std::uint32_t> prev_block_;  // per block: the same list's previous block, or none
  std::vector<std::byte*> fill_, block_lo_;  // per list: its newest record, its newest block
  std::vector<block_unit, huge_page_allocator<block_unit>> blocks_;
  bool compact_ = false;  // this batch's lists hold compact_records
  // Pass 1's staging: one line per list, and whether the blocks allow streaming (emit).
  struct alignas(64) stage_line {
    std::byte bytes[64];
  };
  std::vector<stage_line> stage_;
  bool stream_records_ = false;
  std::atomic<std::size_t> next_block_{0};  // blocks are taken by the chunks' tasks
  std::vector<std::size_t> chunk_bad_;      // per chunk: its first row with an unknown id, or no_row
  std::vector<worker_scratch> scratch_;
  std::vector<std::uint32_t, huge_page_allocator<std::uint32_t>> owners_;  // direct path: per table index
  std::vector<bucket_out> out_;
  // Small-store path: per table index, what the checks and writes need, on one line.
  struct small_page {
    std::byte* base;          // the page's bytes (null if dead)
    std::uint32_t generation;  // 0 if dead
    std::uint32_t bytes;
    std::uint32_t running;    // its epoch as the batch so far leaves it
    std::uint32_t pad;
  };
  std::vector<small_page> small_;
  // Sparse-batch path: per row, where it writes and its page's epoch before it.
  struct stream_row {
    std::byte* dst;
    std::uint32_t old_at;
  };
  std::vector<stream_row> stream_;
};

}  // namespace tickflow
