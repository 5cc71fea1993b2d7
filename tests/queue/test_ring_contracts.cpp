// Ring contracts that a review found broken, each as a class of test: observers called from a
// third thread stay in range; every capacity that would overflow a buffer's size throws
// length_error (every layout, item sizes 1..4096); handle and ring calls mixed in one thread,
// with skip markers at wrap-around, never hang and keep the documented order; moved-from
// handles are empty; the concepts and noexcept specifications say what the prose says.
#include <tickflow/queue/mpmc_ring.hpp>
#include <tickflow/queue/spsc_ring.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <future>
#include <limits>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "support/catch.hpp"
#include "support/scale.hpp"

using tickflow::mpmc_ring;
using tickflow::spsc_ring;
namespace layout = tickflow::spsc_layout;
namespace detail = tickflow::detail;
using u64 = std::uint64_t;

namespace {

// Runs f on another thread; a call that does not return within the limit fails the test and
// ends the process (a spinning thread cannot be cancelled).
template <class F>
void must_return(F&& f, const char* what) {
  auto done = std::async(std::launch::async, std::forward<F>(f));
  if (done.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    std::fprintf(stderr, "FAILED: %s did not return within 20 s\n", what);
    std::fflush(stderr);
    std::_Exit(1);
  }
  done.get();
}

template <std::size_t N>
struct item {
  std::array<unsigned char, N> bytes{};
};

}  // namespace

// ---------------------------------------------------------------- try_push at a skip marker

TEST_CASE("mpmc_ring: try_push at a skip marker of the previous lap reports full and returns", "[mpmc][contract]") {
  mpmc_ring<u64> q(64);
  auto h = q.make_producer(8);
  REQUIRE(h.try_push(0));
  REQUIRE(q.try_push(1));  // position 8: the handle holds 0..7
  h.flush();               // 1..7 become skip markers (a producer claimed past them)
  std::size_t filled = 0;
  while (q.try_push(2)) ++filled;
  REQUIRE(filled == q.capacity() - 9);
  REQUIRE(q.try_pop() == u64{0});  // frees position 0 only; skips 1..7 are still in their slots
  REQUIRE(q.try_push(3));          // position 64 reuses slot 0
  bool pushed = true;
  must_return([&] { pushed = q.try_push(4); }, "try_push at a skip marker");  // position 65: slot 1 holds a skip
  CHECK_FALSE(pushed);
  CHECK(q.was_size() <= q.capacity());
  // A consumer passes the skip markers; then the slot is free again.
  REQUIRE(q.try_pop() == u64{1});
  CHECK(q.try_push(4));
  // Everything comes out exactly once, in position order.
  std::vector<u64> out;
  while (auto v = q.try_pop()) out.push_back(*v);
  REQUIRE(out.size() == filled + 2);
  CHECK(out.front() == 2);
  CHECK(out[out.size() - 2] == 3);
  CHECK(out.back() == 4);
  CHECK(q.check_invariants());
}

TEST_CASE("mpmc_ring: blocking push at a skip marker waits for a consumer, then completes", "[mpmc][contract][threads]") {
  mpmc_ring<u64> q(16);
  auto h = q.make_producer(2);
  REQUIRE(h.try_push(100));
  REQUIRE(q.try_push(101));
  h.flush();  // position 1 is a skip marker
  while (q.try_push(7)) {
  }
  REQUIRE(q.try_pop() == u64{100});
  REQUIRE(q.try_push(102));  // slot 0 again; slot 1 holds the skip
  std::atomic<bool> done{false};
  std::thread producer([&] {
    q.push(103);  // must wait until a consumer passes the skip, then push
    done.store(true);
  });
  std::vector<u64> got;
  must_return(
      [&] {
        while (!done.load() || !q.was_empty())
          if (auto v = q.try_pop()) got.push_back(*v);
      },
      "draining while a blocking push waits");
  producer.join();
  REQUIRE_FALSE(got.empty());
  CHECK(got.front() == 101);
  CHECK(got.back() == 103);
  CHECK(std::count(got.begin(), got.end(), u64{102}) == 1);
}

