// Links odr_a.cpp and odr_b.cpp, which both include the umbrella header. Duplicate
// definitions would fail the link; an inline function must have one address in both.
#include <cstdint>

#include "support/catch.hpp"

std::uint64_t odr_sum_a();
std::uint64_t odr_sum_b();
const void* odr_addr_a();
const void* odr_addr_b();

TEST_CASE("umbrella header in two translation units of one binary", "[odr]") {
  CHECK(odr_sum_a() == 36);
  CHECK(odr_sum_b() == 36);
  CHECK(odr_addr_a() == odr_addr_b());
}
