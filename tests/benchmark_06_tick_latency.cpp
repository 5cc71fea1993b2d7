// Suite 06 (tick latency), correctness: the tick orchestrator.
//
// tick_orchestrator: options are checked at make(); the five phases run in order every tick; a
// slow phase is an overrun recorded against the right budget and phase, never skipped; the
// fixed-rate grid never starts a tick early and counts the frames it passes over; the same
// inputs give the same digest every tick at every worker count, ticked or stepped; the log phase
// writes (and syncs) per its durability policy; tlog_writer::append_records is all or nothing.
#include <tickflow/engine/engine.hpp>
#include <tickflow/engine/tick.hpp>
#include <tickflow/semiring/builtin.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "support/catch.hpp"
#include "support/deltas.hpp"
#include "support/engine_suites.hpp"

using namespace tickflow;
namespace tt = tickflow::test;
using namespace std::chrono_literals;

namespace {

using kernel = semiring_kernel<real_semiring<double>>;
using engine_t = reference_engine<double, kernel, thread_pool>;

// An engine that notes its phases, and can be told to be slow in one of them.
struct noting_engine : engine_t {
  using engine_t::engine_t;
  std::vector<std::string>* notes = nullptr;
  std::chrono::nanoseconds slow_apply{0}, slow_propagate{0}, slow_graph{0};
  std::vector<tick_clock::time_point> starts;
  void step_apply(step_report& rep) {
    starts.push_back(tick_clock::now());
    if (notes) notes->push_back("apply");
    if (slow_apply > 0ns) std::this_thread::sleep_for(slow_apply);
    engine_t::step_apply(rep);
  }
  void step_propagate(step_report& rep) {
    if (notes) notes->push_back("propagate");
    if (slow_propagate > 0ns) std::this_thread::sleep_for(slow_propagate);
    engine_t::step_propagate(rep);
  }
  void step_graph(step_report& rep) {
    if (notes) notes->push_back("graph");
    if (slow_graph > 0ns) std::this_thread::sleep_for(slow_graph);
    engine_t::step_graph(rep);
  }
};
static_assert(phased_engine<noting_engine>);

// A collector that wants a slice on even ticks (of the test's count) and notes what it was given.
struct noting_gc {
  std::vector<std::string>* notes = nullptr;
  const tlog_writer* log = nullptr;
  const int* tick = nullptr;
  std::uint64_t appended_seen = 0;
  std::vector<tick_clock::time_point> deadlines;
  bool gc_wanted() const noexcept { return *tick % 2 == 0; }
  void gc_slice(tick_clock::time_point deadline) {
    deadlines.push_back(deadline);
    if (notes) notes->push_back("gc");
    if (log) appended_seen = log->appended();
  }
};
static_assert(gc_participant<noting_gc>);

std::string temp_path(const char* tag) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/tickflow_tick_" + tag + "_" + std::to_string(::getpid()) + ".tlog";
}

delta put(page_id p, epoch at, std::uint64_t id, double v, std::uint32_t element = 0) { return tt::element_delta(p, at, id, v, element); }

// The same random workload, fed before each tick: deltas to sources, edges forward in creation
// order (and every 9th tick a cycle, rejected whole), new pages now and then.
struct workload {
  std::mt19937_64 rng;
  std::vector<page_id> pages;
  std::uint64_t next_id = 1;
  template <class E>
  workload(E& e, std::uint64_t seed) : rng(seed) {
    for (int i = 0; i < 200; ++i) pages.push_back(*e.create_page(64));
  }
  template <class E>
  void feed(E& e, int tick) {
    graph_edit<double> edit;
    for (int k = 0; k < 8; ++k) {
      const std::size_t a = rng() % pages.size(), b = rng() % pages.size();
      if (a < b) edit.add_edge({pages[a], pages[b], edge_kind::data, 0.25 + 0.125 * static_cast<double>(rng() % 4)});
    }
    if (tick % 9 == 8) {
      const auto edges = e.graph().edge_list();
      if (!edges.empty()) edit.add_edge({edges.back().child, edges.back().parent, edge_kind::data, 1.0});
    }
    (void)e.edit_graph(edit);
    if (tick % 4 == 3) pages.push_back(*e.create_page(64));
    const epoch at{e.current_epoch().value() + 1};
    for (int k = 0; k < 50; ++k)
      (void)e.submit(put(pages[rng() % pages.size()], at, next_id++, static_cast<double>(rng() % 64) / 8.0, static_cast<std::uint32_t>(rng() % 8)));
  }
};

}  // namespace