// A single thread mixes handle and ring calls on a small ring (so skip markers and parked runs
// cross the wrap-around again and again), checking against the contract: no call hangs, every
// item comes out exactly once, items of one endpoint in push order, and a flush() orders
// everything the thread pushed before it ahead of everything after it.
TEST_CASE("mpmc_ring: handle and ring calls mixed in one thread keep the documented order", "[mpmc][contract]") {
  for (const u64 seed : {1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u}) {
    std::mt19937_64 rng(seed);
    mpmc_ring<u64> q(16);
    std::optional<mpmc_ring<u64>::producer> hp[2];
    std::optional<mpmc_ring<u64>::consumer> hc;
    u64 next_seq = 0;  // item values are sequence numbers
    std::vector<u64> pushed_epoch;   // flush epoch of each sequence number
    std::vector<int> pushed_by;      // endpoint of each sequence number: 0, 1 (handles), 2 (ring calls)
    u64 flush_epoch = 0;             // bumped each time both handles are flushed
    std::set<u64> outstanding;
    std::vector<u64> popped;
    const int steps = 4000;
    must_return(
        [&] {
          for (int step = 0; step < steps; ++step) {
            const auto op = rng() % 10;
            if (op < 4) {  // push through a handle or the ring
              const int ep = static_cast<int>(rng() % 3);
              const u64 v = next_seq;
              bool ok;
              if (ep < 2) {
                if (!hp[ep]) hp[ep].emplace(q.make_producer(1 + rng() % 4));
                ok = hp[ep]->try_push(v);
              } else {
                ok = q.try_push(v);
              }
              if (ok) {
                pushed_epoch.push_back(flush_epoch);
                pushed_by.push_back(ep);
                outstanding.insert(v);
                ++next_seq;
              }
            } else if (op < 5) {  // flush every handle: a barrier for this thread's order
              for (auto& h : hp)
                if (h) h->flush();
              ++flush_epoch;
            } else if (op < 8) {  // pop through the consumer handle or the ring
              std::optional<u64> v;
              if (rng() % 2 == 0) {
                if (!hc) hc.emplace(q.make_consumer(1 + rng() % 4));
                v = hc->try_pop();
              } else {
                if (hc) hc->release();  // release before ring pops: in order then (contract)
                v = q.try_pop();
              }
              if (v) {
                REQUIRE(outstanding.erase(*v) == 1);  // exactly once
                popped.push_back(*v);
              }
            } else if (op < 9) {
              if (hc) hc->release();
            } else {  // drop a handle now and then (its destructor flushes / releases)
              const auto k = rng() % 3;
              if (k < 2) hp[k].reset();
              else hc.reset();
            }
          }
          for (auto& h : hp) h.reset();
          hc.reset();
          while (auto v = q.try_pop()) {
            REQUIRE(outstanding.erase(*v) == 1);
            popped.push_back(*v);
          }
        },
        "mixed handle and ring calls");
    REQUIRE(outstanding.empty());
    REQUIRE(popped.size() == next_seq);
    CHECK(q.check_invariants());
    // Per endpoint: push order. Across a flush: everything before it comes first.
    std::array<u64, 3> last{};
    std::array<bool, 3> any{};
    u64 max_epoch_seen = 0;
    for (const u64 v : popped) {
      const int ep = pushed_by[v];
      if (any[ep]) CHECK(v > last[ep]);
      last[ep] = v;
      any[ep] = true;
      CHECK(pushed_epoch[v] >= max_epoch_seen);  // nothing from before a flush pops after something from after it
      max_epoch_seen = pushed_epoch[v];
    }
  }
}

TEST_CASE("mpmc_ring: a flush orders a thread's handle pushes before its later ring pushes", "[mpmc][contract]") {
  mpmc_ring<u64> q(64);
  auto h = q.make_producer(8);
  SECTION("without a flush the two endpoints interleave by claim") {
    REQUIRE(h.try_push(0));
    REQUIRE(q.try_push(1));
    REQUIRE(h.try_push(2));
    h.flush();
    CHECK(q.try_pop() == u64{0});
    CHECK(q.try_pop() == u64{2});
    CHECK(q.try_pop() == u64{1});
  }
  SECTION("with a flush between them the thread's order holds") {
    REQUIRE(h.try_push(0));
    h.flush();
    REQUIRE(q.try_push(1));
    REQUIRE(h.try_push(2));
    h.flush();
    CHECK(q.try_pop() == u64{0});
    CHECK(q.try_pop() == u64{1});
    CHECK(q.try_pop() == u64{2});
  }
  SECTION("a consumer handle released before ring pops takes positions in order") {
    for (u64 i = 0; i < 6; ++i) REQUIRE(q.try_push(i));
    auto c = q.make_consumer(4);
    CHECK(c.try_pop() == u64{0});
    c.release();
    CHECK(q.try_pop() == u64{1});
    CHECK(c.try_pop() == u64{2});
    c.release();
    CHECK(q.try_pop() == u64{3});
  }
  CHECK(q.check_invariants());
}

// ---------------------------------------------------------------- moved-from handles

