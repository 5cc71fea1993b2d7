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
//   * capacity() is the requested capacity rounded up to a power of two, to at least 2, and to
//     at least the square of the slots per cache line (16 for items of up to 24 bytes; see
//     slot_storage.hpp).
//   * Allocation: the constructor allocates the slot buffer once through `Alloc` (rebound to a
//     cache-line-aligned unit). Nothing else allocates.
//   * Exceptions: the constructor throws std::invalid_argument for capacity 0 and
//     std::length_error when the size would overflow. Every other call is noexcept: a slot is
//     claimed before the item is constructed in it and cannot be given back, so the element
//     operations a call uses (construction from the arguments, move, copy) must not throw.
//   * Blocking calls (push, pop) wait through a wait policy (park_wait by default); a parked
//     thread is woken at once by the other side's blocking calls. try_ calls do not notify: a
//     parked peer sees their progress within one park_wait::max_sleep slice (1 ms by default).
//
// Layout: detail::spread_slots (slot_storage.hpp): slots (sequence word + item) are packed, and
// consecutive positions live on different cache lines, so neighbouring claims by different
// threads do not false-share; the producer and consumer claim counters own a line each.
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
#include "tickflow/queue/slot_storage.hpp"

namespace tickflow {

/// Bounded lock-free MPMC ring. See the file contract.
template <ring_element T, class Alloc>
class basic_mpmc_ring {
 public:
  using value_type = T;
  using allocator_type = Alloc;
  using size_type = std::size_t;

  /// Allocates a buffer of at least `capacity` slots (see capacity()). Throws
  /// std::invalid_argument if capacity is 0.
  explicit basic_mpmc_ring(size_type capacity, const Alloc& alloc = Alloc())
      : slots_(checked(capacity), alloc, /*seq_is_position=*/true), mask_(slots_.slot_count() - 1) {}

  basic_mpmc_ring(const basic_mpmc_ring&) = delete;
  basic_mpmc_ring& operator=(const basic_mpmc_ring&) = delete;

  ~basic_mpmc_ring() {
    if constexpr (!std::is_trivially_destructible_v<T>) {
      const std::size_t end = head_->load(std::memory_order_relaxed);
      for (std::size_t pos = tail_->load(std::memory_order_relaxed); pos != end; ++pos)
        if (slots_.seq(pos).load(std::memory_order_relaxed) == pos + 1) item(pos)->~T();
    }
  }

  // ---------------------------------------------------------------- producers

