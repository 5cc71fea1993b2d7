/// @file
/// tickflow/queue/mpmc_ring.hpp — bounded lock-free multi-producer / multi-consumer ring.
///
/// Contract
///   * Any number of threads may call any producer call (try_push, try_emplace, try_push_n, push)
///     and any consumer call (try_pop, try_pop_n, pop) concurrently. Observers (capacity,
///     was_size, was_empty) may be called from any thread. Construction and destruction must not
///     overlap any other call.
///   * Algorithm: D. Vyukov's bounded MPMC queue. Every slot carries a sequence number that says
///     which lap it is ready for: a producer may fill slot i when seq == i, a consumer may take it
///     when seq == i + 1, and then hands it to the next lap by storing i + capacity. No value of T
///     is reserved as an empty marker.
///   * A slot may also read "skipped at position i" (i + 1 with the top bit set): a producer
///     handle gave the position up without an item. Consumers free such slots and pass over them.
///   * Memory ordering: a producer's sequence store is a release that synchronizes-with the
///     acquire load of the consumer that takes the item; the consumer's store that frees the slot
///     synchronizes-with the producer of the next lap.
///   * Ordering: items take increasing positions in the order their push claimed them, and every
///     consumer takes increasing positions, so the items one producer endpoint pushes are popped
///     in push order (by any one consumer, and globally by claim order); across endpoints the order
///     is the order of their claims. A producer endpoint is either a handle (below) or a thread's
///     sequence of ring calls. See "Ordering with handles" for threads that use both.
///   * Progress: try_ calls are lock-free. They never wait for another thread to finish with a
///     slot: a slot still held by a slow (or preempted) thread, or by a skip marker no consumer
///     has passed yet, makes try_push report full, and a slot not yet published makes try_pop
///     report empty. They retry only when another thread's claim succeeded in between.
///   * capacity() is the requested capacity rounded up to a power of two, to at least 2, and to
///     at least the square of the slots per cache line (slot_storage.hpp, spread_geometry): 16 for
///     items of up to 8 bytes (a slot is 16 bytes, 4 per line), 4 for items of 9 to 24 bytes (2
///     per line), 2 for larger items.
///   * Allocation: the constructor allocates the slot buffer once through `Alloc` (rebound to a
///     cache-line-aligned unit). Nothing else allocates.
///   * Exceptions: the constructor throws std::invalid_argument for capacity 0,
///     std::length_error when the buffer's size would overflow, and whatever the allocator throws.
///     Every other call is noexcept (the blocking ones when the wait policy's wait is, as every
///     policy of core/wait.hpp is): a slot is claimed before the item is constructed in it and
///     cannot be given back, so the element operations a call uses (construction from the
///     arguments, move, copy) must not throw; the requires-clauses enforce it.
///   * Blocking calls (push, pop) wait through a wait policy (park_wait by default); a parked
///     thread is woken at once by the other side's blocking calls. try_ calls do not notify: a
///     parked peer sees their progress within one park_wait::max_sleep slice (1 ms by default).
///
/// Handles (producer / consumer endpoints with claims held across calls)
///   * make_producer(run) / make_consumer(run) (run: default 128, clamped to [1, capacity / 8])
///     return move-only handles, each used by one thread at a time, that satisfy
///     producer_endpoint / consumer_endpoint (and the batch concepts).
///     A handle claims up to `run` consecutive positions with one CAS and then works through
///     them with plain loads and release stores, so a stream of single items costs one locked
///     instruction per run instead of one per item on each side.
///   * A producer handle claims only slots that are free; it fills them in order. Until it fills
///     them, consumers cannot pass them: call flush() (or destroy the handle) when the producer
///     pauses. flush() undoes the rest of the claim if no producer has claimed past it, and
///     otherwise publishes every unfilled claimed slot as a skip marker, which consumers free and
///     pass over; it never waits. Skip markers count in was_size() until a consumer passes them.
///   * A consumer handle claims only positions that are already published (items or skips) and
///     hands the items out one per call, in position order. Items a handle holds are out of
///     every other consumer's reach until it returns them. release() (and the destructor) gives
///     them back: the claim is undone if no consumer has claimed past it; otherwise the run is
///     parked in the ring, and the next consumer that needs items adopts it first. Nothing is
///     lost. An adopted run is older than what its adopter may have popped already, so only in
///     that case may a consumer see one producer's items out of push order. At most
///     max_returned_runs runs are parked at once; a release that finds no room yields, without
///     holding the table's lock, until a consumer adopts one.
///   * Handles must be destroyed before their ring. Ring calls and handle calls may be mixed.
///   * A moved-from handle holds nothing and is bound to no ring: its try_ calls return false
///     (empty), flush()/release() do nothing, held() is 0; it may be assigned to or destroyed.
///   * was_size() counts positions between the two claim counters: slots claimed by producers but
///     not yet filled count, as do skip markers not yet passed; items held by consumer handles or
///     parked are below them and do not count.
///   * Ordering with handles: each handle is its own producer (or consumer) endpoint. A handle
///     claims positions ahead of its pushes, so a thread that pushes through a handle and through
///     ring calls (or through two handles) interleaves two endpoints: h.try_push(a);
///     q.try_push(b); h.try_push(c) may pop a, c, b. Order across them holds only across flushes:
///     once a thread has flushed every producer handle it holds, every item it pushed before takes
///     a lower position than every item it pushes after, by any endpoint (each later push claims a
///     new position past every earlier claim). Symmetrically, a consumer handle holds a
///     run of positions, and a thread that also pops with ring calls may see items from beyond the
///     run first; release() the handle between the two to take positions in order. Within one
///     endpoint, the per-producer order above holds, except for adopted runs, as said.
///
/// Layout: detail::spread_slots (slot_storage.hpp): slots (sequence word + item) are packed, and
/// consecutive positions live on different cache lines, so neighbouring claims by different
/// threads do not false-share; the producer and consumer claim counters own a line each.
///
/// Complexity: O(1) per item; batch calls claim a run of slots with one CAS.
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
#include <thread>
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
  /// The element type.
  using value_type = T;
  /// The allocator of the slots.
  using allocator_type = Alloc;
  /// Sizes and positions.
  using size_type = std::size_t;

  /// Allocates a buffer of at least `capacity` slots (see capacity()). Throws
  /// std::invalid_argument if capacity is 0.
  explicit basic_mpmc_ring(size_type capacity, const Alloc& alloc = Alloc())
      : slots_(checked(capacity), alloc, /*seq_is_position=*/true), mask_(slots_.slot_count() - 1) {}

  basic_mpmc_ring(const basic_mpmc_ring&) = delete;
  basic_mpmc_ring& operator=(const basic_mpmc_ring&) = delete;

  ~basic_mpmc_ring() {
    if constexpr (!std::is_trivially_destructible_v<T>) {
      auto destroy = [&](std::size_t first, std::size_t end) {
        for (std::size_t pos = first; pos != end; ++pos)
          if (slots_.seq(pos).load(std::memory_order_relaxed) == pos + 1) item(pos)->~T();
      };
      destroy(tail_->load(std::memory_order_relaxed), head_->load(std::memory_order_relaxed));
      for (size_type i = 0; i < returned_count_->load(std::memory_order_relaxed); ++i)
        destroy(returned_[i].first, returned_[i].end);
    }
  }

  class producer;
  class consumer;
  /// Positions a handle claims at once unless told otherwise. A handle's run is at least 1 and
  /// at most an eighth of capacity(), so that one handle never claims the whole ring.
  static constexpr size_type default_run = 128;
  /// Runs given back by consumer handles that the ring parks at once (see the file contract).
  static constexpr size_type max_returned_runs = 64;

  /// A producer handle claiming up to `run` slots at a time (see default_run). Any thread.
  [[nodiscard]] producer make_producer(size_type run = default_run) noexcept { return producer(*this, run); }
  /// A consumer handle claiming up to `run` items at a time (see default_run). Any thread.
  [[nodiscard]] consumer make_consumer(size_type run = default_run) noexcept { return consumer(*this, run); }

  // ---------------------------------------------------------------- producers

  /// Any thread. Constructs an item in place; false (and no construction) if full.
  /// T's constructor from `args` must not throw: the slot is claimed before it runs.
  template <class... Args>
    requires std::is_nothrow_constructible_v<T, Args&&...>
  [[nodiscard]] bool try_emplace(Args&&... args) noexcept {
    std::size_t pos = head_->load(std::memory_order_relaxed);
    for (;;) {
      // Acquire: pairs with the release that freed the slot, so its last item is gone.
      // The skip mark is masked off: a skip marker of the previous lap reads as "not yet freed"
      // (full), not as a slot some producer already took.
      const std::size_t seq = slots_.seq(pos).load(std::memory_order_acquire) & ~skip_bit;
      const auto dif = static_cast<std::intptr_t>(seq - pos);
      if (dif == 0) {
        // Relaxed CAS: ownership of the slot is carried by its sequence word, not the counter.
        if (head_->compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) break;
      } else if (dif < 0) {
        return false;  // the slot still holds the previous lap's item or skip marker: full
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

  /// Any thread. Blocks (through `policy`) until the item is pushed. noexcept when the policy's
  /// wait is (every policy of core/wait.hpp).
  template <wait_policy Policy = park_wait>
  void push(const T& v, Policy policy = {}) noexcept(detail::nothrow_wait<Policy>)
    requires std::is_nothrow_copy_constructible_v<T>
  {
    policy.wait([&] { return try_emplace(v); }, not_full_);
    not_empty_.notify();
  }
  /// Moves an item in, waiting through `policy` while the ring is full.
  template <wait_policy Policy = park_wait>
  void push(T&& v, Policy policy = {}) noexcept(detail::nothrow_wait<Policy>)
    requires std::is_nothrow_move_constructible_v<T>
  {
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
    size_type done = 0;
    while (done == 0) {  // again only if the run held nothing but skip markers
      claim r = take_returned(out.size());
      if (r.count == 0) r = claim_run(*tail_, out.size(), 1);
      if (r.count == 0) break;
      for (size_type i = 0; i < r.count; ++i) {
        if (T* p = take(r.first + i)) {
          out[done++] = std::move(*p);
          p->~T();
        }
        free_slot(r.first + i);
      }
    }
    return done;
  }

  /// Any thread. Blocks (through `policy`) until an item is popped. noexcept as push.
  template <wait_policy Policy = park_wait>
  [[nodiscard]] T pop(Policy policy = {}) noexcept(detail::nothrow_wait<Policy>)
    requires std::is_nothrow_move_constructible_v<T>
  {
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

  /// The fixed capacity (a power of two).
  [[nodiscard]] size_type capacity() const noexcept { return mask_ + 1; }
  /// Positions between the producers' and the consumers' claim counters at some instant near the
  /// call, in [0, capacity()]: published items, slots claimed by producers but not yet filled,
  /// and skip markers not yet passed (see the file contract). Exact item count only when idle
  /// and no producer handle holds a claim.
  [[nodiscard]] size_type was_size() const noexcept {
    const std::size_t tail = tail_->load(std::memory_order_acquire);
    const std::size_t head = head_->load(std::memory_order_acquire);
    return head > tail ? std::min<size_type>(head - tail, mask_ + 1) : 0;
  }
  /// Whether was_size() is 0.
  [[nodiscard]] bool was_empty() const noexcept { return was_size() == 0; }

  /// Expensive (O(capacity)) consistency check, for tests: the claim counters are ordered and
  /// within capacity, every queued slot reads "published for its position" and every other slot
  /// "free for its position" (parked runs read published). Call only while no thread is inside a
  /// call and no handle holds a claim.
  [[nodiscard]] bool check_invariants() const noexcept {
    const std::size_t head = head_->load(std::memory_order_acquire);
    const std::size_t tail = tail_->load(std::memory_order_acquire);
    if (tail > head || head - tail > mask_ + 1) return false;
    auto published = [&](std::size_t pos) {
      return (slots_.seq(pos).load(std::memory_order_acquire) & ~skip_bit) == pos + 1;
    };
    for (std::size_t pos = tail; pos != head; ++pos)
      if (!published(pos)) return false;
    for (std::size_t pos = head; pos != tail + mask_ + 1; ++pos) {
      // A parked run's positions lie one lap below their slots' positions in this range.
      if (in_returned(pos - (mask_ + 1))) {
        if (!published(pos - (mask_ + 1))) return false;
      } else if (slots_.seq(pos).load(std::memory_order_acquire) != pos) {
        return false;
      }
    }
    return true;
  }
  /// A copy of the slots' allocator.
  [[nodiscard]] allocator_type get_allocator() const { return slots_.allocator(); }

 private:
  static size_type checked(size_type capacity) {
    if (capacity == 0) throw std::invalid_argument("tickflow::mpmc_ring: capacity must be at least 1");
    if (capacity > std::numeric_limits<size_type>::max() / 4) throw std::length_error("tickflow::mpmc_ring: capacity too large");
    return capacity < 2 ? 2 : capacity;  // with one slot, "freed" and "published" would read alike
  }
  T* item(std::size_t pos) const noexcept { return std::launder(static_cast<T*>(slots_.raw(pos))); }
  size_type handle_run(size_type run) const noexcept {
    return std::clamp<size_type>(run, 1, std::max<size_type>(1, capacity() / 8));
  }

  // The mark of a skipped position (see the file contract). Positions never reach it.
  static constexpr std::size_t skip_bit = std::size_t{1} << (std::numeric_limits<std::size_t>::digits - 1);

  // The item at a claimed position, or nullptr if the position was skipped. The claim's acquire
  // load already synchronized with the publication; the word cannot change while claimed.
  T* take(std::size_t pos) const noexcept {
    return (slots_.seq(pos).load(std::memory_order_relaxed) & skip_bit) ? nullptr : item(pos);
  }

  // Claims one position that holds an item; false if none is ready (empty, or the next slot is
  // still being filled). Skip markers met on the way are freed.
  bool claim_one(std::size_t& claimed) noexcept {
    for (claim r = take_returned(1); r.count != 0; r = take_returned(1)) {
      if (take(r.first) != nullptr) {
        claimed = r.first;
        return true;
      }
      free_slot(r.first);  // a parked skip marker
    }
    std::size_t pos = tail_->load(std::memory_order_relaxed);
    for (;;) {
      // Acquire: pairs with the producer's release, making the item visible.
      const std::size_t seq = slots_.seq(pos).load(std::memory_order_acquire);
      const auto dif = static_cast<std::intptr_t>((seq & ~skip_bit) - (pos + 1));
      if (dif == 0) {
        if (tail_->compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          if (!(seq & skip_bit)) {
            claimed = pos;
            return true;
          }
          free_slot(pos);  // a skip marker: pass over it
          pos = tail_->load(std::memory_order_relaxed);
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
  struct claim {
    std::size_t first;
    size_type count;
  };
  claim claim_run(std::atomic<std::size_t>& counter, size_type want, std::size_t lag) noexcept {
    if (want == 0) return {0, 0};
    std::size_t pos = counter.load(std::memory_order_relaxed);
    for (;;) {
      size_type n = 0;
      // The skip mark is masked off: skipped slots are claimable for consumers; free slots never
      // carry it.
      while (n < want && n <= mask_ &&
             (slots_.seq(pos + n).load(std::memory_order_acquire) & ~skip_bit) == pos + n + lag)
        ++n;
      if (n == 0) {
        const std::size_t seq = slots_.seq(pos).load(std::memory_order_acquire) & ~skip_bit;
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

  // Moves `counter` back from `end` to `first` if nobody has claimed past `end`: positions
  // [first, end) are unclaimed again, untouched (a producer's still read free, a consumer's
  // still read published). False if another claim came after. Relaxed: as for claims, the
  // slots' sequence words carry everything.
  static bool undo_claim(std::atomic<std::size_t>& counter, std::size_t first, std::size_t end) noexcept {
    std::size_t expected = end;
    return counter.compare_exchange_strong(expected, first, std::memory_order_relaxed);
  }

  // ---- runs given back by consumer handles (cold path)
  struct parked_run {
    std::size_t first;
    std::size_t end;
  };
  // Takes up to `want` positions from the front of a parked run; {0, 0} if there is none, or if
  // another thread holds the lock (consumers never wait for it).
  claim take_returned(size_type want) noexcept {
    if (TICKFLOW_LIKELY(returned_count_->load(std::memory_order_relaxed) == 0)) return {0, 0};
    // Acquire: pairs with the release that unlocked after parking, so the run's record (and,
    // through its releaser's claim, its items) are visible.
    if (returns_lock_.test_and_set(std::memory_order_acquire)) return {0, 0};
    claim r{0, 0};
    if (const size_type k = returned_count_->load(std::memory_order_relaxed); k != 0) {
      parked_run& last = returned_[k - 1];
      r = {last.first, std::min<size_type>(want, last.end - last.first)};
      last.first += r.count;
      if (last.first == last.end) returned_count_->store(k - 1, std::memory_order_relaxed);
    }
    returns_lock_.clear(std::memory_order_release);
    return r;
  }
  // Gives back claimed, untaken positions [first, end): undoes the claim if nobody claimed past
  // it, else parks the run (yielding while all max_returned_runs places are taken).
  void give_back(std::size_t first, std::size_t end) noexcept {
    if (first == end || undo_claim(*tail_, first, end)) return;
    for (;;) {
      // Wait for a free place without the lock: a consumer that finds the lock taken does not
      // adopt, so holding it while the table is full could keep the waited-for consumer away.
      while (returned_count_->load(std::memory_order_relaxed) >= max_returned_runs) std::this_thread::yield();
      while (returns_lock_.test_and_set(std::memory_order_acquire)) std::this_thread::yield();
      const size_type k = returned_count_->load(std::memory_order_relaxed);
      if (k < max_returned_runs) {
        returned_[k] = {first, end};
        returned_count_->store(k + 1, std::memory_order_relaxed);
        returns_lock_.clear(std::memory_order_release);
        return;
      }
      returns_lock_.clear(std::memory_order_release);
      std::this_thread::yield();
    }
  }
  bool in_returned(std::size_t pos) const noexcept {
    for (size_type i = 0; i < returned_count_->load(std::memory_order_relaxed); ++i)
      if (pos >= returned_[i].first && pos < returned_[i].end) return true;
    return false;
  }

  detail::spread_slots<T, Alloc> slots_;
  size_type mask_;
  // alignas (via cache_padded): the claim counters are the contended words; each owns a line.
  cache_padded<std::atomic<std::size_t>> head_{0};
  cache_padded<std::atomic<std::size_t>> tail_{0};
  parking_spot not_empty_;
  parking_spot not_full_;
  // Read by every consumer that needs a new claim, written only when a run is parked or
  // adopted: its own line, shared-clean almost always.
  cache_padded<std::atomic<size_type>> returned_count_{0};
  std::atomic_flag returns_lock_;  // guards returned_ and writes of returned_count_
  parked_run returned_[max_returned_runs] = {};
};

namespace detail {

// The claim a ring handle holds: positions [next, end) of `ring`, claimed up to `run` at a time.
// Moving it leaves the source holding nothing and bound to no ring. Before it is overwritten by
// a move or destroyed, it gives up what it still holds through Owner::give_up (a producer
// flushes, a consumer releases), so the handles need no special members of their own.
template <class Ring, class Owner>
struct held_claim {
  Ring* ring;
  std::size_t next = 0;
  std::size_t end = 0;
  std::size_t run;

  held_claim(Ring* r, std::size_t n) noexcept : ring(r), run(n) {}
  held_claim(held_claim&& o) noexcept
      : ring(std::exchange(o.ring, nullptr)), next(std::exchange(o.next, 0)), end(std::exchange(o.end, 0)), run(o.run) {}
  held_claim& operator=(held_claim&& o) noexcept {
    if (this != &o) {
      Owner::give_up(*this);
      ring = std::exchange(o.ring, nullptr);
      next = std::exchange(o.next, 0);
      end = std::exchange(o.end, 0);
      run = o.run;
    }
    return *this;
  }
  ~held_claim() { Owner::give_up(*this); }
};

}  // namespace detail

/// Producer handle of basic_mpmc_ring (see the ring's file contract, "Handles"). One thread at a
/// time; move-only; must be destroyed before its ring. Its destructor calls flush().
template <ring_element T, class Alloc>
class basic_mpmc_ring<T, Alloc>::producer {
 public:
  /// The element type.
  using value_type = T;
  /// Sizes and counts.
  using size_type = std::size_t;

  /// Constructs an item in the next claimed slot, claiming a new run of free slots first if
  /// none is held; false (and no construction) if no slot is free.
  template <class... Args>
    requires std::is_nothrow_constructible_v<T, Args&&...>
  [[nodiscard]] bool try_emplace(Args&&... args) noexcept {
    if (c_.next == c_.end) {
      if (TICKFLOW_UNLIKELY(c_.ring == nullptr)) return false;  // moved from
      const claim r = c_.ring->claim_run(*c_.ring->head_, c_.run, 0);
      if (r.count == 0) return false;
      c_.next = r.first;
      c_.end = r.first + r.count;
    }
    const detail::slot_ref slot = c_.ring->slots_.locate(c_.next);
    ::new (slot.raw) T(std::forward<Args>(args)...);
    // Release: publishes the item to the consumer that claims this position.
    slot.seq.store(c_.next + 1, std::memory_order_release);
    ++c_.next;
    return true;
  }
  /// Copies an item into the next claimed slot (as try_emplace).
  [[nodiscard]] bool try_push(const T& v) noexcept requires std::is_nothrow_copy_constructible_v<T> {
    return try_emplace(v);
  }
  /// False if full, and then `v` is untouched.
  [[nodiscard]] bool try_push(T&& v) noexcept requires std::is_nothrow_move_constructible_v<T> {
    return try_emplace(std::move(v));
  }
  /// Copies the longest prefix of `items` that finds free slots; returns its length.
  size_type try_push_n(std::span<const T> items) noexcept requires std::is_nothrow_copy_constructible_v<T> {
    size_type n = 0;
    while (n < items.size() && try_emplace(items[n])) ++n;
    return n;
  }

  /// Gives up the claimed slots not yet filled: the claim is undone if no producer has claimed
  /// past it, else each slot is published as a skip marker, which consumers pass over. Never
  /// waits.
  void flush() noexcept { give_up(c_); }
  /// Claimed slots not yet filled.
  [[nodiscard]] size_type held() const noexcept { return c_.end - c_.next; }

 private:
  friend class basic_mpmc_ring;
  using claim_type = detail::held_claim<basic_mpmc_ring, producer>;
  friend claim_type;
  producer(basic_mpmc_ring& ring, size_type run) noexcept : c_(&ring, ring.handle_run(run)) {}

  static void give_up(claim_type& c) noexcept {
    if (c.next == c.end) return;
    if (undo_claim(*c.ring->head_, c.next, c.end)) {
      c.end = c.next;
      return;
    }
    for (; c.next != c.end; ++c.next)
      c.ring->slots_.seq(c.next).store((c.next + 1) | skip_bit, std::memory_order_release);  // Release: as a push.
  }

  claim_type c_;  // next: the next claimed position to fill
};

/// Consumer handle of basic_mpmc_ring (see the ring's file contract, "Handles"). One thread at a
/// time; move-only; must be destroyed before its ring. Its destructor calls release().
template <ring_element T, class Alloc>
class basic_mpmc_ring<T, Alloc>::consumer {
 public:
  /// The element type.
  using value_type = T;
  /// Sizes and counts.
  using size_type = std::size_t;

  /// Moves the next held item into `out`, claiming a new run of published items first if none is
  /// held; false if there is none.
  [[nodiscard]] bool try_pop(T& out) noexcept requires std::is_nothrow_move_assignable_v<T> {
    T* p = next_item();
    if (p == nullptr) return false;
    out = std::move(*p);
    finish(p);
    return true;
  }
  /// The next held item, or std::nullopt if there is none (as try_pop(out)).
  [[nodiscard]] std::optional<T> try_pop() noexcept requires std::is_nothrow_move_constructible_v<T> {
    T* p = next_item();
    if (p == nullptr) return std::nullopt;
    std::optional<T> out(std::move(*p));
    finish(p);
    return out;
  }
  /// Pops up to out.size() items; returns how many.
  size_type try_pop_n(std::span<T> out) noexcept requires std::is_nothrow_move_assignable_v<T> {
    size_type n = 0;
    while (n < out.size() && try_pop(out[n])) ++n;
    return n;
  }

  /// Gives the held, untaken positions back to the ring (see the file contract). Never loses
  /// an item; waits only in the rare case that every parking place is taken.
  void release() noexcept { give_up(c_); }
  /// Claimed positions not yet handed out (items and skip markers).
  [[nodiscard]] size_type held() const noexcept { return c_.end - c_.next; }

 private:
  friend class basic_mpmc_ring;
  using claim_type = detail::held_claim<basic_mpmc_ring, consumer>;
  friend claim_type;
  consumer(basic_mpmc_ring& ring, size_type run) noexcept : c_(&ring, ring.handle_run(run)) {}

  static void give_up(claim_type& c) noexcept {
    if (c.ring != nullptr) c.ring->give_back(c.next, c.end);
    c.next = c.end;
  }

  // The next held item (claiming a run if needed), skip markers freed on the way; nullptr if
  // the ring has none ready. Each turn of the loop consumes a claimed position.
  T* next_item() noexcept {
    for (;;) {
      if (c_.next == c_.end) {
        if (TICKFLOW_UNLIKELY(c_.ring == nullptr)) return nullptr;  // moved from
        claim r = c_.ring->take_returned(c_.run);
        if (r.count == 0) r = c_.ring->claim_run(*c_.ring->tail_, c_.run, 1);
        if (r.count == 0) return nullptr;
        c_.next = r.first;
        c_.end = r.first + r.count;
      }
      if (T* p = c_.ring->take(c_.next)) return p;
      c_.ring->free_slot(c_.next++);
    }
  }
  void finish(T* p) noexcept {
    p->~T();
    c_.ring->free_slot(c_.next++);
  }

  claim_type c_;  // next: the next held position
};

}  // namespace tickflow