TEST_CASE("mpmc_ring: a moved-from handle is empty and usable again after assignment", "[mpmc][contract]") {
  mpmc_ring<u64> q(64);
  auto p = q.make_producer(4);
  auto c = q.make_consumer(4);
  REQUIRE(p.try_push(5));
  auto p2 = std::move(p);
  auto c2 = std::move(c);
  // NOLINTBEGIN(bugprone-use-after-move): the moved-from state is what is tested
  CHECK_FALSE(p.try_push(6));
  CHECK(p.try_push_n(std::vector<u64>{1, 2}) == 0);
  CHECK(p.held() == 0);
  p.flush();
  u64 out = 0;
  CHECK_FALSE(c.try_pop(out));
  CHECK_FALSE(c.try_pop().has_value());
  std::vector<u64> buf(4);
  CHECK(c.try_pop_n(buf) == 0);
  CHECK(c.held() == 0);
  c.release();
  p = q.make_producer(4);
  c = q.make_consumer(4);
  // NOLINTEND(bugprone-use-after-move)
  p2.flush();
  REQUIRE(p.try_push(7));
  p.flush();
  CHECK(c.try_pop() == u64{5});
  CHECK(c.try_pop() == u64{7});
}

// ---------------------------------------------------------------- observers from a third thread

// Observers on more threads than there are cores, so that they are preempted between the two
// cursor loads of was_size() while the producer and the consumer move on.
template <class Ring>
void observe_while_streaming(Ring& q, std::size_t items) {
  constexpr int observers = 3;
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> worst{0};
  std::vector<std::thread> obs;
  for (int k = 0; k < observers; ++k)
    obs.emplace_back([&] {
      std::size_t local = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const std::size_t s = q.was_size();
        if (s > local) local = s;
        (void)q.was_full();  // shares the computation; must not misbehave either
      }
      std::size_t w = worst.load();
      while (local > w && !worst.compare_exchange_weak(w, local)) {
      }
    });
  std::thread consumer([&] {
    for (std::size_t got = 0; got < items;)
      if (q.try_pop()) ++got;
  });
  for (std::size_t i = 0; i < items;)
    if (q.try_push(static_cast<u64>(i))) ++i;
  consumer.join();
  stop.store(true);
  for (auto& t : obs) t.join();
  CHECK(worst.load() <= q.capacity());
}

TEST_CASE("spsc_ring: was_size and was_full from a third thread stay within [0, capacity]", "[spsc][contract][threads]") {
  const std::size_t items = tickflow::test::scaled(4'000'000);
  SECTION("packed") {
    spsc_ring<u64, layout::packed> q(64);
    observe_while_streaming(q, items);
  }
  SECTION("spread") {
    spsc_ring<u64, layout::spread> q(64);
    observe_while_streaming(q, items);
  }
}

namespace {
// mpmc_ring has no was_full; this adaptor gives it one so the helper above runs unchanged.
struct mpmc_observed : mpmc_ring<u64> {
  using mpmc_ring<u64>::mpmc_ring;
  [[nodiscard]] bool was_full() const noexcept { return was_size() >= capacity(); }
};
}  // namespace

TEST_CASE("mpmc_ring: was_size from a third thread stays within [0, capacity]", "[mpmc][contract][threads]") {
  mpmc_observed q(64);
  observe_while_streaming(q, tickflow::test::scaled(1'000'000));
}

// ---------------------------------------------------------------- overflowing capacities

namespace {
constexpr std::size_t size_max = std::numeric_limits<std::size_t>::max();

// The geometry contract: either ring_blocks throws length_error, or the buffer it sizes holds at
// least `capacity` positions and its byte size (with both guard units) fits in size_t.
void check_geometry(const detail::ring_geometry& g, std::size_t capacity) {
  std::size_t blocks = 0;
  try {
    blocks = detail::ring_blocks(capacity, g);
  } catch (const std::length_error&) {
    return;
  }
  REQUIRE(std::has_single_bit(blocks));
  REQUIRE(blocks <= size_max / g.units_per_block);
  const std::size_t units = blocks * g.units_per_block;
  REQUIRE(units <= size_max / g.unit_bytes - 2);
  REQUIRE(blocks <= size_max / g.per_block);
  REQUIRE(blocks * g.per_block >= capacity);
  REQUIRE(blocks >= g.min_blocks);
}

// Capacities around every overflow boundary of a geometry.
std::vector<std::size_t> edge_capacities(const detail::ring_geometry& g) {
  std::vector<std::size_t> caps = {1, 2, 1000, size_max, size_max - 1, size_max / 2, size_max / 2 + 1, (size_max >> 1) + 2,
                                   std::size_t{1} << 62, (std::size_t{1} << 62) + 1};
  const std::size_t max_units = size_max / g.unit_bytes - 2;
  const std::size_t max_blocks = std::bit_floor(max_units / g.units_per_block);
  for (std::size_t b : {max_blocks / 2, max_blocks, max_blocks * 2 > max_blocks ? max_blocks * 2 : max_blocks})
    for (std::size_t d : {std::size_t{0}, std::size_t{1}})
      if (b <= size_max / g.per_block) {
        caps.push_back(b * g.per_block - d);
        caps.push_back(b * g.per_block + 1);
      }
  return caps;
}
}  // namespace

