// BAD: a ring of references must not compile.
#include <tickflow/queue/mpmc_ring.hpp>

#if defined(TICKFLOW_CF_BAD)
using element = int&;
#else
using element = int;
#endif

void use() {
  tickflow::mpmc_ring<element> r(4);
  (void)r.capacity();
}
