// BAD: zero-copy reservations hand out raw slots, so they exist only for trivially copyable T.
#include <tickflow/queue/spsc_ring.hpp>

#include <string>

#if defined(TICKFLOW_CF_BAD)
using element = std::string;
#else
using element = long;
#endif

void use() {
  tickflow::spsc_ring<element> r(4);
  auto span = r.try_reserve(2);
  r.commit(span.size());
}
