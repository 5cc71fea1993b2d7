/// @file
/// tickflow/core/wait.hpp — spinning, backing off and parking.
///
/// Contract
///   * cpu_relax() tells the core that the caller is spinning (PAUSE on x86, YIELD on AArch64).
///   * backoff: an exponential spin counter (1, 2, 4 … `spin_limit` relax instructions per
///     step) that switches to std::this_thread::yield() after `spin_limit` is reached.
///   * Wait policies decide how a blocking queue call waits for its condition. A policy is a
///     copyable value with a `wait(ready, spot)` member: it returns once `ready()` returned true.
///     Three are provided:
///       - spin_wait: relax instructions only. Lowest latency; burns its core; never sleeps.
///       - yield_wait: `spins` relaxes, then yields forever. Never sleeps in the kernel.
///       - park_wait (the default): `spins` relaxes, `yields` yields, then sleeps on a
///         parking_spot (a futex word: C++20 atomic wait, with a timeout) until notified or until
///         `max_sleep` (1 ms) passes, and checks again.
///     A user policy satisfies the `wait_policy` concept.
///   * parking_spot: where park_wait sleeps. The side that makes progress calls notify() after
///     publishing it; notify() costs one uncontended atomic read-modify-write when nobody
///     sleeps, and a futex wake when somebody does. A notified sleeper is never missed: the
///     sleeper announces itself (seq_cst RMW) before its last check of `ready`, and notify()
///     reads the sleeper count with a seq_cst RMW after the publication, so at least one of the
///     two sees the other. Progress made without notify() (the rings' try_ calls do not notify, to keep
///     the RMW off their fast path) is seen within one `max_sleep` slice.
///
/// Thread-safety: backoff and the policies are per-thread values. parking_spot is shared: any
/// number of threads may wait() and notify() concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <thread>
#include <utility>

#include "tickflow/core/config.hpp"

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64) || defined(_M_IX86)
#  include <immintrin.h>
#endif
#if defined(__linux__)
#  include <linux/futex.h>
#  include <sys/syscall.h>
#  include <unistd.h>

#  include <climits>
#  include <ctime>
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
  /// Spins up to 2^k relaxes per pause() while below `spin_limit`, then yields.
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
  /// Starts over from the shortest spin.
  void reset() noexcept { step_ = 0; }

 private:
  std::uint32_t step_ = 0;
  std::uint32_t limit_;
};

namespace detail {

/// Sleeps while `word` holds `expected`, for at most `timeout`, or until woken by wake_all().
/// Spurious returns are allowed. On Linux this is a futex wait on the word itself (what
/// std::atomic<>::wait does underneath, plus the timeout C++20 does not offer); elsewhere the
/// thread sleeps for the timeout, or until std::atomic<>::notify_all where that is earlier.
inline void timed_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                       std::chrono::microseconds timeout) noexcept {
#if defined(__linux__)
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1000000);
  ts.tv_nsec = static_cast<long>((timeout.count() % 1000000) * 1000);
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, &ts, nullptr, 0);
#else
  if (word.load(std::memory_order_relaxed) == expected) std::this_thread::sleep_for(timeout);
#endif
}

/// Wakes every thread in timed_wait() on `word`.
inline void wake_all(std::atomic<std::uint32_t>& word) noexcept {
#if defined(__linux__)
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
#else
  word.notify_all();
#endif
}

}  // namespace detail

/// A place to sleep until another thread reports progress. See the file contract.
// alignas: the sleeper count is read-modify-written by every notify(); alone on its line it
// stays in the notifier's cache while nobody sleeps.
class alignas(cache_line_size) parking_spot {
 public:
  /// Blocks until ready() returns true; `ready` is called at least once. Sleeps in slices of
  /// at most `max_sleep`, re-checking `ready` after each, so a progress that was never notified
  /// delays the caller by at most one slice instead of blocking it for good.
  template <class Ready>
  void wait(Ready&& ready, std::chrono::microseconds max_sleep = std::chrono::milliseconds(1)) noexcept(
      noexcept(ready())) {
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
      detail::timed_wait(word_, seen, max_sleep);
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
      if (ready()) return;
    }
  }

  /// Wakes every sleeper. Call after publishing the progress the sleepers wait for.
  void notify() noexcept {
    // A seq_cst read-modify-write rather than a fence + load: RMWs on sleepers_ are totally
    // ordered, so either this one sees a sleeper's announcement, or that announcement reads from
    // this RMW and so synchronizes with it, making the progress published before this call
    // visible to the sleeper's final check. (Sanitizers model this; they do not model fences.)
    if (sleepers_.fetch_add(0, std::memory_order_seq_cst) != 0) {
      // Release: pairs with the acquire load in wait() that observes the new word.
      word_.fetch_add(1, std::memory_order_release);
      detail::wake_all(word_);
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

namespace detail {
/// Whether a policy's wait cannot throw when its ready() cannot (true for every policy here).
template <class P>
inline constexpr bool nothrow_wait = noexcept(std::declval<const P&>().wait(std::declval<bool (*)() noexcept>(), std::declval<parking_spot&>()));
}  // namespace detail

/// Spins with relax instructions until ready. Never yields or sleeps.
struct spin_wait {
  /// Spins until ready() is true.
  template <class Ready>
  void wait(Ready&& ready, parking_spot&) const noexcept(noexcept(ready())) {
    while (!ready()) cpu_relax();
  }
};

/// Spins `spins` times, then yields until ready. Never sleeps in the kernel.
struct yield_wait {
  std::uint32_t spins = 256;  ///< Relax-spins before yielding.
  /// Spins `spins` times, then yields until ready() is true.
  template <class Ready>
  void wait(Ready&& ready, parking_spot&) const noexcept(noexcept(ready())) {
    for (std::uint32_t i = 0; i < spins; ++i) {
      if (ready()) return;
      cpu_relax();
    }
    while (!ready()) std::this_thread::yield();
  }
};

namespace detail {
constexpr std::chrono::microseconds default_max_sleep() noexcept { return std::chrono::microseconds(1000); }
}  // namespace detail

/// Spins, then yields, then sleeps on the parking spot until notified (the default). A sleep
/// lasts at most `max_sleep` before the condition is checked again.
struct park_wait {
  std::uint32_t spins = 256;  ///< Relax-spins before yielding.
  std::uint32_t yields = 16;  ///< Yields before sleeping.
  // Initialized through a noexcept function: duration's converting constructors are not
  // noexcept, and a default-constructed policy (a default argument of the rings' blocking calls)
  // must not make those calls potentially throwing.
  std::chrono::microseconds max_sleep = detail::default_max_sleep();  ///< The longest sleep before ready() is checked again.
  /// Spins, yields, then sleeps on `spot` (woken by its notify) until ready() is true.
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
    spot.wait(ready, max_sleep);
  }
};

static_assert(wait_policy<spin_wait> && wait_policy<yield_wait> && wait_policy<park_wait>);

}  // namespace tickflow
