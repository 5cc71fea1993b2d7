/// @file
/// tickflow/engine/executor.hpp — the executor concept, the inline executor and tickflow's
/// work-stealing thread pool.
///
/// Contract
///   * executor<E>: `e.concurrency()` (how many workers a fork-join may use, the caller included)
///     and `e.parallel_for(count, fn)`: calls fn(index, worker) exactly once for every index in
///     [0, count), with worker in [0, concurrency()), on the caller and the executor's threads;
///     returns when every call has returned. The caller takes part. If calls throw, every other
///     call still runs, and the exception of the lowest index that threw is rethrown in the
///     caller. Which worker runs which index is unspecified: algorithms that must not depend on
///     the worker count give each index its own, fixed piece of work (and may use `worker` only
///     for scratch space).
///   * inline_executor: the caller alone, in index order.
///   * thread_pool: concurrency() - 1 threads created once, in the constructor, that live until
///     the destructor. A fork-join splits [0, count) into one contiguous range per worker, each in
///     the worker's own cache line: a 64-bit word of a 16-bit round tag and two 24-bit bounds
///     (counts past 2^24 - 1 run as several rounds). Writing the ranges with the new tag opens
///     the round; there is no other round state. Each worker takes indices from the front of its
///     own range, guided (about 2 x concurrency claims per range), and when it is empty steals the
///     back half of another worker's range (one CAS on the word, which must carry the round's
///     tag), which it then works as its own. Workers subtract what they ran from one shared count
///     once per range, not per claim; the caller waits until the count equals what it ran
///     itself. Between fork-joins, workers spin on their own word for `spin` (default 50 µs),
///     then park on it (C++20 atomic wait): nothing burns CPU between ticks. Optional pinning of
///     thread i to CPU i (Linux).
///   * Allocation: the constructor allocates (threads, per-worker ranges). parallel_for does not
///     allocate: fn is called through a pointer to the caller's frame.
///   * Calls to parallel_for from several threads are serialized (a mutex). A parallel_for called
///     from inside a task of the same pool runs inline on the calling worker, in index order, and
///     passes that worker's number (so per-worker scratch stays private; no deadlock).
///   * Memory ordering: everything the caller wrote before parallel_for happens-before every call
///     of fn; every call of fn happens-before parallel_for returns.
///
/// Thread-safety: concurrency() from any thread; parallel_for from any thread (serialized);
/// construction and destruction must not overlap any other call.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "tickflow/core/cache_padded.hpp"
#include "tickflow/core/config.hpp"
#include "tickflow/core/wait.hpp"

#if defined(__linux__)
#  include <pthread.h>
#  include <sched.h>
#endif

namespace tickflow {

/// Something that runs a fork-join over an index range (see the file contract).
template <class E>
concept executor = requires(E& e, const E& ce, std::size_t count, void (*fn)(std::size_t, std::size_t)) {
  { ce.concurrency() } -> std::convertible_to<std::size_t>;
  e.parallel_for(count, fn);
};

namespace detail {

// Runs fn(i, worker) for i in [first, last), keeping the exception of the lowest index.
template <class F>
void run_indices(F& fn, std::size_t first, std::size_t last, std::size_t worker, std::exception_ptr& error,
                 std::size_t& error_index) {
  for (std::size_t i = first; i < last; ++i) {
    try {
      fn(i, worker);
    } catch (...) {
      if (!error || i < error_index) {
        error = std::current_exception();
        error_index = i;
      }
    }
  }
}

}  // namespace detail

/// The caller alone, in index order.
class inline_executor {
 public:
  /// One: the caller.
  [[nodiscard]] std::size_t concurrency() const noexcept { return 1; }
  /// Calls fn(i, 0) for i = 0 .. count-1 in order on the caller; rethrows the first exception after the others ran.
  template <class F>
  void parallel_for(std::size_t count, F&& fn) {
    std::exception_ptr error;
    std::size_t error_index = 0;
    detail::run_indices(fn, 0, count, 0, error, error_index);
    if (error) std::rethrow_exception(error);
  }
};

/// How a thread_pool is built.
struct pool_options {
  std::size_t threads = 0;  ///< workers including the caller; 0: std::thread::hardware_concurrency()
  bool pin = false;         ///< pin pool thread i (1 ..) to CPU i % hardware_concurrency (Linux)
  std::chrono::microseconds spin{50};  ///< how long an idle worker spins before it parks
};

/// Work-stealing fork-join pool (see the file contract).
class thread_pool {
 public:
  /// Starts `opt.threads` - 1 pool threads (the caller is worker 0).
  explicit thread_pool(pool_options opt = {}) : opt_(opt) {
    std::size_t n = opt.threads != 0 ? opt.threads : std::max(1U, std::thread::hardware_concurrency());
    n = std::min<std::size_t>(n, 1024);
    slots_ = std::make_unique<cache_padded<slot>[]>(n);
    workers_ = n;
    threads_.reserve(n - 1);
    try {
      for (std::size_t w = 1; w < n; ++w) threads_.emplace_back([this, w] { worker_loop(w); });
    } catch (...) {
      shut_down();
      throw;
    }
  }
  /// A pool of `threads` workers, the caller included.
  explicit thread_pool(std::size_t threads) : thread_pool(pool_options{threads}) {}
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;
  ~thread_pool() { shut_down(); }

