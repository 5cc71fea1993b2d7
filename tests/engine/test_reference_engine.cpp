// reference_engine: satisfies the engine concept; a step applies, propagates and commits edits;
// every bad input is a typed error or a counted, per-step rejection, never applied and never
// lost; a rejected edit leaves the graph as it was; the log replays to the same state at every
// worker count; results do not depend on the worker count.
#include <tickflow/engine/engine.hpp>
#include <tickflow/semiring/builtin.hpp>
#include <tickflow/validate/integrity.hpp>
#include <tickflow/validate/invariants.hpp>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "support/catch.hpp"
#include "support/deltas.hpp"
#include "support/propagation.hpp"

using namespace tickflow;
namespace tt = tickflow::test;

namespace {

using kernel = semiring_kernel<real_semiring<double>>;
using engine_t = reference_engine<double, kernel, thread_pool>;
static_assert(engine<engine_t>);
static_assert(engine<reference_engine<double, kernel, inline_executor>>);
static_assert(replay_engine<engine_t>);
static_assert(phased_engine<engine_t>);

delta put(page_id p, epoch at, std::uint64_t id, double v, std::uint32_t element = 0) { return tt::element_delta(p, at, id, v, element); }

double value(const engine_t& e, page_id p, std::size_t element = 0) {
  double v;
  std::memcpy(&v, e.store().bytes(p)->data() + 8 * element, 8);
  return v;
}

}  // namespace

TEST_CASE("reference_engine: a step applies the cut, propagates and then commits the queued edits", "[engine][reference]") {
  engine_t e({}, 2);
  const page_id s1 = *e.create_page(64), s2 = *e.create_page(64), d = *e.create_page(64);
  graph_edit<double> edit;
  edit.add_edge({s1, d, edge_kind::data, 2.0});
  edit.add_edge({s2, d, edge_kind::data, 0.5});
  REQUIRE(e.edit_graph(edit));
  REQUIRE(e.submit(put(s1, epoch{1}, 1, 3.0)));
  auto r1 = e.step();
  CHECK(r1.at == epoch{1});
  CHECK(r1.applied == 1);
  CHECK(r1.edits_committed == 2);
  CHECK(r1.graph.ok());
  CHECK(value(e, d) == 0.0);  // the edges took effect after this step's propagation
  REQUIRE(e.submit(put(s2, epoch{2}, 2, 4.0)));
  const auto r2 = e.step();
  CHECK(r2.at == epoch{2});
  CHECK(value(e, d) == 2.0 * 3.0 + 0.5 * 4.0);  // d forced by the edit, and s2 changed
  CHECK(*e.store().epoch_of(d) == epoch{2});
  // A step with nothing to do moves the epoch and changes no page.
  const auto r3 = e.step();
  CHECK(r3.at == epoch{3});
  CHECK(r3.propagation.recomputed == 0);
  CHECK(*e.store().epoch_of(d) == epoch{2});
  // A delta from the future takes the engine's epoch with it.
  REQUIRE(e.submit(put(s1, epoch{10}, 3, 1.0)));
  CHECK(e.step().at == epoch{10});
  CHECK(value(e, d) == 2.0 * 1.0 + 0.5 * 4.0);
  CHECK(*e.store().epoch_of(d) == epoch{10});
  CHECK(e.counters().steps == 4);
  CHECK(e.counters().deltas_applied == 3);
}

