// Executors: every index exactly once with a worker number in range, at several pool sizes
// (oversubscribed included); the lowest throwing index rethrown after every call ran; nested and
// concurrent fork-joins; ordering of plain writes across the fork and the join (TSan checks it);
// idle workers park. The same checks run on every executor type.
#include <tickflow/engine/executor.hpp>
#include <tickflow/engine/tbb_executor.hpp>

#include <sys/resource.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support/catch.hpp"
#include "support/scale.hpp"

using namespace tickflow;

namespace {

static_assert(executor<inline_executor>);
static_assert(executor<thread_pool>);
#if defined(TICKFLOW_HAVE_TBB)
static_assert(executor<tbb_executor>);
#endif

// Worker threads never call Catch2: they count into atomics the test thread checks.
template <class E>
void exactly_once(E& ex) {
  const std::size_t rounds = 200;
  std::vector<std::size_t> counts = {0, 1, 2, 3, 7, 64, 1000, 4097};
  std::atomic<std::size_t> bad_worker{0};
  for (std::size_t round = 0; round < rounds; ++round) {
    for (std::size_t n : counts) {
      std::vector<std::atomic<std::uint32_t>> hits(n);
      ex.parallel_for(n, [&](std::size_t i, std::size_t w) {
        hits[i].fetch_add(1, std::memory_order_relaxed);
        if (w >= ex.concurrency()) bad_worker.fetch_add(1);
      });
      for (std::size_t i = 0; i < n; ++i) REQUIRE(hits[i].load() == 1);
    }
  }
  CHECK(bad_worker.load() == 0);
}

template <class E>
void lowest_exception(E& ex) {
  for (int round = 0; round < 50; ++round) {
    const std::size_t n = 500;
    std::vector<std::atomic<int>> ran(n);
    try {
      ex.parallel_for(n, [&](std::size_t i, std::size_t) {
        ran[i].store(1);
        if (i % 97 == 13) throw std::runtime_error(std::to_string(i));
      });
      FAIL("no exception");
    } catch (const std::runtime_error& e) {
      CHECK(std::string(e.what()) == "13");
    }
    for (std::size_t i = 0; i < n; ++i) REQUIRE(ran[i].load() == 1);
  }
}

template <class E>
void plain_writes_are_ordered(E& ex) {
  // Plain (non-atomic) writes before the fork are read by the tasks; the tasks' plain writes are
  // read after the join. A data race here is a ThreadSanitizer report.
  std::vector<std::uint64_t> in(10'000), out(10'000);
  for (int round = 0; round < 20; ++round) {
    for (std::size_t i = 0; i < in.size(); ++i) in[i] = i * 3 + static_cast<std::uint64_t>(round);
    ex.parallel_for(100, [&](std::size_t t, std::size_t) {
      for (std::size_t i = t * 100; i < t * 100 + 100; ++i) out[i] = in[i] + 1;
    });
    for (std::size_t i = 0; i < in.size(); ++i) REQUIRE(out[i] == i * 3 + static_cast<std::uint64_t>(round) + 1);
  }
}

}  // namespace

TEST_CASE("inline_executor: every index once, in order, lowest exception", "[engine][executor]") {
  inline_executor ex;
  exactly_once(ex);
  lowest_exception(ex);
  std::vector<std::size_t> order;
  ex.parallel_for(5, [&](std::size_t i, std::size_t w) {
    order.push_back(i);
    CHECK(w == 0);
  });
  CHECK(order == std::vector<std::size_t>{0, 1, 2, 3, 4});
}

TEST_CASE("thread_pool: every index exactly once at 1..8 workers", "[engine][executor][threads]") {
  for (std::size_t t : {1u, 2u, 3u, 4u, 8u}) {
    INFO("threads " << t);
    thread_pool pool(t);
    CHECK(pool.concurrency() == t);
    exactly_once(pool);
    plain_writes_are_ordered(pool);
  }
}

TEST_CASE("thread_pool: tiny, uneven rounds past the wrap of the 16-bit round tag", "[engine][executor][threads]") {
  // 70,000 rounds (the tag recurs after 65,536) of 1-9 tasks, some slow, so that workers join
  // late, steal, and look for work while the next round opens. 3 threads oversubscribe 2 cores.
  for (std::size_t t : {2u, 3u}) {
    INFO("threads " << t);
    thread_pool pool(t);
    std::array<std::atomic<std::uint32_t>, 9> hits{};
    std::size_t bad = 0;
    for (std::size_t round = 0; round < 70'000; ++round) {
      const std::size_t n = 1 + round % 9;
      pool.parallel_for(n, [&](std::size_t i, std::size_t) {
        if ((i + round) % 7 == 0)
          for (int k = 0; k < 200; ++k) cpu_relax();
        hits[i].fetch_add(1, std::memory_order_relaxed);
      });
      for (std::size_t i = 0; i < hits.size(); ++i) bad += hits[i].exchange(0, std::memory_order_relaxed) != (i < n ? 1U : 0U);
    }
    CHECK(bad == 0);
  }
}