  /// Workers, the caller included.
  [[nodiscard]] std::size_t concurrency() const noexcept { return workers_; }

  /// Calls fn(i, worker) once for every i in [0, count), spread over the workers by work stealing; returns when all are done and rethrows the first exception (see the file contract).
  template <class F>
  void parallel_for(std::size_t count, F&& fn) {
    if (count == 0) return;
    if (current() == this) {  // nested: inline, as the worker already running
      std::exception_ptr error;
      std::size_t error_index = 0;
      detail::run_indices(fn, 0, count, current_worker(), error, error_index);
      if (error) std::rethrow_exception(error);
      return;
    }
    if (workers_ == 1 || count == 1) {
      inline_executor{}.parallel_for(count, fn);
      return;
    }
    std::lock_guard<std::mutex> serial(caller_mutex_);
    using Fn = std::remove_reference_t<F>;
    job_.object = const_cast<void*>(static_cast<const void*>(std::addressof(fn)));
    job_.call = [](void* obj, std::size_t first, std::size_t last, std::size_t worker, job_state& j) {
      std::exception_ptr error;
      std::size_t error_index = 0;
      detail::run_indices(*static_cast<Fn*>(obj), first, last, worker, error, error_index);
      if (error) j.note_error(std::move(error), error_index);
    };
    const std::size_t per_round = max_round;  // ranges are 24-bit bounds
    for (std::size_t base = 0; base < count; base += per_round) run_round(base, std::min(per_round, count - base));
    job_.object = nullptr;
    if (job_.error) {
      std::exception_ptr e = std::exchange(job_.error, nullptr);
      std::rethrow_exception(e);
    }
  }

