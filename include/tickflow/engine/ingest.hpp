/// @file
/// tickflow/engine/ingest.hpp — deltas submitted from any thread, cut once per step.
///
/// Contract
///   * Producers: make_producer(id) registers a lane (one spsc_ring of 64-byte chunks, packed
///     layout, `lane_bytes` of room) for one thread at a time; producer ids are unique
///     (errc::duplicate_id otherwise) and decide the canonical order, so an engine that wants
///     reproducible runs gives its producers fixed ids. make_producer() takes the lowest free id.
///   * try_submit(d): a shape error comes back at once (the code of check_shape, delta.hpp; the
///     delta is not queued); errc::would_block when the lane has no room for the whole record now
///     (nothing is queued); errc::capacity_exceeded for a delta larger than the lane itself. Otherwise the delta is queued: encoded as a
///     40-byte header, its mask words and its payload, copied into the lane's chunks with
///     zero-copy reservations, and published with release stores (it becomes visible to the cut
///     only once complete). submit(d, policy) waits through a wait policy until there is room; the
///     cut wakes it. No allocation per delta: each producer keeps one staging buffer.
///   * cut(out): appends to `out` every delta whose submit returned before the cut started, and
///     none whose submit started after it returned (a submit that overlaps the cut is in this cut
///     or the next, exactly once). Order in `out` is canonical: by epoch, then producer id, then
///     submit order; so the result depends only on which deltas are in the cut, never on how the
///     producers interleaved. (Per producer this is submit order whenever a producer's epochs do
///     not decrease.) Rows are appended with no allocation once `out` and the scratch have grown.
///     A cut takes from each lane what it held when the cut reached it, and no more: producers
///     that keep submitting cannot make a cut run on.
///   * Lanes of destroyed producer handles are drained by the next cuts, then dropped.
///   * Memory ordering: a submit's last commit is a release that the cut's acquire (peek) pairs
///     with: everything the producer wrote before submit is visible to whoever reads the cut.
///
/// Thread-safety: make_producer from any thread; each producer handle used by one thread at a
/// time; cut from one thread at a time (the engine's), concurrently with any submits. Handles must
/// be destroyed before the ingest.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <span>
#include <utility>
#include <vector>

#include "tickflow/columnar/delta_batch.hpp"
#include "tickflow/core/result.hpp"
#include "tickflow/core/wait.hpp"
#include "tickflow/page/delta.hpp"
#include "tickflow/page/tlog.hpp"
#include "tickflow/queue/spsc_ring.hpp"

namespace tickflow {

namespace detail {
// The unit a lane carries: 64 raw bytes (trivially copyable, for zero-copy reservations).
struct ingest_chunk {
  std::byte bytes[64];
};
inline constexpr std::size_t ingest_header_bytes = 40;
}  // namespace detail

/// Deltas submitted from any thread through producer lanes, cut once per step in a canonical order (see the file contract).
class ingest {
 public:
  /// Room per producer lane, in bytes (rounded up to 64-byte chunks).
  explicit ingest(std::size_t lane_bytes = std::size_t{1} << 22) : lane_chunks_(std::max<std::size_t>(2, (lane_bytes + 63) / 64)) {}
  ingest(const ingest&) = delete;
  ingest& operator=(const ingest&) = delete;

  class producer;

  /// A producer handle with the given id (errc::duplicate_id if a live producer has it).
  [[nodiscard]] result<producer> make_producer(std::uint32_t id);
  /// A producer handle with the lowest id no live producer has.
  [[nodiscard]] producer make_producer();

  /// See the file contract. Returns the number of deltas appended to `out`.
  std::size_t cut(delta_batch& out);

  /// Bytes the lanes and the cut's scratch hold (capacities; the producers' own staging is
  /// theirs, not counted).
  [[nodiscard]] std::size_t memory_bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::size_t b = lanes_.capacity() * sizeof(void*) + order_.capacity() * sizeof(row_ref) + sorted_.memory_bytes();
    for (const auto& l : lanes_) b += sizeof(lane) + l->ring.capacity() * sizeof(detail::ingest_chunk) + l->partial.capacity();
    return b;
  }

