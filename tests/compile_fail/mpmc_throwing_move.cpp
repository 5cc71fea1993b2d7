// BAD: the MPMC ring claims a slot before constructing into it, so pushing needs a
// non-throwing constructor.
#include <tickflow/queue/mpmc_ring.hpp>

struct element {
  element() = default;
#if defined(TICKFLOW_CF_BAD)
  element(element&&) noexcept(false) {}
#else
  element(element&&) noexcept {}
#endif
};

void use() {
  tickflow::mpmc_ring<element> r(4);
  (void)r.try_push(element{});
}
