// A reference engine ticked at 60 Hz by the tick orchestrator, fed by a producer thread, with its
// log group-committed every 4 ticks to a file; it prints each phase's p50 and p99 and the
// overruns, and checks that the derived page holds the weighted sum of its sources.
#include <tickflow/engine/engine.hpp>
#include <tickflow/engine/tick.hpp>
#include <tickflow/semiring/builtin.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

using namespace tickflow;

int main() {
  using engine_t = reference_engine<double, semiring_kernel<real_semiring<double>>, thread_pool>;
  engine_t e({}, 2);  // two workers

  // Eight source pages feed one derived page: total = sum of 0.5 * source.
  std::vector<page_id> sources;
  for (int i = 0; i < 8; ++i) sources.push_back(*e.create_page(64));
  const page_id total = *e.create_page(64);
  graph_edit<double> edit;
  for (const page_id s : sources) edit.add_edge({s, total, edge_kind::data, 0.5});
  if (!e.edit_graph(edit)) return 1;

  const char* dir = std::getenv("TMPDIR");
  const std::string path = std::string(dir != nullptr ? dir : "/tmp") + "/tickflow_example_" + std::to_string(::getpid()) + ".tlog";
  auto log = tlog_writer::open(path, fsync_policy::never);
  if (!log) return 1;

  tick_options options;
  options.mode = tick_mode::fixed_rate;  // 60 Hz
  options.log = &*log;
  options.log_durability = durability::group_commit;
  options.group = 4;
  auto ticks = tick_orchestrator<engine_t>::make(e, options);
  if (!ticks) return 1;
  std::uint64_t overruns = 0;
  ticks->on_overrun([&](const tick_overrun& o) {
    ++overruns;
    std::printf("tick %llu: %s over by %lld us (slowest phase: %s)\n", static_cast<unsigned long long>(o.tick), name_of(o.budget),
                static_cast<long long>(o.excess.count() / 1000), name_of(o.phase));
  });

  // A producer thread sets every source to its index, epoch 1, while the engine ticks.
  auto producer = e.make_producer(1);
  if (!producer) return 1;
  std::thread feed([&] {
    for (std::size_t i = 0; i < sources.size(); ++i) {
      delta d;
      d.page = sources[i];
      d.at = epoch{1};
      d.id = delta_id{i + 1};
      d.length = 8;
      d.mask.assign(1, 0xFF);
      const double v = static_cast<double>(i);
      d.payload.resize(8);
      std::memcpy(d.payload.data(), &v, 8);
      (void)producer->submit(d, park_wait{});
    }
  });
  feed.join();
  if (!ticks->run(30)) return 1;
  if (!ticks->flush_log()) return 1;

  for (std::size_t p = 0; p < tick_phase_count; ++p) {
    const auto& h = ticks->histogram(static_cast<tick_phase>(p));
    std::printf("%-9s p50 %8.1f us  p99 %8.1f us\n", name_of(static_cast<tick_phase>(p)), static_cast<double>(h.p50()) / 1e3,
                static_cast<double>(h.p99()) / 1e3);
  }
  std::printf("ticks %llu, missed frames %llu, overruns %llu, log %llu bytes\n", static_cast<unsigned long long>(ticks->ticks()),
              static_cast<unsigned long long>(ticks->missed_frames()), static_cast<unsigned long long>(overruns),
              static_cast<unsigned long long>(log->file_bytes()));

  double sum;
  std::memcpy(&sum, e.store().bytes(total)->data(), 8);
  std::remove(path.c_str());
  const double want = 0.5 * (0 + 1 + 2 + 3 + 4 + 5 + 6 + 7);
  std::printf("total = %g (want %g)\n", sum, want);
  return sum == want ? 0 : 1;
}
