/// @file
/// tickflow/queue/spsc_ring.hpp — bounded wait-free single-producer / single-consumer ring.
///
/// Contract
///   * Exactly one thread at a time acts as the producer (try_push, try_emplace, try_push_n,
///     push, try_reserve, commit) and exactly one as the consumer (try_pop, try_pop_n, pop, peek,
///     release). The roles may move between threads only across a synchronization that orders
///     the old thread's last call before the new thread's first. Observers (capacity, was_size,
///     was_empty) may be called from any thread. Construction and destruction must not overlap
///     any other call.
///   * Memory ordering: every publication by the producer (a push, a batch, a commit) is a release
///     that synchronizes-with the consumer call that takes the item, so everything the producer
///     wrote before pushing is visible to the consumer after popping. Symmetrically every
///     consumer release of a slot synchronizes-with the producer call that reuses it.
///   * capacity() is exactly the capacity given to the constructor: the ring holds that many
///     items when full. try_ calls are wait-free: a bounded number of steps, never waiting on the
///     other side.
///   * Allocation: the constructor allocates the slot buffer once through `Alloc` (rebound to an
///     internal cache-line-aligned unit: an allocator must honour that alignment, as
///     std::allocator does). Nothing else allocates; the destructor destroys the items still
///     queued and frees the buffer.
///   * Exceptions: the constructor throws std::invalid_argument for capacity 0, std::length_error
///     when the buffer's size in bytes would overflow (any capacity, any item size), and whatever
///     the allocator throws. try_emplace
///     propagates an exception from T's constructor and then leaves the ring unchanged. Batch
///     calls require nothrow copy/move. Blocking calls never throw on their own.
///   * Zero-copy reservations (packed layout): try_reserve / commit (T trivially copyable and
///     trivially default-constructible: reserved slots start their lifetime without running code)
///     and peek / release (T trivially copyable) hand out contiguous spans inside the buffer. A span may be shorter than
///     asked (free space, available items, and the end of a cell all cut it); callers loop.
///   * Blocking calls (push, pop) wait through a wait policy (core/wait.hpp; park_wait by
///     default). A parked thread is woken at once by the other side's blocking calls, which
///     notify after every operation (one uncontended atomic RMW when nobody sleeps). try_ calls do
///     not notify, to keep that RMW off their path: a parked peer then sees their progress
///     within one park_wait::max_sleep slice (1 ms by default).
///
/// Layout (spsc_layout.hpp): `packed` (default) keeps items contiguous in 4 KiB cells, for
/// zero-copy spans and batches; `spread` gives every line its own sequence word and puts
/// neighbouring items on different lines, for single-item streaming (one miss per item, not
/// two). In both the consumer learns that an item is there from a sequence word next
/// to it, and the producer learns about free space from a cached copy of the consumer's
/// position, re-read only when the ring looks full. Each side keeps its cursor on its own line.
///
/// Complexity: O(1) per item; batch calls O(n) with one release store per cell touched (packed)
/// or per item (spread) and one cursor publication per call.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>
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
#include "tickflow/queue/spsc_layout.hpp"

namespace tickflow {

/// Bounded wait-free SPSC ring. See the file contract.
template <ring_element T, class Alloc, class Layout>
class basic_spsc_ring {
  using storage = detail::spsc_storage<T, Alloc, Layout>;

 public:
  /// The element type.
  using value_type = T;
  /// The allocator of the slots.
  using allocator_type = Alloc;
  /// Sizes and positions.
  using size_type = std::size_t;
  /// Where the ring's counters and slots sit (spsc_layout.hpp).
  using layout = Layout;

  /// The longest contiguous run of items: zero-copy spans never exceed it (1 for `spread`).
  static constexpr size_type items_per_cell = storage::run;

  /// Allocates room for exactly `capacity` items. Throws std::invalid_argument if capacity is 0,
  /// std::length_error if the buffer's size would overflow.
  explicit basic_spsc_ring(size_type capacity, const Alloc& alloc = Alloc())
      : capacity_(checked(capacity)), store_(capacity, alloc) {}

  basic_spsc_ring(const basic_spsc_ring&) = delete;
  basic_spsc_ring& operator=(const basic_spsc_ring&) = delete;

