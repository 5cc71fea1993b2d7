// report/prometheus.hpp: the text format's grammar, escaping, histogram buckets against sorted
// samples, bad names refused with nothing written, and the engine's families after real ticks.
// (promtool and a real Prometheus check the same output in tests/report/*.sh.)
#include <catch2/catch.hpp>

#include <tickflow/engine/engine.hpp>
#include <tickflow/engine/tick.hpp>
#include <tickflow/report/prometheus.hpp>
#include <tickflow/semiring/builtin.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace tickflow;
namespace pm = tickflow::prometheus;

namespace {

// Sample lines (not comments) as "name{labels}" -> value text.
std::map<std::string, std::string> samples_of(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto sp = line.rfind(' ');
    REQUIRE(sp != std::string::npos);
    out[line.substr(0, sp)] = line.substr(sp + 1);
  }
  return out;
}

}  // namespace

TEST_CASE("prometheus text_writer writes HELP, TYPE and samples, escaping label values and help", "[report][prometheus]") {
  std::string out;
  pm::text_writer w(out);
  REQUIRE(w.family("tf_x_total", pm::metric_type::counter, "a \\ help\nline"));
  REQUIRE(w.sample("tf_x_total", {{"k", "a\"b\\c\nd"}}, std::uint64_t{42}));
  REQUIRE(w.family("tf_g", pm::metric_type::gauge, "g"));
  REQUIRE(w.sample("tf_g", pm::no_labels, 0.1));
  REQUIRE(w.sample("tf_g", {{"a", "1"}, {"b", "2"}}, std::numeric_limits<double>::infinity()));
  REQUIRE(w.sample("tf_g", {{"a", "3"}}, std::numeric_limits<double>::quiet_NaN()));
  CHECK(out ==
        "# HELP tf_x_total a \\\\ help\\nline\n"
        "# TYPE tf_x_total counter\n"
        "tf_x_total{k=\"a\\\"b\\\\c\\nd\"} 42\n"
        "# HELP tf_g g\n"
        "# TYPE tf_g gauge\n"
        "tf_g 0.1\n"
        "tf_g{a=\"1\",b=\"2\"} +Inf\n"
        "tf_g{a=\"3\"} NaN\n");
}

TEST_CASE("prometheus text_writer refuses bad metric and label names and writes nothing for them", "[report][prometheus]") {
  std::string out = "kept\n";
  pm::text_writer w(out);
  for (const char* bad : {"", "1abc", "a-b", "a b", "é"}) {
    auto r = w.family(bad, pm::metric_type::gauge, "h");
    REQUIRE(!r);
    CHECK(r.error().code == errc::invalid_argument);
    CHECK(!w.sample(bad, pm::no_labels, 1.0));
  }
  CHECK(pm::valid_metric_name("a:b_c9"));
  CHECK(pm::valid_metric_name("_x"));
  auto r = w.sample("ok", {{"fine", "1"}, {"__reserved", "2"}}, 1.0);
  REQUIRE(!r);
  CHECK(r.error().detail == 1);
  CHECK(!w.sample("ok", {{"has:colon", "1"}}, 1.0));
  CHECK(!w.sample("ok", {{"9x", "1"}}, 1.0));
  const double falling[] = {1.0, 0.5};
  log_linear_histogram h;
  CHECK(!w.histogram("ok", pm::no_labels, h, falling));
  const double negative[] = {-1.0};
  CHECK(!w.histogram("ok", pm::no_labels, h, negative));
  CHECK(out == "kept\n");
}

TEST_CASE("prometheus histogram buckets are cumulative, within a bucket width of the exact counts, and end at _count", "[report][prometheus]") {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(std::log(2e6), 1.2);  // around 2 ms, in ns
  std::vector<std::uint64_t> values;
  log_linear_histogram h;
  std::uint64_t sum = 0;
  for (int i = 0; i < 20000; ++i) {
    const auto v = static_cast<std::uint64_t>(dist(rng));
    values.push_back(v);
    h.record(v);
    sum += v;
  }
  std::sort(values.begin(), values.end());
  std::string out;
  pm::text_writer w(out);
  REQUIRE(w.family("t_seconds", pm::metric_type::histogram, "t"));
  REQUIRE(w.histogram("t_seconds", {{"phase", "apply"}}, h));
  const auto s = samples_of(out);
  std::uint64_t previous = 0;
  for (const double le : pm::default_bounds_s) {
    char key[96];
    std::string le_text(32, '\0');
    const auto r = std::to_chars(le_text.data(), le_text.data() + le_text.size(), le);
    le_text.resize(static_cast<std::size_t>(r.ptr - le_text.data()));
    std::snprintf(key, sizeof key, "t_seconds_bucket{phase=\"apply\",le=\"%s\"}", le_text.c_str());
    REQUIRE(s.count(key) == 1);
    const std::uint64_t got = std::stoull(s.at(key));
    CHECK(got >= previous);
    previous = got;
    const double le_ns = le * 1e9;
    // Exact count at or below le, and at or below le less one bucket width (1/128).
    const auto exact = static_cast<std::uint64_t>(std::upper_bound(values.begin(), values.end(), static_cast<std::uint64_t>(le_ns)) - values.begin());
    const auto lower = static_cast<std::uint64_t>(
        std::upper_bound(values.begin(), values.end(), static_cast<std::uint64_t>(le_ns * (1.0 - 1.0 / 64))) - values.begin());
    CHECK(got <= exact);
    CHECK(got >= lower);
  }
  CHECK(s.at("t_seconds_bucket{phase=\"apply\",le=\"+Inf\"}") == "20000");
  CHECK(s.at("t_seconds_count{phase=\"apply\"}") == "20000");
  CHECK(std::stod(s.at("t_seconds_sum{phase=\"apply\"}")) == Approx(static_cast<double>(sum) * 1e-9).epsilon(1e-12));
}