 private:
  struct job_state {
    void* object = nullptr;
    void (*call)(void*, std::size_t, std::size_t, std::size_t, job_state&) = nullptr;
    std::size_t base = 0;  // index offset of this round
    std::mutex error_mutex;
    std::exception_ptr error;
    std::size_t error_index = 0;
    void note_error(std::exception_ptr e, std::size_t index) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error || index < error_index) {
        error = std::move(e);
        error_index = index;
      }
    }
  };

  // A worker's slot, alone on its cache line: its range of the current round, and whether it
  // sleeps on that word.
  struct slot {
    std::atomic<std::uint64_t> range{0};  // tag << 48 | lo << 24 | hi
    std::atomic<std::uint32_t> sleeping{0};
  };

  static constexpr std::size_t max_round = (std::size_t{1} << 24) - 1;
  static std::uint64_t pack(std::uint64_t tag, std::uint32_t b, std::uint32_t e) noexcept {
    return (tag << 48) | (std::uint64_t{b} << 24) | e;
  }
  static std::uint64_t tag_of(std::uint64_t r) noexcept { return r >> 48; }
  static std::uint32_t lo(std::uint64_t r) noexcept { return static_cast<std::uint32_t>(r >> 24) & 0xFFFFFFU; }
  static std::uint32_t hi(std::uint64_t r) noexcept { return static_cast<std::uint32_t>(r) & 0xFFFFFFU; }

  // The pool whose task the calling thread runs (if any), and its worker number there.
  static const thread_pool*& current() noexcept {
    static thread_local const thread_pool* pool = nullptr;
    return pool;
  }
  static std::size_t& current_worker() noexcept {
    static thread_local std::size_t worker = 0;
    return worker;
  }

  void run_round(std::size_t base, std::size_t count) {
    job_.base = base;
    tag_ = (tag_ + 1) & 0xFFFF;
    // Relaxed: published by the range stores below (release), which every worker acquires
    // before it claims, hence before it subtracts.
    remaining_->store(count, std::memory_order_relaxed);
    const auto bound = [&](std::size_t w) { return static_cast<std::uint32_t>(count * w / workers_); };
    // The caller's own range first, so that early thieves find it open.
    slots_[0]->range.store(pack(tag_, bound(0), bound(1)), std::memory_order_release);
    for (std::size_t w = 1; w < workers_; ++w) {
      // seq_cst: this store and the sleeping load below, against the worker's sleeping store and
      // range reload, are a Dekker pair: one side sees the other.
      slots_[w]->range.store(pack(tag_, bound(w), bound(w + 1)), std::memory_order_seq_cst);
      if (slots_[w]->sleeping.load(std::memory_order_seq_cst) != 0) slots_[w]->range.notify_all();
    }
    const thread_pool* outer = std::exchange(current(), this);
    const std::size_t outer_worker = std::exchange(current_worker(), 0);
    const std::size_t mine = work<true>(0, tag_);
    current() = outer;
    current_worker() = outer_worker;
    // Wait until the workers have run every index the caller did not. Acquire: pairs with their
    // release subtractions, so their calls happen-before the return.
    for (unsigned spins = 0; remaining_->load(std::memory_order_acquire) != mine; ++spins) {
      if (spins < 4096) cpu_relax();
      else std::this_thread::yield();
    }
    // No worker needs to have left the round: one that still looks for work only reads ranges,
    // whose tags no longer match once the next round opens, and claims nothing from them.
  }

  // Takes a claim from the front of worker w's range if it belongs to round `tag`: about
  // range / (2 * workers) indices.
  bool take_front(std::size_t w, std::uint64_t tag, std::uint32_t& b, std::uint32_t& e) noexcept {
    auto& r = slots_[w]->range;
    std::uint64_t cur = r.load(std::memory_order_acquire);
    for (;;) {
      const std::uint32_t x = lo(cur), y = hi(cur);
      if (tag_of(cur) != tag || x >= y) return false;
      const std::uint32_t take = std::max<std::uint32_t>(1, static_cast<std::uint32_t>((y - x) / (2 * workers_)));
      // acquire: a claim of round `tag` sees the job the caller wrote before opening it.
      if (r.compare_exchange_weak(cur, pack(tag, x + take, y), std::memory_order_acq_rel, std::memory_order_acquire)) {
        b = x;
        e = x + take;
        return true;
      }
    }
  }
  // Steals the back half of worker v's range if it belongs to round `tag`.
  bool steal_back(std::size_t v, std::uint64_t tag, std::uint32_t& b, std::uint32_t& e) noexcept {
    auto& r = slots_[v]->range;
    std::uint64_t cur = r.load(std::memory_order_acquire);
    for (;;) {
      const std::uint32_t x = lo(cur), y = hi(cur);
      if (tag_of(cur) != tag || x >= y) return false;
      const std::uint32_t half = (y - x + 1) / 2;
      if (r.compare_exchange_weak(cur, pack(tag, x, y - half), std::memory_order_acq_rel, std::memory_order_acquire)) {
        b = y - half;
        e = y;
        return true;
      }
    }
  }

  void run(std::uint32_t b, std::uint32_t e, std::size_t w) { job_.call(job_.object, job_.base + b, job_.base + e, w, job_); }

  // One worker's part of round `tag`: its own range, then stolen halves, each installed as its
  // own range so that others may steal from it in turn. A worker subtracts what it ran from
  // `remaining` before it looks for more (one subtraction per range, not per claim); the caller
  // subtracts nothing and returns its count instead.
  //
  // Why no claim can go to the wrong round: every claim is a CAS on a range word whose tag is
  // the round's, and indices held but not yet subtracted keep the round open (the caller waits
  // for them). Should a tag recur (16 bits wrap) while a slow worker holds an old word, its CAS
  // succeeds only on a word equal to the current one, so the claim is a claim of the current
  // round, made after the current job was published.
  template <bool Caller>
  std::size_t work(std::size_t w, std::uint64_t tag) {
    std::size_t unpublished = 0;
    std::uint32_t b, e;
    for (;;) {
      while (take_front(w, tag, b, e)) {
        run(b, e, w);
        unpublished += e - b;
      }
      if constexpr (!Caller) {
        if (unpublished != 0) {
          // Release: the calls above happen-before the caller's acquire load of the count.
          remaining_->fetch_sub(unpublished, std::memory_order_release);
          unpublished = 0;
        }
      }
      bool stole = false;
      for (std::size_t k = 1; k < workers_ && !stole; ++k) {
        if (!steal_back((w + k) % workers_, tag, b, e)) continue;
        stole = true;
        // The stolen indices keep the round open, so our own range (drained) still has its tag,
        // unless the caller had not yet opened it: then run them here.
        std::uint64_t own = slots_[w]->range.load(std::memory_order_acquire);
        if (tag_of(own) == tag && lo(own) >= hi(own) &&
            slots_[w]->range.compare_exchange_strong(own, pack(tag, b, e), std::memory_order_acq_rel))
          continue;
        run(b, e, w);
        unpublished += e - b;
      }
      if (!stole) break;
    }
    return unpublished;
  }

  void worker_loop(std::size_t w) {
#if defined(__linux__)
    if (opt_.pin) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(static_cast<int>(w % std::max(1U, std::thread::hardware_concurrency())), &set);
      (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    }
#endif
    current() = this;
    current_worker() = w;
    std::uint64_t seen = 0;  // the tag of the last round this worker joined
    auto& me = *slots_[w];
    for (;;) {
      const std::uint64_t r = me.range.load(std::memory_order_acquire);
      if (stop_.load(std::memory_order_relaxed)) return;  // ordered by the acquire above
      if (tag_of(r) != seen) {
        seen = tag_of(r);
        (void)work<false>(w, seen);
        continue;
      }
      idle(me, r);
    }
  }

  // Spins for opt_.spin while the slot's word stays `r`, then parks until it changes.
  void idle(slot& me, std::uint64_t r) {
    const auto until = std::chrono::steady_clock::now() + opt_.spin;
    for (unsigned i = 1;; ++i) {
      if (me.range.load(std::memory_order_acquire) != r) return;
      cpu_relax();
      if (i % 64 == 0 && std::chrono::steady_clock::now() >= until) break;
    }
    me.sleeping.store(1, std::memory_order_seq_cst);
    if (me.range.load(std::memory_order_seq_cst) == r) me.range.wait(r, std::memory_order_acquire);
    me.sleeping.store(0, std::memory_order_relaxed);
  }

  void shut_down() noexcept {
    stop_.store(true, std::memory_order_relaxed);
    for (std::size_t w = 1; w < workers_; ++w) {
      // A new tag wakes the worker; release: it then sees stop_.
      slots_[w]->range.fetch_add(std::uint64_t{1} << 48, std::memory_order_release);
      slots_[w]->range.notify_all();
    }
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    threads_.clear();
  }

  pool_options opt_;
  std::size_t workers_ = 1;
  std::vector<std::thread> threads_;
  std::unique_ptr<cache_padded<slot>[]> slots_;  // per worker
  job_state job_;
  std::uint64_t tag_ = 0;  // the current round's tag (16 bits)
  std::mutex caller_mutex_;
  cache_padded<std::atomic<std::size_t>> remaining_{0};  // indices of the round not yet subtracted
  std::atomic<bool> stop_{false};
};

}  // namespace tickflow
