// Single-threaded semantics of spsc_ring against a std::deque oracle, plus blocking calls.
#include <tickflow/queue/spsc_ring.hpp>

#include <cstdint>
#include <deque>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "support/catch.hpp"
#include "support/scale.hpp"
#include "support/tracked.hpp"

using tickflow::spsc_ring;
using u64 = std::uint64_t;

TEMPLATE_TEST_CASE("spsc_ring: capacity is exactly what was asked", "[spsc]", tickflow::spsc_layout::packed,
                   tickflow::spsc_layout::spread) {
  for (std::size_t cap : {1U, 2U, 6U, 7U, 8U, 13U, 100U, 4096U}) {
    spsc_ring<u64, TestType> r(cap);
    CHECK(r.capacity() == cap);
    for (u64 i = 0; i < cap; ++i) REQUIRE(r.try_push(i));
    CHECK_FALSE(r.try_push(u64{99}));
    CHECK(r.was_size() == cap);
    CHECK(r.was_full());
    u64 v = 0;
    for (u64 i = 0; i < cap; ++i) {
      REQUIRE(r.try_pop(v));
      CHECK(v == i);
    }
    CHECK_FALSE(r.try_pop(v));
    CHECK(r.was_empty());
  }
  CHECK_THROWS_AS(spsc_ring<u64>(0), std::invalid_argument);
}

TEMPLATE_TEST_CASE("spsc_ring: random operations agree with a deque oracle", "[spsc]",
                   tickflow::spsc_layout::packed, tickflow::spsc_layout::spread) {
  using ring_t = spsc_ring<u64, TestType>;
  constexpr bool zero_copy = std::is_same_v<TestType, tickflow::spsc_layout::packed>;
  std::mt19937_64 rng(7);
  for (std::size_t cap : {1U, 3U, 7U, 8U, 15U, 64U, 100U, 600U, 1100U}) {
    ring_t r(cap);
    std::deque<u64> oracle;
    u64 next = 0;
    std::vector<u64> buf(80);
    for (int step = 0; step < 20000; ++step) {
      const auto op = rng() % 8;
      if (op == 0) {  // single push
        const bool ok = r.try_push(next);
        REQUIRE(ok == (oracle.size() < cap));
        if (ok) oracle.push_back(next++);
      } else if (op == 1) {  // single pop
        u64 v = 0;
        const bool ok = r.try_pop(v);
        REQUIRE(ok == !oracle.empty());
        if (ok) { REQUIRE(v == oracle.front()); oracle.pop_front(); }
      } else if (op == 2) {  // batch push (partial when short of room)
        const std::size_t n = rng() % buf.size();
        for (std::size_t i = 0; i < n; ++i) buf[i] = next + i;
        const std::size_t pushed = r.try_push_n(std::span<const u64>(buf.data(), n));
        REQUIRE(pushed == std::min(n, cap - oracle.size()));
        for (std::size_t i = 0; i < pushed; ++i) oracle.push_back(next++);
      } else if (op == 3) {  // batch pop (everything available up to n)
        const std::size_t n = rng() % buf.size();
        const std::size_t popped = r.try_pop_n(std::span<u64>(buf.data(), n));
        REQUIRE(popped == std::min(n, oracle.size()));
        for (std::size_t i = 0; i < popped; ++i) { REQUIRE(buf[i] == oracle.front()); oracle.pop_front(); }
      } else if (op == 4) {  // zero-copy write, commit part of it
        if constexpr (zero_copy) {
          const std::size_t want = rng() % 10;
          auto span = r.try_reserve(want);
          REQUIRE(span.size() <= want);
          REQUIRE(span.size() <= cap - oracle.size());
          REQUIRE(span.size() <= ring_t::items_per_cell);
          if (want > 0 && oracle.size() < cap) REQUIRE(!span.empty());
          const std::size_t n = span.empty() ? 0 : rng() % (span.size() + 1);
          for (std::size_t i = 0; i < n; ++i) span[i] = next + i;
          r.commit(n);
          for (std::size_t i = 0; i < n; ++i) oracle.push_back(next++);
        }
      } else if (op == 5) {  // zero-copy read, release part of it
        if constexpr (zero_copy) {
          const std::size_t want = rng() % 10;
          auto span = r.peek(want);
          REQUIRE(span.size() <= std::min(want, oracle.size()));
          if (want > 0 && !oracle.empty()) REQUIRE(!span.empty());
          for (std::size_t i = 0; i < span.size(); ++i) REQUIRE(span[i] == oracle[i]);
          const std::size_t n = span.empty() ? 0 : rng() % (span.size() + 1);
          r.release(n);
          for (std::size_t i = 0; i < n; ++i) oracle.pop_front();
        }
      } else if (op == 6) {
        auto v = r.try_pop();
        REQUIRE(v.has_value() == !oracle.empty());
        if (v) { REQUIRE(*v == oracle.front()); oracle.pop_front(); }
      } else {
        REQUIRE(r.was_size() == oracle.size());
        REQUIRE(r.was_empty() == oracle.empty());
      }
      REQUIRE(r.was_size() == oracle.size());
      REQUIRE(r.check_invariants());
    }
  }
}

