// Runs the fuzz target over every file of a corpus folder, and over deterministic mutations of
// each, so the parsers' fuzz checks run under ctest (and the sanitizers) without libFuzzer.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s corpus-folder\n", argv[0]);
    return 2;
  }
  std::size_t files = 0, runs = 0;
  std::mt19937_64 rng(2026);
  for (const auto& entry : std::filesystem::directory_iterator(argv[1])) {
    std::ifstream f(entry.path(), std::ios::binary);
    std::vector<std::uint8_t> data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    ++files;
    LLVMFuzzerTestOneInput(data.data(), data.size());
    ++runs;
    for (int k = 0; k < 2000 && !data.empty(); ++k) {
      auto copy = data;
      for (int e = 0; e < 1 + static_cast<int>(rng() % 3); ++e) copy[rng() % copy.size()] ^= static_cast<std::uint8_t>(1U << (rng() % 8));
      if (rng() % 4 == 0) copy.resize(rng() % (copy.size() + 1));
      LLVMFuzzerTestOneInput(copy.data(), copy.size());
      ++runs;
    }
  }
  std::printf("%zu corpus files, %zu inputs, no finding\n", files, runs);
  return files == 0 ? 1 : 0;
}
