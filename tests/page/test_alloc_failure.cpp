// Allocation-failure injection over every call documented with the strong guarantee: a replaced
// global operator new fails on the k-th allocation, for k = 0, 1, 2, ... until the call runs
// through without failing; after each failure the object must be exactly as before, and it must
// keep working. Its own binary, because it replaces operator new.
#include <tickflow/columnar/batch_apply.hpp>
#include <tickflow/columnar/delta_batch.hpp>
#include <tickflow/graph/page_graph.hpp>
#include <tickflow/page/checkpoint.hpp>
#include <tickflow/page/page_store.hpp>
#include <tickflow/page/tlog.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "support/catch.hpp"
#include "support/deltas.hpp"
#include "support/replace_new.hpp"

namespace {
// -1: disarmed. Otherwise the number of allocations still allowed; the next one fails.
std::atomic<long> allowance{-1};
}  // namespace

void* tickflow_test_allocate(std::size_t n, std::size_t align) noexcept {
  if (allowance.load(std::memory_order_relaxed) >= 0 && allowance.fetch_sub(1, std::memory_order_relaxed) == 0) return nullptr;
  return tickflow::test::system_allocate(n, align);
}

using namespace tickflow;
namespace tt = tickflow::test;

namespace {

// Runs op() with allocation k failing, for k = 0, 1, ...: `unchanged()` must hold after every
// failure; the first run in which no allocation failed ends the loop, op() must have returned
// true, and `done()` checks the result. op() runs armed, so it asserts nothing itself (the test
// framework allocates). Returns the number of runs that failed.
template <class Op, class Unchanged, class Done>
int inject(Op&& op, Unchanged&& unchanged, Done&& done) {
  for (long k = 0;; ++k) {
    bool threw = false, ok = false;
    allowance.store(k);
    try {
      ok = op();
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    const bool fired = allowance.load() < 0;
    allowance.store(-1);
    if (threw) {
      REQUIRE(fired);
      unchanged();
      continue;
    }
    REQUIRE_FALSE(fired);  // a failed allocation must surface as bad_alloc, never be swallowed
    REQUIRE(ok);
    done();
    return static_cast<int>(k);
  }
}

std::string temp_path(const char* tag) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/tickflow_af_" + tag + "_" + std::to_string(::getpid());
}

delta make_delta(std::uint64_t id, std::uint32_t at, std::uint32_t length) {
  delta d;
  d.page = page_id{(std::uint64_t{1} << 32) | 1};
  d.at = epoch{at};
  d.id = delta_id{id};
  d.length = length;
  d.mask.assign(mask_words(length), ~std::uint64_t{0});
  if (length % 64 != 0) d.mask.back() = (std::uint64_t{1} << (length % 64)) - 1;
  d.payload.assign(length, static_cast<std::byte>(id));
  return d;
}

struct store_state {
  std::uint64_t digest;
  std::vector<std::uint32_t> generations, free_ids;
  bool operator==(const store_state&) const = default;
};
store_state state_of(const page_store& s) {
  return {s.digest(), {s.id_generations().begin(), s.id_generations().end()}, {s.id_free_list().begin(), s.id_free_list().end()}};
}

}  // namespace

TEST_CASE("tlog_writer::append: a failed allocation appends nothing and loses nothing after it", "[alloc][tlog]") {
  for (const auto policy : {fsync_policy::never, fsync_policy::per_epoch, fsync_policy::per_record}) {
    const std::string path = temp_path("append");
    int failures = 0;
    for (long k = 0;; ++k) {
      ::unlink(path.c_str());
      std::vector<delta> want;
      bool big_in = false;
      {
        auto w = tlog_writer::open(path, policy);
        REQUIRE(w);
        for (std::uint64_t i = 1; i <= 2; ++i) {
          want.push_back(make_delta(i, 1, 40));
          REQUIRE(w->append(want.back()));
        }
        const delta big = make_delta(3, 1, 3 << 20);  // 3 MiB: grows the 1 MiB buffer
        allowance.store(k);
        bool threw = false, ok = false;
        try {
          ok = static_cast<bool>(w->append(big));
        } catch (const std::bad_alloc&) {
          threw = true;
        }
        allowance.store(-1);
        REQUIRE((threw || ok));
        if (threw) ++failures;
        else {
          want.push_back(big);
          big_in = true;
        }
        for (std::uint64_t i = 4; i <= 6; ++i) {
          want.push_back(make_delta(i, 2, 40));
          REQUIRE(w->append(want.back()));
        }
        REQUIRE(w->flush());
      }
      const auto rec = read_tlog(path);
      REQUIRE(rec);
      CHECK(rec->stop == tlog_stop::end_of_file);
      REQUIRE(rec->records == want);
      if (big_in) break;
    }
    CHECK(failures > 0);
    ::unlink(path.c_str());
  }
}