  ~basic_spsc_ring() {
    if constexpr (!std::is_trivially_destructible_v<T>) {
      const std::size_t head = prod_->head.load(std::memory_order_relaxed);
      for (std::size_t pos = cons_->tail.load(std::memory_order_relaxed); pos != head; ++pos) item(pos)->~T();
    }
  }

  // ---------------------------------------------------------------- producer

  /// Producer. Constructs an item in place from `args`; false (and no construction) if full.
  template <class... Args>
    requires std::is_constructible_v<T, Args&&...>
  [[nodiscard]] bool try_emplace(Args&&... args) noexcept(std::is_nothrow_constructible_v<T, Args&&...>) {
    auto& p = *prod_;
    const std::size_t pos = p.head.load(std::memory_order_relaxed);
    if (TICKFLOW_UNLIKELY(pos - p.cached_tail >= capacity_)) {
      // Acquire: pairs with the consumer's release of the slots, so their old items are gone.
      p.cached_tail = cons_->tail.load(std::memory_order_acquire);
      if (pos - p.cached_tail >= capacity_) return false;
    }
    const detail::slot_ref slot = store_.locate(pos);
    ::new (slot.raw) T(std::forward<Args>(args)...);
    // Release: publishes the item constructed above to the consumer that reads this word.
    slot.seq.store(pos + 1, std::memory_order_release);
    p.head.store(pos + 1, std::memory_order_relaxed);
    return true;
  }

  /// Producer. Copies `v` in; false if full.
  [[nodiscard]] bool try_push(const T& v) noexcept(std::is_nothrow_copy_constructible_v<T>)
    requires std::is_copy_constructible_v<T>
  {
    return try_emplace(v);
  }
  /// Producer. Moves `v` in; false if full, and then `v` is untouched.
  [[nodiscard]] bool try_push(T&& v) noexcept(std::is_nothrow_move_constructible_v<T>) {
    return try_emplace(std::move(v));
  }

  /// Producer. Copies the longest prefix of `items` that fits; returns its length.
  size_type try_push_n(std::span<const T> items) noexcept
    requires std::is_nothrow_copy_constructible_v<T>
  {
    auto& p = *prod_;
    const std::size_t head = p.head.load(std::memory_order_relaxed);
    size_type n = items.size();
    if (capacity_ - (head - p.cached_tail) < n) {
      p.cached_tail = cons_->tail.load(std::memory_order_acquire);
      n = std::min(n, capacity_ - (head - p.cached_tail));
    }
    // Two passes: write every item, then publish run by run. The consumer therefore sees the
    // first run of the batch only once the whole batch is in memory, and does not chase the
    // producer line by line through it (each chase costs a cache-line round trip).
    const T* src = items.data();
    for (std::size_t pos = head, end = head + n; pos != end;) {
      const size_type m = std::min<size_type>(end - pos, store_.run_left(pos));
      copy_items(src, m, static_cast<T*>(store_.raw(pos)));
      src += m;
      pos += m;
    }
    for (std::size_t pos = head, end = head + n; pos != end;) {
      const size_type m = std::min<size_type>(end - pos, store_.run_left(pos));
      store_.seq(pos).store(pos + m, std::memory_order_release);  // Release: publishes the run.
      pos += m;
    }
    p.head.store(head + n, std::memory_order_relaxed);
    return n;
  }

  /// Producer. Blocks (through `policy`) until there is room, then pushes.
  template <wait_policy Policy = park_wait>
  void push(const T& v, Policy policy = {}) requires std::is_copy_constructible_v<T> {
    emplace_wait(policy, v);
  }
  /// Producer. Blocks (through `policy`) until there is room, then moves the item in.
  template <wait_policy Policy = park_wait>
  void push(T&& v, Policy policy = {}) {
    emplace_wait(policy, std::move(v));
  }

