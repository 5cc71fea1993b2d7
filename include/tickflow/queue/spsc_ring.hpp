// tickflow/queue/spsc_ring.hpp — bounded wait-free single-producer / single-consumer ring.
//
// Contract
//   * Exactly one thread at a time acts as the producer (try_push, try_emplace, try_push_n,
//     push, try_reserve, commit) and exactly one as the consumer (try_pop, try_pop_n, pop, peek,
//     release). The roles may move between threads only across a synchronization that orders
//     the old thread's last call before the new thread's first. Observers (capacity, was_size,
//     was_empty) may be called from any thread. Construction and destruction must not overlap
//     any other call.
//   * Memory ordering: every publication by the producer (a push, a batch, a commit) is a release
//     that synchronizes-with the consumer call that takes the item, so everything the producer
//     wrote before pushing is visible to the consumer after popping. Symmetrically every
//     consumer release of a slot synchronizes-with the producer call that reuses it.
//   * capacity() is exactly the capacity given to the constructor: the ring holds that many
//     items when full. try_ calls are wait-free: a bounded number of steps, never waiting on the
//     other side.
//   * Allocation: the constructor allocates the slot buffer once through `Alloc` (rebound to the
//     internal cell type, which is aligned to the cache line: an allocator must honour that
//     alignment, as std::allocator does). Nothing else allocates; the destructor destroys the
//     items still queued and frees the buffer.
//   * Exceptions: the constructor throws std::invalid_argument for capacity 0, std::length_error
//     when the buffer size would overflow, and whatever the allocator throws. try_emplace
//     propagates an exception from T's constructor and then leaves the ring unchanged. Batch
//     calls require nothrow copy/move. Blocking calls never throw on their own.
//   * Zero-copy reservations (trivially copyable T only): try_reserve / commit and peek / release
//     hand out contiguous spans inside the buffer. A span may be shorter than asked (free space,
//     available items, and the end of a contiguous run of slots all cut it); callers loop.
//   * Blocking calls (push, pop) wait through a wait policy (core/wait.hpp; park_wait by
//     default). A parked thread is woken at once by the other side's blocking calls, which
//     notify after every operation (one uncontended atomic RMW when nobody sleeps). try_ calls do
//     not notify, to keep that RMW off their path: a parked peer then sees their progress
//     within one park_wait::max_sleep slice (1 ms by default).
//
// Layout (why it is fast)
//   Slots are grouped in cells of one cache line: a sequence word followed by as many items as
//   fit (7 x 8-byte items per 64-byte line). The producer writes items, then stores into the
//   cell's sequence word the index one past the last item it published there. The consumer tests
//   that word, which sits in the line it must read anyway, so taking an item costs one cache miss
//   rather than two (the producer's index and the slot). The producer learns about free space
//   from the consumer's index, which it caches and re-reads only when the ring looks full. Each
//   side keeps its private cursor on its own cache line; a padding cell guards both ends of the
//   buffer against neighbours in the heap.
//
// Complexity: O(1) per item; batch calls O(n) with one index publication per call.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>
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

namespace detail {

/// Geometry of a cell holding `T`: a sequence word, then `per_cell` items, one cache line when
/// the items are small.
template <class T>
struct spsc_cell_layout {
  static constexpr std::size_t seq_size = sizeof(std::atomic<std::size_t>);
  static constexpr std::size_t item_offset = alignof(T) > seq_size ? alignof(T) : seq_size;
  static constexpr std::size_t per_cell =
      item_offset + sizeof(T) <= cache_line_size ? (cache_line_size - item_offset) / sizeof(T) : 1;
  static constexpr std::size_t align = alignof(T) > cache_line_size ? alignof(T) : cache_line_size;
};

}  // namespace detail

/// Bounded wait-free SPSC ring. See the file contract.
template <ring_element T, class Alloc>
class basic_spsc_ring {
  using layout = detail::spsc_cell_layout<T>;

  // alignas: one cell per cache line (or run of lines), so the producer and consumer share a
  // line only while they work on the same cell.
  struct alignas(layout::align) cell {
    /// One past the absolute index of the last item published in this cell; the item at
    /// absolute index t (in this cell) is readable iff seq > t.
    std::atomic<std::size_t> seq{0};
    alignas(T) std::byte items[layout::per_cell * sizeof(T)];
  };
  static_assert(offsetof(cell, items) == layout::item_offset);

  using cell_alloc = typename std::allocator_traits<Alloc>::template rebind_alloc<cell>;
  using cell_traits = std::allocator_traits<cell_alloc>;

 public:
  using value_type = T;
  using allocator_type = Alloc;
  using size_type = std::size_t;

  /// Items stored per cache-line cell; contiguous spans never cross a cell.
  static constexpr size_type items_per_cell = layout::per_cell;