TEST_CASE("thread_pool: a count past one round's 24-bit bounds runs every index once", "[engine][executor][threads]") {
  // 2^24 + 1000 indices: two rounds. Sums of i and i^2 over the calls, and the call count, equal
  // those of [0, n) only if every index ran once (for these sums, short of a contrived collision).
  const std::size_t n = (std::size_t{1} << 24) + 1000;
  thread_pool pool(2);
  struct alignas(64) sums {
    std::array<std::uint64_t, 3> v{};
  };
  std::array<sums, 2> per_worker{};
  pool.parallel_for(n, [&](std::size_t i, std::size_t w) {
    auto& a = per_worker[w].v;
    a[0] += 1;
    a[1] += i;
    a[2] += static_cast<std::uint64_t>(i) * i;
  });
  std::uint64_t calls = 0, sum = 0, squares = 0;
  for (auto& a : per_worker) {
    calls += a.v[0];
    sum += a.v[1];
    squares += a.v[2];
  }
  const std::uint64_t m = n;
  CHECK(calls == m);
  CHECK(sum == m * (m - 1) / 2);
  // The sum of squares wraps modulo 2^64 like the calls' sum does.
  __extension__ using wide = unsigned __int128;
  CHECK(squares == static_cast<std::uint64_t>(wide{m - 1} * m * (2 * m - 1) / 6));
}

TEST_CASE("thread_pool: every call runs and the lowest throwing index is rethrown", "[engine][executor][threads]") {
  for (std::size_t t : {2u, 4u}) {
    thread_pool pool(t);
    lowest_exception(pool);
    // The pool is usable after an exception.
    std::atomic<int> n{0};
    pool.parallel_for(10, [&](std::size_t, std::size_t) { n.fetch_add(1); });
    CHECK(n.load() == 10);
  }
}

TEST_CASE("thread_pool: a fork-join inside a task runs inline and fork-joins from two threads are serialized", "[engine][executor][threads]") {
  thread_pool pool(3);
  std::atomic<std::size_t> inner{0}, same_thread{0};
  for (int round = 0; round < 200; ++round)
    pool.parallel_for(6, [&](std::size_t, std::size_t w) {
      const auto me = std::this_thread::get_id();
      pool.parallel_for(4, [&](std::size_t, std::size_t w2) {
        inner.fetch_add(1);
        // Inline, on this thread, with this worker's number (its scratch stays private).
        if (w2 == w && std::this_thread::get_id() == me) same_thread.fetch_add(1);
      });
    });
  CHECK(inner.load() == 200 * 24);
  CHECK(same_thread.load() == 200 * 24);
  std::atomic<std::size_t> total{0};
  auto caller = [&] {
    for (int r = 0; r < 300; ++r) pool.parallel_for(16, [&](std::size_t, std::size_t) { total.fetch_add(1); });
  };
  std::thread a(caller), b(caller);
  a.join();
  b.join();
  CHECK(total.load() == 2 * 300 * 16);
}

TEST_CASE("thread_pool: idle workers park instead of spinning", "[engine][executor][threads]") {
  pool_options opt;
  opt.threads = 3;
  opt.spin = std::chrono::microseconds(100);
  thread_pool pool(opt);
  pool.parallel_for(100, [](std::size_t, std::size_t) {});
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // past the spin
  const auto cpu = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return std::chrono::seconds(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           std::chrono::microseconds(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
  };
  const auto before = cpu();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto used = cpu() - before;
  // Two spinning workers would use ~600 ms of CPU here; parked ones use next to nothing.
  CHECK(used < std::chrono::milliseconds(100));
  std::atomic<int> n{0};
  pool.parallel_for(50, [&](std::size_t, std::size_t) { n.fetch_add(1); });  // they wake up
  CHECK(n.load() == 50);
}

// Under ThreadSanitizer the system's oneTBB is not instrumented, so TSan cannot see the
// synchronization inside its joins and reports the task's writes against the caller's reads:
// the oneTBB adapter is tested in the other builds only.
#if defined(__SANITIZE_THREAD__)
#  define TICKFLOW_TEST_TSAN 1
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define TICKFLOW_TEST_TSAN 1
#  endif
#endif

#if defined(TICKFLOW_HAVE_TBB) && !defined(TICKFLOW_TEST_TSAN)
TEST_CASE("tbb_executor satisfies the executor contract", "[engine][executor][threads]") {
  tbb_executor ex(2);
  exactly_once(ex);
  lowest_exception(ex);
  plain_writes_are_ordered(ex);
}
#endif
