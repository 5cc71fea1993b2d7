// BAD: a ring of a type that cannot be moved must not compile.
#include <tickflow/queue/spsc_ring.hpp>

#include <mutex>

#if defined(TICKFLOW_CF_BAD)
using element = std::mutex;
#else
using element = int;
#endif

void use() {
  tickflow::spsc_ring<element> r(4);
  (void)r.capacity();
}