TEST_CASE("reference_engine: bad deltas are typed at submit or rejected per step, never applied or lost", "[engine][reference]") {
  engine_t e({}, 2);
  const page_id s = *e.create_page(64), d = *e.create_page(64);
  graph_edit<double> edit;
  edit.add_edge({s, d, edge_kind::data, 1.0});
  REQUIRE(e.edit_graph(edit));
  REQUIRE(e.submit(put(s, epoch{5}, 1, 1.0)));
  REQUIRE(e.step().at == epoch{5});
  const auto before = e.digest();
  // The shape: at submit, nothing queued.
  delta ill = put(s, epoch{6}, 2, 1.0);
  ill.payload.push_back(std::byte{0});
  CHECK(e.submit(ill).error().code == errc::payload_mismatch);
  // The others: in the step's report, in cut order.
  REQUIRE(e.submit(put(d, epoch{6}, 3, 9.0)));                                 // a derived page
  REQUIRE(e.submit(put(page_id{(std::uint64_t{77} << 32) | 1}, epoch{6}, 4, 1.0)));  // unknown
  REQUIRE(e.submit(put(s, epoch{4}, 5, 1.0)));                                 // late (engine at 5)
  delta wide = put(s, epoch{6}, 6, 1.0, 7);
  wide.offset = 60;                                                            // past the end
  REQUIRE(e.submit(wide));
  const auto r = e.step();
  CHECK(r.cut == 4);
  CHECK(r.applied == 0);
  REQUIRE(r.rejected.size() == 4);
  // Cut order is by epoch first: the late one (epoch 4) comes first.
  CHECK(r.rejected[0].id == delta_id{5});
  CHECK(r.rejected[0].why == error{errc::epoch_regression, 5});
  CHECK(r.rejected[1].why == error{errc::derived_target, d.value()});
  CHECK(r.rejected[2].why.code == errc::not_found);
  CHECK(r.rejected[3].why == error{errc::out_of_range, 68});
  CHECK(e.counters().deltas_rejected == 4);
  // Nothing was written: same pages, same graph; only the engine's epoch moved.
  CHECK(value(e, s) == 1.0);
  CHECK(value(e, d) == 1.0);
  CHECK(e.digest() != before);
  CHECK(e.current_epoch() == epoch{6});
  // A valid delta in the same cut as bad ones is applied.
  REQUIRE(e.submit(put(d, epoch{7}, 7, 9.0)));
  REQUIRE(e.submit(put(s, epoch{7}, 8, 2.0)));
  const auto mixed = e.step();
  CHECK(mixed.applied == 1);
  CHECK(mixed.rejected.size() == 1);
  CHECK(value(e, d) == 2.0);
}

TEST_CASE("reference_engine: a rejected edit leaves the graph unchanged, with its witness", "[engine][reference]") {
  engine_t e({}, 2);
  std::vector<page_id> p;
  for (int i = 0; i < 4; ++i) p.push_back(*e.create_page(64));
  const page_id small = *e.create_page(16);
  graph_edit<double> chain;
  chain.add_edge({p[0], p[1], edge_kind::data, 1.0});
  chain.add_edge({p[1], p[2], edge_kind::data, 1.0});
  chain.add_edge({p[2], p[3], edge_kind::data, 1.0});
  REQUIRE(e.edit_graph(chain));
  REQUIRE(e.step().graph.ok());
  const auto graph_before = e.graph();
  // Closing a cycle: the whole queued edit is rejected (the good insertion with it).
  graph_edit<double> bad;
  bad.add_edge({p[0], p[2], edge_kind::data, 1.0});
  bad.add_edge({p[3], p[0], edge_kind::data, 1.0});
  REQUIRE(e.edit_graph(bad));
  const auto r = e.step();
  CHECK(r.graph.err.code == errc::cycle);
  CHECK(r.graph.part == edit_part::insertions);
  CHECK(r.graph.err.detail == 1);
  REQUIRE(r.graph.witness.size() >= 2);
  CHECK(r.edits_committed == 0);
  CHECK(e.graph() == graph_before);
  CHECK(e.counters().edits_rejected == 2);
  // Pages of different sizes cannot be joined.
  graph_edit<double> mixed;
  mixed.add_edge({small, p[3], edge_kind::data, 1.0});
  REQUIRE(e.edit_graph(mixed));
  const auto m = e.step();
  CHECK(m.graph.err.code == errc::invalid_argument);
  CHECK(e.graph() == graph_before);
  // Pages: bad sizes, and release only without edges.
  CHECK(e.create_page(12).error().code == errc::invalid_argument);
  CHECK(e.create_page(0).error().code == errc::invalid_argument);
  CHECK(e.release_page(p[1]).error().code == errc::has_dependents);
  {
    // The pages it is linked to are named, children first; nothing changes.
    std::vector<page_id> linked;
    const auto digest_before = e.digest();
    const auto refused = e.release_page(p[0], &linked);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == errc::has_dependents);
    std::vector<page_id> expect;
    e.graph().for_each_child(p[0], [&](const auto& x) { expect.push_back(x.child); });
    e.graph().for_each_parent(p[0], [&](page_id x) { expect.push_back(x); });
    REQUIRE_FALSE(expect.empty());
    CHECK(linked == expect);
    CHECK(refused.error().detail == expect[0].value());
    CHECK(e.graph() == graph_before);
    CHECK(e.digest() == digest_before);
    CHECK(e.store().contains(p[0]));
  }
  CHECK(e.release_page(page_id{(std::uint64_t{99} << 32) | 1}).error().code == errc::not_found);
  REQUIRE(e.submit(put(small, epoch{50}, 1, 1.0)));
  REQUIRE(e.release_page(small));
  CHECK(e.release_page(small).error().code == errc::not_found);  // twice: the id is stale now
  const auto gone = e.step();  // the delta queued for the released page is rejected
  REQUIRE(gone.rejected.size() == 1);
  CHECK(gone.rejected[0].why.code == errc::not_found);
  CHECK(e.make_producer(engine_t::own_producer_id).error().code == errc::invalid_argument);
}

