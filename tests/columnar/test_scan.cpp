// Scans compiled for the default architecture of the build (SSE2 on x86-64 by default).
#include "scan_cases.hpp"

TEST_CASE("scans equal the scalar oracle (default arch)", "[columnar][scan]") {
  INFO("arch " << xsimd::default_arch::name());
  CHECK(small_case_errors() == 0);
  check_scans_against_oracle<std::uint32_t>();
  check_scans_against_oracle<std::uint64_t>();
}