TEST_CASE("ring geometry: every item size 1..4096 and alignment sizes buffers without overflow", "[spsc][mpmc][contract]") {
  std::size_t checked = 0;
  for (std::size_t size = 1; size <= 4096; ++size) {
    for (std::size_t align = 1; align <= 64 && align <= std::bit_floor(size); align *= 2) {
      if (size % align != 0) continue;  // sizeof is a multiple of alignof
      for (const auto& g : {detail::packed_geometry(size, align), detail::interleaved_geometry(size, align), detail::spread_geometry(size, align)}) {
        REQUIRE(g.per_block >= 1);
        REQUIRE(g.unit_bytes >= size);
        for (std::size_t cap : edge_capacities(g)) check_geometry(g, cap);
        ++checked;
      }
    }
  }
  CHECK(checked > 3 * 4096);
}

namespace {
// The real constructors, for one item size: capacities past the boundary throw length_error
// before any allocation (under ASan/UBSan this also proves no overflowing arithmetic runs).
template <std::size_t N>
void construct_overflowing() {
  using T = item<N>;
  for (std::size_t cap : {size_max, size_max - 1, (size_max >> 1) + 1, size_max / 2}) {
    CHECK_THROWS_AS((spsc_ring<T, layout::packed>(cap)), std::length_error);
    CHECK_THROWS_AS((spsc_ring<T, layout::spread>(cap)), std::length_error);
    CHECK_THROWS_AS((mpmc_ring<T>(cap)), std::length_error);
  }
  // A small ring of the same item works end to end.
  spsc_ring<T, layout::packed> a(3);
  spsc_ring<T, layout::spread> b(3);
  mpmc_ring<T> c(3);
  T x{};
  x.bytes[N - 1] = 9;
  REQUIRE(a.try_push(x));
  REQUIRE(b.try_push(x));
  REQUIRE(c.try_push(x));
  CHECK(a.try_pop()->bytes[N - 1] == 9);
  CHECK(b.try_pop()->bytes[N - 1] == 9);
  CHECK(c.try_pop()->bytes[N - 1] == 9);
}
template <std::size_t... N>
void construct_all(std::index_sequence<N...>) {
  (construct_overflowing<N + 1>(), ...);
}
}  // namespace

TEST_CASE("spsc_ring and mpmc_ring: overflowing capacities throw length_error (sizes 1..64 and large items)", "[spsc][mpmc][contract]") {
  construct_all(std::make_index_sequence<64>{});
  construct_overflowing<100>();
  construct_overflowing<127>();
  construct_overflowing<255>();
  construct_overflowing<1000>();
  construct_overflowing<2048>();
  construct_overflowing<3000>();
  construct_overflowing<4088>();
  construct_overflowing<4089>();
  construct_overflowing<4096>();
}

// ---------------------------------------------------------------- concepts and signatures

namespace {
struct throwing_move {
  throwing_move() = default;
  throwing_move(const throwing_move&) = default;
  throwing_move(throwing_move&&) noexcept(false) {}
  throwing_move& operator=(const throwing_move&) = default;
  throwing_move& operator=(throwing_move&&) noexcept(false) { return *this; }
};
}  // namespace

TEST_CASE("ring concepts and signatures match the prose", "[spsc][mpmc][contract]") {
  // ring_element admits a throwing move (the SPSC ring is exception-neutral), as documented.
  STATIC_REQUIRE(tickflow::ring_element<throwing_move>);
  STATIC_REQUIRE(std::is_constructible_v<spsc_ring<throwing_move>, std::size_t>);
  // MPMC blocking calls are noexcept with the built-in policies.
  mpmc_ring<u64> q(16);
  STATIC_REQUIRE(noexcept(q.push(u64{1})));
  STATIC_REQUIRE(noexcept(q.push(u64{1}, tickflow::spin_wait{})));
  STATIC_REQUIRE(noexcept(q.pop()));
  STATIC_REQUIRE(noexcept(q.pop(tickflow::yield_wait{})));
  // The documented minimum MPMC capacities: 16 up to 8 bytes, 4 for 9..24, 2 beyond.
  CHECK(mpmc_ring<item<1>>(1).capacity() == 16);
  CHECK(mpmc_ring<item<8>>(1).capacity() == 16);
  CHECK(mpmc_ring<item<9>>(1).capacity() == 4);
  CHECK(mpmc_ring<item<24>>(1).capacity() == 4);
  CHECK(mpmc_ring<item<25>>(1).capacity() == 2);
  CHECK(mpmc_ring<item<200>>(1).capacity() == 2);
}
