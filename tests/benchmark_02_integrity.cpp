// Suite 02 (integrity), correctness: 1M valid deltas give no violation; a seeded corpus with
// every violation kind gives each one at the right index with the right kind; the apply paths
// reject the corrupt deltas without changing anything.
#include <tickflow/semiring/builtin.hpp>
#include <tickflow/columnar/batch_apply.hpp>
#include <tickflow/columnar/delta_batch.hpp>
#include <tickflow/graph/page_graph.hpp>
#include <tickflow/validate/integrity.hpp>

#include <cstdint>
#include <random>
#include <vector>

#include "support/catch.hpp"
#include "support/deltas.hpp"
#include "support/scale.hpp"
#include "support/engine_suites.hpp"

using namespace tickflow;
namespace tt = tickflow::test;

namespace {

using world = tt::page_world;

void make_world(world& w, std::size_t pages, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  tt::add_pages(w, rng, pages, 256);
}

// Valid deltas: random pages and windows, epochs never decreasing, ids increasing.
std::vector<delta> valid_stream(std::mt19937_64& rng, const world& w, std::size_t n, std::uint32_t first_epoch) {
  return tt::random_stream(rng, w, n, first_epoch, 64);
}

}  // namespace

TEST_CASE("02 integrity: 1M valid deltas give no violation", "[suite02]") {
  world w;
  make_world(w, 10'000, 1);
  std::mt19937_64 rng(2);
  const std::size_t n = tt::scaled(1'000'000);
  const auto ds = valid_stream(rng, w, n, 1);
  const auto batch = delta_batch::from_deltas(ds);
  integrity_checker batch_checker(w.store);
  batch_checker.check(batch);
  CHECK(batch_checker.report().checked == n);
  CHECK(batch_checker.report().total() == 0);
  CHECK(batch_checker.report().violations.empty());
  // Streaming, in pieces, gives the same.
  integrity_checker streaming(w.store);
  for (std::size_t i = 0; i < n; i += 1000) streaming.check(std::span<const delta>(ds).subspan(i, std::min<std::size_t>(1000, n - i)));
  CHECK(streaming.report().checked == n);
  CHECK(streaming.report().total() == 0);
  // And the batch applies cleanly.
  batch_applier applier;
  CHECK(applier.apply(w.store, batch));
}

TEST_CASE("02 integrity: a seeded corpus gives every violation kind at its index", "[suite02]") {
  world w;
  make_world(w, 64, 3);
  // Page 1 is derived: it has a parent in the graph.
  page_graph<> graph;
  for (const auto& id : w.ids) REQUIRE(graph.add_page(id));
  REQUIRE(graph.add_edge({w.ids[0], w.ids[1]}));
  // A released page: its id is an orphan.
  const page_id gone = *w.store.create(64);
  REQUIRE(w.store.release(gone));

  std::mt19937_64 rng(4);
  auto ds = valid_stream(rng, w, 2000, 10);
  for (auto& d : ds)
    if (d.page == w.ids[1]) d.page = w.ids[2], d.offset = 0, d.length = 1, d.mask = {1}, d.kind = delta_kind::dense, d.payload = {std::byte{7}};
  struct seeded {
    std::size_t index;
    violation_kind kind;
  };
  std::vector<seeded> expect;
  const auto seed = [&](std::size_t i, violation_kind k) { expect.push_back({i, k}); };
  // ill_formed: one of each shape error.
  ds[100].mask.push_back(0);
  seed(100, violation_kind::ill_formed);
  ds[150].payload.push_back(std::byte{0});
  seed(150, violation_kind::ill_formed);
  ds[160].length = 0;
  seed(160, violation_kind::ill_formed);
  // orphan pages: released, never created, generation 0.
  ds[200].page = gone;
  seed(200, violation_kind::orphan_page);
  ds[210].page = page_id{0xFFFF'0000'0001ULL};
  seed(210, violation_kind::orphan_page);
  ds[220].page = page_id{w.ids[3].value() & ~std::uint64_t{0xFFFFFFFF}};
  seed(220, violation_kind::orphan_page);
  // window out of range (well-formed, but past the page).
  {
    delta& d = ds[300];
    const std::size_t k = 5;
    d = tt::random_delta(rng, w.ids[k], w.sizes[k], d.at);
    d.offset = static_cast<std::uint32_t>(w.sizes[k]);
    seed(300, violation_kind::window_out_of_range);
  }
  // derived target.
  ds[400] = tt::random_delta(rng, w.ids[1], w.sizes[1], ds[400].at);
  seed(400, violation_kind::derived_target);
  // epoch regression: against an earlier delta of the stream on the same page.
  {
    std::size_t j = 600;
    while (j < ds.size() && (ds[j].page != ds[500].page || ds[j].at == ds[500].at)) ++j;  // later, later epoch
    REQUIRE(j < ds.size());
    ds[j].at = epoch{ds[500].at.value() - 1};
    // Every delta on that page between 500 and j has an epoch >= ds[500]'s, so j is the first
    // regression; deltas after j on the page are compared with the epoch before j.
    seed(j, violation_kind::epoch_regression);
    REQUIRE(j < 1000);
  }
  // duplicate ids: one out of order, one repeated right away.
  ds[1200].id = ds[700].id;
  seed(1200, violation_kind::duplicate_delta_id);
  ds[1301].id = ds[1300].id;
  seed(1301, violation_kind::duplicate_delta_id);

  std::sort(expect.begin(), expect.end(), [](const seeded& a, const seeded& b) { return a.index < b.index; });
  for (int mode = 0; mode < 2; ++mode) {
    integrity_checker checker(w.store, graph);
    if (mode == 0) {
      checker.check(delta_batch::from_deltas(ds));
    } else {
      for (const auto& d : ds) checker.check(d);
    }
    const auto& rep = checker.report();
    REQUIRE(rep.checked == ds.size());
    REQUIRE(rep.violations.size() == expect.size());
    for (std::size_t i = 0; i < expect.size(); ++i) {
      CHECK(rep.violations[i].index == expect[i].index);
      CHECK(rep.violations[i].kind == expect[i].kind);
    }
    for (std::size_t k = 0; k < violation_kinds; ++k) {
      const auto want = std::count_if(expect.begin(), expect.end(), [&](const seeded& s) { return static_cast<std::size_t>(s.kind) == k; });
      CHECK(rep.counts[k] == static_cast<std::uint64_t>(want));
    }
  }

  // Nothing partially applied: every store-level violation is rejected by both apply paths,
  // and the store stays byte-identical.
  const std::uint64_t before = w.store.digest();
  batch_applier applier;
  auto r = applier.apply(w.store, delta_batch::from_deltas(ds));
  REQUIRE_FALSE(r);
  CHECK(r.error().detail == 100);  // the first store-level violation
  CHECK(w.store.digest() == before);
  CHECK_FALSE(w.store.apply_all(ds));
  CHECK(w.store.digest() == before);
  for (const auto& s : expect) {
    if (s.kind == violation_kind::derived_target || s.kind == violation_kind::duplicate_delta_id) continue;  // graph / log rules
    if (s.kind == violation_kind::epoch_regression) continue;  // relative to the stream, checked above
    CHECK_FALSE(w.store.apply(ds[s.index]));
    CHECK(w.store.digest() == before);
  }
}

TEST_CASE("02 integrity: ids far out of order are still checked exactly", "[suite02]") {
  world w;
  make_world(w, 16, 5);
  std::mt19937_64 rng(6);
  auto ds = valid_stream(rng, w, 5000, 1);
  // Ids in a shuffled order (many runs), with duplicates planted at known places.
  std::vector<std::uint64_t> ids(ds.size());
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = 1000 + i;
  std::shuffle(ids.begin(), ids.end(), rng);
  for (std::size_t i = 0; i < ds.size(); ++i) ds[i].id = delta_id{ids[i]};
  std::vector<std::size_t> dups;
  for (std::size_t i = 100; i < ds.size(); i += 397) {
    ds[i].id = ds[i - 1 - rng() % 90].id;
    dups.push_back(i);
  }
  integrity_checker checker(w.store);
  checker.check(delta_batch::from_deltas(ds));
  const auto& rep = checker.report();
  REQUIRE(rep.count(violation_kind::duplicate_delta_id) == dups.size());
  REQUIRE(rep.total() == dups.size());
  for (std::size_t i = 0; i < dups.size(); ++i) CHECK(rep.violations[i].index == dups[i]);
}

// The engine-level suite (tests/support/engine_suites.hpp), over both engines.
TEMPLATE_TEST_CASE("02 integrity: over any engine, every bad delta is typed or rejected with its kind, never applied", "[suite02][any_engine]", tt::any_reference, tt::any_plain) {
  tt::suite02_integrity_over_engine<TestType>();
}

// The store's own check of epochs, on each of its apply paths: a delta below its page's epoch is
// refused whatever its epoch (0 and 1 included), and nothing is written; one at the page's epoch
// is taken.
TEST_CASE("02 integrity: the store refuses a delta below its page's epoch, or past its end, on every apply path", "[suite02]") {
  world w;
  make_world(w, 16, 9);
  std::mt19937_64 rng(10);
  for (std::size_t k = 0; k < w.ids.size(); ++k) REQUIRE(w.store.apply(tt::random_delta(rng, w.ids[k], w.sizes[k], epoch{5})));
  const std::uint64_t before = w.store.digest();
  batch_applier applier;
  std::size_t refused = 0;
  for (const std::uint32_t e : {0U, 1U, 4U}) {
    for (std::size_t k = 0; k < w.ids.size(); k += 3) {
      INFO("epoch " << e << ", page " << k);
      const std::vector<delta> one{tt::random_delta(rng, w.ids[k], w.sizes[k], epoch{e})};
      const auto r = w.store.apply(one[0]);
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::epoch_regression);
      CHECK_FALSE(w.store.apply_all(one));
      CHECK_FALSE(applier.apply(w.store, delta_batch::from_deltas(one)));
      CHECK(w.store.digest() == before);
      ++refused;
    }
  }
  CHECK(refused == 18);
  // A window that ends one byte past the page is refused the same way.
  for (std::size_t k = 0; k < w.ids.size(); ++k) {
    INFO("page " << k);
    delta d = tt::random_delta(rng, w.ids[k], w.sizes[k], epoch{6});
    d.offset = static_cast<std::uint32_t>(w.sizes[k] - d.length + 1);
    const std::vector<delta> one{d};
    const auto r = w.store.apply(d);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::out_of_range);
    CHECK_FALSE(w.store.apply_all(one));
    CHECK_FALSE(applier.apply(w.store, delta_batch::from_deltas(one)));
    CHECK(w.store.digest() == before);
  }
  CHECK(w.store.apply(tt::random_delta(rng, w.ids[0], w.sizes[0], epoch{5})));
}