TEST_CASE("checkpoints: save keeps the old file, load leaves nothing behind, under failed allocations", "[alloc][checkpoint]") {
  std::mt19937_64 rng(5);
  std::vector<page_id> ids;
  page_store s = tt::random_store(rng, ids, 40);
  const std::string path = temp_path("ckpt");
  REQUIRE(save_checkpoint(s, epoch{1}, path));
  const std::uint64_t old_digest = s.digest();
  tt::fill_random(s, ids[0], 1234);  // the new state differs
  const int save_failures = inject([&] { return static_cast<bool>(save_checkpoint(s, epoch{2}, path)); },
                                   [&] {
                                     const auto cp = load_checkpoint(path);
                                     REQUIRE(cp);
                                     CHECK(cp->at == epoch{1});
                                     CHECK(cp->digest == old_digest);
                                   },
                                   [&] {
                                     const auto cp = load_checkpoint(path);
                                     REQUIRE(cp);
                                     CHECK(cp->at == epoch{2});
                                     CHECK(cp->digest == s.digest());
                                   });
  CHECK(save_failures > 0);
  const int load_failures = inject([&] {
    const auto cp = load_checkpoint(path);
    return cp && cp->digest == s.digest();
  }, [] {}, [] {});
  CHECK(load_failures > 2);  // the id table, its copies, the pages: each allocation was failed once
  ::unlink(path.c_str());
}

TEST_CASE("page_store: restore, rebuild, create and release are all or nothing under failed allocations", "[alloc][page]") {
  std::mt19937_64 rng(9);
  std::vector<page_id> ids;
  page_store s = tt::random_store(rng, ids, 200);
  std::vector<page_id> other_ids;
  page_store other = tt::random_store(rng, other_ids, 150);
  const auto snap = other.snapshot();
  const store_state before = state_of(s);
  CHECK(inject([&] { return static_cast<bool>(s.restore(snap)); }, [&] { CHECK(state_of(s) == before); }, [&] { CHECK(state_of(s) == state_of(other)); }) > 0);
  // create and release, from a state where they must grow their tables
  for (int i = 0; i < 64; ++i) {
    const store_state b = state_of(s);
    page_id made{};
    inject(
        [&] {
          const auto r = s.create(64 + 64 * (i % 5));
          if (r) made = *r;
          return static_cast<bool>(r);
        },
        [&] { CHECK(state_of(s) == b); }, [] {});
    const store_state c = state_of(s);
    inject([&] { return static_cast<bool>(s.release(made)); }, [&] { CHECK(state_of(s) == c); }, [] {});
  }
}

TEST_CASE("batch_applier::apply: a failed allocation writes nothing", "[alloc][columnar]") {
  std::mt19937_64 rng(13);
  for (const bool big : {false, true}) {  // in-order path, and the partitioned path (> 4 MiB of pages)
    tt::page_world w;
    tt::add_pages(w, rng, big ? 20'000 : 500, big ? 400 : 200, 77);
    const auto stream = tt::random_stream(rng, w, 3000, 1, 50);
    const auto batch = delta_batch::from_deltas(stream);
    page_store oracle;
    REQUIRE(oracle.restore(w.store.snapshot()));
    REQUIRE(oracle.apply_all(stream));
    const std::uint64_t before = w.store.digest();
    CHECK(inject(
              [&] {
                batch_applier a;  // fresh per attempt, so its scratch is allocated each time
                return static_cast<bool>(a.apply(w.store, batch));
              },
              [&] { CHECK(w.store.digest() == before); }, [&] { CHECK(w.store.digest() == oracle.digest()); }) > 0);
  }
}

TEST_CASE("page_graph: add_edge and edits (both paths) leave the graph as it was under failed allocations", "[alloc][graph]") {
  std::mt19937_64 rng(21);
  const auto pid = [](std::uint32_t i) { return page_id{(std::uint64_t{i} << 32) | 1}; };
  page_graph<> g;
  const std::uint32_t n = 300;
  for (std::uint32_t i = 0; i < n; ++i) REQUIRE(g.add_page(pid(i)));
  for (int i = 0; i < 900; ++i) {
    const auto a = static_cast<std::uint32_t>(rng() % n), b = static_cast<std::uint32_t>(rng() % n);
    if (a < b && !g.has_edge(pid(a), pid(b))) REQUIRE(g.add_edge({pid(a), pid(b), edge_kind::data, 1.0}));
  }
  for (const auto path : {edit_path::incremental, edit_path::rebuild}) {
    graph_edit<double> edit;
    const auto edges = g.edge_list();
    for (int i = 0; i < 10; ++i) edit.remove_edge(edges[static_cast<std::size_t>(i) * 7].parent, edges[static_cast<std::size_t>(i) * 7].child);
    for (int i = 0; i < 100; ++i) {
      // Backward in page order: the incremental path must reorder.
      const auto a = static_cast<std::uint32_t>(rng() % n), b = static_cast<std::uint32_t>(rng() % n);
      if (a > b && !g.has_edge(pid(a), pid(b)) && !g.has_edge(pid(b), pid(a))) {
        bool dup = false;
        for (const auto& e : edit.additions()) dup = dup || (e.parent == pid(a) && e.child == pid(b));
        if (!dup) edit.add_edge({pid(a), pid(b), edge_kind::data, 2.0});
      }
    }
    const auto before = g.edge_list();
    auto same = [&] {
      CHECK(g.edge_list() == before);
      CHECK(g.check_invariants());
    };
    page_graph<> trial = g;  // the verdict without injection
    const edit_report want = trial.commit(edit, path);
    edit_report got;
    CHECK(inject(
              [&] {
                got = g.commit(edit, path);
                return true;
              },
              same,
              [&] {
                CHECK(got.err == want.err);
                CHECK(g.check_invariants());
                CHECK(g == trial);
              }) > 0);
  }
  const auto before = g.edge_list();
  inject(
      [&] {
        (void)g.add_edge({pid(n - 1), pid(0), edge_kind::data, 3.0});
        return true;
      },
      [&] { CHECK(g.edge_list() == before); }, [] {});
}
