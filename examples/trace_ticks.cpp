// A reference engine whose workers are traced (report/trace.hpp), ticked by the orchestrator; the
// last ticks are written as Chrome Trace Event JSON, for chrome://tracing or ui.perfetto.dev.
//
//   example_trace_ticks --out PATH [--ticks N] [--keep K] [--workers W] [--budget-us B]
//     --out PATH      where the trace goes
//     --ticks N       ticks to run (default 200)
//     --keep K        ticks the trace keeps, the last K (default 64)
//     --workers W     worker threads, the caller included (default 2)
//     --budget-us B   the total tick budget in microseconds (default 16000); each of the three
//                     phase budgets gets a quarter, so a small B shows overruns in the trace
//
// The graph: 32768 source pages of 8 doubles feed 8192 pages, which feed 2048, which feed 512 (real
// semiring, weight 0.25): 10752 derived pages, past the size at which propagation runs on every
// worker. Every tick writes every source.
#include <tickflow/engine/engine.hpp>
#include <tickflow/engine/tick.hpp>
#include <tickflow/report/trace.hpp>
#include <tickflow/semiring/builtin.hpp>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

using namespace tickflow;

namespace {

int usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s --out PATH [--ticks N] [--keep K] [--workers W] [--budget-us B]\n", argv0);
  return 2;
}

bool parse_number(const char* s, unsigned long lo, unsigned long hi, unsigned long& out) {
  if (s == nullptr || *s == '\0' || *s == '-') return false;
  char* end = nullptr;
  errno = 0;
  const unsigned long v = std::strtoul(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) return false;
  out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out_path;
  unsigned long ticks_n = 200, keep = 64, workers = 2, budget_us = 16000;
  for (int i = 1; i < argc; i += 2) {  // every option takes a value
    const std::string_view a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    bool ok = v != nullptr;
    if (a == "--out" && ok) out_path = v;
    else if (a == "--ticks" && ok) ok = parse_number(v, 1, 1'000'000, ticks_n);
    else if (a == "--keep" && ok) ok = parse_number(v, 1, 100'000, keep);
    else if (a == "--workers" && ok) ok = parse_number(v, 1, 64, workers);
    else if (a == "--budget-us" && ok) ok = parse_number(v, 4, 10'000'000, budget_us);
    else ok = false;
    if (!ok) return usage(argv[0]);
  }
  if (out_path.empty()) return usage(argv[0]);

  using engine_t = reference_engine<double, semiring_kernel<real_semiring<double>>, traced_executor<thread_pool>>;
  engine_t e({}, static_cast<std::size_t>(workers));
  std::vector<std::vector<page_id>> layers(4);
  for (std::size_t l = 0, n = 32768; l < 4; ++l, n /= 4)
    for (std::size_t i = 0; i < n; ++i) layers[l].push_back(*e.create_page(64));
  graph_edit<double> edit;
  for (std::size_t l = 0; l + 1 < layers.size(); ++l)
    for (std::size_t i = 0; i < layers[l].size(); ++i) edit.add_edge({layers[l][i], layers[l + 1][i / 4], edge_kind::data, 0.25});
  if (auto ok = e.edit_graph(edit); !ok) {
    std::fprintf(stderr, "edit: %s\n", ok.error().message);
    return 1;
  }

  tick_options options;
  options.keep_records = keep;
  const auto quarter = std::chrono::microseconds(budget_us / 4);
  options.budgets = {quarter, quarter, quarter, std::chrono::microseconds(budget_us)};
  auto ticks = tick_orchestrator<engine_t>::make(e, options);
  if (!ticks) return 1;

  std::uint64_t id = 1;
  for (std::uint64_t t = 1; t <= ticks_n; ++t) {
    for (const page_id p : layers[0]) {
      delta d;
      d.page = p;
      d.at = epoch{static_cast<std::uint32_t>(t)};
      d.id = delta_id{id++};
      d.length = 64;
      d.mask.assign(1, ~std::uint64_t{0});
      d.payload.resize(64);
      const double v = static_cast<double>(t);
      for (std::size_t j = 0; j < 8; ++j) std::memcpy(d.payload.data() + 8 * j, &v, 8);
      if (!e.submit(d)) return 1;
    }
    if (!ticks->tick()) return 1;
  }

  std::string json;
  write_chrome_trace(json, *ticks, &e.executor_ref());
  std::FILE* f = std::fopen(out_path.c_str(), "wb");
  if (f == nullptr || std::fwrite(json.data(), 1, json.size(), f) != json.size() || std::fclose(f) != 0) {
    std::fprintf(stderr, "cannot write %s\n", out_path.c_str());
    return 1;
  }
  // Every top page holds 0.25^3 * 64 sources' worth of the last tick's value.
  double top;
  std::memcpy(&top, e.store().bytes(layers[3][0])->data(), 8);
  const double want = static_cast<double>(ticks_n) * 64.0 * 0.25 * 0.25 * 0.25;
  std::printf("%lu ticks, %zu kept in %s (%zu bytes); %llu fork-joins traced; tick p50 %.1f us, p99 %.1f us; top = %g (want %g)\n", ticks_n,
              ticks->records_kept(), out_path.c_str(), json.size(), static_cast<unsigned long long>(e.executor_ref().fork_joins()),
              static_cast<double>(ticks->total_histogram().p50()) / 1e3, static_cast<double>(ticks->total_histogram().p99()) / 1e3, top, want);
  return top == want ? 0 : 1;
}
