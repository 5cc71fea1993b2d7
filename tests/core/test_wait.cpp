#include <tickflow/core/cache_padded.hpp>
#include <tickflow/core/wait.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "support/catch.hpp"

TEST_CASE("cache_padded owns whole lines", "[core][wait]") {
  STATIC_REQUIRE(sizeof(tickflow::cache_padded<std::atomic<int>>) == tickflow::cache_line_size);
  STATIC_REQUIRE(alignof(tickflow::cache_padded<int>) == tickflow::cache_line_size);
  struct big { char b[100]; };
  STATIC_REQUIRE(sizeof(tickflow::cache_padded<big>) == 2 * tickflow::cache_line_size);
  tickflow::cache_padded<int> x(41);
  ++*x;
  CHECK(x.value == 42);
}

TEST_CASE("backoff spins exponentially then yields", "[core][wait]") {
  tickflow::backoff b(8);
  CHECK_FALSE(b.is_yielding());
  for (int i = 0; i < 5; ++i) b.pause();  // 0,1,2,4,8 -> reaches the limit
  CHECK(b.is_yielding());
  b.reset();
  CHECK_FALSE(b.is_yielding());
}

TEST_CASE("parking_spot never loses a wake-up", "[core][wait][threads]") {
  // A ping-pong in which both sides park immediately: a lost notification would hang the test.
  tickflow::parking_spot spot_a, spot_b;
  std::atomic<int> turn{0};
  constexpr int rounds = 2000;
  const tickflow::park_wait park{0, 0};
  std::thread other([&] {
    for (int i = 0; i < rounds; ++i) {
      park.wait([&] { return turn.load() == 2 * i + 1; }, spot_b);
      turn.store(2 * i + 2);
      spot_a.notify();
    }
  });
  for (int i = 0; i < rounds; ++i) {
    turn.store(2 * i + 1);
    spot_b.notify();
    park.wait([&] { return turn.load() == 2 * i + 2; }, spot_a);
  }
  other.join();
  CHECK(turn.load() == 2 * rounds);
  CHECK(spot_a.was_sleepers() == 0);
  CHECK(spot_b.was_sleepers() == 0);
}

TEST_CASE("a parked waiter sees un-notified progress within its sleep slice", "[core][wait][threads]") {
  // The other thread publishes without calling notify(): the waiter must still return, after
  // at most one slice of sleep.
  tickflow::parking_spot spot;
  std::atomic<bool> flag{false};
  std::thread setter([&] {
    while (spot.was_sleepers() == 0) std::this_thread::yield();
    flag.store(true);
  });
  const tickflow::park_wait park{0, 0, std::chrono::microseconds(200)};
  park.wait([&] { return flag.load(); }, spot);
  setter.join();
  CHECK(flag.load());
}
