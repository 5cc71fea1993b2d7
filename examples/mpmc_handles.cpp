// Two producers and two consumers share one mpmc_ring through handles: each handle claims runs
// of positions, so a stream of single items costs one locked instruction per run, not per item.
#include <tickflow/queue/mpmc_ring.hpp>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

int main() {
  constexpr std::uint64_t per_producer = 100'000;
  tickflow::mpmc_ring<std::uint64_t> ring(4096);
  std::atomic<std::uint64_t> taken{0}, sum{0};

  std::vector<std::thread> threads;
  for (std::uint64_t p = 0; p < 2; ++p) {
    threads.emplace_back([&, p] {
      auto out = ring.make_producer();  // one thread owns a handle
      for (std::uint64_t i = 1; i <= per_producer;) {
        if (out.try_push(p * per_producer + i)) ++i;
        else std::this_thread::yield();  // full
      }
      // The destructor flushes: slots claimed but not filled are given back, so the consumers
      // are never held up by a producer that has stopped.
    });
  }
  for (int c = 0; c < 2; ++c) {
    threads.emplace_back([&] {
      auto in = ring.make_consumer();
      while (taken.load(std::memory_order_relaxed) < 2 * per_producer) {
        if (auto v = in.try_pop()) {
          sum.fetch_add(*v, std::memory_order_relaxed);
          taken.fetch_add(1, std::memory_order_relaxed);
        } else {
          std::this_thread::yield();  // empty
        }
      }
      // Items this handle still held would go back to the ring here (release()); none are left.
    });
  }
  for (auto& t : threads) t.join();

  const std::uint64_t n = 2 * per_producer;
  std::printf("%llu items, sum %llu\n", static_cast<unsigned long long>(taken.load()),
              static_cast<unsigned long long>(sum.load()));
  return sum.load() == n * (n + 1) / 2 ? 0 : 1;
}
