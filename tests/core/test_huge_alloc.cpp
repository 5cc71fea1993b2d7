// huge_page_allocator: big blocks are 2 MiB aligned and usable, small ones are ordinary, and
// containers work with it.
#include <tickflow/core/huge_alloc.hpp>

#include <cstdint>
#include <cstring>
#include <vector>

#include "support/catch.hpp"

using namespace tickflow;

TEST_CASE("huge_page_allocator serves big blocks 2 MiB aligned and small ones as usual", "[core]") {
  huge_page_allocator<std::uint64_t> a;
  const std::size_t big = (3 * huge_page_bytes) / sizeof(std::uint64_t) + 5;  // not a multiple of 2 MiB
  std::uint64_t* p = a.allocate(big);
  CHECK(reinterpret_cast<std::uintptr_t>(p) % huge_page_bytes == 0);
  for (std::size_t i = 0; i < big; ++i) p[i] = i * 3;
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < big; ++i) sum += p[i];
  CHECK(sum == 3 * (big * (big - 1) / 2));
  a.deallocate(p, big);

  std::uint64_t* q = a.allocate(10);
  CHECK(reinterpret_cast<std::uintptr_t>(q) % alignof(std::uint64_t) == 0);
  std::memset(q, 0xAB, 10 * sizeof(std::uint64_t));
  a.deallocate(q, 10);
  CHECK_THROWS_AS(a.allocate(~std::size_t{0} / 4), std::bad_alloc);
  CHECK(a == huge_page_allocator<char>{});
}

TEST_CASE("a vector on huge_page_allocator grows across the 2 MiB threshold", "[core]") {
  std::vector<std::uint32_t, huge_page_allocator<std::uint32_t>> v;
  for (std::uint32_t i = 0; i < 3'000'000; ++i) v.push_back(i);
  CHECK(v.size() == 3'000'000);
  CHECK(v[2'999'999] == 2'999'999);
  CHECK(reinterpret_cast<std::uintptr_t>(v.data()) % huge_page_bytes == 0);
  v.shrink_to_fit();
  v.resize(10);
  v.shrink_to_fit();
  CHECK(v.back() == 9);
}