TEST_CASE("spsc_ring: move-only and non-trivial elements", "[spsc]") {
  using tickflow::test::move_only;
  spsc_ring<move_only> r(5);
  for (u64 i = 0; i < 5; ++i) REQUIRE(r.try_push(move_only(i)));
  move_only extra(77);
  CHECK_FALSE(r.try_push(std::move(extra)));
  CHECK(extra.value() == 77);  // a failed push leaves its argument alone
  for (u64 i = 0; i < 5; ++i) {
    auto v = r.try_pop();
    REQUIRE(v);
    CHECK(v->value() == i);
  }

  spsc_ring<std::string> s(3);
  REQUIRE(s.try_emplace(40, 'x'));
  REQUIRE(s.try_push(std::string("hello, world, long enough to allocate")));
  std::string out;
  REQUIRE(s.try_pop(out));
  CHECK(out == std::string(40, 'x'));
  REQUIRE(s.try_pop(out));
  CHECK(out == "hello, world, long enough to allocate");
}

namespace {
struct throws_on_3 {
  int v;
  explicit throws_on_3(int x) : v(x) {
    if (x == 3) throw std::runtime_error("three");
  }
};
}  // namespace

TEST_CASE("spsc_ring: a throwing constructor leaves the ring unchanged", "[spsc]") {
  spsc_ring<throws_on_3> r(4);
  REQUIRE(r.try_emplace(1));
  REQUIRE(r.try_emplace(2));
  CHECK_THROWS_AS(r.try_emplace(3), std::runtime_error);
  CHECK(r.was_size() == 2);
  REQUIRE(r.try_emplace(4));
  CHECK(r.try_pop()->v == 1);
  CHECK(r.try_pop()->v == 2);
  CHECK(r.try_pop()->v == 4);
  CHECK_FALSE(r.try_pop());
}

TEMPLATE_TEST_CASE("spsc_ring: destruction destroys exactly the queued items", "[spsc]",
                   tickflow::spsc_layout::packed, tickflow::spsc_layout::spread) {
  using tickflow::test::tracked;
  tickflow::test::lifetime_baseline base;
  {
    spsc_ring<tracked, TestType> r(16);
    for (u64 i = 0; i < 23; ++i) {
      REQUIRE(r.try_push(tracked(i)));
      if (i % 3 == 0) REQUIRE(r.try_pop());
    }
    CHECK(base.extra_live() == static_cast<long>(r.was_size()));
  }
  CHECK(base.extra_live() == 0);
  CHECK(base.new_errors() == 0);
}

TEST_CASE("spsc_ring: blocking push/pop under every wait policy", "[spsc][threads]") {
  const u64 n = tickflow::test::scaled(200000);
  auto run = [&](auto policy) {
    spsc_ring<u64, tickflow::spsc_layout::spread> r(16);
    std::thread producer([&] {
      for (u64 i = 0; i < n; ++i) r.push(i, policy);
    });
    u64 expect = 0;
    bool in_order = true;
    for (u64 i = 0; i < n; ++i) in_order &= r.pop(policy) == expect++;
    producer.join();
    CHECK(in_order);
    CHECK(r.was_empty());
  };
  run(tickflow::spin_wait{});
  run(tickflow::yield_wait{});
  run(tickflow::park_wait{});
  run(tickflow::park_wait{0, 0});  // park immediately: exercises the sleep/notify path
}
