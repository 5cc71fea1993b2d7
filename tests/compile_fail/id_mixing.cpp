// BAD: a delta_id is not a page_id.
#include <tickflow/core/ids.hpp>

void take_page(tickflow::page_id) {}

void use() {
#if defined(TICKFLOW_CF_BAD)
  take_page(tickflow::delta_id{3});
#else
  take_page(tickflow::page_id{3});
#endif
}
