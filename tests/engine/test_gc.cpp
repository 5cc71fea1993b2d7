// GC never frees or alters a live page. Model tests: random creates, releases, applies, graph
// edits and GC slices of random length, against a plain model (a map of pages) and against a
// twin engine that never collects, with every page's bytes and epoch and the digest compared
// after every slice. Also: a slice with no time does nothing and says so; compaction to the end
// leaves no free slot below a live page and returns the empty chunks; the orchestrator gives the
// engine's collector the tick's time.
#include <tickflow/engine/engine.hpp>
#include <tickflow/engine/tick.hpp>
#include <tickflow/semiring/builtin.hpp>

#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <vector>

#include "support/catch.hpp"
#include "support/deltas.hpp"

using namespace tickflow;
namespace tt = tickflow::test;

namespace {

struct model_page {
  std::vector<std::byte> bytes;
  epoch at{0};
};

// A stop() that allows `checks` more checks, then says stop.
struct stop_after {
  int left;
  bool operator()() noexcept { return left-- <= 0; }
};

void same_as_model(const page_store& s, const std::map<page_id, model_page>& model) {
  REQUIRE(s.size() == model.size());
  for (const auto& [id, p] : model) {
    const auto b = s.bytes(id);
    REQUIRE(b);
    REQUIRE(b->size() == p.bytes.size());
    REQUIRE(std::memcmp(b->data(), p.bytes.data(), p.bytes.size()) == 0);
    REQUIRE(*s.epoch_of(id) == p.at);
  }
  const auto kept = s.memory(), counted = s.count_memory();
  REQUIRE(kept.slab_bytes == counted.slab_bytes);
  REQUIRE(kept.slot_bytes == counted.slot_bytes);
  REQUIRE(kept.payload_bytes == counted.payload_bytes);
}

}  // namespace

TEST_CASE("page_store compaction never frees or alters a live page: a model test", "[engine][gc]") {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    page_store s;
    std::map<page_id, model_page> model;
    std::vector<page_id> live;
    std::mt19937_64 rng(seed);
    std::uint32_t now = 1;
    std::size_t slices = 0, moved = 0;
    for (int op = 0; op < 3000; ++op) {
      const unsigned what = static_cast<unsigned>(rng() % 10);
      if (what < 4 || live.empty()) {  // create: a few size classes
        const std::size_t bytes = std::size_t{8} << (rng() % 5);
        const page_id id = *s.create(bytes);
        model[id] = model_page{std::vector<std::byte>(bytes, std::byte{0}), epoch{0}};
        live.push_back(id);
      } else if (what < 7) {  // release
        const std::size_t k = rng() % live.size();
        REQUIRE(s.release(live[k]));
        model.erase(live[k]);
        live[k] = live.back();
        live.pop_back();
      } else if (what < 9) {  // apply a delta
        const page_id id = live[rng() % live.size()];
        auto& p = model[id];
        const auto v = static_cast<double>(rng() % 1000);
        const std::uint32_t element = static_cast<std::uint32_t>(rng() % (p.bytes.size() / 8));
        const delta d = tt::element_delta(id, epoch{++now}, static_cast<std::uint64_t>(op), v, element);
        REQUIRE(s.apply(d));
        std::memcpy(p.bytes.data() + 8 * element, &v, 8);
        p.at = epoch{now};
      } else {  // a GC slice of random length
        const auto digest = s.digest();
        const auto r = s.compact(stop_after{static_cast<int>(rng() % 4)});
        ++slices;
        moved += r.moved;
        REQUIRE(s.digest() == digest);  // ids, sizes, epochs and bytes unchanged
        same_as_model(s, model);
      }
    }
    same_as_model(s, model);
    CHECK(slices > 100);
    CHECK(moved > 0);
    // To the end: no free slot below a live page; empty chunks returned.
    const auto before = s.memory();
    page_store::compact_result r;
    do {
      r = s.compact([] { return false; });
      same_as_model(s, model);
    } while (!r.done);
    const auto after = s.memory();
    CHECK(after.slab_bytes <= before.slab_bytes);
    CHECK(after.slot_bytes == before.slot_bytes);
    // What is left unused is at most the tail of each class's last chunk (5 classes here).
    CHECK(after.fragmentation_bytes() < 5 * 64 * 1024);
    // A new page still works after compaction, at a fresh slot.
    const page_id fresh = *s.create(64);
    CHECK(s.bytes(fresh)->size() == 64);
  }
}

TEST_CASE("a GC slice given no time does nothing and says so", "[engine][gc]") {
  page_store s;
  std::vector<page_id> ids;
  for (int i = 0; i < 5000; ++i) ids.push_back(*s.create(64));
  for (int i = 0; i < 5000; i += 2) REQUIRE(s.release(ids[static_cast<std::size_t>(i)]));
  const auto digest = s.digest();
  const auto mem = s.memory();
  const auto r = s.compact([] { return true; });
  CHECK_FALSE(r.had_time);
  CHECK(r.moved == 0);
  CHECK(r.freed_bytes == 0);
  CHECK_FALSE(r.done);
  CHECK(s.digest() == digest);
  CHECK(s.memory().slab_bytes == mem.slab_bytes);
  // With time, it frees about half the slabs (every other page was released).
  while (!s.compact([] { return false; }).done) {
  }
  CHECK(s.memory().slab_bytes <= mem.slab_bytes / 2 + 64 * 1024);
  CHECK(s.digest() == digest);
}