  /// Allocates room for exactly `capacity` items. Throws std::invalid_argument if capacity is 0.
  explicit basic_spsc_ring(size_type capacity, const Alloc& alloc = Alloc())
      : shared_(make_shared_state(capacity, alloc)), prod_(shared_), cons_(shared_) {}

  basic_spsc_ring(const basic_spsc_ring&) = delete;
  basic_spsc_ring& operator=(const basic_spsc_ring&) = delete;

  ~basic_spsc_ring() {
    if constexpr (!std::is_trivially_destructible_v<T>) {
      while (cons_->tail != prod_->head) {
        item(cons_->cell_ptr, cons_->slot)->~T();
        ++cons_->tail;
        advance(cons_->cell_ptr, cons_->slot, 1);
      }
    }
    cell_alloc a(shared_.alloc);
    cell* first = shared_.cells - 1;  // the leading guard cell
    for (size_type i = 0; i < shared_.ncells + 2; ++i) first[i].~cell();
    cell_traits::deallocate(a, first, shared_.ncells + 2);
  }

  // ---------------------------------------------------------------- producer

  /// Producer. Constructs an item in place from `args`; false (and no construction) if full.
  template <class... Args>
    requires std::is_constructible_v<T, Args&&...>
  [[nodiscard]] bool try_emplace(Args&&... args) noexcept(std::is_nothrow_constructible_v<T, Args&&...>) {
    auto& p = *prod_;
    if (TICKFLOW_UNLIKELY(p.head - p.cached_tail >= shared_.capacity)) {
      // Acquire: pairs with the consumer's release of the slots, so their old items are gone.
      p.cached_tail = cons_->published_tail.load(std::memory_order_acquire);
      if (p.head - p.cached_tail >= shared_.capacity) return false;
    }
    ::new (raw(p.cell_ptr, p.slot)) T(std::forward<Args>(args)...);
    ++p.head;
    // Release: publishes the item constructed above to the consumer that reads this word.
    p.cell_ptr->seq.store(p.head, std::memory_order_release);
    p.published_head.store(p.head, std::memory_order_relaxed);
    advance(p.cell_ptr, p.slot, 1);
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
    size_type n = items.size();
    size_type room = shared_.capacity - (p.head - p.cached_tail);
    if (room < n) {
      p.cached_tail = cons_->published_tail.load(std::memory_order_acquire);
      room = shared_.capacity - (p.head - p.cached_tail);
      n = std::min(n, room);
    }
    // Two passes: write every item, then publish cell by cell. The consumer therefore sees the
    // first cell of the batch only once the whole batch is in memory, and does not chase the
    // producer line by line through it (each chase costs a cache-line round trip).
    const T* src = items.data();
    cell* c = p.cell_ptr;
    size_type slot = p.slot;
    for (size_type left = n; left != 0;) {
      const size_type m = std::min(left, items_per_cell - slot);
      copy_items(src, m, static_cast<T*>(raw(c, slot)));
      src += m;
      left -= m;
      advance(c, slot, m);
    }
    for (size_type left = n; left != 0;) {
      const size_type m = std::min(left, items_per_cell - p.slot);
      p.head += m;
      p.cell_ptr->seq.store(p.head, std::memory_order_release);  // Release: publishes the m items.
      left -= m;
      advance(p.cell_ptr, p.slot, m);
    }
    p.published_head.store(p.head, std::memory_order_relaxed);
    return n;
  }

  /// Producer. Blocks (through `policy`) until there is room, then pushes.
  template <wait_policy Policy = park_wait>
  void push(const T& v, Policy policy = {}) requires std::is_copy_constructible_v<T> {
    emplace_wait(policy, v);
  }
  template <wait_policy Policy = park_wait>
  void push(T&& v, Policy policy = {}) {
    emplace_wait(policy, std::move(v));
  }

  /// Producer, zero-copy. A writable span of at most `max` slots, contiguous in the buffer
  /// (possibly empty, possibly shorter than `max`). Its contents are unspecified until written.
  /// Publish with commit(n), n <= size of the span; a later try_reserve replaces this one.
  [[nodiscard]] std::span<T> try_reserve(size_type max) noexcept
    requires std::is_trivially_copyable_v<T> && std::is_trivially_default_constructible_v<T>
  {
    auto& p = *prod_;
    size_type want = std::min(max, items_per_cell - p.slot);
    if (p.head - p.cached_tail + want > shared_.capacity) {
      p.cached_tail = cons_->published_tail.load(std::memory_order_acquire);
      want = std::min(want, shared_.capacity - (p.head - p.cached_tail));
    }
    T* first = static_cast<T*>(raw(p.cell_ptr, p.slot));
    for (size_type i = 0; i < want; ++i) ::new (static_cast<void*>(first + i)) T;  // starts lifetimes; no code
    p.reserved = want;
    return {first, want};
  }
  /// Producer. Publishes the first `n` slots of the last reservation. n larger than that
  /// reservation results in undefined behavior.
  void commit(size_type n) noexcept requires std::is_trivially_copyable_v<T> {
    auto& p = *prod_;
    TICKFLOW_ASSERT(n <= p.reserved, "commit exceeds the reservation");
    p.reserved = 0;
    if (n == 0) return;
    p.head += n;
    p.cell_ptr->seq.store(p.head, std::memory_order_release);  // Release: publishes the writes.
    p.published_head.store(p.head, std::memory_order_relaxed);
    advance(p.cell_ptr, p.slot, n);
  }

