// tickflow/queue/mpmc_ring.hpp — bounded lock-free multi-producer / multi-consumer ring.
//
// Contract
//   * Any number of threads may call any producer call (try_push, try_emplace, try_push_n, push)
//     and any consumer call (try_pop, try_pop_n, pop) concurrently. Observers (capacity,
//     was_size, was_empty) may be called from any thread. Construction and destruction must not
//     overlap any other call.
//   * Algorithm: D. Vyukov's bounded MPMC queue. Every slot carries a sequence number that says
//     which lap it is ready for: a producer may fill slot i when seq == i, a consumer may take it
//     when seq == i + 1, and then hands it to the next lap by storing i + capacity. No value of T
//     is reserved as an empty marker.
//   * Memory ordering: a producer's sequence store is a release that synchronizes-with the
//     acquire load of the consumer that takes the item; the consumer's store that frees the slot
//     synchronizes-with the producer of the next lap.
//   * Ordering: items pushed by one producer are popped in push order (by any one consumer, and
//     globally by claim order). Across producers the order is the order of their claims.
//   * Progress: try_ calls are lock-free. They never wait for another thread to finish with a
//     slot: a slot still held by a slow (or preempted) thread makes try_push report full and
//     try_pop report empty. They retry only when another thread's claim succeeded in between.
//   * capacity() is the requested capacity rounded up to a power of two (at least 2).
//   * Allocation: the constructor allocates the slot buffer once through `Alloc` (rebound to
//     the internal slot type). Nothing else allocates.
//   * Exceptions: the constructor throws std::invalid_argument for capacity 0 and
//     std::length_error when the size would overflow. Every other call is noexcept: a slot is
//     claimed before the item is constructed in it and cannot be given back, so the element
//     operations a call uses (construction from the arguments, move, copy) must not throw.
//   * Blocking calls (push, pop) wait through a wait policy (park_wait by default); a parked
//     thread is woken at once by the other side's blocking calls. try_ calls do not notify: a
//     parked peer sees their progress within one park_wait::max_sleep slice (1 ms by default).
//
// Layout: slots (sequence word + item) are packed, and consecutive positions live on different
// cache lines (see `at`), so neighbouring claims by different threads do not false-share; the
// producer and consumer claim counters own a line each.
//
// Complexity: O(1) per item; batch calls claim a run of slots with one CAS.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "tickflow/core/cache_padded.hpp"
#include "tickflow/core/config.hpp"
#include "tickflow/core/wait.hpp"
#include "tickflow/queue/concepts.hpp"
#include "tickflow/queue/fwd.hpp"

namespace tickflow {

/// Bounded lock-free MPMC ring. See the file contract.
template <ring_element T, class Alloc>
class basic_mpmc_ring {
  struct slot {
    std::atomic<std::size_t> seq;
    alignas(T) std::byte storage[sizeof(T)];
  };
  // Slots are packed (4 x 16 bytes per line for an 8-byte T). Consecutive positions are spread
  // over different lines by swapping the two lowest groups of `remap_bits` bits of the position,
  // so that the producer filling position i+1 does not steal the line from the consumer taking
  // position i: neighbouring claims touch different lines, and several line transfers can be in
  // flight at once.
  static constexpr std::size_t slots_per_line =
      sizeof(slot) >= cache_line_size ? 1 : std::bit_floor(cache_line_size / sizeof(slot));
  static constexpr unsigned remap_bits = static_cast<unsigned>(std::countr_zero(slots_per_line));
  static constexpr std::size_t line_align = alignof(slot) > cache_line_size ? alignof(slot) : cache_line_size;
  // alignas: the unit of allocation is a cache line of slots, so slots never straddle lines and
  // the buffer shares no line with its heap neighbours.
  struct alignas(line_align) line {
    slot slots[slots_per_line];
  };
  using line_alloc = typename std::allocator_traits<Alloc>::template rebind_alloc<line>;
  using line_traits = std::allocator_traits<line_alloc>;

 public:
  using value_type = T;
  using allocator_type = Alloc;
  using size_type = std::size_t;

  /// Allocates a buffer of bit_ceil(max(capacity, 2)) slots. Throws std::invalid_argument if
  /// capacity is 0.
  explicit basic_mpmc_ring(size_type capacity, const Alloc& alloc = Alloc())
      : mask_(checked_size(capacity) - 1), alloc_(alloc) {
    line_alloc a(alloc_);
    lines_ = line_traits::allocate(a, line_count());
    for (size_type i = 0; i < line_count(); ++i) ::new (static_cast<void*>(lines_ + i)) line;
    for (size_type i = 0; i <= mask_; ++i) at(i).seq.store(i, std::memory_order_relaxed);
  }

  basic_mpmc_ring(const basic_mpmc_ring&) = delete;
  basic_mpmc_ring& operator=(const basic_mpmc_ring&) = delete;

