// Page-module benchmarks: transaction-log append and recovery throughput, bytes of bookkeeping
// per page from RSS, and single-threaded delta application (per-delta AoS path). Ends with
// the page/tlog budget lines of DESIGN.md §3.
#include <benchmark/benchmark.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <tickflow/columnar/batch_apply.hpp>
#include <tickflow/columnar/delta_batch.hpp>
#include <tickflow/page/page_store.hpp>
#include <tickflow/page/tlog.hpp>

#include "support/harness.hpp"

namespace {

using namespace tickflow;
namespace tb = tickflow::bench;

std::string scratch_path() {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/tickflow_bench_" + std::to_string(::getpid()) + ".tlog";
}

delta full_delta(page_id page, epoch at, std::uint64_t id, std::uint32_t bytes, std::mt19937_64& rng) {
  delta d;
  d.page = page;
  d.at = at;
  d.id = delta_id{id};
  d.offset = 0;
  d.length = bytes;
  d.kind = delta_kind::dense;
  d.mask.assign(mask_words(bytes), ~std::uint64_t{0});
  if (bytes % 64 != 0) d.mask.back() = (std::uint64_t{1} << (bytes % 64)) - 1;
  d.payload.resize(bytes);
  for (auto& b : d.payload) b = static_cast<std::byte>(rng());
  return d;
}

// 200k records of 64-byte dense deltas over 4096 pages, epochs rising every 1000 records.
const std::vector<delta>& log_records() {
  static const std::vector<delta> records = [] {
    std::mt19937_64 rng(1);
    std::vector<delta> v;
    v.reserve(200000);
    for (std::uint64_t i = 0; i < 200000; ++i)
      v.push_back(full_delta(page_id{rng() % 4096}, epoch{static_cast<std::uint32_t>(i / 1000)}, i, 64, rng));
    return v;
  }();
  return records;
}

std::uint64_t file_size(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  return static_cast<std::uint64_t>(f.tellg());
}

void bm_tlog_append(benchmark::State& state) {
  const auto& records = log_records();
  const std::string path = scratch_path();
  std::uint64_t bytes = 0;
  for (auto _ : state) {
    std::remove(path.c_str());
    auto w = tlog_writer::open(path, fsync_policy::never);
    if (!w) { state.SkipWithError("open failed"); return; }
    for (const auto& d : records)
      if (!w->append(d)) { state.SkipWithError("append failed"); return; }
    if (!w->flush()) { state.SkipWithError("flush failed"); return; }
    state.PauseTiming();
    bytes += file_size(path);
    state.ResumeTiming();
  }
  std::remove(path.c_str());
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
}

void bm_tlog_recover(benchmark::State& state) {
  const auto& records = log_records();
  const std::string path = scratch_path();
  std::remove(path.c_str());
  {
    auto w = tlog_writer::open(path, fsync_policy::never);
    for (const auto& d : records) (void)w->append(d);
    (void)w->flush();
  }
  const std::uint64_t size = file_size(path);
  for (auto _ : state) {
    auto r = read_tlog(path);
    if (!r || r->records.size() != records.size()) { state.SkipWithError("recovery lost records"); return; }
    benchmark::DoNotOptimize(r->records.data());
  }
  std::remove(path.c_str());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

long rss_bytes() {
  std::ifstream f("/proc/self/statm");
  long pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * ::sysconf(_SC_PAGESIZE);
}

// Bytes per page beyond the padded 64-byte payload, from the RSS growth of a freshly executed
// copy of this binary while it creates 1M pages. (A forked child would inherit the parent's
// resident heap and reuse it without growing.)
constexpr const char* bookkeeping_flag = "--tickflow-bookkeeping-child";
int bookkeeping_child() {
  constexpr std::size_t pages = 1'000'000;
  const long before = rss_bytes();
  page_store s;
  for (std::size_t i = 0; i < pages; ++i)
    if (!s.create(64)) return 1;
  std::printf("%.3f\n", static_cast<double>(rss_bytes() - before) / pages);
  return 0;
}
double bookkeeping_per_page = -1;
void bm_bookkeeping(benchmark::State& state) {
  for (auto _ : state) {
    char self[4096] = {};
    const ssize_t len = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) { state.SkipWithError("cannot find this binary"); return; }
    const std::string cmd = "'" + std::string(self, static_cast<std::size_t>(len)) + "' " + bookkeeping_flag;
    FILE* p = ::popen(cmd.c_str(), "r");
    double per_page = -1;
    const bool ok = p != nullptr && std::fscanf(p, "%lf", &per_page) == 1;
    if (p != nullptr) ::pclose(p);
    if (!ok) { state.SkipWithError("child failed"); return; }
    bookkeeping_per_page = per_page - 64.0;
    state.counters["rss_bytes_per_page"] = per_page;
  }
}

// 8M dense 64-byte deltas onto 1M pages of 64 bytes, uniformly random page, one thread, through
// page_store::apply (one validated delta at a time, in input order).
constexpr std::size_t apply_pages = 1'000'000, apply_deltas = 8'000'000;

std::vector<page_id> make_pages(page_store& s, std::size_t n) {
  std::vector<page_id> ids;
  ids.reserve(n);
  for (std::size_t i = 0; i < n; ++i) ids.push_back(*s.create(64));
  return ids;
}

void bm_apply_aos(benchmark::State& state) {
  constexpr std::size_t pages = apply_pages, deltas = apply_deltas;
  page_store s;
  const auto ids = make_pages(s, pages);
  std::mt19937_64 rng(2);
  std::vector<delta> work;
  work.reserve(deltas);
  for (std::size_t i = 0; i < deltas; ++i) work.push_back(full_delta(ids[rng() % pages], epoch{1}, i, 64, rng));
  for (auto _ : state) {
    for (const auto& d : work)
      if (!s.apply(d)) { state.SkipWithError("apply failed"); return; }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * deltas));
}