  // ---------------------------------------------------------------- consumer

  /// Consumer. Moves the oldest item into `out`; false if empty. If the move assignment
  /// throws, the item stays queued.
  [[nodiscard]] bool try_pop(T& out) noexcept(std::is_nothrow_move_assignable_v<T>)
    requires std::is_move_assignable_v<T>
  {
    auto& c = *cons_;
    // Acquire: pairs with the producer's release of this cell's sequence word.
    if (c.cell_ptr->seq.load(std::memory_order_acquire) <= c.tail) return false;
    T* p = item(c.cell_ptr, c.slot);
    out = std::move(*p);
    p->~T();
    finish_pop(c);
    return true;
  }

  /// Consumer. The oldest item, or nullopt if empty.
  [[nodiscard]] std::optional<T> try_pop() noexcept(std::is_nothrow_move_constructible_v<T>) {
    auto& c = *cons_;
    if (c.cell_ptr->seq.load(std::memory_order_acquire) <= c.tail) return std::nullopt;
    T* p = item(c.cell_ptr, c.slot);
    std::optional<T> out(std::move(*p));
    p->~T();
    finish_pop(c);
    return out;
  }

  /// Consumer. Moves up to out.size() of the oldest items into `out`; returns how many.
  size_type try_pop_n(std::span<T> out) noexcept
    requires std::is_nothrow_move_assignable_v<T>
  {
    auto& c = *cons_;
    size_type done = 0;
    while (done < out.size()) {
      const std::size_t seq = c.cell_ptr->seq.load(std::memory_order_acquire);
      if (seq <= c.tail) break;
      const size_type m = std::min(readable(c, seq), out.size() - done);
      T* first = item(c.cell_ptr, c.slot);
      if constexpr (std::is_trivially_copyable_v<T>) {
        copy_items(first, m, out.data() + done);
      } else {
        std::move(first, first + m, out.data() + done);
        std::destroy_n(first, m);
      }
      done += m;
      c.tail += m;
      const bool cell_done = c.slot + m == items_per_cell;
      advance(c.cell_ptr, c.slot, m);
      if (!cell_done) break;  // nothing more has been published in this cell yet
    }
    // Release: the slots read above may now be reused by the producer.
    if (done != 0) c.published_tail.store(c.tail, std::memory_order_release);
    return done;
  }

  /// Consumer. Blocks (through `policy`) until an item is available, then pops it.
  template <wait_policy Policy = park_wait>
  [[nodiscard]] T pop(Policy policy = {}) {
    auto& c = *cons_;
    policy.wait([&] { return c.cell_ptr->seq.load(std::memory_order_acquire) > c.tail; }, shared_.not_empty);
    T* p = item(c.cell_ptr, c.slot);
    T out(std::move(*p));
    p->~T();
    finish_pop(c);
    shared_.not_full.notify();
    return out;
  }

  /// Consumer, zero-copy. The oldest items as a contiguous span of at most `max` (possibly
  /// empty, possibly fewer than are queued). They stay queued until release().
  [[nodiscard]] std::span<T> peek(size_type max) noexcept requires std::is_trivially_copyable_v<T> {
    auto& c = *cons_;
    const std::size_t seq = c.cell_ptr->seq.load(std::memory_order_acquire);
    const size_type n = std::min(readable(c, seq), max);
    c.peeked = n;
    return {item(c.cell_ptr, c.slot), n};
  }
  /// Consumer. Frees the first `n` items of the last peek. n larger than that peek results in
  /// undefined behavior.
  void release(size_type n) noexcept requires std::is_trivially_copyable_v<T> {
    auto& c = *cons_;
    TICKFLOW_ASSERT(n <= c.peeked, "release exceeds the peeked span");
    c.peeked = 0;
    if (n == 0) return;
    c.tail += n;
    c.published_tail.store(c.tail, std::memory_order_release);  // Release: the slots are free.
    advance(c.cell_ptr, c.slot, n);
  }