  /// Producer, zero-copy. A writable span of at most `max` slots, contiguous in the buffer
  /// (possibly empty, possibly shorter than `max`). Its contents are unspecified until written.
  /// Publish with commit(n), n <= size of the span; a later try_reserve replaces this one.
  [[nodiscard]] std::span<T> try_reserve(size_type max) noexcept
    requires storage::contiguous && std::is_trivially_copyable_v<T> && std::is_trivially_default_constructible_v<T>
  {
    auto& p = *prod_;
    const std::size_t head = p.head.load(std::memory_order_relaxed);
    size_type want = std::min(max, store_.run_left(head));
    if (head - p.cached_tail + want > capacity_) {
      p.cached_tail = cons_->tail.load(std::memory_order_acquire);
      want = std::min(want, capacity_ - (head - p.cached_tail));
    }
    T* first = static_cast<T*>(store_.raw(head));
    for (size_type i = 0; i < want; ++i) ::new (static_cast<void*>(first + i)) T;  // starts lifetimes; no code
    p.reserved = want;
    return {first, want};
  }
  /// Producer. Publishes the first `n` slots of the last reservation. n larger than that
  /// reservation results in undefined behavior.
  void commit(size_type n) noexcept requires storage::contiguous && std::is_trivially_copyable_v<T> {
    auto& p = *prod_;
    TICKFLOW_ASSERT(n <= p.reserved, "commit exceeds the reservation");
    p.reserved = 0;
    if (n == 0) return;
    const std::size_t head = p.head.load(std::memory_order_relaxed);
    store_.seq(head).store(head + n, std::memory_order_release);  // Release: publishes the writes.
    p.head.store(head + n, std::memory_order_relaxed);
  }

  // ---------------------------------------------------------------- consumer

  /// Consumer. Moves the oldest item into `out`; false if empty. If the move assignment
  /// throws, the item stays queued.
  [[nodiscard]] bool try_pop(T& out) noexcept(std::is_nothrow_move_assignable_v<T>)
    requires std::is_move_assignable_v<T>
  {
    auto& c = *cons_;
    const std::size_t tail = c.tail.load(std::memory_order_relaxed);
    const detail::slot_ref slot = store_.locate(tail);
    if (!ready(c, slot, tail)) return false;
    T* p = std::launder(static_cast<T*>(slot.raw));
    out = std::move(*p);
    p->~T();
    finish_pop(c, tail + 1);
    return true;
  }

  /// Consumer. The oldest item, or nullopt if empty.
  [[nodiscard]] std::optional<T> try_pop() noexcept(std::is_nothrow_move_constructible_v<T>) {
    auto& c = *cons_;
    const std::size_t tail = c.tail.load(std::memory_order_relaxed);
    const detail::slot_ref slot = store_.locate(tail);
    if (!ready(c, slot, tail)) return std::nullopt;
    T* p = std::launder(static_cast<T*>(slot.raw));
    std::optional<T> out(std::move(*p));
    p->~T();
    finish_pop(c, tail + 1);
    return out;
  }

  /// Consumer. Moves up to out.size() of the oldest items into `out`; returns how many.
  size_type try_pop_n(std::span<T> out) noexcept
    requires std::is_nothrow_move_assignable_v<T>
  {
    auto& c = *cons_;
    std::size_t tail = c.tail.load(std::memory_order_relaxed);
    size_type done = 0;
    if constexpr (storage::contiguous && std::is_trivially_copyable_v<T>) {
      // Fast path: if the run holding the last wanted item is published that far, every earlier
      // run is too (the producer publishes runs in order, each with a release that the acquire
      // below synchronizes with), so the whole batch copies without testing each run.
      const size_type want = out.size();
      if (want > items_per_cell) {
        const std::size_t last = tail + want - 1;
        if (store_.seq(last).load(std::memory_order_acquire) > last) {
          T* dst = out.data();
          for (std::size_t pos = tail, end = tail + want; pos != end;) {
            const size_type m = std::min<size_type>(end - pos, store_.run_left(pos));
            copy_items(item(pos), m, dst);
            dst += m;
            pos += m;
          }
          c.tail.store(tail + want, std::memory_order_release);
          return want;
        }
      }
    }
    while (done < out.size()) {
      const size_type in_run = store_.run_left(tail);
      const size_type m = std::min(readable(tail), out.size() - done);
      if (m == 0) break;
      T* first = item(tail);
      if constexpr (std::is_trivially_copyable_v<T>) {
        copy_items(first, m, out.data() + done);
      } else {
        std::move(first, first + m, out.data() + done);
        std::destroy_n(first, m);
      }
      done += m;
      tail += m;
      if (m < in_run) break;  // nothing more is published in this run yet (or out is full)
    }
    // Release: the slots read above may now be reused by the producer.
    if (done != 0) c.tail.store(tail, std::memory_order_release);
    return done;
  }