TEST_CASE("tick_orchestrator refuses budgets of zero or below, and other impossible options", "[engine][tick]") {
  engine_t e({}, 1);
  const auto refused = [&](tick_options o) {
    auto t = tick_orchestrator<engine_t>::make(e, o);
    return !t && t.error().code == errc::invalid_argument;
  };
  CHECK(tick_orchestrator<engine_t>::make(e));
  tick_options o;
  o.budgets.graph = 0ns;
  CHECK(refused(o));
  o = {};
  o.budgets.apply_propagate = -1ms;
  CHECK(refused(o));
  o = {};
  o.budgets.gc = 0ns;
  CHECK(refused(o));
  o = {};
  o.budgets.total = 15ms;  // below 10 + 4 + 2
  CHECK(refused(o));
  o = {};
  o.period = 0ns;
  CHECK(refused(o));
  o = {};
  o.keep_records = 0;
  CHECK(refused(o));
  o = {};
  o.log_durability = durability::group_commit;
  o.group = 0;
  CHECK(refused(o));
}

TEST_CASE("tick_orchestrator runs apply, propagate, graph, gc and log in that order, every tick", "[engine][tick]") {
  const std::string path = temp_path("order");
  std::remove(path.c_str());
  auto w = tlog_writer::open(path, fsync_policy::never);
  REQUIRE(w);
  noting_engine e({}, 2);
  std::vector<std::string> notes;
  e.notes = &notes;
  workload load(e, 3);
  tick_options o;
  o.log = &*w;
  o.budgets = {10s, 10s, 10s, 30s};  // nothing here may overrun
  int k = 0;
  noting_gc gc;
  gc.notes = &notes;
  gc.log = &*w;
  gc.tick = &k;
  auto t = tick_orchestrator<noting_engine, noting_gc>::make(e, o, gc);
  REQUIRE(t);
  std::uint64_t appended_before = 0;
  for (; k < 6; ++k) {
    notes.clear();
    load.feed(e, k);
    const bool gc_due = t->gc().gc_wanted();
    auto rec = t->tick();
    REQUIRE(rec);
    std::vector<std::string> expect = {"apply", "propagate", "graph"};
    if (gc_due) expect.push_back("gc");
    CHECK(notes == expect);
    CHECK(rec->gc_ran == gc_due);
    if (gc_due) {
      CHECK(t->gc().appended_seen == appended_before);  // the log phase comes after gc
      // The collector's deadline is the end of the tick's total budget (30 s after its start,
      // which is a little before the engine noted it).
      const auto given = t->gc().deadlines.back() - e.starts.back();
      CHECK(given <= 30s);
      CHECK(given > 30s - 1s);
    }
    CHECK(w->appended() > appended_before);  // the log phase wrote the tick's records
    appended_before = w->appended();
    CHECK(rec->tick == static_cast<std::uint64_t>(k));
    CHECK(rec->at == e.current_epoch());
    CHECK_FALSE(rec->overran());
    std::uint64_t sum = 0;
    for (const auto p : rec->phase_ns) sum += p;
    CHECK(sum <= rec->total_ns);
  }
  CHECK(t->gc().deadlines.size() == 3);
  CHECK(t->ticks() == 6);
  CHECK(t->histogram(tick_phase::apply).count() == 6);
  CHECK(t->total_histogram().count() == 6);
  CHECK(t->total_histogram().max() >= t->histogram(tick_phase::propagate).max());
  std::remove(path.c_str());
}

