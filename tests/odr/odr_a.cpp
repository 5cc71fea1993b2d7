#include <tickflow/tickflow.hpp>

#include <cstdint>

// Uses the umbrella header in a first translation unit.
std::uint64_t odr_sum_a() {
  tickflow::spsc_ring<std::uint64_t> r(8);
  for (std::uint64_t i = 1; i <= 8; ++i) (void)r.try_push(i);
  std::uint64_t s = 0, v = 0;
  while (r.try_pop(v)) s += v;
  return s;
}
const void* odr_addr_a() { return reinterpret_cast<const void*>(&tickflow::detail::assert_fail); }