  /// Consumer. Blocks (through `policy`) until an item is available, then pops it.
  template <wait_policy Policy = park_wait>
  [[nodiscard]] T pop(Policy policy = {}) {
    auto& c = *cons_;
    const std::size_t tail = c.tail.load(std::memory_order_relaxed);
    policy.wait([&] { return store_.seq(tail).load(std::memory_order_acquire) > tail; }, not_empty_);
    T* p = item(tail);
    T out(std::move(*p));
    p->~T();
    finish_pop(c, tail + 1);
    not_full_.notify();
    return out;
  }

  /// Consumer, zero-copy. The oldest items as a contiguous span of at most `max` (possibly
  /// empty, possibly fewer than are queued). They stay queued until release().
  [[nodiscard]] std::span<T> peek(size_type max) noexcept
    requires storage::contiguous && std::is_trivially_copyable_v<T>
  {
    auto& c = *cons_;
    const std::size_t tail = c.tail.load(std::memory_order_relaxed);
    const size_type n = std::min(readable(tail), max);
    c.peeked = n;
    return {item(tail), n};
  }
  /// Consumer. Frees the first `n` items of the last peek. n larger than that peek results in
  /// undefined behavior.
  void release(size_type n) noexcept requires storage::contiguous && std::is_trivially_copyable_v<T> {
    auto& c = *cons_;
    TICKFLOW_ASSERT(n <= c.peeked, "release exceeds the peeked span");
    c.peeked = 0;
    if (n == 0) return;
    // Release: the slots are free.
    c.tail.store(c.tail.load(std::memory_order_relaxed) + n, std::memory_order_release);
  }

  // ---------------------------------------------------------------- observers (any thread)

  [[nodiscard]] size_type capacity() const noexcept { return capacity_; }
  /// A number of queued items in [0, capacity()], near the count at some instant during the call;
  /// exact only when both sides are idle. The two cursors are read one after the other, so from a
  /// third thread the difference may mix two instants; it is clamped to the ring's range.
  [[nodiscard]] size_type was_size() const noexcept {
    const std::size_t tail = cons_->tail.load(std::memory_order_acquire);
    const std::size_t head = prod_->head.load(std::memory_order_acquire);
    return head > tail ? std::min<size_type>(head - tail, capacity_) : 0;
  }
  [[nodiscard]] bool was_empty() const noexcept { return was_size() == 0; }
  [[nodiscard]] bool was_full() const noexcept { return was_size() >= capacity_; }

  /// Expensive (O(slots)) consistency check, for tests: the cursors are ordered and within
  /// capacity, every queued position reads as published, and no free position does. Call only
  /// while neither side is inside a call; otherwise the result is meaningless.
  [[nodiscard]] bool check_invariants() const noexcept {
    const std::size_t head = prod_->head.load(std::memory_order_acquire);
    const std::size_t tail = cons_->tail.load(std::memory_order_acquire);
    if (tail > head || head - tail > capacity_ || capacity_ > store_.slot_count()) return false;
    for (std::size_t pos = tail; pos != head; ++pos) {
      const std::size_t seq = store_.seq(pos).load(std::memory_order_acquire);
      if (seq <= pos || seq > head) return false;
    }
    for (std::size_t pos = head; pos != tail + store_.slot_count(); ++pos)
      if (store_.seq(pos).load(std::memory_order_acquire) > pos) return false;
    return true;
  }
  [[nodiscard]] allocator_type get_allocator() const { return store_.allocator(); }

 private:
  /// @cond
  struct producer_state {
    // Position of the next item to push. Written only by the producer (relaxed loads of its own
    // value are exact); atomic so that observers on other threads may read it.
    std::atomic<std::size_t> head{0};
    std::size_t cached_tail = 0;  // last tail seen
    size_type reserved = 0;
  };
  struct consumer_state {
    // Position of the next item to pop. Written only by the consumer; read by the producer when
    // the ring looks full, and by observers.
    std::atomic<std::size_t> tail{0};
    size_type peeked = 0;
    unsigned empty_polls = 0;  // consecutive single-item pops that found the ring empty
  };