  /// Any thread. Constructs an item in place; false (and no construction) if full.
  /// T's constructor from `args` must not throw: the slot is claimed before it runs.
  template <class... Args>
    requires std::is_nothrow_constructible_v<T, Args&&...>
  [[nodiscard]] bool try_emplace(Args&&... args) noexcept {
    std::size_t pos = head_->load(std::memory_order_relaxed);
    for (;;) {
      // Acquire: pairs with the release that freed the slot, so its last item is gone.
      const std::size_t seq = slots_.seq(pos).load(std::memory_order_acquire);
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
    ::new (slots_.raw(pos)) T(std::forward<Args>(args)...);
    // Release: publishes the item to the consumer that claims this slot.
    slots_.seq(pos).store(pos + 1, std::memory_order_release);
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
  /// one contiguous run of positions; returns its length (0 if full).
  size_type try_push_n(std::span<const T> items) noexcept requires std::is_nothrow_copy_constructible_v<T> {
    const auto [pos, n] = claim_run(*head_, items.size(), 0);
    for (size_type i = 0; i < n; ++i) {
      ::new (slots_.raw(pos + i)) T(items[i]);
      slots_.seq(pos + i).store(pos + i + 1, std::memory_order_release);  // Release: publishes item i.
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
    if (!claim_one(pos)) return false;
    T* p = item(pos);
    out = std::move(*p);
    p->~T();
    free_slot(pos);
    return true;
  }

  /// Any thread. The oldest claimable item, or nullopt if empty.
  [[nodiscard]] std::optional<T> try_pop() noexcept requires std::is_nothrow_move_constructible_v<T> {
    std::size_t pos;
    if (!claim_one(pos)) return std::nullopt;
    T* p = item(pos);
    std::optional<T> out(std::move(*p));
    p->~T();
    free_slot(pos);
    return out;
  }

  /// Any thread. Pops up to out.size() items claimed as one contiguous run; returns how many.
  size_type try_pop_n(std::span<T> out) noexcept requires std::is_nothrow_move_assignable_v<T> {
    const auto [pos, n] = claim_run(*tail_, out.size(), 1);
    for (size_type i = 0; i < n; ++i) {
      T* p = item(pos + i);
      out[i] = std::move(*p);
      p->~T();
      free_slot(pos + i);
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
          if (!claim_one(pos)) return false;
          out.emplace(std::move(*item(pos)));
          item(pos)->~T();
          free_slot(pos);
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

  /// Expensive (O(capacity)) consistency check, for tests: the claim counters are ordered and
  /// within capacity, every queued slot reads "published for its position" and every other slot
  /// "free for its position". Call only while no thread is inside a call.
  [[nodiscard]] bool check_invariants() const noexcept {
    const std::size_t head = head_->load(std::memory_order_acquire);
    const std::size_t tail = tail_->load(std::memory_order_acquire);
    if (tail > head || head - tail > mask_ + 1) return false;
    for (std::size_t pos = tail; pos != head; ++pos)
      if (slots_.seq(pos).load(std::memory_order_acquire) != pos + 1) return false;
    for (std::size_t pos = head; pos != tail + mask_ + 1; ++pos)
      if (slots_.seq(pos).load(std::memory_order_acquire) != pos) return false;
    return true;
  }
  [[nodiscard]] allocator_type get_allocator() const { return slots_.allocator(); }

 private:
  static size_type checked(size_type capacity) {
    if (capacity == 0) throw std::invalid_argument("tickflow::mpmc_ring: capacity must be at least 1");
    if (capacity > std::numeric_limits<size_type>::max() / 4) throw std::length_error("tickflow::mpmc_ring: capacity too large");
    return capacity < 2 ? 2 : capacity;  // with one slot, "freed" and "published" would read alike
  }
  T* item(std::size_t pos) const noexcept { return std::launder(static_cast<T*>(slots_.raw(pos))); }

  // Claims one position whose slot is ready for a consumer; false if none is (empty, or the next
  // slot is still being filled).
  bool claim_one(std::size_t& claimed) noexcept {
    std::size_t pos = tail_->load(std::memory_order_relaxed);
    for (;;) {
      // Acquire: pairs with the producer's release, making the item visible.
      const std::size_t seq = slots_.seq(pos).load(std::memory_order_acquire);
      const auto dif = static_cast<std::intptr_t>(seq - (pos + 1));
      if (dif == 0) {
        if (tail_->compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          claimed = pos;
          return true;
        }
      } else if (dif < 0) {
        return false;  // not yet published: empty (or a producer is mid-push)
      } else {
        pos = tail_->load(std::memory_order_relaxed);
      }
    }
  }
  // Claims up to `want` consecutive positions on `counter` whose slots all read seq == pos + lag
  // (lag 0: free for a producer; lag 1: published for a consumer). Returns {first, count}.
  struct run {
    std::size_t first;
    size_type count;
  };
  run claim_run(std::atomic<std::size_t>& counter, size_type want, std::size_t lag) noexcept {
    if (want == 0) return {0, 0};
    std::size_t pos = counter.load(std::memory_order_relaxed);
    for (;;) {
      size_type n = 0;
      while (n < want && n <= mask_ &&
             slots_.seq(pos + n).load(std::memory_order_acquire) == pos + n + lag)
        ++n;
      if (n == 0) {
        const std::size_t seq = slots_.seq(pos).load(std::memory_order_acquire);
        if (static_cast<std::intptr_t>(seq - (pos + lag)) < 0) return {pos, 0};
        pos = counter.load(std::memory_order_relaxed);
        continue;
      }
      if (counter.compare_exchange_weak(pos, pos + n, std::memory_order_relaxed)) return {pos, n};
    }
  }
  void free_slot(std::size_t pos) noexcept {
    // Release: the item is gone; the producer of the next lap may fill the slot.
    slots_.seq(pos).store(pos + mask_ + 1, std::memory_order_release);
  }

  detail::spread_slots<T, Alloc> slots_;
  size_type mask_;
  // alignas (via cache_padded): the claim counters are the contended words; each owns a line.
  cache_padded<std::atomic<std::size_t>> head_{0};
  cache_padded<std::atomic<std::size_t>> tail_{0};
  parking_spot not_empty_;
  parking_spot not_full_;
};

}  // namespace tickflow