  /// Producers registered and not yet dropped (approximate while producers come and go).
  [[nodiscard]] std::size_t lanes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return lanes_.size();
  }

 private:
  struct lane {
    std::uint32_t id;
    spsc_ring<detail::ingest_chunk> ring;
    std::atomic<bool> closed{false};
    // Consumer side: a record split across spans is gathered here (the cut's thread only).
    std::vector<std::byte> partial;
    std::size_t partial_need = 0;  // bytes of the record being gathered (0: none)
    lane(std::uint32_t i, std::size_t chunks) : id(i), ring(chunks) {}
  };
  struct row_ref {  // a decoded row of the cut, for the canonical order
    std::uint32_t at;
    std::uint32_t row;
  };

  static constexpr std::size_t block_bytes = 16384;  // ring bytes per bulk append in a drain
  static std::size_t record_bytes(std::size_t words, std::size_t payload) noexcept {
    return (detail::ingest_header_bytes + 8 * words + payload + 63) / 64 * 64;
  }
  // Appends the record at p (complete) through a bulk appender with room for it.
  static void decode(const std::byte* p, delta_batch::bulk_appender& out) noexcept {
    const std::size_t words = static_cast<std::size_t>(detail::get_le(p + 32, 4));
    const std::size_t payload = static_cast<std::size_t>(detail::get_le(p + 36, 4));
    (void)out.push(page_id{detail::get_le(p, 8)}, epoch{static_cast<std::uint32_t>(detail::get_le(p + 8, 4))},
                   delta_id{detail::get_le(p + 12, 8)}, static_cast<std::uint32_t>(detail::get_le(p + 20, 4)),
                   static_cast<std::uint32_t>(detail::get_le(p + 24, 4)), static_cast<delta_kind>(p[28]), p + detail::ingest_header_bytes,
                   words, std::span<const std::byte>(p + detail::ingest_header_bytes + 8 * words, payload));
  }
  static std::size_t record_bytes_at(const std::byte* p) noexcept {
    return record_bytes(static_cast<std::size_t>(detail::get_le(p + 32, 4)), static_cast<std::size_t>(detail::get_le(p + 36, 4)));
  }
  void drain(lane& l, delta_batch& out);

  std::size_t lane_chunks_;
  mutable std::mutex mutex_;  // guards lanes_ (registration and the cut's walk)
  std::vector<std::unique_ptr<lane>> lanes_;  // by increasing id
  parking_spot space_;  // submit() waits here for room; the cut notifies
  std::vector<row_ref> order_;
  delta_batch sorted_;
};

/// A producer's end of the ingest (see the file contract). Move-only; one thread at a time.
class ingest::producer {
 public:
  /// Takes over the other handle's lane; the other is left closed.
  producer(producer&& o) noexcept
      : owner_(std::exchange(o.owner_, nullptr)), lane_(std::exchange(o.lane_, nullptr)), staging_(std::move(o.staging_)),
        room_(std::exchange(o.room_, 0)) {}
  /// Closes this handle's lane, then takes over the other's.
  producer& operator=(producer&& o) noexcept {
    if (this != &o) {
      close();
      owner_ = std::exchange(o.owner_, nullptr);
      lane_ = std::exchange(o.lane_, nullptr);
      staging_ = std::move(o.staging_);
      room_ = std::exchange(o.room_, 0);
    }
    return *this;
  }
  producer(const producer&) = delete;
  producer& operator=(const producer&) = delete;
  ~producer() { close(); }

  /// The producer id (0 for a closed handle).
  [[nodiscard]] std::uint32_t id() const noexcept { return lane_ != nullptr ? lane_->id : 0; }

