// report/trace.hpp: the traced executor runs every index once and changes no result (bit for bit
// against the inline executor at several worker counts), its ring stays bounded, and the trace
// keeps the orchestrator's last N ticks. (tests/report/check_trace.py checks the JSON format.)
#include <catch2/catch.hpp>

#include <tickflow/engine/engine.hpp>
#include <tickflow/engine/tick.hpp>
#include <tickflow/report/trace.hpp>
#include <tickflow/semiring/builtin.hpp>

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

using namespace tickflow;

namespace {

std::size_t count_of(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

// A layered graph (4096 -> 1024 -> 256 -> 64) ticked `ticks` times; returns every page's bytes.
template <class Engine>
std::vector<std::byte> run_layers(Engine& e, std::uint64_t ticks) {
  std::vector<std::vector<page_id>> layers(4);
  for (std::size_t l = 0, n = 4096; l < 4; ++l, n /= 4)
    for (std::size_t i = 0; i < n; ++i) layers[l].push_back(*e.create_page(64));
  graph_edit<double> edit;
  for (std::size_t l = 0; l + 1 < layers.size(); ++l)
    for (std::size_t i = 0; i < layers[l].size(); ++i)
      edit.add_edge({layers[l][i], layers[l + 1][i / 4], edge_kind::data, 0.1 * static_cast<double>(1 + i % 7)});
  REQUIRE(e.edit_graph(edit));
  std::uint64_t id = 1;
  for (std::uint64_t t = 1; t <= ticks; ++t) {
    for (std::size_t i = 0; i < layers[0].size(); ++i) {
      delta d;
      d.page = layers[0][i];
      d.at = epoch{static_cast<std::uint32_t>(t)};
      d.id = delta_id{id++};
      d.length = 64;
      d.mask.assign(1, ~std::uint64_t{0});
      d.payload.resize(64);
      for (std::size_t j = 0; j < 8; ++j) {
        const double v = 1.0 / static_cast<double>(1 + (i * 8 + j + t) % 13);
        std::memcpy(d.payload.data() + 8 * j, &v, 8);
      }
      REQUIRE(e.submit(d));
    }
    (void)e.step();
  }
  std::vector<std::byte> all;
  for (const auto& layer : layers)
    for (const page_id p : layer) {
      const auto bytes = *e.store().bytes(p);
      all.insert(all.end(), bytes.begin(), bytes.end());
    }
  return all;
}

}  // namespace

TEST_CASE("traced_executor calls every index once and records one span per working worker", "[report][trace]") {
  for (const std::size_t workers : {1U, 2U, 4U}) {
    traced_executor<thread_pool> ex(workers);
    REQUIRE(ex.concurrency() == workers);
    for (const std::size_t count : {1U, 7U, 1000U}) {
      std::vector<std::atomic<int>> calls(count);
      std::atomic<bool> bad_worker{false};
      const std::uint64_t before = ex.spans_written();
      ex.parallel_for(count, [&](std::size_t i, std::size_t w) {
        calls[i].fetch_add(1);
        if (w >= workers) bad_worker = true;
      });
      for (const auto& c : calls) CHECK(c.load() == 1);
      CHECK(!bad_worker);
      std::uint64_t indices = 0;
      REQUIRE(ex.spans_kept() == ex.spans_written());  // the ring (16384) holds them all
      for (auto i = static_cast<std::size_t>(before); i < ex.spans_kept(); ++i) {
        const task_span& s = ex.span(i);
        indices += s.indices;
        CHECK(s.worker < workers);
        CHECK(s.begin <= s.end);
      }
      CHECK(indices == count);
    }
    CHECK(ex.fork_joins() == 3);
  }
}

TEST_CASE("traced_executor's ring keeps the newest spans and never grows", "[report][trace]") {
  traced_executor<inline_executor> ex(std::size_t{5}, ring_tag{});
  for (int k = 0; k < 12; ++k) ex.parallel_for(3, [](std::size_t, std::size_t) {});
  CHECK(ex.spans_written() == 12);
  REQUIRE(ex.spans_kept() == 5);
  for (std::size_t i = 0; i < 5; ++i) CHECK(ex.span(i).fork_join == 7 + i);
  CHECK(ex.span(4).indices == 3);
  // A nested fork-join is part of its task: not a span of its own.
  traced_executor<thread_pool> pool(std::size_t{64}, ring_tag{}, std::size_t{2});
  pool.parallel_for(4, [&](std::size_t, std::size_t) { pool.parallel_for(3, [](std::size_t, std::size_t) {}); });
  CHECK(pool.fork_joins() == 1);
}

TEST_CASE("an engine on a traced executor computes the same bytes as the inline executor, at 1, 2, 4 and 8 workers", "[report][trace]") {
  using kernel = semiring_kernel<real_semiring<double>>;
  reference_engine<double, kernel, inline_executor> oracle;
  const auto want = run_layers(oracle, 6);
  for (const std::size_t workers : {1U, 2U, 4U, 8U}) {
    reference_engine<double, kernel, traced_executor<thread_pool>> e({}, workers);
    e.propagation().cone_sequential_limit = 256;  // so that propagation runs on every worker
    const auto got = run_layers(e, 6);
    CHECK(got == want);
    CHECK(e.executor_ref().fork_joins() > 0);
  }
}

TEST_CASE("write_chrome_trace keeps the orchestrator's last N ticks, with phases, tasks and overruns", "[report][trace]") {
  using engine_t = reference_engine<double, semiring_kernel<real_semiring<double>>, traced_executor<thread_pool>>;
  engine_t e({}, 2);
  std::vector<page_id> src;
  for (int i = 0; i < 64; ++i) src.push_back(*e.create_page(64));
  const page_id sum = *e.create_page(64);
  graph_edit<double> edit;
  for (const page_id s : src) edit.add_edge({s, sum, edge_kind::data, 1.0});
  REQUIRE(e.edit_graph(edit));
  tick_options o;
  o.keep_records = 4;
  o.budgets = {std::chrono::nanoseconds(1), std::chrono::nanoseconds(1), std::chrono::nanoseconds(1), std::chrono::nanoseconds(3)};
  auto t = tick_orchestrator<engine_t>::make(e, o);
  REQUIRE(t);
  for (int k = 0; k < 10; ++k) REQUIRE(t->tick());
  std::string out = "kept";
  write_chrome_trace(out, *t, &e.executor_ref());
  CHECK(out.rfind("kept{\"displayTimeUnit\":\"ms\"", 0) == 0);
  CHECK(count_of(out, "\"cat\":\"tick\"") == 4);
  CHECK(count_of(out, "\"cat\":\"phase\"") == 20);
  CHECK(count_of(out, "\"name\":\"tick 6\"") == 1);
  CHECK(count_of(out, "\"name\":\"tick 5\"") == 0);
  CHECK(count_of(out, "\"name\":\"overrun total\"") == 4);
  CHECK(count_of(out, "\"name\":\"thread_name\"") == 3);
  CHECK(out.find("\"ts\":0.000,") != std::string::npos);  // the first kept tick starts the clock
  CHECK(out.substr(out.size() - 4) == "\n]}\n");

  // Without an executor's spans: no worker tracks.
  std::string bare;
  write_chrome_trace(bare, *t);
  CHECK(count_of(bare, "\"name\":\"thread_name\"") == 1);
  CHECK(count_of(bare, "\"cat\":\"task\"") == 0);
}
