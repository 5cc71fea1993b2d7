// mpmc_ring: single-threaded semantics against an oracle, and the multi-producer /
// multi-consumer guarantees: every item popped exactly once, per-producer order kept.
#include <tickflow/core/wait.hpp>
#include <tickflow/queue/mpmc_ring.hpp>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/catch.hpp"
#include "support/scale.hpp"
#include "support/tracked.hpp"

using tickflow::mpmc_ring;
using u64 = std::uint64_t;

TEST_CASE("mpmc_ring: capacity rounds up to a power of two", "[mpmc]") {
  // Items of up to 24 bytes: 4 slots per line, and at least 4 x 4 slots.
  CHECK(mpmc_ring<u64>(1).capacity() == 16);
  CHECK(mpmc_ring<u64>(16).capacity() == 16);
  CHECK(mpmc_ring<u64>(17).capacity() == 32);
  CHECK(mpmc_ring<u64>(1024).capacity() == 1024);
  // Larger items: one slot per line, and at least 2 slots.
  CHECK(mpmc_ring<tickflow::test::big>(1).capacity() == 2);
  CHECK(mpmc_ring<tickflow::test::big>(3).capacity() == 4);
  CHECK_THROWS_AS(mpmc_ring<u64>(0), std::invalid_argument);
}

TEST_CASE("mpmc_ring: random operations agree with a deque oracle", "[mpmc]") {
  std::mt19937_64 rng(11);
  for (std::size_t asked : {2U, 16U, 64U}) {
    mpmc_ring<u64> r(asked);
    const std::size_t cap = r.capacity();
    std::deque<u64> oracle;
    u64 next = 0;
    std::vector<u64> buf(100);
    for (int step = 0; step < 20000; ++step) {
      const auto op = rng() % 5;
      if (op == 0) {
        const bool ok = r.try_push(next);
        REQUIRE(ok == (oracle.size() < cap));
        if (ok) oracle.push_back(next++);
      } else if (op == 1) {
        u64 v = 0;
        const bool ok = r.try_pop(v);
        REQUIRE(ok == !oracle.empty());
        if (ok) { REQUIRE(v == oracle.front()); oracle.pop_front(); }
      } else if (op == 2) {
        const std::size_t n = rng() % buf.size();
        for (std::size_t i = 0; i < n; ++i) buf[i] = next + i;
        const std::size_t pushed = r.try_push_n(std::span<const u64>(buf.data(), n));
        REQUIRE(pushed == std::min(n, cap - oracle.size()));
        for (std::size_t i = 0; i < pushed; ++i) oracle.push_back(next++);
      } else if (op == 3) {
        const std::size_t n = rng() % buf.size();
        const std::size_t popped = r.try_pop_n(std::span<u64>(buf.data(), n));
        REQUIRE(popped == std::min(n, oracle.size()));
        for (std::size_t i = 0; i < popped; ++i) { REQUIRE(buf[i] == oracle.front()); oracle.pop_front(); }
      } else {
        auto v = r.try_pop();
        REQUIRE(v.has_value() == !oracle.empty());
        if (v) { REQUIRE(*v == oracle.front()); oracle.pop_front(); }
      }
      REQUIRE(r.was_size() == oracle.size());
      REQUIRE(r.check_invariants());
    }
  }
}

TEST_CASE("mpmc_ring: destruction destroys exactly the queued items", "[mpmc]") {
  using tickflow::test::lifetime_registry;
  using tickflow::test::tracked;
  auto& reg = lifetime_registry::instance();
  const long errors0 = reg.errors.load();
  const long live0 = reg.live_count();
  {
    mpmc_ring<tracked> r(16);
    for (u64 i = 0; i < 21; ++i) {
      REQUIRE(r.try_push(tracked(i)));
      if (i % 3 == 0) REQUIRE(r.try_pop());
    }
    CHECK(reg.live_count() == live0 + static_cast<long>(r.was_size()));
  }
  CHECK(reg.live_count() == live0);
  CHECK(reg.errors.load() == errors0);
}