  /// Queues `d`, or errc::would_block if the lane is full, or the shape error (see the contract).
  result<void> try_submit(const delta& d) {
    if (auto ok = check_shape(d); !ok) return ok;
    if (lane_ == nullptr) return unexpected(errc::invalid_argument, 0, "moved-from producer");
    const std::size_t bytes = record_bytes(d.mask.size(), d.payload.size());
    auto& ring = lane_->ring;
    const std::size_t chunks = bytes / 64;
    if (chunks > ring.capacity()) return unexpected(errc::capacity_exceeded, bytes, "delta larger than the lane");
    // Room as last seen, less what was committed since; the consumer's cursor (another core's
    // line) is read again only when that is not enough. From the producer the ring's size can
    // only shrink meanwhile: room seen now is room later.
    if (room_ < chunks) {
      room_ = ring.capacity() - ring.was_size();
      if (room_ < chunks) return unexpected(errc::would_block, chunks, "lane full");
    }
    room_ -= chunks;
    if (staging_.size() < bytes) staging_.resize(bytes);
    std::byte* p = staging_.data();
    detail::store_le(p, d.page.value(), 8);
    detail::store_le(p + 8, d.at.value(), 4);
    detail::store_le(p + 12, d.id.value(), 8);
    detail::store_le(p + 20, d.offset, 4);
    detail::store_le(p + 24, d.length, 4);
    p[28] = static_cast<std::byte>(d.kind);
    detail::store_le(p + 32, d.mask.size(), 4);
    detail::store_le(p + 36, d.payload.size(), 4);
    std::byte* m = p + detail::ingest_header_bytes;
    for (const std::uint64_t w : d.mask) m = detail::store_le(m, w, 8);
    if (!d.payload.empty()) std::memcpy(m, d.payload.data(), d.payload.size());
    // Copy the chunks in, span by span (a span ends at a cell boundary); each commit publishes.
    for (std::size_t done = 0; done < chunks;) {
      const auto span = ring.try_reserve(chunks - done);
      std::memcpy(static_cast<void*>(span.data()), p + done * 64, span.size() * 64);
      ring.commit(span.size());
      done += span.size();
    }
    return {};
  }
  /// Queues `d`, waiting through `policy` while the lane is full.
  template <wait_policy Policy = park_wait>
  result<void> submit(const delta& d, Policy policy = {}) {
    result<void> r;
    policy.wait(
        [&] {
          r = try_submit(d);
          return r || r.error().code != errc::would_block;
        },
        owner_->space_);
    return r;
  }

 private:
  friend class ingest;
  producer(ingest* owner, lane* l) noexcept : owner_(owner), lane_(l) {}
  void close() noexcept {
    // Release: the lane's last records are published before the cut sees it closed.
    if (lane_ != nullptr) lane_->closed.store(true, std::memory_order_release);
    lane_ = nullptr;
    owner_ = nullptr;
  }
  ingest* owner_ = nullptr;
  lane* lane_ = nullptr;
  std::vector<std::byte> staging_;
  std::size_t room_ = 0;  // chunks known free in the lane
};

inline result<ingest::producer> ingest::make_producer(std::uint32_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = std::lower_bound(lanes_.begin(), lanes_.end(), id, [](const std::unique_ptr<lane>& l, std::uint32_t v) { return l->id < v; });
  if (it != lanes_.end() && (*it)->id == id && !(*it)->closed.load(std::memory_order_acquire))
    return unexpected(errc::duplicate_id, id, "a live producer has this id");
  if (it != lanes_.end() && (*it)->id == id) {
    // A closed lane with undrained records keeps its id until the cut drops it: order matters.
    return unexpected(errc::duplicate_id, id, "a closed producer with this id still has queued deltas");
  }
  it = lanes_.insert(it, std::make_unique<lane>(id, lane_chunks_));
  return producer(this, it->get());
}

inline ingest::producer ingest::make_producer() {
  std::uint32_t id = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& l : lanes_)
      if (l->id == id) ++id;
  }
  for (;; ++id)
    if (auto p = make_producer(id)) return std::move(*p);
}