TEST_CASE("write_engine_metrics reports the engine's counters, memory and phase histograms after real ticks", "[report][prometheus]") {
  using engine_t = reference_engine<double, semiring_kernel<real_semiring<double>>, thread_pool>;
  engine_t e({}, 2);
  std::vector<page_id> sources;
  for (int i = 0; i < 8; ++i) sources.push_back(*e.create_page(64));
  const page_id total = *e.create_page(64);
  graph_edit<double> edit;
  for (const page_id s : sources) edit.add_edge({s, total, edge_kind::data, 0.5});
  REQUIRE(e.edit_graph(edit));
  tick_options o;
  o.budgets = {std::chrono::nanoseconds(1), std::chrono::nanoseconds(1), std::chrono::nanoseconds(1), std::chrono::nanoseconds(3)};
  auto t = tick_orchestrator<engine_t>::make(e, o);  // every tick overruns its total budget
  REQUIRE(t);
  std::uint64_t id = 1;
  for (std::uint64_t tick = 1; tick <= 5; ++tick) {
    for (const page_id s : sources) {
      delta d;
      d.page = s;
      d.at = epoch{static_cast<std::uint32_t>(tick)};
      d.id = delta_id{id++};
      d.length = 8;
      d.mask.assign(1, 0xFF);
      d.payload.resize(8);
      const double v = 1.0;
      std::memcpy(d.payload.data(), &v, 8);
      REQUIRE(e.submit(d));
    }
    delta stale;  // epoch 0 is below the page's epoch after the first tick: rejected
    stale.page = sources[0];
    stale.at = epoch{0};
    stale.id = delta_id{id++};
    stale.length = 8;
    stale.mask.assign(1, 0xFF);
    stale.payload.resize(8);
    if (tick > 1) REQUIRE(e.submit(stale));
    REQUIRE(t->tick());
  }
  std::string out = "prefix kept\n";
  REQUIRE(pm::write_engine_metrics(out, e, *t));
  CHECK(out.rfind("prefix kept\n", 0) == 0);
  const auto s = samples_of(out.substr(12));
  CHECK(s.at("tickflow_ticks_total") == "5");
  CHECK(s.at("tickflow_deltas_applied_total") == std::to_string(e.counters().deltas_applied));
  CHECK(e.counters().deltas_applied == 40);
  CHECK(s.at("tickflow_deltas_rejected_total") == "4");
  CHECK(s.at("tickflow_pages") == "9");
  CHECK(s.at("tickflow_payload_bytes") == "576");
  CHECK(std::stoull(s.at("tickflow_memory_bytes{part=\"slab\"}")) >= 576);
  CHECK(std::stoull(s.at("tickflow_resident_bytes")) > 0);
  std::uint64_t total_overruns = 0;
  for (const char* phase : {"apply", "propagate", "graph", "gc", "log"})
    total_overruns += std::stoull(s.at(std::string("tickflow_tick_overruns_total{budget=\"total\",phase=\"") + phase + "\"}"));
  CHECK(total_overruns == 5);
  CHECK(total_overruns == t->overruns(tick_budget::total));
  for (const char* phase : {"apply", "propagate", "graph", "gc", "log"}) {
    CHECK(s.at(std::string("tickflow_tick_phase_seconds_count{phase=\"") + phase + "\"}") == "5");
    CHECK(s.at(std::string("tickflow_tick_phase_seconds_bucket{phase=\"") + phase + "\",le=\"+Inf\"}") == "5");
  }
  CHECK(s.at("tickflow_tick_seconds_count") == "5");
  // Every family has its HELP and TYPE once.
  for (const char* fam : {"tickflow_ticks_total counter", "tickflow_pages gauge", "tickflow_tick_phase_seconds histogram"})
    CHECK(out.find(std::string("# TYPE ") + fam + "\n") != std::string::npos);

  // A bad prefix: an error, and the string as it was.
  const std::string before = out;
  pm::options bad;
  bad.prefix = "tick-flow";
  auto r = pm::write_engine_metrics(out, e, *t, bad);
  REQUIRE(!r);
  CHECK(r.error().code == errc::invalid_argument);
  CHECK(out == before);

  // Reused, the string does not grow its capacity again.
  out.clear();
  REQUIRE(pm::write_engine_metrics(out, e, *t));
  const auto cap = out.capacity();
  out.clear();
  REQUIRE(pm::write_engine_metrics(out, e, *t));
  CHECK(out.capacity() == cap);
}
