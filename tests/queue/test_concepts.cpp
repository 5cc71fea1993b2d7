// The ring concepts accept what they must and reject what they must (the compile-fail tests
// under tests/compile_fail/ check that instantiation really fails for rejected types).
#include <tickflow/queue/concepts.hpp>
#include <type_traits>
#include <tickflow/queue/mpmc_ring.hpp>
#include <tickflow/queue/spsc_ring.hpp>

#include <memory>
#include <mutex>
#include <string>

#include "support/catch.hpp"
#include "support/locked_queue.hpp"
#include "support/tracked.hpp"

namespace {
struct no_move {
  no_move() = default;
  no_move(no_move&&) = delete;
};
struct throwing_dtor {
  ~throwing_dtor() noexcept(false) {}
};
template <class R>
concept has_zero_copy = requires(R& r) {
  r.try_reserve(1);
  r.peek(1);
};
struct no_try_pop {
  using value_type = int;
  bool try_push(int&&) { return true; }
};
}  // namespace

TEST_CASE("ring_element accepts object types that move and destroy safely", "[concepts]") {
  STATIC_REQUIRE(tickflow::ring_element<int>);
  STATIC_REQUIRE(tickflow::ring_element<std::string>);
  STATIC_REQUIRE(tickflow::ring_element<std::unique_ptr<int>>);
  STATIC_REQUIRE(tickflow::ring_element<tickflow::test::tracked>);
  STATIC_REQUIRE_FALSE(tickflow::ring_element<int&>);
  STATIC_REQUIRE_FALSE(tickflow::ring_element<const int>);
  STATIC_REQUIRE_FALSE(tickflow::ring_element<int[4]>);
  STATIC_REQUIRE_FALSE(tickflow::ring_element<void>);
  STATIC_REQUIRE_FALSE(tickflow::ring_element<std::mutex>);
  STATIC_REQUIRE_FALSE(tickflow::ring_element<no_move>);
  STATIC_REQUIRE_FALSE(tickflow::ring_element<throwing_dtor>);
}

TEST_CASE("both rings and a user queue model the endpoint concepts", "[concepts]") {
  STATIC_REQUIRE(tickflow::ring<tickflow::spsc_ring<int>>);
  STATIC_REQUIRE(tickflow::batch_producer<tickflow::spsc_ring<int>>);
  STATIC_REQUIRE(tickflow::batch_consumer<tickflow::spsc_ring<int>>);
  STATIC_REQUIRE(tickflow::ring<tickflow::mpmc_ring<int>>);
  STATIC_REQUIRE(tickflow::batch_producer<tickflow::mpmc_ring<int>>);
  STATIC_REQUIRE(tickflow::batch_consumer<tickflow::mpmc_ring<int>>);
  STATIC_REQUIRE(tickflow::batch_producer<tickflow::mpmc_ring<int>::producer>);
  STATIC_REQUIRE(tickflow::batch_consumer<tickflow::mpmc_ring<int>::consumer>);
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<tickflow::mpmc_ring<int>::producer>);
  STATIC_REQUIRE(std::is_nothrow_move_constructible_v<tickflow::mpmc_ring<int>::consumer>);
  STATIC_REQUIRE(tickflow::ring<tickflow::spsc_ring<std::unique_ptr<int>>>);
  STATIC_REQUIRE_FALSE(tickflow::batch_producer<tickflow::spsc_ring<std::unique_ptr<int>>>);
  STATIC_REQUIRE(tickflow::ring<tickflow::test::locked_queue<int>>);
  STATIC_REQUIRE_FALSE(tickflow::batch_producer<tickflow::test::locked_queue<int>>);
  STATIC_REQUIRE(tickflow::producer_endpoint<no_try_pop>);
  STATIC_REQUIRE_FALSE(tickflow::consumer_endpoint<no_try_pop>);
}

TEST_CASE("ring layout facts", "[concepts]") {
  // Packed cells are 4 KiB: a sequence word, then 511 x 8 bytes, 1022 x 4 bytes, 36 x 112 bytes.
  STATIC_REQUIRE(tickflow::spsc_ring<std::uint64_t>::items_per_cell == 511);
  STATIC_REQUIRE(tickflow::spsc_ring<std::uint32_t>::items_per_cell == 1022);
  STATIC_REQUIRE(sizeof(tickflow::test::big) == 112);
  STATIC_REQUIRE(tickflow::spsc_ring<tickflow::test::big>::items_per_cell == 36);
  using spread = tickflow::spsc_ring<std::uint64_t, tickflow::spsc_layout::spread>;
  STATIC_REQUIRE(spread::items_per_cell == 1);
  // Spread lines: a sequence word, then 7 x 8 bytes or 14 x 4 bytes per 64-byte line, in blocks
  // of 4 lines; a 112-byte item gets a 128-byte unit of its own.
  using lines_u64 = tickflow::detail::interleaved_lines<std::uint64_t, std::allocator<std::uint64_t>>;
  using lines_u32 = tickflow::detail::interleaved_lines<std::uint32_t, std::allocator<std::uint32_t>>;
  using lines_big = tickflow::detail::interleaved_lines<tickflow::test::big, std::allocator<tickflow::test::big>>;
  STATIC_REQUIRE(lines_u64::per_unit == 7);
  STATIC_REQUIRE(lines_u64::block == 28);
  STATIC_REQUIRE(lines_u32::per_unit == 14);
  STATIC_REQUIRE(lines_big::per_unit == 1);
  STATIC_REQUIRE(tickflow::ring<spread> && tickflow::batch_producer<spread> && tickflow::batch_consumer<spread>);
  // Zero-copy spans exist only where items are contiguous.
  STATIC_REQUIRE(has_zero_copy<tickflow::spsc_ring<std::uint64_t>>);
  STATIC_REQUIRE_FALSE(has_zero_copy<spread>);
  STATIC_REQUIRE_FALSE(has_zero_copy<tickflow::spsc_ring<std::string>>);
  STATIC_REQUIRE(noexcept(std::declval<tickflow::spsc_ring<int>&>().try_push(1)));
  STATIC_REQUIRE(noexcept(std::declval<tickflow::mpmc_ring<int>&>().try_push(1)));
  STATIC_REQUIRE(noexcept(std::declval<tickflow::spsc_ring<int>&>().try_pop()));
}
