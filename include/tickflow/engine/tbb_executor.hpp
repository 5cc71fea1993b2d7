/// @file
/// tickflow/engine/tbb_executor.hpp — oneTBB as a tickflow executor: proof that a user's own job
/// system fits the `executor` concept (game engines and pipelines bring theirs).
///
/// Contract
///   * tbb_executor owns a tbb::task_arena of `threads` slots (the caller's thread takes one) and
///     runs parallel_for inside it with tbb::parallel_for over a blocked_range (grain 1, oneTBB's
///     auto partitioner and its work stealing). The worker number passed to fn is
///     tbb::this_task_arena::current_thread_index(), in [0, concurrency()).
///   * Exceptions follow the executor contract (every index runs; the lowest index that threw is
///     rethrown), so oneTBB's cancellation on exception is not used: each call is wrapped.
///   * Available only when <oneapi/tbb.h> (or <tbb/tbb.h>) is found; link TBB::tbb.
///
/// Thread-safety: as tbb::task_arena (any thread may call parallel_for).
#pragma once

#if __has_include(<oneapi/tbb/task_arena.h>) && __has_include(<oneapi/tbb/parallel_for.h>)
#  include <oneapi/tbb/blocked_range.h>
#  include <oneapi/tbb/parallel_for.h>
#  include <oneapi/tbb/task_arena.h>
#  define TICKFLOW_HAVE_TBB 1
#endif

#if defined(TICKFLOW_HAVE_TBB)

#  include <cstddef>
#  include <exception>
#  include <mutex>

#  include "tickflow/engine/executor.hpp"

namespace tickflow {

class tbb_executor {
 public:
  explicit tbb_executor(std::size_t threads) : threads_(threads == 0 ? 1 : threads), arena_(static_cast<int>(threads_)) {}

  [[nodiscard]] std::size_t concurrency() const noexcept { return threads_; }

  template <class F>
  void parallel_for(std::size_t count, F&& fn) {
    std::mutex m;
    std::exception_ptr error;
    std::size_t error_index = 0;
    arena_.execute([&] {
      oneapi::tbb::parallel_for(oneapi::tbb::blocked_range<std::size_t>(0, count, 1), [&](const oneapi::tbb::blocked_range<std::size_t>& r) {
        const auto worker = static_cast<std::size_t>(oneapi::tbb::this_task_arena::current_thread_index());
        std::exception_ptr local;
        std::size_t local_index = 0;
        detail::run_indices(fn, r.begin(), r.end(), worker, local, local_index);
        if (local) {
          std::lock_guard<std::mutex> lock(m);
          if (!error || local_index < error_index) {
            error = local;
            error_index = local_index;
          }
        }
      });
    });
    if (error) std::rethrow_exception(error);
  }

 private:
  std::size_t threads_;
  oneapi::tbb::task_arena arena_;
};

}  // namespace tickflow

#endif  // TICKFLOW_HAVE_TBB