namespace {

// Producer p pushes (p << 40) | k for k = 0..per_producer-1. Each consumer checks that the k of
// every producer strictly increases in its own sequence; `seen` proves exactly-once delivery.
void run_mpmc(unsigned producers, unsigned consumers, u64 total, bool batches) {
  mpmc_ring<u64> ring(1024);
  const u64 per_producer = total / producers;
  const u64 n = per_producer * producers;
  std::vector<std::atomic<std::uint8_t>> seen(n);
  std::atomic<u64> popped{0};
  std::atomic<long> order_errors{0};
  std::atomic<long> range_errors{0};

  std::vector<std::thread> threads;
  for (unsigned p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      tickflow::backoff bo(16);
      std::vector<u64> buf(32);
      u64 k = 0;
      while (k < per_producer) {
        bool progressed;
        if (batches && (k & 1) == 0) {
          const u64 m = std::min<u64>(buf.size(), per_producer - k);
          for (u64 i = 0; i < m; ++i) buf[i] = (u64{p} << 40) | (k + i);
          const std::size_t pushed = ring.try_push_n(std::span<const u64>(buf.data(), m));
          k += pushed;
          progressed = pushed != 0;
        } else {
          progressed = ring.try_push((u64{p} << 40) | k);
          k += progressed ? 1 : 0;
        }
        if (progressed) bo.reset(); else bo.pause();
      }
    });
  }
  for (unsigned c = 0; c < consumers; ++c) {
    threads.emplace_back([&] {
      tickflow::backoff bo(16);
      std::vector<u64> last(producers, ~0ULL);
      std::vector<u64> buf(32);
      auto take = [&](u64 v) {
        const u64 p = v >> 40, k = v & ((u64{1} << 40) - 1);
        if (p >= producers || k >= per_producer) { range_errors.fetch_add(1); return; }
        if (last[p] != ~0ULL && k <= last[p]) order_errors.fetch_add(1);
        last[p] = k;
        seen[p * per_producer + k].fetch_add(1, std::memory_order_relaxed);
      };
      u64 round = 0;
      while (popped.load(std::memory_order_relaxed) < n) {
        std::size_t got = 0;
        if (batches && (++round & 1) == 0) {
          got = ring.try_pop_n(std::span<u64>(buf));
          for (std::size_t i = 0; i < got; ++i) take(buf[i]);
        } else if (auto v = ring.try_pop()) {
          take(*v);
          got = 1;
        }
        if (got != 0) { popped.fetch_add(got, std::memory_order_relaxed); bo.reset(); } else bo.pause();
      }
    });
  }
  for (auto& t : threads) t.join();

  u64 missing = 0, duplicated = 0;
  for (auto& s : seen) {
    const auto c = s.load();
    missing += c == 0;
    duplicated += c > 1;
  }
  INFO(producers << " producers x " << consumers << " consumers, " << n << " items");
  CHECK(popped.load() == n);
  CHECK(missing == 0);
  CHECK(duplicated == 0);
  CHECK(order_errors.load() == 0);
  CHECK(range_errors.load() == 0);
  CHECK(ring.was_empty());
}

}  // namespace

TEST_CASE("mpmc_ring: exactly once and per-producer order, 1x4 4x1 2x2 4x4", "[mpmc][threads]") {
  const u64 total = tickflow::test::scaled(10'000'000);
  SECTION("1 producer x 4 consumers") { run_mpmc(1, 4, total, false); }
  SECTION("4 producers x 1 consumer") { run_mpmc(4, 1, total, false); }
  SECTION("2 producers x 2 consumers") { run_mpmc(2, 2, total, false); }
  SECTION("4 producers x 4 consumers") { run_mpmc(4, 4, total, false); }
  SECTION("2 x 2 with batches") { run_mpmc(2, 2, total / 4, true); }
}

TEST_CASE("mpmc_ring: blocking push/pop with parking", "[mpmc][threads]") {
  const u64 n = tickflow::test::scaled(100000);
  mpmc_ring<u64> r(8);
  std::atomic<u64> sum{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < 2; ++p)
    threads.emplace_back([&] { for (u64 i = 1; i <= n; ++i) r.push(i, tickflow::park_wait{4, 1}); });
  for (int c = 0; c < 2; ++c)
    threads.emplace_back([&] { for (u64 i = 0; i < n; ++i) sum.fetch_add(r.pop(tickflow::park_wait{4, 1})); });
  for (auto& t : threads) t.join();
  CHECK(sum.load() == 2 * (n * (n + 1) / 2));
  CHECK(r.was_empty());
}