TEST_CASE("tick_orchestrator records a slow phase as an overrun of its budget, with the phase and the excess", "[engine][tick]") {
  noting_engine e({}, 1);
  workload load(e, 4);
  tick_options o;
  o.budgets = {20ms, 20ms, 20ms, 500ms};
  std::vector<tick_overrun> seen;
  auto t = tick_orchestrator<noting_engine>::make(e, o);
  REQUIRE(t);
  t->on_overrun([&](const tick_overrun& r) { seen.push_back(r); });

  load.feed(e, 0);
  e.slow_graph = 30ms;
  auto r1 = t->tick();
  REQUIRE(r1);
  CHECK(r1->excess_ns[static_cast<std::size_t>(tick_budget::graph)] >= 10'000'000);
  CHECK(r1->phase_ns[static_cast<std::size_t>(tick_phase::graph)] >= 30'000'000);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].budget == tick_budget::graph);
  CHECK(seen[0].phase == tick_phase::graph);
  CHECK(seen[0].tick == 0);
  CHECK(seen[0].excess == seen[0].took - seen[0].allowed);
  CHECK(seen[0].excess >= 10ms);
  CHECK(t->overruns(tick_budget::graph) == 1);
  CHECK(t->overruns(tick_budget::graph, tick_phase::graph) == 1);
  CHECK(t->overruns(tick_budget::graph, tick_phase::apply) == 0);
  // The slow phase still did all its work: the step's epoch moved and the edits were judged.
  CHECK(e.current_epoch() == r1->at);

  seen.clear();
  e.slow_graph = 0ns;
  e.slow_propagate = 30ms;
  load.feed(e, 1);
  auto r2 = t->tick();
  REQUIRE(r2);
  bool found = false;
  for (const auto& s : seen)
    if (s.budget == tick_budget::apply_propagate) {
      found = true;
      CHECK(s.phase == tick_phase::propagate);
      CHECK(s.tick == 1);
    }
  CHECK(found);
  CHECK(r2->excess_ns[static_cast<std::size_t>(tick_budget::apply_propagate)] >= 10'000'000);
  CHECK(t->overruns(tick_budget::apply_propagate) == 1);
  CHECK(t->overruns(tick_budget::apply_propagate, tick_phase::propagate) == 1);

  // Past the total: 520 ms of sleeping in one tick is recorded against the total too.
  e.slow_propagate = 0ns;
  e.slow_graph = 520ms;
  seen.clear();
  auto r3 = t->tick();
  REQUIRE(r3);
  CHECK(r3->excess_ns[static_cast<std::size_t>(tick_budget::total)] >= 20'000'000);
  CHECK(t->overruns(tick_budget::total) == 1);
  CHECK(t->overruns(tick_budget::total, tick_phase::graph) == 1);
  bool total = false;
  for (const auto& s : seen) total = total || (s.budget == tick_budget::total && s.phase == tick_phase::graph);
  CHECK(total);
  CHECK(t->records_kept() == 3);
  CHECK(t->record(0).tick == 0);
  CHECK(t->last().tick == 2);
}

TEST_CASE("tick_orchestrator charges apply and propagate together to their one budget", "[engine][tick]") {
  noting_engine e({}, 1);
  workload load(e, 4);
  tick_options o;
  o.budgets = {40ms, 20ms, 20ms, 500ms};
  auto t = tick_orchestrator<noting_engine>::make(e, o);
  REQUIRE(t);
  load.feed(e, 0);
  e.slow_apply = 25ms;  // each phase within the 40 ms, the two together past it
  e.slow_propagate = 25ms;
  auto r = t->tick();
  REQUIRE(r);
  CHECK(r->phase_ns[static_cast<std::size_t>(tick_phase::apply)] >= 25'000'000);
  CHECK(r->phase_ns[static_cast<std::size_t>(tick_phase::propagate)] >= 25'000'000);
  CHECK(r->excess_ns[static_cast<std::size_t>(tick_budget::apply_propagate)] >= 10'000'000);
  CHECK(t->overruns(tick_budget::apply_propagate) == 1);
  CHECK(r->overran());
}

TEST_CASE("tick_orchestrator at a fixed rate never starts a tick before its frame and counts the frames it misses", "[engine][tick]") {
  noting_engine e({}, 1);
  workload load(e, 5);
  tick_options o;
  o.mode = tick_mode::fixed_rate;
  o.period = 4ms;
  o.keep_records = 8;  // fewer than the ticks: the ring keeps the last 8
  auto t = tick_orchestrator<noting_engine>::make(e, o);
  REQUIRE(t);
  REQUIRE(t->run(5));
  e.slow_graph = 13ms;  // this tick passes over at least 3 frame starts
  REQUIRE(t->run(1));
  e.slow_graph = 0ns;
  REQUIRE(t->run(6));
  CHECK(t->ticks() == 12);
  CHECK(t->records_kept() == 8);
  // The ring holds ticks 4..11; each runs in the frame after the last one's, plus the frames
  // it had to pass over.
  const auto& starts = e.starts;
  REQUIRE(starts.size() == 12);
  std::uint64_t missed = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    const auto& r = t->record(i);
    REQUIRE(r.tick == i + 4);
    CHECK(r.late_ns >= 0);
    if (i > 0) CHECK(r.frame == t->record(i - 1).frame + 1 + r.missed_frames);
    missed += r.missed_frames;
  }
  CHECK(t->record(2).missed_frames >= 3);  // tick 6, after the slow tick 5
  CHECK(t->missed_frames() >= missed);
  // Each start is at or after its frame start on the grid, taken from tick 4 (small slack: the
  // engine notes its start a little after the orchestrator reads the clock).
  const auto grid = starts[4] - std::chrono::nanoseconds(t->record(0).late_ns) - (t->record(0).frame * o.period);
  for (std::size_t k = 4; k < 12; ++k) {
    const auto frame_start = grid + t->record(k - 4).frame * o.period;
    CHECK(starts[k] + 200us >= frame_start);
  }
}