  ~basic_mpmc_ring() {
    if constexpr (!std::is_trivially_destructible_v<T>) {
      const std::size_t end = head_->load(std::memory_order_relaxed);
      for (std::size_t pos = tail_->load(std::memory_order_relaxed); pos != end; ++pos) {
        slot& s = at(pos);
        if (s.seq.load(std::memory_order_relaxed) == pos + 1) item(s)->~T();
      }
    }
    for (size_type i = 0; i < line_count(); ++i) lines_[i].~line();
    line_alloc a(alloc_);
    line_traits::deallocate(a, lines_, line_count());
  }

  // ---------------------------------------------------------------- producers

  /// Any thread. Constructs an item in place; false (and no construction) if full.
  /// T's constructor from `args` must not throw: the slot is claimed before it runs.
  template <class... Args>
    requires std::is_nothrow_constructible_v<T, Args&&...>
  [[nodiscard]] bool try_emplace(Args&&... args) noexcept {
    std::size_t pos = head_->load(std::memory_order_relaxed);
    slot* s;
    for (;;) {
      s = &at(pos);
      // Acquire: pairs with the release that freed the slot, so its last item is gone.
      const std::size_t seq = s->seq.load(std::memory_order_acquire);
      const auto dif = static_cast<std::intptr_t>(seq - pos);
      if (dif == 0) {
        // Relaxed CAS: ownership of the slot is carried by its sequence word, not the counter.
        if (head_->compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) break;
      } else if (dif < 0) {
        return false;  // the slot still holds the previous lap's item: full
      } else {
        pos = head_->load(std::memory_order_relaxed);
      }
    }
    ::new (static_cast<void*>(s->storage)) T(std::forward<Args>(args)...);
    // Release: publishes the item to the consumer that claims this slot.
    s->seq.store(pos + 1, std::memory_order_release);
    return true;
  }

  /// Any thread. Copies `v` in; false if full.
  [[nodiscard]] bool try_push(const T& v) noexcept requires std::is_nothrow_copy_constructible_v<T> {
    return try_emplace(v);
  }
  /// Any thread. Moves `v` in; false if full, and then `v` is untouched.
  [[nodiscard]] bool try_push(T&& v) noexcept requires std::is_nothrow_move_constructible_v<T> {
    return try_emplace(std::move(v));
  }

  /// Any thread. Copies the longest prefix of `items` for which free slots could be claimed as
  /// one contiguous run; returns its length (0 if full).
  size_type try_push_n(std::span<const T> items) noexcept requires std::is_nothrow_copy_constructible_v<T> {
    if (items.empty()) return 0;
    std::size_t pos = head_->load(std::memory_order_relaxed);
    size_type n;
    for (;;) {
      n = 0;
      while (n < items.size() && n <= mask_ &&
             at(pos + n).seq.load(std::memory_order_acquire) == pos + n)
        ++n;
      if (n == 0) {
        const std::size_t seq = at(pos).seq.load(std::memory_order_acquire);
        if (static_cast<std::intptr_t>(seq - pos) < 0) return 0;
        pos = head_->load(std::memory_order_relaxed);
        continue;
      }
      if (head_->compare_exchange_weak(pos, pos + n, std::memory_order_relaxed)) break;
    }
    for (size_type i = 0; i < n; ++i) {
      slot& s = at(pos + i);
      ::new (static_cast<void*>(s.storage)) T(items[i]);
      s.seq.store(pos + i + 1, std::memory_order_release);  // Release: publishes item i.
    }
    return n;
  }

  /// Any thread. Blocks (through `policy`) until the item is pushed.
  template <wait_policy Policy = park_wait>
  void push(const T& v, Policy policy = {}) requires std::is_nothrow_copy_constructible_v<T> {
    policy.wait([&] { return try_emplace(v); }, not_full_);
    not_empty_.notify();
  }
  template <wait_policy Policy = park_wait>
  void push(T&& v, Policy policy = {}) requires std::is_nothrow_move_constructible_v<T> {
    policy.wait([&] { return try_emplace(std::move(v)); }, not_full_);
    not_empty_.notify();
  }

  // ---------------------------------------------------------------- consumers

  /// Any thread. Moves the oldest claimable item into `out`; false if empty.
  [[nodiscard]] bool try_pop(T& out) noexcept requires std::is_nothrow_move_assignable_v<T> {
    std::size_t pos;
    slot* s = claim_one(pos);
    if (s == nullptr) return false;
    T* p = item(*s);
    out = std::move(*p);
    p->~T();
    free_slot(*s, pos);
    return true;
  }

  /// Any thread. The oldest claimable item, or nullopt if empty.
  [[nodiscard]] std::optional<T> try_pop() noexcept requires std::is_nothrow_move_constructible_v<T> {
    std::size_t pos;
    slot* s = claim_one(pos);
    if (s == nullptr) return std::nullopt;
    T* p = item(*s);
    std::optional<T> out(std::move(*p));
    p->~T();
    free_slot(*s, pos);
    return out;
  }

