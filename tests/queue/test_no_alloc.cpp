// Rings allocate in their constructor only. A counting allocator sees exactly one allocation,
// and a replaced global operator new sees none while two threads push and pop (single items,
// batches, zero-copy reservations and blocking calls).
#include <tickflow/queue/mpmc_ring.hpp>
#include <tickflow/queue/spsc_ring.hpp>

#include <atomic>
#include <cstdint>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <thread>
#include <vector>

#include "support/catch.hpp"
#include "support/replace_new.hpp"
#include "support/scale.hpp"

namespace {
std::atomic<long> global_news{0};
std::atomic<long> allocator_calls{0};

template <class T>
struct counting_allocator {
  using value_type = T;
  counting_allocator() = default;
  template <class U>
  counting_allocator(const counting_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    allocator_calls.fetch_add(1);
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept { std::allocator<T>().deallocate(p, n); }
  template <class U>
  bool operator==(const counting_allocator<U>&) const noexcept { return true; }
};
}  // namespace

// Every allocation counts, then goes to malloc (support/replace_new.hpp replaces the forms).
void* tickflow_test_allocate(std::size_t n, std::size_t align) noexcept {
  global_news.fetch_add(1, std::memory_order_relaxed);
  return tickflow::test::system_allocate(n, align);
}

namespace {

// Runs producer(q) and consumer(q) on two threads and returns how many global allocations
// happened between the start signal and the end of both (thread creation is outside the window).
template <class Producer, class Consumer>
long news_during(Producer producer, Consumer consumer) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<int> done{0};
  auto wrap = [&](auto fn) {
    return [&, fn]() mutable {
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      fn();
      done.fetch_add(1);
    };
  };
  std::thread a(wrap(producer));
  std::thread b(wrap(consumer));
  while (ready.load() != 2) std::this_thread::yield();
  const long before = global_news.load();
  go.store(true);
  while (done.load() != 2) std::this_thread::yield();
  const long after = global_news.load();
  a.join();
  b.join();
  return after - before;
}

}  // namespace

TEST_CASE("spsc_ring allocates once, in the constructor", "[alloc][threads]") {
  using ring_t = tickflow::basic_spsc_ring<std::uint64_t, counting_allocator<std::uint64_t>>;
  const long calls0 = allocator_calls.load();
  ring_t r(100);
  CHECK(allocator_calls.load() - calls0 == 1);
  const std::uint64_t n = tickflow::test::scaled(1'000'000);
  std::atomic<std::uint64_t> sum{0};
  const long news = news_during(
      [&] {
        std::uint64_t batch[16];
        std::uint64_t i = 0;
        while (i < n) {
          if (i % 4 == 0) {
            auto span = r.try_reserve(3);
            std::size_t k = 0;
            for (; k < span.size() && i < n; ++k) span[k] = i++;
            r.commit(k);
          } else if (i % 4 == 1) {
            std::size_t m = 0;
            for (; m < 16 && i + m < n; ++m) batch[m] = i + m;
            i += r.try_push_n(std::span<const std::uint64_t>(batch, m));
          } else {
            r.push(i++);
          }
        }
      },
      [&] {
        std::uint64_t out[16];
        std::uint64_t got = 0, s = 0;
        while (got < n) {
          if (got % 3 == 0) {
            auto span = r.peek(5);
            for (auto v : span) s += v;
            r.release(span.size());
            got += span.size();
          } else if (got % 3 == 1) {
            const std::size_t m = r.try_pop_n(std::span<std::uint64_t>(out));
            for (std::size_t k = 0; k < m; ++k) s += out[k];
            got += m;
          } else {
            s += r.pop();
            ++got;
          }
        }
        sum = s;
      });
  CHECK(news == 0);
  CHECK(allocator_calls.load() - calls0 == 1);
  CHECK(sum.load() == n * (n - 1) / 2);
}

TEST_CASE("mpmc_ring allocates once, in the constructor", "[alloc][threads]") {
  using ring_t = tickflow::basic_mpmc_ring<std::uint64_t, counting_allocator<std::uint64_t>>;
  const long calls0 = allocator_calls.load();
  ring_t r(128);
  CHECK(allocator_calls.load() - calls0 == 1);
  const std::uint64_t n = tickflow::test::scaled(1'000'000);
  std::atomic<std::uint64_t> sum{0};
  const long news = news_during(
      [&] {
        std::uint64_t batch[8];
        std::uint64_t i = 0;
        while (i < n) {
          if (i % 2 == 0) {
            std::size_t m = 0;
            for (; m < 8 && i + m < n; ++m) batch[m] = i + m;
            i += r.try_push_n(std::span<const std::uint64_t>(batch, m));
          } else {
            r.push(i++);
          }
        }
      },
      [&] {
        std::uint64_t out[8];
        std::uint64_t got = 0, s = 0;
        while (got < n) {
          if (got % 2 == 0) {
            const std::size_t m = r.try_pop_n(std::span<std::uint64_t>(out));
            for (std::size_t k = 0; k < m; ++k) s += out[k];
            got += m;
          } else {
            s += r.pop();
            ++got;
          }
        }
        sum = s;
      });
  CHECK(news == 0);
  CHECK(allocator_calls.load() - calls0 == 1);
  CHECK(sum.load() == n * (n - 1) / 2);
}
