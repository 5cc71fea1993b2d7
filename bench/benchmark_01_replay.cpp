// Suite 01 (replay), performance: deltas replayed per second on one thread.
//
// Budget: replay.deltas_per_s_1t >= 30e6. Workload: 65,536 pages of 64 bytes, a run of 4M dense
// 64-byte deltas (uniformly random page, epochs rising every 4096 deltas) recorded by
// replay_validator. Timed: replay(0) whole: restore the checkpoint, recover the 4M records from
// the log image (CRC-32C checked per record), apply them, and compare with the live store
// (digests, typed L2 divergence, epochs, page sets).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include <tickflow/page/page_store.hpp>
#include <tickflow/validate/replay.hpp>

#include "support/harness.hpp"
#include "support/workload.hpp"

namespace {

using namespace tickflow;
namespace tb = tickflow::bench;

constexpr std::size_t pages = 65'536, deltas = 4'000'000;

struct recorded_run {
  page_store live;
  std::unique_ptr<replay_validator<page_store>> validator;
  std::size_t log_bytes = 0;
};

recorded_run& data() {
  static recorded_run r = [] {
    recorded_run out;
    std::vector<page_id> ids;
    for (std::size_t i = 0; i < pages; ++i) ids.push_back(*out.live.create(64));
    out.validator = std::make_unique<replay_validator<page_store>>(out.live);
    tb::for_each_dense64(ids, deltas, 5, [&](const delta& d) {
      (void)out.live.apply(d);
      (void)out.validator->record(d);
    });
    out.log_bytes = out.validator->log_image().size();
    return out;
  }();
  return r;
}

void bm_replay(benchmark::State& state) {
  auto& r = data();
  page_store scratch;
  (void)r.validator->replay(0, scratch, r.live);  // warm-up: the validator's scratch grows once
  for (auto _ : state) {
    const auto rep = r.validator->replay(0, scratch, r.live);
    if (!rep.ok() || rep.records_replayed != deltas) {
      state.SkipWithError("replay did not reproduce the run");
      return;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * deltas));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * r.log_bytes));
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::RegisterBenchmark("replay/4M_deltas_64K_pages", bm_replay)->Iterations(1)->Unit(benchmark::kMillisecond);
  tb::median_collector c;
  tb::run_and_collect(argc, argv, c);
  std::printf("\n");
  const auto m = c.get("replay/4M_deltas_64K_pages");
  if (m) std::printf("# replay: %.3g deltas/s, log read at %.3g GB/s\n", m->items_per_second, m->bytes_per_second / 1e9);
  tb::print_budget("replay.deltas_per_s_1t", m ? std::optional<double>(m->items_per_second) : std::nullopt, "deltas/s",
                   tb::goal_op::at_least, 30e6);
  return c.errors().empty() ? 0 : 1;
}
