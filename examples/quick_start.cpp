// Quick start: a producer thread feeds page updates to a consumer through an SPSC ring.
#include <tickflow/tickflow.hpp>

#include <cstdio>
#include <thread>

struct update {
  tickflow::page_id page;
  tickflow::epoch at;
  double value;
};

int main() {
  tickflow::spsc_ring<update> ring(1024);  // capacity fixed here; nothing allocates later

  std::thread producer([&] {
    for (std::uint32_t tick = 1; tick <= 100; ++tick)
      ring.push(update{tickflow::page_id{tick % 8}, tickflow::epoch{tick}, tick * 0.5});
  });

  double total = 0;
  for (int i = 0; i < 100; ++i) total += ring.pop().value;  // blocks until an update arrives
  producer.join();

  std::printf("received 100 updates, total %.1f\n", total);
  return total == 2525.0 ? 0 : 1;
}
