// tickflow/engine/executor.hpp — the executor concept, the inline executor and tickflow's
// work-stealing thread pool.
//
// Contract
//   * executor<E>: `e.concurrency()` (how many workers a fork-join may use, the caller included)
//     and `e.parallel_for(count, fn)`: calls fn(index, worker) exactly once for every index in
//     [0, count), with worker in [0, concurrency()), on the caller and the executor's threads;
//     returns when every call has returned. The caller takes part. If calls throw, every other
//     call still runs, and the exception of the lowest index that threw is rethrown in the
//     caller. Which worker runs which index is unspecified: algorithms that must not depend on
//     the worker count give each index its own, fixed piece of work (and may use `worker` only
//     for scratch space).
//   * inline_executor: the caller alone, in index order.
//   * thread_pool: concurrency() - 1 threads created once, in the constructor, that live until
//     the destructor. A fork-join splits [0, count) into one contiguous range per worker; each
//     worker takes indices from the front of its own range, guided (about 2 x concurrency claims
//     per range), and when it is empty steals the back half of another worker's range (one CAS
//     on the range, a 64-bit word of two 32-bit bounds), which it then works as its own. Between
//     fork-joins, workers spin for `spin` (default 50 µs), then park on a futex (C++20 atomic
//     wait): nothing burns CPU between ticks. Optional pinning of thread i to CPU i (Linux).
//   * Allocation: the constructor allocates (threads, per-worker ranges). parallel_for does not
//     allocate: fn is called through a pointer to the caller's frame.
//   * Calls to parallel_for from several threads are serialized (a mutex). A parallel_for called
//     from inside a task of the same pool runs inline on the calling worker, in index order, and
//     passes that worker's number (so per-worker scratch stays private; no deadlock).
//   * Memory ordering: everything the caller wrote before parallel_for happens-before every call
//     of fn; every call of fn happens-before parallel_for returns.
//
// Thread-safety: concurrency() from any thread; parallel_for from any thread (serialized);
// construction and destruction must not overlap any other call.
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
  [[nodiscard]] std::size_t concurrency() const noexcept { return 1; }
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
  explicit thread_pool(pool_options opt = {}) : opt_(opt) {
    std::size_t n = opt.threads != 0 ? opt.threads : std::max(1U, std::thread::hardware_concurrency());
    n = std::min<std::size_t>(n, 1024);
    ranges_ = std::make_unique<cache_padded<std::atomic<std::uint64_t>>[]>(n);
    workers_ = n;
    threads_.reserve(n - 1);
    try {
      for (std::size_t w = 1; w < n; ++w) threads_.emplace_back([this, w] { worker_loop(w); });
    } catch (...) {
      shut_down();
      throw;
    }
  }
  explicit thread_pool(std::size_t threads) : thread_pool(pool_options{threads}) {}
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;
  ~thread_pool() { shut_down(); }

  [[nodiscard]] std::size_t concurrency() const noexcept { return workers_; }

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
    const std::size_t per_round = 0xFFFFFFFFULL;  // ranges are 32-bit bounds
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
    std::size_t count = 0;
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

  static std::uint64_t pack(std::uint32_t b, std::uint32_t e) noexcept { return (std::uint64_t{b} << 32) | e; }
  static std::uint32_t lo(std::uint64_t r) noexcept { return static_cast<std::uint32_t>(r >> 32); }
  static std::uint32_t hi(std::uint64_t r) noexcept { return static_cast<std::uint32_t>(r); }

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
    job_.count = count;
    for (std::size_t w = 0; w < workers_; ++w) {
      const auto b = static_cast<std::uint32_t>(count * w / workers_);
      const auto e = static_cast<std::uint32_t>(count * (w + 1) / workers_);
      ranges_[w]->store(pack(b, e), std::memory_order_relaxed);
    }
    remaining_->store(count, std::memory_order_relaxed);
    // seq_cst: the opening store and the sleeper count load below, against a parking worker's
    // sleeper increment and state reload, are a Dekker pair: one side sees the other.
    const std::uint64_t open = ((generation_ += 1) << 1) | 1;
    state_->store(open, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) != 0) state_->notify_all();
    const thread_pool* outer = std::exchange(current(), this);
    const std::size_t outer_worker = std::exchange(current_worker(), 0);
    work(0);
    current() = outer;
    current_worker() = outer_worker;
    // Wait for the tasks other workers claimed.
    for (unsigned spins = 0; remaining_->load(std::memory_order_acquire) != 0; ++spins) {
      if (spins < 4096) cpu_relax();
      else std::this_thread::yield();
    }
    // Close the round, then wait until no worker is inside it (they may still be looking for a
    // range to steal). seq_cst: pairs with the workers' join (increment, then state reload).
    state_->store(open & ~std::uint64_t{1}, std::memory_order_seq_cst);
    while (active_->load(std::memory_order_seq_cst) != 0) cpu_relax();
  }

  // Takes a claim from the front of worker w's range: about range / (2 * workers) indices.
  bool take_front(std::size_t w, std::uint32_t& b, std::uint32_t& e) noexcept {
    auto& r = *ranges_[w];
    std::uint64_t cur = r.load(std::memory_order_acquire);
    for (;;) {
      const std::uint32_t x = lo(cur), y = hi(cur);
      if (x >= y) return false;
      const std::uint32_t take = std::max<std::uint32_t>(1, static_cast<std::uint32_t>((y - x) / (2 * workers_)));
      // acq_rel: a claim orders nothing by itself (the round's opening store published the
      // job); acquire keeps the loop's reload fresh and release pairs with a thief's CAS.
      if (r.compare_exchange_weak(cur, pack(x + take, y), std::memory_order_acq_rel, std::memory_order_acquire)) {
        b = x;
        e = x + take;
        return true;
      }
    }
  }
  // Steals the back half of worker v's range.
  bool steal_back(std::size_t v, std::uint32_t& b, std::uint32_t& e) noexcept {
    auto& r = *ranges_[v];
    std::uint64_t cur = r.load(std::memory_order_acquire);
    for (;;) {
      const std::uint32_t x = lo(cur), y = hi(cur);
      if (x >= y) return false;
      const std::uint32_t half = (y - x + 1) / 2;
      if (r.compare_exchange_weak(cur, pack(x, y - half), std::memory_order_acq_rel, std::memory_order_acquire)) {
        b = y - half;
        e = y;
        return true;
      }
    }
  }

  // One worker's part of a round: its own range, then stolen halves (each worked as its own
  // range, so that others may steal from it in turn).
  void work(std::size_t w) {
    std::uint32_t b, e;
    for (;;) {
      while (take_front(w, b, e)) {
        job_.call(job_.object, job_.base + b, job_.base + e, w, job_);
        // Release: the calls above happen-before the caller's acquire load that sees 0.
        remaining_->fetch_sub(e - b, std::memory_order_release);
      }
      bool stole = false;
      for (std::size_t k = 1; k < workers_ && !stole; ++k) {
        const std::size_t v = (w + k) % workers_;
        if (steal_back(v, b, e)) {
          // Our range is empty and only thieves (who skip empty ranges) look at it: install the
          // stolen part as ours.
          ranges_[w]->store(pack(b, e), std::memory_order_release);
          stole = true;
        }
      }
      if (!stole) return;
    }
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
    std::uint64_t done = 0;  // the last round this worker took part in
    for (;;) {
      const std::uint64_t s = state_->load(std::memory_order_acquire);
      if (s == stopped) return;
      if ((s & 1) != 0 && s != done) {
        active_->fetch_add(1, std::memory_order_seq_cst);
        if (state_->load(std::memory_order_seq_cst) == s) work(w);
        // Release: this worker's last reads of the round's ranges come before the caller reuses them.
        active_->fetch_sub(1, std::memory_order_release);
        done = s;
        continue;
      }
      idle(s);
    }
  }

  // Spins for opt_.spin while the state stays `s`, then parks until it changes.
  void idle(std::uint64_t s) {
    const auto until = std::chrono::steady_clock::now() + opt_.spin;
    for (unsigned i = 1;; ++i) {
      if (state_->load(std::memory_order_acquire) != s) return;
      cpu_relax();
      if (i % 64 == 0 && std::chrono::steady_clock::now() >= until) break;
    }
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    if (state_->load(std::memory_order_seq_cst) == s) state_->wait(s, std::memory_order_acquire);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
  }

  void shut_down() noexcept {
    state_->store(stopped, std::memory_order_seq_cst);
    state_->notify_all();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    threads_.clear();
  }

  static constexpr std::uint64_t stopped = ~std::uint64_t{0} - 1;  // even: never an open round

  pool_options opt_;
  std::size_t workers_ = 1;
  std::vector<std::thread> threads_;
  std::unique_ptr<cache_padded<std::atomic<std::uint64_t>>[]> ranges_;  // per worker: [lo, hi)
  job_state job_;
  std::uint64_t generation_ = 0;
  std::mutex caller_mutex_;
  // alignas (via cache_padded): the round state is read by every idle worker's spin; the
  // remaining count is written by every claim; the two counters change rarely.
  cache_padded<std::atomic<std::uint64_t>> state_{0};  // generation << 1 | open
  cache_padded<std::atomic<std::size_t>> remaining_{0};
  cache_padded<std::atomic<std::uint32_t>> active_{0};
  std::atomic<std::uint32_t> sleepers_{0};
};

}  // namespace tickflow
