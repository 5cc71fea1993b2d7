// One typed stress test over every ring configuration: each tickflow ring with a trivial, a
// lifetime-tracked, a move-only and a larger-than-a-line element, plus a user queue written
// against the concepts. One producer, one consumer, several capacities: the consumer must see
// exactly 0..n-1 in order, every element intact, and no object constructed twice or destroyed
// unconstructed.
#include <tickflow/tickflow.hpp>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "support/catch.hpp"
#include "support/locked_queue.hpp"
#include "support/scale.hpp"
#include "support/tracked.hpp"

namespace tt = tickflow::test;
using u64 = std::uint64_t;
template <class T>
using spread_ring = tickflow::spsc_ring<T, tickflow::spsc_layout::spread>;

namespace {

template <class Q>
void stress_1p1c(std::size_t capacity, u64 n) {
  using T = typename Q::value_type;
  Q q(capacity);
  std::atomic<long> wrong{0};
  std::thread producer([&] {
    tickflow::backoff bo(8);
    std::vector<T> batch;
    u64 i = 0;
    while (i < n) {
      bool progressed = false;
      if constexpr (tickflow::batch_producer<Q> && std::is_copy_constructible_v<T>) {
        if (i % 5 == 0) {  // every fifth round a batch of up to 9, partially accepted when short of room
          batch.clear();
          for (u64 k = i; k < std::min(n, i + 9); ++k) batch.push_back(tt::make_item<T>(k));
          const std::size_t m = q.try_push_n(std::span<const T>(batch));
          i += m;
          progressed = m != 0;
          if (progressed) { bo.reset(); continue; }
        }
      }
      T item = tt::make_item<T>(i);
      progressed = q.try_push(std::move(item));
      if (progressed) { ++i; bo.reset(); } else bo.pause();
    }
  });
  u64 expect = 0;
  tickflow::backoff bo(8);
  std::vector<T> out(7);
  while (expect < n) {
    std::size_t got = 0;
    if constexpr (tickflow::batch_consumer<Q> && std::is_move_assignable_v<T>) {
      if (expect % 3 == 0) {
        got = q.try_pop_n(std::span<T>(out));
        for (std::size_t k = 0; k < got; ++k) wrong += tt::value_of(out[k]) != expect++;
      }
    }
    if (got == 0) {
      if (auto v = q.try_pop()) {
        wrong += tt::value_of(*v) != expect++;
        got = 1;
      }
    }
    if (got != 0) bo.reset(); else bo.pause();
  }
  producer.join();
  CHECK(wrong.load() == 0);
  if constexpr (requires { q.check_invariants(); }) CHECK(q.check_invariants());
  CHECK(q.was_empty());
  CHECK_FALSE(q.try_pop().has_value());
}

}  // namespace

TEMPLATE_TEST_CASE("every ring configuration: 1p1c stress, order, lifetimes", "[ring][threads]",
                   tickflow::spsc_ring<u64>, tickflow::spsc_ring<tt::tracked>,
                   tickflow::spsc_ring<tt::move_only>, tickflow::spsc_ring<tt::big>,
                   spread_ring<u64>, spread_ring<tt::tracked>, spread_ring<tt::big>,
                   tickflow::mpmc_ring<u64>, tickflow::mpmc_ring<tt::tracked>,
                   tickflow::mpmc_ring<tt::move_only>, tickflow::mpmc_ring<tt::big>,
                   tt::locked_queue<u64>) {
  STATIC_REQUIRE(tickflow::ring<TestType>);
  using T = typename TestType::value_type;
  tt::lifetime_baseline base;
  // The tracked type takes a global lock per construction: fewer items keep the run short.
  const u64 n = std::is_same_v<T, tt::tracked> ? tt::scaled(100'000) : tt::scaled(1'000'000);
  for (std::size_t cap : {1U, 2U, 7U, 64U, 1000U}) {
    INFO("capacity " << cap);
    stress_1p1c<TestType>(cap, n / 4);
  }
  CHECK(base.new_errors() == 0);
  CHECK(base.extra_live() == 0);
}
