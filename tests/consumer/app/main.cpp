// A program that uses tickflow the way a downstream project does.
#include <tickflow/tickflow.hpp>

#include <cstdio>
#include <thread>

int main() {
  tickflow::spsc_ring<int> ring(64);
  std::thread producer([&] {
    for (int i = 1; i <= 1000; ++i) ring.push(i);
  });
  long sum = 0;
  for (int i = 0; i < 1000; ++i) sum += ring.pop();
  producer.join();
  if (sum != 500500) {
    std::printf("consumer wrong sum %ld\n", sum);
    return 1;
  }
  std::printf("consumer ok %d.%d.%d\n", TICKFLOW_VERSION_MAJOR, TICKFLOW_VERSION_MINOR, TICKFLOW_VERSION_PATCH);
  return 0;
}