inline void ingest::drain(lane& l, delta_batch& out) {
  auto& ring = l.ring;
  // Only what the lane held when its drain began: a cut never chases a producer that keeps
  // submitting, so its length is bounded by what was queued before it.
  for (std::size_t left = ring.was_size(); left != 0;) {
    const auto span = ring.peek(left);
    if (span.empty()) return;
    left -= span.size();
    const std::byte* bytes = reinterpret_cast<const std::byte*>(span.data());
    const std::size_t have = span.size() * 64;
    std::size_t at = 0;
    if (l.partial_need != 0) {  // finish a record begun in an earlier span
      const std::size_t take = std::min(have, l.partial_need - l.partial.size());
      l.partial.insert(l.partial.end(), bytes, bytes + take);
      at = take;
      if (l.partial.size() == l.partial_need) {
        {
          const std::byte* p = l.partial.data();
          delta_batch::bulk_appender one(out, 1, static_cast<std::size_t>(detail::get_le(p + 32, 4)),
                                         static_cast<std::size_t>(detail::get_le(p + 36, 4)));
          decode(p, one);
        }
        l.partial.clear();
        l.partial_need = 0;
      }
    }
    while (at < have) {
      // A block of at most block_bytes of whole records (or one larger record), straight from
      // the ring, through one bulk append with room for whatever the block can hold: a record
      // of b bytes has fewer than b / 8 mask words and b payload bytes.
      const std::size_t first = record_bytes_at(bytes + at);
      if (first > have - at) {  // the record at `at` goes on in the next span
        l.partial.assign(bytes + at, bytes + have);
        l.partial_need = first;
        at = have;
        break;
      }
      const std::size_t block = std::min(have - at, std::max(block_bytes, first));
      const std::size_t end = at + block;
      delta_batch::bulk_appender append(out, block / 64, block / 8, block);
      for (std::size_t need = first; at + need <= end;) {
        const std::byte* p = bytes + at;
        // The producer's lines come from another core: ask for them ahead.
        __builtin_prefetch(p + 512, 0, 0);
        __builtin_prefetch(p + 576, 0, 0);
        decode(p, append);
        at += need;
        if (at == have) break;
        need = record_bytes_at(bytes + at);
      }
    }
    ring.release(span.size());
  }
}

inline std::size_t ingest::cut(delta_batch& out) {
  const std::size_t first = out.size();
  std::lock_guard<std::mutex> lock(mutex_);
  // Lane by lane in id order, each in submit order: (producer, sequence) order.
  for (auto& l : lanes_) {
    // Acquire: a producer that closed published its records before; a closed lane whose ring
    // and partial record are empty after this drain is finished.
    const bool closed = l->closed.load(std::memory_order_acquire);
    drain(*l, out);
    if (closed && l->ring.was_empty() && l->partial_need == 0) l.reset();
  }
  space_.notify();
  const std::size_t n = out.size() - first;
  // Canonical order: by epoch, then (producer, sequence), which is the order appended. Most
  // cuts hold one epoch, or epochs already in order: nothing to do.
  const auto epochs = out.epochs().subspan(first);
  if (!std::is_sorted(epochs.begin(), epochs.end())) {
    order_.clear();
    for (std::size_t i = 0; i < n; ++i) order_.push_back(row_ref{epochs[i], static_cast<std::uint32_t>(first + i)});
    std::stable_sort(order_.begin(), order_.end(), [](const row_ref& a, const row_ref& b) { return a.at < b.at; });
    // (Masks are handed over as their in-memory bytes: little-endian, as on every target.)
    static_assert(std::endian::native == std::endian::little, "ingest re-encodes masks as little-endian bytes");
    sorted_.clear();
    for (const row_ref& r : order_) {
      const delta_row d = out.row(r.row);
      (void)sorted_.push_back_encoded(d.page, d.at, d.id, d.offset, d.length, d.kind, reinterpret_cast<const std::byte*>(d.mask.data()),
                                      d.mask.size(), d.payload);
    }
    while (out.size() > first) out.pop_back();
    for (std::size_t i = 0; i < sorted_.size(); ++i) {
      const delta_row d = sorted_.row(i);
      (void)out.push_back_encoded(d.page, d.at, d.id, d.offset, d.length, d.kind, reinterpret_cast<const std::byte*>(d.mask.data()),
                                  d.mask.size(), d.payload);
    }
  }
  lanes_.erase(std::remove(lanes_.begin(), lanes_.end(), nullptr), lanes_.end());
  return n;
}

}  // namespace tickflow