TEST_CASE("reference_engine with GC equals a twin that never collects, page for page, after every slice", "[engine][gc]") {
  using engine_t = reference_engine<double, semiring_kernel<real_semiring<double>>, thread_pool>;
  for (const std::size_t workers : {1u, 3u}) {
    engine_options o;
    o.gc_fragmentation = 0.02;
    engine_t a(o, workers), b({}, workers);
    std::mt19937_64 rng(77);
    std::vector<page_id> pa, pb;  // the same pages in both (same ids: same operations)
    std::uint64_t next_id = 1;
    std::size_t slices = 0, moved = 0;
    for (int round = 0; round < 120; ++round) {
      // Churn: new pages, releases of unlinked ones.
      for (int k = 0; k < 20; ++k) {
        pa.push_back(*a.create_page(64));
        pb.push_back(*b.create_page(64));
        REQUIRE(pa.back() == pb.back());
      }
      for (int k = 0; k < 12 && pa.size() > 40; ++k) {
        const std::size_t i = rng() % pa.size();
        const auto ra = a.release_page(pa[i]);
        const auto rb = b.release_page(pb[i]);
        REQUIRE(ra.has_value() == rb.has_value());
        if (ra) {
          pa[i] = pa.back();
          pa.pop_back();
          pb[i] = pb.back();
          pb.pop_back();
        }
      }
      // Edges forward in the page list (acyclic), and deltas to random pages.
      graph_edit<double> edit;
      for (int k = 0; k < 6; ++k) {
        const std::size_t x = rng() % pa.size(), y = rng() % pa.size();
        if (x < y) edit.add_edge({pa[x], pa[y], edge_kind::data, 0.5});
      }
      REQUIRE(a.edit_graph(edit));
      REQUIRE(b.edit_graph(edit));
      const epoch at{a.current_epoch().value() + 1};
      for (int k = 0; k < 30; ++k) {
        const page_id p = pa[rng() % pa.size()];
        const delta d = tt::element_delta(p, at, next_id++, static_cast<double>(rng() % 50), static_cast<std::uint32_t>(rng() % 8));
        REQUIRE(a.submit(d));
        REQUIRE(b.submit(d));
      }
      (void)a.step();
      (void)b.step();
      // A GC slice of random length whenever the engine wants one.
      if (a.gc_wanted()) {
        const auto r = a.gc_slice(std::chrono::steady_clock::now() + std::chrono::microseconds(rng() % 200));
        ++slices;
        moved += r.moved;
      }
      REQUIRE(a.digest() == b.digest());
      a.store().for_each_page([&](page_id id, std::span<const std::byte> bytes, epoch e) {
        const auto other = b.store().bytes(id);
        REQUIRE(other);
        REQUIRE(std::memcmp(other->data(), bytes.data(), bytes.size()) == 0);
        REQUIRE(*b.store().epoch_of(id) == e);
      });
    }
    CHECK(slices > 0);
    CHECK(moved > 0);
    CHECK(a.counters().gc_pages_moved == moved);
    CHECK(a.memory(nullptr, false).slab_bytes <= b.memory(nullptr, false).slab_bytes);
  }
}

TEST_CASE("the tick orchestrator gives the engine's collector the tick's time, and the results do not change", "[engine][gc][tick]") {
  using engine_t = reference_engine<double, semiring_kernel<real_semiring<double>>, thread_pool>;
  engine_options o;
  o.gc_fragmentation = 0.01;
  engine_t a(o, 2), b({}, 2);
  auto ticks = tick_orchestrator<engine_t, engine_collector<engine_t>>::make(a, {}, engine_collector<engine_t>{&a});
  REQUIRE(ticks);
  std::vector<page_id> pages;
  for (int i = 0; i < 4000; ++i) {
    pages.push_back(*a.create_page(64));
    REQUIRE(*b.create_page(64) == pages.back());
  }
  std::mt19937_64 rng(3);
  for (int t = 0; t < 40; ++t) {
    // Churn: 60 pages released and 20 created per tick, so that slots and chunks fall free.
    for (int k = 0; k < 60; ++k) {
      const std::size_t i = rng() % pages.size();
      REQUIRE(a.release_page(pages[i]));
      REQUIRE(b.release_page(pages[i]));
      pages[i] = pages.back();
      pages.pop_back();
    }
    for (int k = 0; k < 20; ++k) {
      pages.push_back(*a.create_page(64));
      REQUIRE(*b.create_page(64) == pages.back());
    }
    for (int k = 0; k < 100; ++k) {
      const delta d = tt::element_delta(pages[rng() % pages.size()], epoch{static_cast<std::uint32_t>(t + 1)}, static_cast<std::uint64_t>(t * 100 + k), 1.0 + k);
      REQUIRE(a.submit(d));
      REQUIRE(b.submit(d));
    }
    REQUIRE(ticks->tick());
    (void)b.step();
    REQUIRE(a.digest() == b.digest());
  }
  CHECK(ticks->gc().slices > 0);
  CHECK(a.counters().gc_pages_moved > 0);
  CHECK(ticks->histogram(tick_phase::gc).count() == 40);
  CHECK(a.memory(nullptr, false).slab_bytes < b.memory(nullptr, false).slab_bytes);
}
