// Scans compiled with -march=native (AVX2 or AVX-512 on the machines tickflow runs CI on):
// the wide kernels checked against the same oracle.
#include "scan_cases.hpp"

TEST_CASE("scans equal the scalar oracle (native arch)", "[columnar][scan]") {
  INFO("arch " << xsimd::default_arch::name());
  CHECK(small_case_errors() == 0);
  check_scans_against_oracle<std::uint32_t>();
  check_scans_against_oracle<std::uint64_t>();
}