TEST_CASE("reference_engine: submit on a full own lane is would_block, never a wait that cannot end", "[engine][reference]") {
  engine_options o;
  o.lane_bytes = 4096;  // room for a few dozen small records
  engine_t e(o, 1);
  const page_id p = *e.create_page(64);
  std::size_t queued = 0;
  result<void> r;
  for (std::uint64_t i = 1; i < 10'000; ++i) {
    r = e.submit(put(p, epoch{1}, i, static_cast<double>(i)));
    if (!r) break;
    ++queued;
  }
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::would_block);
  CHECK(queued > 0);
  const auto s = e.step();  // exactly the queued ones; the refused one was not queued
  CHECK(s.applied == queued);
  CHECK(value(e, p) == static_cast<double>(queued));
  CHECK(e.submit(put(p, epoch{2}, 20'000, 1.0)));  // room again
}

namespace {

// A scripted run: pages created, edges edited (some edits rejected), deltas from two producer
// threads and the engine's own submit, pages released. Returns the engine's digest per step.
std::vector<std::uint64_t> scripted_run(engine_t& e, std::uint64_t seed, int steps) {
  std::mt19937_64 rng(seed);
  std::vector<page_id> pages;
  for (int i = 0; i < 60; ++i) pages.push_back(*e.create_page(64));
  std::vector<std::uint64_t> digests;
  std::uint64_t next_id = 1;
  auto p1 = *e.make_producer(1);
  auto p2 = *e.make_producer(2);
  for (int s = 0; s < steps; ++s) {
    graph_edit<double> edit;
    for (int k = 0; k < 6; ++k) {  // forward edges in creation order: acyclic, but for one
      const std::size_t a = rng() % pages.size(), b = rng() % pages.size();
      if (a < b) edit.add_edge({pages[a], pages[b], edge_kind::data, 0.25 + 0.125 * static_cast<double>(rng() % 4)});
    }
    if (s % 7 == 6) {  // remove some edges; every 7th step also tries a cycle (rejected whole)
      const auto edges = e.graph().edge_list();
      for (std::size_t k = 0; k < edges.size() && k < 3; ++k) edit.remove_edge(edges[k].parent, edges[k].child);
      if (s % 14 == 13 && !edges.empty()) edit.add_edge({edges.back().child, edges.back().parent, edge_kind::data, 1.0});
    }
    (void)e.edit_graph(edit);
    if (s % 5 == 4) pages.push_back(*e.create_page(64));
    const epoch at{e.current_epoch().value() + 1};
    std::vector<delta> mine;
    for (int k = 0; k < 30; ++k) {
      const page_id p = pages[rng() % pages.size()];
      mine.push_back(put(p, at, next_id++, static_cast<double>(rng() % 100) / 4.0, static_cast<std::uint32_t>(rng() % 8)));
    }
    // Two producer threads and the engine's own submit.
    {
      std::thread t1([&] {
        for (std::size_t k = 0; k < 10; ++k) (void)p1.submit(mine[k], yield_wait{});
      });
      std::thread t2([&] {
        for (std::size_t k = 10; k < 20; ++k) (void)p2.submit(mine[k], yield_wait{});
      });
      for (std::size_t k = 20; k < 30; ++k) REQUIRE(e.submit(mine[k]));
      t1.join();
      t2.join();
    }
    (void)e.step();
    digests.push_back(e.digest());
  }
  return digests;
}

}  // namespace

TEST_CASE("reference_engine: results and logs do not depend on the worker count", "[engine][reference][threads]") {
  std::vector<std::vector<std::uint64_t>> runs;
  std::vector<std::vector<std::byte>> logs;
  for (std::size_t workers : {1u, 2u, 3u, 8u}) {
    engine_t e({}, workers);
    e.propagation().cone_sequential_limit = 0;  // every cone through the parallel sweep
    e.propagation().block = 2;
    runs.push_back(scripted_run(e, 31, 40));
    logs.emplace_back(e.log_records().begin(), e.log_records().end());
  }
  for (std::size_t k = 1; k < runs.size(); ++k) {
    CHECK(runs[k] == runs[0]);
    CHECK(logs[k] == logs[0]);
  }
}

TEST_CASE("reference_engine: replaying its log reproduces pages, epochs, graph and derived values", "[engine][reference][threads]") {
  engine_t e({}, 2);
  (void)scripted_run(e, 32, 30);
  const auto log = parse_tlog(e.log_image());
  REQUIRE(log);
  CHECK(log->stop == tlog_stop::end_of_file);
  CHECK(!log->events.empty());
  for (std::size_t workers : {1u, 3u}) {
    engine_t r({}, workers);
    std::size_t next_event = 0;
    for (std::size_t i = 0; i <= log->records.size(); ++i) {
      for (; next_event < log->events.size() && log->events[next_event].position <= i; ++next_event)
        REQUIRE(r.apply(log->events[next_event]));
      if (i < log->records.size()) REQUIRE(r.apply(log->records[i]));
    }
    CHECK(r.digest() == e.digest());
    CHECK(std::equal(r.log_records().begin(), r.log_records().end(), e.log_records().begin(), e.log_records().end()));
    // A tampered event is refused with nothing changed: a created page must get the logged id.
    tlog_event wrong{tlog_event_kind::page_create, r.current_epoch(), page_id{(std::uint64_t{5} << 32) | 9}, {}, 64, 0, 0};
    const auto before = r.digest();
    CHECK(r.apply(wrong).error().code == errc::corrupt_data);
    CHECK(r.digest() == before);
    CHECK(std::equal(r.log_records().begin(), r.log_records().end(), e.log_records().begin(), e.log_records().end()));
  }
}

TEST_CASE("reference_engine: the integrity checker and the built-in invariants accept it", "[engine][reference]") {
  engine_t e({}, 2);
  invariant_registry<engine_context> reg;
  reg.add(epoch_monotonicity{});
  reg.add(page_consistency{});
  reg.add(graph_acyclicity{});
  std::mt19937_64 rng(5);
  std::vector<page_id> pages;
  for (int i = 0; i < 30; ++i) pages.push_back(*e.create_page(64));
  std::uint64_t next_id = 1, violations = 0, checks = 0;
  for (int s = 0; s < 25; ++s) {
    graph_edit<double> edit;
    const std::size_t a = rng() % pages.size(), b = rng() % pages.size();
    if (a < b) edit.add_edge({pages[a], pages[b], edge_kind::data, 0.5});
    REQUIRE(e.edit_graph(edit));
    // What the integrity checker says of a batch equals what the step then rejects.
    integrity_checker checker(e.store(), e.graph());
    std::vector<delta> ds;
    for (int k = 0; k < 10; ++k)
      ds.push_back(put(pages[rng() % pages.size()], epoch{e.current_epoch().value() + 1}, next_id++, static_cast<double>(k)));
    checker.check(std::span<const delta>(ds));
    for (const auto& d : ds) REQUIRE(e.submit(d));
    const auto r = e.step();
    CHECK(r.rejected.size() == checker.report().total());
    CHECK(checker.report().count(violation_kind::derived_target) == r.rejected.size());
    // The built-in invariants over the engine's state.
    std::vector<page_id> live;
    std::vector<std::uint32_t> sizes;
    e.for_each_page([&](page_id id, std::span<const std::byte> bytes, epoch) {
      live.push_back(id);
      sizes.push_back(static_cast<std::uint32_t>(bytes.size()));
    });
    engine_context ctx;
    ctx.store = &e.store();
    ctx.pages = live;
    ctx.sizes = sizes;
    ctx.graph = &e.graph();
    const auto rep = reg.check_all(ctx);
    violations += rep.violations.size();
    checks += rep.checks;
  }
  CHECK(checks == 75);
  CHECK(violations == 0);
  CHECK(e.counters().deltas_rejected > 0);  // derived targets were among the random pages
}

TEST_CASE("reference_engine: a large cut's checks run in chunks over the workers, with the same rejections in cut order", "[engine][reference]") {
  // 20k rows (the checks split a cut into chunks of at least 2048 rows, at most 4 per worker):
  // bad rows of three kinds at random positions. Every worker count must reject exactly the bad rows, in cut
  // (submission) order, with the same errors, and leave the same digest as the caller alone.
  constexpr std::size_t rows = 20'000, pages_n = 256;
  const auto run = [&](auto& e) {
    std::vector<page_id> pages;
    for (std::size_t i = 0; i < pages_n; ++i) pages.push_back(*e.create_page(64));
    graph_edit<double> edit;
    edit.add_edge({pages[0], pages[1], edge_kind::data, 1.0});  // pages[1] is derived
    REQUIRE(e.edit_graph(edit));
    REQUIRE(e.step().graph.ok());
    std::mt19937_64 rng(4242);
    const epoch at{e.current_epoch().value() + 1};
    std::vector<std::pair<std::uint64_t, errc>> bad;
    for (std::size_t i = 0; i < rows; ++i) {
      const std::uint64_t id = 1000 + i;
      delta d = put(pages[2 + rng() % (pages_n - 2)], at, id, static_cast<double>(i), static_cast<std::uint32_t>(rng() % 8));
      switch (rng() % 64) {
        case 0:
          d.page = page_id{(std::uint64_t{1} << 40) | 1};
          bad.emplace_back(id, errc::not_found);
          break;
        case 1:
          d.page = pages[1];
          bad.emplace_back(id, errc::derived_target);
          break;
        case 2:
          d.offset = 60;
          bad.emplace_back(id, errc::out_of_range);
          break;
        default:
          break;
      }
      REQUIRE(e.submit(d));
    }
    const auto r = e.step();
    CHECK(r.cut == rows);
    CHECK(r.applied == rows - bad.size());
    REQUIRE(r.rejected.size() == bad.size());
    for (std::size_t k = 0; k < bad.size(); ++k) {
      CHECK(r.rejected[k].id == delta_id{bad[k].first});
      CHECK(r.rejected[k].why.code == bad[k].second);
    }
    CHECK(bad.size() > 400);
    return std::pair{e.digest(), r.rejected.size()};
  };
  reference_engine<double, kernel, inline_executor> oracle(engine_options{});
  const auto want = run(oracle);
  for (const std::size_t workers : {1, 2, 3, 5, 8}) {
    engine_t e({}, workers);
    CHECK(run(e) == want);
  }
}