// Workloads of batch_applier, in one columnar batch over 1M pages of 64 bytes, one thread:
//   0  the budget's: 8M dense 64-byte deltas (full masks), uniformly random page (8 per page on
//      average, so most rows are overwritten by a later row on their page);
//   1  8M dense 8-byte deltas at a random aligned word of a random page (about 2/3 of the rows
//      still own bytes at the end);
//   2  1M dense 64-byte deltas, each page exactly once (every row owns all its bytes).
void bm_apply_batch(benchmark::State& state) {
  const auto workload = state.range(0);
  const std::size_t pages = apply_pages, deltas = workload == 2 ? apply_pages : apply_deltas;
  const std::uint32_t bytes = workload == 1 ? 8 : 64;
  page_store s;
  const auto ids = make_pages(s, pages);
  std::mt19937_64 rng(2);
  std::vector<std::uint32_t> order(pages);
  for (std::uint32_t i = 0; i < pages; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  delta_batch batch;
  batch.reserve(deltas, deltas, deltas * bytes);
  delta d = full_delta(ids[0], epoch{1}, 0, bytes, rng);
  for (std::size_t i = 0; i < deltas; ++i) {
    d.page = ids[workload == 2 ? order[i] : rng() % pages];
    d.id = delta_id{i};
    if (workload == 1) d.offset = static_cast<std::uint32_t>(8 * (rng() % 8));
    for (std::size_t k = 0; k < bytes; k += 8) {
      const std::uint64_t v = rng();
      std::memcpy(d.payload.data() + k, &v, 8);
    }
    batch.push_back(d);
  }
  batch_applier applier;
  // Warm-up: the applier's scratch grows to this batch once (first-touch page faults of a few
  // hundred MiB), as in an engine that applies a batch every tick. Re-applying is valid: the
  // epochs equal the pages'.
  if (!applier.apply(s, batch)) { state.SkipWithError("apply failed"); return; }
  for (auto _ : state) {
    auto r = applier.apply(s, batch);
    if (!r) { state.SkipWithError("apply failed"); return; }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * deltas));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == bookkeeping_flag) return bookkeeping_child();
  benchmark::RegisterBenchmark("tlog_append/never_fsync", bm_tlog_append)->Unit(benchmark::kMillisecond)->MinTime(0.2);
  benchmark::RegisterBenchmark("tlog_recover", bm_tlog_recover)->Unit(benchmark::kMillisecond)->MinTime(0.2);
  benchmark::RegisterBenchmark("page_bookkeeping/1M_pages_64B", bm_bookkeeping)->Iterations(1)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("page_apply/aos_8M_deltas_1M_pages", bm_apply_aos)->Iterations(1)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("page_apply/batch_8M_deltas_1M_pages", bm_apply_batch)->Arg(0)->Iterations(2)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("page_apply/batch_8M_word_deltas_1M_pages", bm_apply_batch)->Arg(1)->Iterations(2)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("page_apply/batch_1M_deltas_each_page_once", bm_apply_batch)->Arg(2)->Iterations(4)->Unit(benchmark::kMillisecond);
  tb::median_collector c;
  tb::run_and_collect(argc, argv, c);
  std::printf("\n");
  auto bytes_rate = [&](const char* name) -> std::optional<double> {
    auto m = c.get(name);
    if (!m) return std::nullopt;
    return m->bytes_per_second / 1e9;
  };
  auto items_rate = [&](const char* name) -> std::optional<double> {
    auto m = c.get(name);
    if (!m) return std::nullopt;
    return m->items_per_second;
  };
  tb::print_budget("tlog.append_gb_per_s", bytes_rate("tlog_append/never_fsync"), "GB/s", tb::goal_op::at_least, 1.0);
  tb::print_budget("tlog.recover_gb_per_s", bytes_rate("tlog_recover"), "GB/s", tb::goal_op::at_least, 1.0);
  tb::print_budget("page.bookkeeping_bytes_per_page",
                   bookkeeping_per_page >= 0 ? std::optional<double>(bookkeeping_per_page) : std::nullopt, "bytes",
                   tb::goal_op::at_most, 32.0);
  const auto aos = items_rate("page_apply/aos_8M_deltas_1M_pages");
  const auto grouped = items_rate("page_apply/batch_8M_deltas_1M_pages");
  if (aos) std::printf("# page.apply per-delta path (page_store::apply, input order): %.3g deltas/s\n", *aos);
  if (aos && grouped) std::printf("# page.apply batch_applier / per-delta path: %.3g\n", *grouped / *aos);
  if (auto w = items_rate("page_apply/batch_8M_word_deltas_1M_pages"))
    std::printf("# page.apply batch_applier, 8M 8-byte word deltas (2/3 of rows own bytes): %.3g deltas/s\n", *w);
  if (auto once = items_rate("page_apply/batch_1M_deltas_each_page_once"))
    std::printf("# page.apply batch_applier, 1M deltas, each page once (no row overwritten): %.3g deltas/s\n", *once);
  std::printf("# page.apply_deltas_per_s_1t: batch_applier (partition by page, newest-first ownership, then write)\n");
  tb::print_budget("page.apply_deltas_per_s_1t", grouped, "deltas/s", tb::goal_op::at_least, 60e6);
  return c.errors().empty() ? 0 : 1;
}
