// mpmc_ring: single-threaded semantics against an oracle, and the multi-producer /
// multi-consumer guarantees: every item popped exactly once, per-producer order kept.
#include <tickflow/core/wait.hpp>
#include <tickflow/queue/mpmc_ring.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
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
  using tickflow::test::tracked;
  tickflow::test::lifetime_baseline base;
  {
    mpmc_ring<tracked> r(16);
    for (u64 i = 0; i < 21; ++i) {
      REQUIRE(r.try_push(tracked(i)));
      if (i % 3 == 0) REQUIRE(r.try_pop());
    }
    CHECK(base.extra_live() == static_cast<long>(r.was_size()));
  }
  CHECK(base.extra_live() == 0);
  CHECK(base.new_errors() == 0);
}

namespace {

// How the threads of run_mpmc reach the ring.
enum class via {
  ring,            // the ring's own calls
  ring_batches,    // ... alternating with span calls
  handles,         // producer / consumer handles; producers flush now and then
  handles_release  // ... and consumers release now and then (parked runs), one consumer on ring calls
};

// Producer p pushes (p << 40) | k for k = 0..per_producer-1. Each consumer checks that the k of
// every producer strictly increases in its own sequence (not with releases: an adopted run may
// be older than what its adopter took before); `seen` proves exactly-once delivery.
void run_mpmc(unsigned producers, unsigned consumers, u64 total, via mode) {
  const bool batches = mode == via::ring_batches;
  const bool handles = mode == via::handles || mode == via::handles_release;
  const bool releases = mode == via::handles_release;
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
      auto handle = ring.make_producer(1 + p * 7);  // runs of 1, 8, 15, 22
      u64 k = 0;
      while (k < per_producer) {
        bool progressed;
        if (handles) {
          progressed = handle.try_push((u64{p} << 40) | k);
          k += progressed ? 1 : 0;
          if (k % 997 == 0) handle.flush();
        } else if (batches && (k & 1) == 0) {
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
    threads.emplace_back([&, c] {
      tickflow::backoff bo(16);
      std::vector<u64> last(producers, ~0ULL);
      std::vector<u64> buf(32);
      auto handle = ring.make_consumer(1 + c * 9);  // runs of 1, 10, 19, 28
      const bool on_handle = handles && !(releases && c == 0);
      auto take = [&](u64 v) {
        const u64 p = v >> 40, k = v & ((u64{1} << 40) - 1);
        if (p >= producers || k >= per_producer) { range_errors.fetch_add(1); return; }
        if (!releases && last[p] != ~0ULL && k <= last[p]) order_errors.fetch_add(1);
        last[p] = k;
        seen[p * per_producer + k].fetch_add(1, std::memory_order_relaxed);
      };
      u64 round = 0;
      while (popped.load(std::memory_order_relaxed) < n) {
        std::size_t got = 0;
        ++round;
        if (on_handle) {
          if (auto v = handle.try_pop()) {
            take(*v);
            got = 1;
          }
          if (releases && round % 101 == 0) handle.release();
        } else if (batches && (round & 1) == 0) {
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
  // Handles leave skip markers (and the ring calls leave none); a drain passes them.
  CHECK_FALSE(ring.make_consumer().try_pop().has_value());
  CHECK(ring.check_invariants());

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

// The four shapes the contract is checked at, each a section of the calling test case.
void run_four_shapes(u64 total, via how) {
  SECTION("1 producer x 4 consumers") { run_mpmc(1, 4, total, how); }
  SECTION("4 producers x 1 consumer") { run_mpmc(4, 1, total, how); }
  SECTION("2 producers x 2 consumers") { run_mpmc(2, 2, total, how); }
  SECTION("4 producers x 4 consumers") { run_mpmc(4, 4, total, how); }
}

}  // namespace

TEST_CASE("mpmc_ring: exactly once and per-producer order, 1x4 4x1 2x2 4x4", "[mpmc][threads]") {
  const u64 total = tickflow::test::scaled(10'000'000);
  run_four_shapes(total, via::ring);
  SECTION("2 x 2 with batches") { run_mpmc(2, 2, total / 4, via::ring_batches); }
}

TEST_CASE("mpmc_ring handles: exactly once and per-producer order, 1x4 4x1 2x2 4x4", "[mpmc][handles][threads]") {
  const u64 total = tickflow::test::scaled(10'000'000);
  run_four_shapes(total, via::handles);
  SECTION("2 x 2, consumers releasing") { run_mpmc(2, 2, total / 4, via::handles_release); }
  SECTION("4 x 4, consumers releasing") { run_mpmc(4, 4, total / 4, via::handles_release); }
}

// Handles move (giving up what the target held) and never copy.
static_assert(std::is_nothrow_move_constructible_v<tickflow::mpmc_ring<std::uint64_t>::producer>);
static_assert(std::is_nothrow_move_assignable_v<tickflow::mpmc_ring<std::uint64_t>::consumer>);
static_assert(!std::is_copy_constructible_v<tickflow::mpmc_ring<std::uint64_t>::producer>);
static_assert(!std::is_copy_assignable_v<tickflow::mpmc_ring<std::uint64_t>::consumer>);

TEST_CASE("mpmc_ring handles: claims, flush, release", "[mpmc][handles]") {
  mpmc_ring<u64> r(64);
  SECTION("a producer's claim holds consumers back until it is filled or flushed") {
    auto p1 = r.make_producer(8);
    auto p2 = r.make_producer(8);
    REQUIRE(p1.try_push(1));  // p1 claims positions 0..7
    REQUIRE(p2.try_push(2));  // p2 claims 8..15
    CHECK(p1.held() == 7);
    auto c = r.make_consumer(16);
    CHECK(c.try_pop() == std::optional<u64>(1));
    CHECK_FALSE(c.try_pop().has_value());  // position 1 is claimed by p1, not filled
    p1.flush();                            // p2 claimed past it: skip markers
    CHECK(p1.held() == 0);
    CHECK(c.try_pop() == std::optional<u64>(2));
    p2.flush();  // p2 is the last claimer: its claim is undone
    CHECK(r.was_empty());
    CHECK(r.check_invariants());
    REQUIRE(r.try_push(3));  // takes position 9, which p2 gave back
    CHECK(c.try_pop() == std::optional<u64>(3));
    c.release();
    CHECK(r.check_invariants());
  }
  SECTION("a released run is undone if nobody claimed past it, else parked and adopted first") {
    for (u64 i = 0; i < 16; ++i) REQUIRE(r.try_push(i));
    auto c1 = r.make_consumer(4);
    auto c2 = r.make_consumer(4);
    CHECK(c1.try_pop() == std::optional<u64>(0));  // c1 holds 1..3
    CHECK(c2.try_pop() == std::optional<u64>(4));  // c2 holds 5..7
    c1.release();                                   // c2 claimed past: parked
    CHECK(c1.held() == 0);
    CHECK(r.was_size() == 8);  // parked items are below the claim counter
    c2.release();              // c2 was the last claimer: undone
    CHECK(r.was_size() == 11);
    CHECK(r.check_invariants());
    // The parked run comes first, to ring calls and handles alike.
    CHECK(r.try_pop() == std::optional<u64>(1));
    auto c3 = r.make_consumer(8);
    std::vector<u64> got;
    while (auto v = c3.try_pop()) got.push_back(*v);
    CHECK(got == std::vector<u64>{2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15});
    CHECK(r.was_empty());
    CHECK(r.check_invariants());
  }
  SECTION("runs are clamped to [1, capacity / 8]") {
    auto wide = r.make_producer(1000);
    REQUIRE(wide.try_push(1));
    CHECK(wide.held() == 7);
    auto narrow = r.make_producer(0);
    REQUIRE(narrow.try_push(2));
    CHECK(narrow.held() == 0);
  }
  SECTION("moved-from handles hold nothing and release nothing") {
    for (u64 i = 0; i < 4; ++i) REQUIRE(r.try_push(i));
    auto c1 = r.make_consumer(4);
    CHECK(c1.try_pop() == std::optional<u64>(0));
    auto c2 = std::move(c1);
    CHECK(c2.held() == 3);
    CHECK(c1.held() == 0);  // NOLINT(bugprone-use-after-move): the state after a move is specified
    c1.release();
    CHECK(c2.try_pop() == std::optional<u64>(1));
    auto p1 = r.make_producer(4);
    REQUIRE(p1.try_push(9));
    auto p2 = std::move(p1);
    CHECK(p2.held() == 3);
    p2 = r.make_producer(2);  // the old claim is flushed (undone: nobody claimed past it)
    CHECK(r.was_size() == 1);  // the 9; c2's two held items are below the claim counter
    c2.release();
    CHECK(r.was_size() == 3);
    CHECK(r.check_invariants());
  }
}

TEST_CASE("mpmc_ring handles: a full parking table waits for a consumer to adopt a run", "[mpmc][handles][threads]") {
  using ring_t = mpmc_ring<u64>;
  const std::size_t parked = ring_t::max_returned_runs;
  ring_t r(512);
  std::vector<ring_t::consumer> cs;
  for (u64 i = 0; i < 2 * (parked + 2); ++i) REQUIRE(r.try_push(i));
  for (std::size_t i = 0; i < parked + 2; ++i) {
    cs.push_back(r.make_consumer(2));
    CHECK(cs.back().try_pop() == std::optional<u64>(2 * i));  // each holds one item
  }
  for (std::size_t i = 0; i < parked; ++i) cs[i].release();  // parks `parked` runs
  std::atomic<bool> done{false};
  std::thread t([&] {
    cs[parked].release();  // no room: waits
    done.store(true);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK_FALSE(done.load());
  std::vector<u64> got;
  // Adopting a whole one-item run frees a place. The waiting release holds no lock while the
  // table is full, so this pop cannot find the parked runs locked.
  const std::optional<u64> first = r.try_pop();
  REQUIRE(first.has_value());
  got.push_back(*first);
  t.join();
  CHECK(done.load());
  cs[parked + 1].release();
  while (auto v = r.try_pop()) got.push_back(*v);
  std::sort(got.begin(), got.end());
  std::vector<u64> odd;
  for (std::size_t i = 0; i < parked + 2; ++i) odd.push_back(2 * i + 1);
  CHECK(got == odd);
  CHECK(r.was_empty());
  CHECK(r.check_invariants());
}

TEST_CASE("mpmc_ring handles: skip markers and parked runs hold no live items", "[mpmc][handles]") {
  using tickflow::test::tracked;
  tickflow::test::lifetime_baseline base;
  {
    mpmc_ring<tracked> r(64);
    auto p1 = r.make_producer(8);
    auto p2 = r.make_producer(8);
    for (u64 i = 0; i < 3; ++i) REQUIRE(p1.try_push(tracked(i)));
    for (u64 i = 0; i < 3; ++i) REQUIRE(p2.try_push(tracked(100 + i)));
    p1.flush();  // five skip markers
    auto c1 = r.make_consumer(4);
    auto c2 = r.make_consumer(4);
    REQUIRE(c1.try_pop());
    REQUIRE(c2.try_pop());
    c1.release();  // parked: two items
    CHECK(base.extra_live() == 4);
  }  // handles first (c2 undoes its claim, p2 undoes its claim), then the ring
  CHECK(base.extra_live() == 0);
  CHECK(base.new_errors() == 0);
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