  // ---------------------------------------------------------------- observers (any thread)

  [[nodiscard]] size_type capacity() const noexcept { return shared_.capacity; }
  /// Number of queued items at some instant during the call; exact only when both sides are idle.
  [[nodiscard]] size_type was_size() const noexcept {
    const std::size_t tail = cons_->published_tail.load(std::memory_order_acquire);
    const std::size_t head = prod_->published_head.load(std::memory_order_acquire);
    return head > tail ? head - tail : 0;
  }
  [[nodiscard]] bool was_empty() const noexcept { return was_size() == 0; }
  [[nodiscard]] bool was_full() const noexcept { return was_size() >= shared_.capacity; }
  [[nodiscard]] allocator_type get_allocator() const { return shared_.alloc; }

 private:
  struct shared_state {
    cell* cells;
    cell* cells_end;
    size_type ncells;
    size_type capacity;
    [[no_unique_address]] Alloc alloc;
    parking_spot not_empty;  // the consumer parks here; pushes notify
    parking_spot not_full;   // the producer parks here; pops notify
  };
  struct producer_state {
    explicit producer_state(const shared_state& s) noexcept : cell_ptr(s.cells) {}
    cell* cell_ptr;
    size_type slot = 0;         // position of the next item within *cell_ptr
    std::size_t head = 0;       // absolute index of the next item to push
    std::size_t cached_tail = 0;  // last published_tail seen
    size_type reserved = 0;
    std::atomic<std::size_t> published_head{0};  // for observers only
  };
  struct consumer_state {
    explicit consumer_state(const shared_state& s) noexcept : cell_ptr(s.cells) {}
    cell* cell_ptr;
    size_type slot = 0;
    std::size_t tail = 0;       // absolute index of the next item to pop
    size_type peeked = 0;
    std::atomic<std::size_t> published_tail{0};  // read by the producer when the ring looks full
  };

  static shared_state make_shared_state(size_type capacity, const Alloc& alloc) {
    if (capacity == 0) throw std::invalid_argument("tickflow::spsc_ring: capacity must be at least 1");
    const size_type ncells = capacity / items_per_cell + (capacity % items_per_cell != 0 ? 1 : 0);
    if (ncells > std::numeric_limits<size_type>::max() / sizeof(cell) - 2)
      throw std::length_error("tickflow::spsc_ring: capacity too large");
    cell_alloc a(alloc);
    cell* raw = cell_traits::allocate(a, ncells + 2);
    for (size_type i = 0; i < ncells + 2; ++i) ::new (static_cast<void*>(raw + i)) cell;
    return shared_state{raw + 1, raw + 1 + ncells, ncells, capacity, alloc, {}, {}};
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
  static void* raw(cell* c, size_type slot) noexcept { return c->items + slot * sizeof(T); }
  static T* item(cell* c, size_type slot) noexcept { return std::launder(static_cast<T*>(raw(c, slot))); }
  void advance(cell*& c, size_type& slot, size_type n) const noexcept {
    slot += n;
    if (slot == items_per_cell) {
      slot = 0;
      if (++c == shared_.cells_end) c = shared_.cells;
    }
  }
  // Items readable in the consumer's cell given its sequence word. The word may already count
  // items of the next lap when the producer has wrapped around into this very cell, so the
  // count stops at the end of the cell.
  static size_type readable(const consumer_state& c, std::size_t seq) noexcept {
    if (seq <= c.tail) return 0;
    return std::min(static_cast<size_type>(seq - c.tail), items_per_cell - c.slot);
  }
  void finish_pop(consumer_state& c) noexcept {
    ++c.tail;
    // Release: the item has been moved out and destroyed; the producer may reuse the slot.
    c.published_tail.store(c.tail, std::memory_order_release);
    advance(c.cell_ptr, c.slot, 1);
  }
  template <class Policy, class... Args>
  void emplace_wait(Policy& policy, Args&&... args) {
    auto& p = *prod_;
    policy.wait(
        [&] {
          if (p.head - p.cached_tail < shared_.capacity) return true;
          p.cached_tail = cons_->published_tail.load(std::memory_order_acquire);
          return p.head - p.cached_tail < shared_.capacity;
        },
        shared_.not_full);
    const bool ok = try_emplace(std::forward<Args>(args)...);
    TICKFLOW_ASSERT(ok, "room vanished under the only producer");
    (void)ok;
    shared_.not_empty.notify();
  }

  // alignas (via cache_padded): the immutable fields, the producer's cursor and the consumer's
  // cursor each own their lines, so neither side's writes evict what the other reads.
  shared_state shared_;
  cache_padded<producer_state> prod_;
  cache_padded<consumer_state> cons_;
};

}  // namespace tickflow