TEST_CASE("tick_orchestrator: the same inputs give the same digest every tick, at 1, 2 and 4 workers, ticked or stepped", "[engine][tick][threads]") {
  std::vector<std::vector<std::uint64_t>> runs;
  for (const std::size_t workers : {1u, 2u, 4u}) {
    engine_t e({}, workers);
    workload load(e, 9);
    auto t = tick_orchestrator<engine_t>::make(e);
    REQUIRE(t);
    std::vector<std::uint64_t> digests;
    for (int k = 0; k < 30; ++k) {
      load.feed(e, k);
      REQUIRE(t->tick());
      digests.push_back(e.digest());
    }
    runs.push_back(digests);
  }
  {
    engine_t e({}, 2);
    workload load(e, 9);
    std::vector<std::uint64_t> digests;
    for (int k = 0; k < 30; ++k) {
      load.feed(e, k);
      (void)e.step();
      digests.push_back(e.digest());
    }
    runs.push_back(digests);
  }
  for (std::size_t k = 1; k < runs.size(); ++k) CHECK(runs[k] == runs[0]);
}

TEST_CASE("tick_orchestrator's log phase writes and syncs per its durability policy", "[engine][tick]") {
  for (const durability d : {durability::none, durability::every_tick, durability::group_commit}) {
    const std::string path = temp_path("durability");
    std::remove(path.c_str());
    auto w = tlog_writer::open(path, fsync_policy::never);
    REQUIRE(w);
    const std::uint64_t header = w->file_bytes();
    engine_t e({}, 2);
    workload load(e, 6);
    tick_options o;
    o.log = &*w;
    o.log_durability = d;
    o.group = 3;
    auto t = tick_orchestrator<engine_t>::make(e, o);
    REQUIRE(t);
    // The pages created before the first tick are in the engine's log before the orchestrator
    // starts; it writes from where the engine's log stood at make().
    const std::size_t skipped = e.log_records().size();
    for (int k = 0; k < 7; ++k) {
      load.feed(e, k);
      REQUIRE(t->tick());
      const std::uint64_t written = w->file_bytes() - header;
      const std::uint64_t all = e.log_records().size() - skipped;
      INFO("policy " << static_cast<int>(d) << " tick " << k);
      switch (d) {
        case durability::none: CHECK(written + w->buffered_bytes() == all); break;
        case durability::every_tick: CHECK(written == all); break;
        case durability::group_commit:
          if (k % 3 == 2) CHECK(written == all);
          else CHECK(written < all);
          break;
      }
    }
    REQUIRE(t->flush_log());
    CHECK(w->file_bytes() - header == e.log_records().size() - skipped);
    // The file holds exactly the engine's records since make().
    const auto back = read_tlog(path);
    REQUIRE(back);
    CHECK(back->stop == tlog_stop::end_of_file);
    CHECK(back->intact_bytes == header + e.log_records().size() - skipped);
    std::remove(path.c_str());
  }
}

TEST_CASE("tlog_writer::append_records takes whole, intact frames in epoch order, all or none", "[engine][tick][tlog]") {
  engine_t e({}, 1);
  workload load(e, 8);
  for (int k = 0; k < 3; ++k) {
    load.feed(e, k);
    (void)e.step();
  }
  const auto records = e.log_records();
  REQUIRE(records.size() > 100);
  const std::string path = temp_path("frames");
  std::remove(path.c_str());
  auto w = tlog_writer::open(path, fsync_policy::never);
  REQUIRE(w);
  // A torn frame (cut short) and a damaged one (a flipped payload byte): refused, nothing taken.
  auto torn = w->append_records(records.first(records.size() - 3));
  REQUIRE_FALSE(torn);
  CHECK(torn.error().code == errc::corrupt_data);
  std::vector<std::byte> damaged(records.begin(), records.end());
  damaged[damaged.size() - 2] ^= std::byte{0x40};
  auto bad = w->append_records(damaged);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == errc::corrupt_data);
  CHECK(w->appended() == 0);
  CHECK(w->buffered_bytes() == 0);
  // The whole log: taken; then the same again is an epoch regression (it starts earlier).
  REQUIRE(w->append_records(records));
  const auto n = w->appended();
  CHECK(n > 0);
  auto again = w->append_records(records);
  REQUIRE_FALSE(again);
  CHECK(again.error().code == errc::epoch_regression);
  CHECK(w->appended() == n);
  REQUIRE(w->commit());
  const auto back = read_tlog(path);
  REQUIRE(back);
  CHECK(back->records.size() + back->events.size() == n);
  std::remove(path.c_str());
}

// The engine-level suite (tests/support/engine_suites.hpp), over both engines.
TEMPLATE_TEST_CASE("06 tick latency: over any engine, the orchestrator ticks it, records overruns and equals stepping", "[suite06][any_engine]", tt::any_reference, tt::any_plain) {
  tt::suite06_ticks_over_engine<TestType>();
}
