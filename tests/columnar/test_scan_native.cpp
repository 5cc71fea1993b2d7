// Scans compiled with -march=native (AVX2 or AVX-512 on the machines tickflow runs CI on):
// the wide kernels checked against the same oracle.
#include "scan_cases.hpp"

TEST_CASE("scans equal the scalar oracle (native arch)", "[columnar][scan]") {
  INFO("arch " << xsimd::default_arch::name());
  const std::vector<std::uint32_t> small{1, 5, 9, 5, 2, 7, 5, 0, 3, 4, 6, 8, 5, 5, 1, 2, 9, 9};
  std::vector<std::uint32_t> idx(small.size());
  CHECK(tickflow::count_in_range<std::uint32_t>(small, 4, 6) == 7);
  REQUIRE(tickflow::select_in_range<std::uint32_t>(small, 9, 9, idx.data()) == 3);
  CHECK((idx[0] == 2 && idx[1] == 16 && idx[2] == 17));
  check_scans_against_oracle<std::uint32_t>();
  check_scans_against_oracle<std::uint64_t>();
}
