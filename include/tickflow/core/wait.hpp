// tickflow/core/wait.hpp — spinning, backing off and parking.
//
// Contract
//   * cpu_relax() tells the core that the caller is spinning (PAUSE on x86, YIELD on AArch64).
//   * backoff: an exponential spin counter (1, 2, 4 … `spin_limit` relax instructions per
//     step) that switches to std::this_thread::yield() after `spin_limit` is reached.
//   * Wait policies decide how a blocking queue call waits for its condition. A policy is a
//     copyable value with a `wait(ready, spot)` member: it returns once `ready()` returned true.
//     Three are provided:
//       - spin_wait: relax instructions only. Lowest latency; burns its core; never sleeps.
//       - yield_wait: `spins` relaxes, then yields forever. Never sleeps in the kernel.
//       - park_wait (the default): `spins` relaxes, `yields` yields, then sleeps on a
//         parking_spot through C++20 std::atomic<>::wait until notified.
//     A user policy satisfies the `wait_policy` concept.
//   * parking_spot: where park_wait sleeps. The side that makes progress calls notify() after
//     publishing it; notify() costs one full fence and one load when nobody sleeps, and a
//     futex wake when somebody does. A sleeper is never missed: the sleeper announces itself
//     (seq_cst RMW) before its last check of `ready`, and notify() fences (seq_cst) between the
//     publication and reading the sleeper count, so at least one of the two sees the other.
//
// Thread-safety: backoff and the policies are per-thread values. parking_spot is shared: any
// number of threads may wait() and notify() concurrently.
#pragma once

#include <atomic>
#include <concepts>
#include <cstdint>
#include <thread>

#include "tickflow/core/config.hpp"

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
#  include <immintrin.h>
#endif

namespace tickflow {

/// Hint to the core that the caller is in a spin loop.
TICKFLOW_ALWAYS_INLINE void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
  _mm_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield" ::: "memory");
#else
  std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}

/// Exponential spinning that degrades to yielding.
class backoff {
 public:
  constexpr explicit backoff(std::uint32_t spin_limit = 64) noexcept : limit_(spin_limit) {}

  /// One step of waiting: spins 2^k relaxes while below the limit, yields afterwards.
  void pause() noexcept {
    if (step_ < limit_) {
      for (std::uint32_t i = 0; i < step_; ++i) cpu_relax();
      step_ = step_ == 0 ? 1 : step_ * 2;
    } else {
      std::this_thread::yield();
    }
  }
  /// True once pause() has started yielding.
  [[nodiscard]] bool is_yielding() const noexcept { return step_ >= limit_; }
  void reset() noexcept { step_ = 0; }

 private:
  std::uint32_t step_ = 0;
  std::uint32_t limit_;
};

/// A place to sleep until another thread reports progress. See the file contract.
class parking_spot {
 public:
  /// Blocks until ready() returns true. `ready` is called at least once.
  template <class Ready>
  void wait(Ready&& ready) noexcept(noexcept(ready())) {
    for (;;) {
      // Acquire: if a notify() bumped the word before this load, the progress it announced is
      // visible to the ready() check below.
      const std::uint32_t seen = word_.load(std::memory_order_acquire);
      // seq_cst RMW: orders the announcement before the ready() check (see notify()).
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      if (ready()) {
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
        return;
      }
      word_.wait(seen, std::memory_order_acquire);
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
      if (ready()) return;
    }
  }

  /// Wakes every sleeper. Call after publishing the progress the sleepers wait for.
  void notify() noexcept {
    // Full fence: the publication before this call and the sleeper-count load after it must not
    // be reordered (store->load), or a sleeper that checked just before the publication is lost.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_relaxed) != 0) {
      // Release: pairs with the acquire load in wait() that observes the new word.
      word_.fetch_add(1, std::memory_order_release);
      word_.notify_all();
    }
  }

  /// Number of threads that announced they are about to sleep or are sleeping (a snapshot).
  [[nodiscard]] std::uint32_t was_sleepers() const noexcept { return sleepers_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint32_t> word_{0};
  std::atomic<std::uint32_t> sleepers_{0};
};

/// A wait policy: `p.wait(ready, spot)` returns once ready() is true.
template <class P>
concept wait_policy = std::copy_constructible<P> && requires(const P& p, parking_spot& spot, bool (*ready)()) {
  p.wait(ready, spot);
};

/// Spins with relax instructions until ready. Never yields or sleeps.
struct spin_wait {
  template <class Ready>
  void wait(Ready&& ready, parking_spot&) const noexcept(noexcept(ready())) {
    while (!ready()) cpu_relax();
  }
};

/// Spins `spins` times, then yields until ready. Never sleeps in the kernel.
struct yield_wait {
  std::uint32_t spins = 256;
  template <class Ready>
  void wait(Ready&& ready, parking_spot&) const noexcept(noexcept(ready())) {
    for (std::uint32_t i = 0; i < spins; ++i) {
      if (ready()) return;
      cpu_relax();
    }
    while (!ready()) std::this_thread::yield();
  }
};

/// Spins, then yields, then sleeps on the parking spot until notified (the default).
struct park_wait {
  std::uint32_t spins = 256;
  std::uint32_t yields = 16;
  template <class Ready>
  void wait(Ready&& ready, parking_spot& spot) const noexcept(noexcept(ready())) {
    for (std::uint32_t i = 0; i < spins; ++i) {
      if (ready()) return;
      cpu_relax();
    }
    for (std::uint32_t i = 0; i < yields; ++i) {
      if (ready()) return;
      std::this_thread::yield();
    }
    spot.wait(ready);
  }
};

static_assert(wait_policy<spin_wait> && wait_policy<yield_wait> && wait_policy<park_wait>);

}  // namespace tickflow