  /// Any thread. Pops up to out.size() items claimed as one contiguous run; returns how many.
  size_type try_pop_n(std::span<T> out) noexcept requires std::is_nothrow_move_assignable_v<T> {
    if (out.empty()) return 0;
    std::size_t pos = tail_->load(std::memory_order_relaxed);
    size_type n;
    for (;;) {
      n = 0;
      while (n < out.size() && n <= mask_ &&
             at(pos + n).seq.load(std::memory_order_acquire) == pos + n + 1)
        ++n;
      if (n == 0) {
        const std::size_t seq = at(pos).seq.load(std::memory_order_acquire);
        if (static_cast<std::intptr_t>(seq - (pos + 1)) < 0) return 0;
        pos = tail_->load(std::memory_order_relaxed);
        continue;
      }
      if (tail_->compare_exchange_weak(pos, pos + n, std::memory_order_relaxed)) break;
    }
    for (size_type i = 0; i < n; ++i) {
      slot& s = at(pos + i);
      T* p = item(s);
      out[i] = std::move(*p);
      p->~T();
      s.seq.store(pos + i + mask_ + 1, std::memory_order_release);  // Release: frees slot i.
    }
    return n;
  }

  /// Any thread. Blocks (through `policy`) until an item is popped.
  template <wait_policy Policy = park_wait>
  [[nodiscard]] T pop(Policy policy = {}) requires std::is_nothrow_move_constructible_v<T> {
    std::optional<T> out;
    policy.wait(
        [&] {
          std::size_t pos;
          slot* s = claim_one(pos);
          if (s == nullptr) return false;
          out.emplace(std::move(*item(*s)));
          item(*s)->~T();
          free_slot(*s, pos);
          return true;
        },
        not_empty_);
    not_full_.notify();
    return std::move(*out);
  }

  // ---------------------------------------------------------------- observers (any thread)

  [[nodiscard]] size_type capacity() const noexcept { return mask_ + 1; }
  /// Claimed-but-not-yet-taken items at some instant near the call; exact only when idle.
  [[nodiscard]] size_type was_size() const noexcept {
    const std::size_t tail = tail_->load(std::memory_order_acquire);
    const std::size_t head = head_->load(std::memory_order_acquire);
    return head > tail ? std::min<size_type>(head - tail, mask_ + 1) : 0;
  }
  [[nodiscard]] bool was_empty() const noexcept { return was_size() == 0; }
  [[nodiscard]] allocator_type get_allocator() const { return alloc_; }

 private:
  static size_type checked_size(size_type capacity) {
    if (capacity == 0) throw std::invalid_argument("tickflow::mpmc_ring: capacity must be at least 1");
    if (capacity > (std::numeric_limits<size_type>::max() / sizeof(line)) / 2)
      throw std::length_error("tickflow::mpmc_ring: capacity too large");
    return std::bit_ceil(std::max<size_type>(capacity, 2));
  }
  slot& at(std::size_t pos) const noexcept {
    if constexpr (remap_bits != 0) {
      if (remap_) {
        const std::size_t low = (std::size_t{1} << remap_bits) - 1;
        const std::size_t mix = (pos ^ (pos >> remap_bits)) & low;
        pos ^= mix ^ (mix << remap_bits);
      }
    }
    pos &= mask_;
    return lines_[pos >> remap_bits].slots[pos & (slots_per_line - 1)];
  }
  size_type line_count() const noexcept { return (mask_ + slots_per_line) / slots_per_line; }
  static T* item(slot& s) noexcept { return std::launder(reinterpret_cast<T*>(s.storage)); }

  slot* claim_one(std::size_t& claimed) noexcept {
    std::size_t pos = tail_->load(std::memory_order_relaxed);
    for (;;) {
      slot* s = &at(pos);
      // Acquire: pairs with the producer's release, making the item visible.
      const std::size_t seq = s->seq.load(std::memory_order_acquire);
      const auto dif = static_cast<std::intptr_t>(seq - (pos + 1));
      if (dif == 0) {
        if (tail_->compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          claimed = pos;
          return s;
        }
      } else if (dif < 0) {
        return nullptr;  // not yet published: empty (or a producer is mid-push)
      } else {
        pos = tail_->load(std::memory_order_relaxed);
      }
    }
  }
  void free_slot(slot& s, std::size_t pos) noexcept {
    // Release: the item is gone; the producer of the next lap may fill the slot.
    s.seq.store(pos + mask_ + 1, std::memory_order_release);
  }

  line* lines_ = nullptr;
  size_type mask_;
  bool remap_ = (mask_ + 1) >= slots_per_line * slots_per_line;  // remapping needs two bit groups
  [[no_unique_address]] Alloc alloc_;
  // alignas (via cache_padded): the claim counters are the contended words; each owns a line.
  cache_padded<std::atomic<std::size_t>> head_{0};
  cache_padded<std::atomic<std::size_t>> tail_{0};
  parking_spot not_empty_;
  parking_spot not_full_;
};

}  // namespace tickflow