  // Packed layout: after this many consecutive empty polls the consumer counts as waiting for
  // single items (docs/decisions.md, spsc_ring).
  static constexpr unsigned waiting_after_empty_polls = 4;

  // Whether the item at `tail` is published; counts empty polls. In the packed layout the item's
  // line is usually not the one holding the sequence word. A consumer that keeps finding the
  // ring empty asks for the item's line along with the word, so that the two misses overlap
  // (a predicted "empty" branch would serialize them). One that streams does not: asking for a
  // line the producer is still filling takes it away from the producer.
  // The spread layout has item and word on one line and keeps no count.
  static bool ready(consumer_state& c, const detail::slot_ref& slot, std::size_t tail) noexcept {
    if constexpr (storage::contiguous) {
      if (c.empty_polls >= waiting_after_empty_polls) __builtin_prefetch(slot.raw, 0, 3);
      // Acquire: pairs with the producer's release of the item's sequence word.
      if (slot.seq.load(std::memory_order_acquire) <= tail) {
        if (c.empty_polls < waiting_after_empty_polls) ++c.empty_polls;
        return false;
      }
      c.empty_polls = 0;
      return true;
    } else {
      (void)c;
      return slot.seq.load(std::memory_order_acquire) > tail;  // Acquire: as above.
    }
  }

  static size_type checked(size_type capacity) {
    if (capacity == 0) throw std::invalid_argument("tickflow::spsc_ring: capacity must be at least 1");
    return capacity;
  }
  // Copies m items into uninitialized (or trivially overwritable) storage. A whole cell of a
  // trivially copyable T is one fixed-size copy, which compiles to a few vector moves instead
  // of a call to memmove.
  static void copy_items(const T* src, size_type m, T* dst) noexcept {
    if constexpr (std::is_trivially_copyable_v<T>) {
      if (m == items_per_cell) std::memcpy(static_cast<void*>(dst), src, items_per_cell * sizeof(T));
      else std::memcpy(static_cast<void*>(dst), src, m * sizeof(T));
    } else {
      std::uninitialized_copy_n(src, m, dst);
    }
  }
  T* item(std::size_t pos) const noexcept { return std::launder(static_cast<T*>(store_.raw(pos))); }
  // Items readable from `tail` within its run. The run's sequence word may already count items
  // of the next lap when the producer has wrapped around into this very cell, so the count stops
  // at the end of the run.
  size_type readable(std::size_t tail) const noexcept {
    const std::size_t seq = store_.seq(tail).load(std::memory_order_acquire);
    if (seq <= tail) return 0;
    return std::min<size_type>(seq - tail, store_.run_left(tail));
  }
  static void finish_pop(consumer_state& c, std::size_t next_tail) noexcept {
    // Release: the item has been moved out and destroyed; the producer may reuse the slot.
    c.tail.store(next_tail, std::memory_order_release);
  }
  template <class Policy, class... Args>
  void emplace_wait(Policy& policy, Args&&... args) {
    auto& p = *prod_;
    policy.wait(
        [&] {
          const std::size_t head = p.head.load(std::memory_order_relaxed);
          if (head - p.cached_tail < capacity_) return true;
          p.cached_tail = cons_->tail.load(std::memory_order_acquire);
          return head - p.cached_tail < capacity_;
        },
        not_full_);
    const bool ok = try_emplace(std::forward<Args>(args)...);
    TICKFLOW_ASSERT(ok, "room vanished under the only producer");
    (void)ok;
    not_empty_.notify();
  }

  // Immutable after construction; read by both sides.
  size_type capacity_;
  storage store_;
  // alignas (via cache_padded): the producer's cursor and the consumer's cursor each own their
  // line, so neither side's writes evict what the other reads.
  cache_padded<producer_state> prod_;
  cache_padded<consumer_state> cons_;
  parking_spot not_empty_;  // the consumer parks here; blocking pushes notify
  parking_spot not_full_;   // the producer parks here; blocking pops notify
  /// @endcond
};

}  // namespace tickflow
