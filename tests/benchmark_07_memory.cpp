// Suite 07 (memory): the memory monitor and GC.
//
// The memory monitor: every figure the counters give equals a fresh count (over the pages, the
// table, the slabs, the graph's nodes, the file), through random creates, releases, edge edits,
// copies and renumberings; the engine's report adds up; the resident set is read for real.
//
// GC never frees or alters a live page. Model tests: random creates, releases, applies, graph
// edits and GC slices of random length, against a plain model (a map of pages) and against a
// twin engine that never collects, with every page's bytes and epoch and the digest compared
// after every slice. Also: a slice with no time does nothing and says so; compaction to the end
// leaves no free slot below a live page and returns the empty chunks; the orchestrator gives the
// engine's collector the tick's time.
#include <tickflow/engine/engine.hpp>
#include <tickflow/engine/memory.hpp>
#include <tickflow/engine/tick.hpp>
#include <tickflow/page/checkpoint.hpp>
#include <tickflow/semiring/builtin.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "support/catch.hpp"
#include "support/deltas.hpp"
#include "support/engine_suites.hpp"

using namespace tickflow;
namespace tt = tickflow::test;

namespace {

void same_figures(const page_store& s) {
  const auto kept = s.memory();
  const auto counted = s.count_memory();
  CHECK(kept.pages == counted.pages);
  CHECK(kept.payload_bytes == counted.payload_bytes);
  CHECK(kept.slot_bytes == counted.slot_bytes);
  CHECK(kept.slab_bytes == counted.slab_bytes);
  // And from the outside: the live pages one by one.
  std::size_t pages = 0, payload = 0, slots = 0;
  s.for_each_page([&](page_id id, std::span<const std::byte> b, epoch) {
    ++pages;
    payload += b.size();
    if (!s.is_cold(id)) slots += (b.size() + 63) / 64 * 64;  // a cold page has no slot
  });
  CHECK(kept.pages == pages);
  CHECK(kept.payload_bytes == payload);
  CHECK(kept.slot_bytes == slots);
  CHECK(kept.slab_bytes >= kept.slot_bytes);
  CHECK(kept.fragmentation_bytes() == kept.slab_bytes - slots);
}

}  // namespace

TEST_CASE("page_store memory counters equal a fresh count through creates, releases and restores", "[engine][memory]") {
  page_store s;
  same_figures(s);
  CHECK(s.memory().slab_bytes == 0);
  std::mt19937_64 rng(21);
  std::vector<page_id> live;
  for (int round = 0; round < 2000; ++round) {
    if (live.empty() || rng() % 3 != 0) {
      const std::size_t bytes = 1 + rng() % 300;  // several size classes
      live.push_back(*s.create(bytes));
    } else {
      const std::size_t k = rng() % live.size();
      REQUIRE(s.release(live[k]));
      live[k] = live.back();
      live.pop_back();
    }
    if (round % 97 == 0) same_figures(s);
  }
  same_figures(s);
  const auto before = s.memory();
  CHECK(before.fragmentation_bytes() > 0);  // released slots are slab bytes not in live pages
  // A restored copy holds the same pages in fresh slabs.
  page_store t;
  REQUIRE(t.restore(s.snapshot()));
  same_figures(t);
  CHECK(t.memory().pages == before.pages);
  CHECK(t.memory().payload_bytes == before.payload_bytes);
}

TEST_CASE("page_graph's adjacency counter equals a recount through edits, copies and renumbering", "[engine][memory]") {
  page_graph<double> g;
  page_store s;
  std::vector<page_id> pages;
  for (int i = 0; i < 300; ++i) {
    pages.push_back(*s.create(64));
    REQUIRE(g.add_page(pages.back()));
  }
  const std::size_t empty = g.memory_bytes();
  CHECK(g.adjacency_bytes() == 0);
  std::mt19937_64 rng(8);
  for (int k = 0; k < 3000; ++k) {
    const std::size_t a = rng() % pages.size(), b = rng() % pages.size();
    if (a < b) (void)g.add_edge({pages[a], pages[b], edge_kind::data, 1.0});
    if (k % 5 == 0) {
      const auto edges = g.edge_list();
      if (!edges.empty()) {
        const auto& e = edges[rng() % edges.size()];
        REQUIRE(g.remove_edge(e.parent, e.child));
      }
    }
    if (k % 250 == 0) CHECK(g.adjacency_bytes() == g.count_adjacency_bytes());
  }
  CHECK(g.adjacency_bytes() == g.count_adjacency_bytes());
  CHECK(g.adjacency_bytes() >= g.edges() * (sizeof(std::uint32_t) + sizeof(double)));
  CHECK(g.memory_bytes() >= empty + g.adjacency_bytes());
  // A copy's lists have capacities of their own: its counter is recounted, not copied.
  page_graph<double> copy = g;
  CHECK(copy.adjacency_bytes() == copy.count_adjacency_bytes());
  (void)copy.add_edge({pages[0], pages[299], edge_kind::data, 1.0});
  CHECK(copy.adjacency_bytes() == copy.count_adjacency_bytes());
  copy = g;  // and an assigned one
  CHECK(copy.adjacency_bytes() == copy.count_adjacency_bytes());
  // Renumbering and moving keep the lists and so the counter.
  g.renumber_topologically();
  CHECK(g.adjacency_bytes() == g.count_adjacency_bytes());
  page_graph<double> moved = std::move(g);
  CHECK(moved.adjacency_bytes() == moved.count_adjacency_bytes());
  REQUIRE(moved.remove_page(pages[5]));
  CHECK(moved.adjacency_bytes() == moved.count_adjacency_bytes());
  // A large edit (the rebuild path) reserves the lists it grows exactly, and counts them.
  graph_edit<double> big;
  for (std::size_t c = 10; c < pages.size(); ++c)
    for (std::size_t p = c - 10; p < c; p += 3)
      if (p != 5 && c != 5 && !moved.has_edge(pages[p], pages[c])) big.add_edge({pages[p], pages[c], edge_kind::data, 0.5});
  const auto before = moved.edges();
  REQUIRE(moved.commit(big, edit_path::rebuild).ok());
  CHECK(moved.edges() == before + big.additions().size());
  CHECK(moved.adjacency_bytes() == moved.count_adjacency_bytes());
  REQUIRE(moved.check_invariants());
}

TEST_CASE("reference_engine's memory report adds up, and its resident set and log length are real", "[engine][memory]") {
  using engine_t = reference_engine<double, semiring_kernel<real_semiring<double>>, thread_pool>;
  engine_t e({}, 2);
  std::vector<page_id> pages;
  for (int i = 0; i < 100'000; ++i) pages.push_back(*e.create_page(64));
  graph_edit<double> edit;
  for (int i = 1; i < 1000; ++i) edit.add_edge({pages[static_cast<std::size_t>(i - 1)], pages[static_cast<std::size_t>(i)], edge_kind::data, 0.5});
  REQUIRE(e.edit_graph(edit));
  const char* dir = std::getenv("TMPDIR");
  const std::string path = std::string(dir != nullptr ? dir : "/tmp") + "/tickflow_memory_" + std::to_string(::getpid()) + ".tlog";
  std::remove(path.c_str());
  auto w = tlog_writer::open(path, fsync_policy::never);
  REQUIRE(w);
  for (int s = 0; s < 3; ++s) {
    for (int k = 0; k < 500; ++k) REQUIRE(e.submit(tt::element_delta(pages[static_cast<std::size_t>(k) * 7], epoch{static_cast<std::uint32_t>(s + 1)}, 1 + s * 500 + k, 1.0)));
    (void)e.step();
  }
  REQUIRE(w->append_records(e.log_records()));
  REQUIRE(w->commit());
  const memory_report m = e.memory(&*w);
  same_figures(e.store());
  CHECK(m.pages == 100'000);
  CHECK(m.payload_bytes == 100'000 * 64);
  CHECK(m.slot_bytes == 100'000 * 64);
  CHECK(m.slab_bytes >= m.slot_bytes);
  CHECK(m.table_bytes >= 100'000 * 20);  // 16-byte entry and 4-byte generation per index
  CHECK(m.graph_bytes == e.graph().memory_bytes());
  CHECK(m.graph_bytes >= 999 * (sizeof(std::uint32_t) + sizeof(double)));
  CHECK(m.ingest_bytes >= (std::size_t{1} << 22));  // the engine's own producer lane
  CHECK(m.log_buffer_bytes >= e.log_records().size() + w->buffer_capacity());
  CHECK(m.scratch_bytes > 0);
  CHECK(m.bookkeeping_bytes() == m.table_bytes + m.free_list_bytes + m.graph_bytes + m.ingest_bytes + m.log_buffer_bytes + m.scratch_bytes);
  CHECK(m.bytes_per_page() == Approx(static_cast<double>(m.slab_bytes + m.bookkeeping_bytes()) / 100'000.0));
  // The log's length on disk, as the file system says.
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK(m.log_disk_bytes == static_cast<std::uint64_t>(st.st_size));
  // The resident set holds at least the slabs (every page was zeroed at creation).
  CHECK(m.rss_bytes >= m.slab_bytes);
  CHECK(read_rss_bytes() > 0);
  CHECK(e.memory(nullptr, false).rss_bytes == 0);
  std::remove(path.c_str());
  // A queued edit is counted (scratch) until its step; a large one's room is given back then.
  const std::size_t before = e.memory(nullptr, false).scratch_bytes;
  graph_edit<double> big;
  REQUIRE(pages.size() == 100'000);
  for (std::size_t i = 2000; i + 1 < pages.size(); ++i) big.add_edge({pages[i], pages[i + 1], edge_kind::data, 0.25});
  REQUIRE(e.edit_graph(big));
  const std::size_t queued = e.memory(nullptr, false).scratch_bytes;
  CHECK(queued >= before + big.additions().size() * sizeof(graph_edge<double>));
  graph_edit<double> kept;  // release_room gives back what clear() keeps
  kept.add_edge({pages[0], pages[2], edge_kind::data, 1.0});
  kept.clear();
  CHECK(kept.memory_bytes() >= sizeof(graph_edge<double>));
  kept.release_room();
  CHECK(kept.memory_bytes() == 0);
}


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

// `n` pages of 64 bytes created in an engine and its twin, which must hand out the same ids.
template <class Engine>
std::vector<page_id> twin_pages(Engine& a, Engine& b, int n) {
  std::vector<page_id> pages;
  for (int i = 0; i < n; ++i) {
    pages.push_back(*a.create_page(64));
    REQUIRE(*b.create_page(64) == pages.back());
  }
  return pages;
}

// The engines are twins: same digest, and every page of `a` in `b` with the same bytes and epoch.
template <class Engine>
void same_as_twin(const Engine& a, const Engine& b) {
  REQUIRE(a.digest() == b.digest());
  a.store().for_each_page([&](page_id id, std::span<const std::byte> bytes, epoch e) {
    const auto other = b.store().bytes(id);
    REQUIRE(other);
    REQUIRE(std::memcmp(other->data(), bytes.data(), bytes.size()) == 0);
    REQUIRE(*b.store().epoch_of(id) == e);
  });
}

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
  REQUIRE(kept.cold_pages == counted.cold_pages);
  REQUIRE(kept.cold_bytes == counted.cold_bytes);
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

TEST_CASE("a GC slice stops inside long walks and chunk returns, and the next slices finish them", "[engine][gc]") {
  // 200k pages of 64 bytes (about 196 chunks), the 150k newest (the highest slots) released:
  // nothing to move, a walk down 150k free slots, then about 147 empty chunks to return. Slices
  // that may ask stop() four times each must get through it in pieces, each slice returning at
  // most a few chunks, with the counters right after every slice and every live page unchanged.
  page_store s;
  std::vector<page_id> ids;
  for (int i = 0; i < 200000; ++i) ids.push_back(*s.create(64));
  for (std::size_t i = 50000; i < ids.size(); ++i) REQUIRE(s.release(ids[i]));
  ids.resize(50000);
  const auto digest = s.digest();
  const std::size_t chunk_bytes = 64 * 1024;
  std::size_t slices = 0, freed = 0;
  page_store::compact_result r;
  do {
    r = s.compact(stop_after{4});
    ++slices;
    freed += r.freed_bytes;
    CHECK(r.moved == 0);
    CHECK(r.freed_bytes <= 4 * 8 * chunk_bytes);  // stop() asked every 8 chunks
    same_figures(s);
    REQUIRE(s.digest() == digest);
    REQUIRE(slices < 1000);
  } while (!r.done);
  CHECK(slices > 3);
  const auto m = s.memory();
  CHECK(m.slab_bytes == (50000 + 1023) / 1024 * chunk_bytes);
  CHECK(freed == (200000 + 1023) / 1024 * chunk_bytes - m.slab_bytes);
  // Holes fill from the bottom: a page released low is the next create's slot.
  REQUIRE(s.release(ids[10]));
  const page_id again = *s.create(64);
  CHECK(s.memory().slab_bytes == m.slab_bytes);
  CHECK(s.bytes(again)->size() == 64);
}

TEST_CASE("reference_engine's GC slice ends at gc_max_pause even when its deadline is later", "[engine][gc]") {
  using engine_t = reference_engine<double, semiring_kernel<real_semiring<double>>, inline_executor>;
  const auto far = std::chrono::steady_clock::now() + std::chrono::hours(1);
  const auto fragmented = [](engine_t& e) {
    std::vector<page_id> ids;
    for (int i = 0; i < 20000; ++i) ids.push_back(*e.create_page(64));
    for (std::size_t i = 0; i < ids.size(); i += 2) REQUIRE(e.release_page(ids[i]));
    REQUIRE(e.gc_wanted());
  };
  engine_options capped;
  capped.gc_max_pause = std::chrono::nanoseconds(1);
  engine_t a(capped);
  fragmented(a);
  const auto r = a.gc_slice(far);
  CHECK(r.moved <= 32);  // the first stop() after the cap: before the first move or after 32
  CHECK_FALSE(r.done);
  CHECK(a.gc_wanted());  // unfinished (or not begun): the next tick asks again
  engine_options uncapped;
  uncapped.gc_max_pause = std::chrono::nanoseconds(0);
  engine_t b(uncapped);
  fragmented(b);
  CHECK(b.gc_slice(far).done);
  CHECK_FALSE(b.gc_wanted());
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
      same_as_twin(a, b);
    }
    CHECK(slices > 0);
    CHECK(moved > 0);
    CHECK(a.counters().gc_pages_moved == moved);
    CHECK(a.memory(nullptr, false).slab_bytes <= b.memory(nullptr, false).slab_bytes);
  }
}

TEST_CASE("GC slices between steps move linked pages without a plan rebuild, and equal a twin that never collects", "[engine][gc]") {
  // Linked and isolated pages alternate in the slabs; releasing the isolated ones leaves a hole
  // below every other linked page, so compaction moves linked pages (parents and children) that
  // the plan points to. The steps after each slice propagate through the moved pages.
  using engine_t = reference_engine<double, semiring_kernel<real_semiring<double>>, thread_pool>;
  for (const std::size_t workers : {1u, 3u}) {
    INFO("workers " << workers);
    engine_options o;
    o.gc_fragmentation = 0.01;
    engine_t a(o, workers), b({}, workers);
    std::vector<page_id> linked, isolated;
    for (int i = 0; i < 6000; ++i) {
      const page_id x = *a.create_page(64);
      REQUIRE(*b.create_page(64) == x);
      (i % 2 == 0 ? linked : isolated).push_back(x);
    }
    std::mt19937_64 rng(91);
    graph_edit<double> edit;
    std::set<std::pair<std::size_t, std::size_t>> have;
    for (std::size_t c = 1; c < linked.size(); ++c)
      for (int k = 0; k < 2; ++k) {
        const std::size_t p = rng() % c;
        if (have.insert({p, c}).second) edit.add_edge({linked[p], linked[c], edge_kind::data, 0.25 + 0.5 * static_cast<double>(k)});
      }
    REQUIRE(a.edit_graph(edit));
    REQUIRE(b.edit_graph(edit));
    for (const page_id x : isolated) {
      REQUIRE(a.release_page(x));
      REQUIRE(b.release_page(x));
    }
    std::uint64_t next_id = 1;
    const auto feed = [&] {
      const epoch at{a.current_epoch().value() + 1};
      for (int k = 0; k < 40; ++k) {
        const page_id p = linked[rng() % 64];  // among the first pages, most are sources
        const delta d = tt::element_delta(p, at, next_id++, static_cast<double>(rng() % 1000), static_cast<std::uint32_t>(rng() % 8));
        REQUIRE(a.submit(d));
        REQUIRE(b.submit(d));
      }
    };
    for (int k = 0; k < 2; ++k) {  // the first step plans the pages; the edit it commits is large: replanned by the second
      feed();
      (void)a.step();
      (void)b.step();
    }
    REQUIRE(a.gc_wanted());
    const std::uint64_t rebuilds = a.counters().plan_rebuilds;
    std::size_t moved = 0;
    bool done = false;
    for (int round = 0; round < 60; ++round) {
      if (a.gc_wanted()) {
        const auto r = a.gc_slice(std::chrono::steady_clock::now() + std::chrono::microseconds(20 + rng() % 100));
        moved += r.moved;
        done = done || r.done;
      }
      feed();
      const auto ra = a.step();
      const auto rb = b.step();
      REQUIRE(ra.propagation.recomputed == rb.propagation.recomputed);
      same_as_twin(a, b);
    }
    CHECK(moved > 1000);
    CHECK(done);  // compaction finished
    CHECK(a.counters().plan_rebuilds == rebuilds);  // the slices moved pages; the plan followed
  }
}

TEST_CASE("pages created, linked, unlinked and released between steps take no plan rebuild, and equal a twin that rebuilds", "[engine][gc]") {
  // Churn on a planned engine: every round creates pages and links them (as children of older
  // pages, or as parents of them, which moves them up the graph's order), unlinks a few pages
  // and releases them after the step. The engine takes the pages in and out of its plan; its
  // twin is restored from its own snapshot every round, which rebuilds its plan from scratch.
  using engine_t = reference_engine<double, semiring_kernel<real_semiring<double>>, thread_pool>;
  for (const std::size_t workers : {1u, 3u}) {
    INFO("workers " << workers);
    engine_t a({}, workers), b({}, workers);
    std::vector<page_id> live;
    for (int i = 0; i < 3000; ++i) {
      live.push_back(*a.create_page(64));
      REQUIRE(*b.create_page(64) == live.back());
    }
    std::mt19937_64 rng(97 + workers);
    {
      graph_edit<double> edit;
      std::set<std::pair<std::size_t, std::size_t>> have;
      for (std::size_t c = 1; c < live.size(); ++c)
        for (int k = 0; k < 2; ++k)
          if (const std::size_t p = rng() % c; have.insert({p, c}).second) edit.add_edge({live[p], live[c], edge_kind::data, 0.5});
      REQUIRE(a.edit_graph(edit));
      REQUIRE(b.edit_graph(edit));
    }
    std::uint64_t next_id = 1;
    const auto step_both = [&] {
      const epoch at{a.current_epoch().value() + 1};
      for (int k = 0; k < 60; ++k) {
        const page_id p = live[rng() % live.size()];
        if (!*a.graph().is_source(p)) continue;
        const delta d = tt::element_delta(p, at, next_id++, static_cast<double>(rng() % 1000), static_cast<std::uint32_t>(rng() % 8));
        REQUIRE(a.submit(d));
        REQUIRE(b.submit(d));
      }
      const auto ra = a.step();
      const auto rb = b.step();
      REQUIRE(ra.graph.ok());
      REQUIRE(rb.graph.ok());
      REQUIRE(ra.propagation.recomputed == rb.propagation.recomputed);
      same_as_twin(a, b);
    };
    step_both();  // plans the pages; the large edit it commits is planned by the next
    step_both();
    const std::uint64_t rebuilds = a.counters().plan_rebuilds;
    std::size_t created = 0, released = 0;
    for (int round = 0; round < 40; ++round) {
      INFO("round " << round);
      std::vector<page_id> fresh;
      for (int k = 0; k < 30; ++k) {
        fresh.push_back(*a.create_page(64));
        REQUIRE(*b.create_page(64) == fresh.back());
      }
      std::vector<page_id> victims;
      for (int k = 0; k < 6; ++k) {
        const page_id v = live[rng() % live.size()];
        if (std::find(victims.begin(), victims.end(), v) == victims.end()) victims.push_back(v);
      }
      const auto victim = [&](page_id p) { return std::find(victims.begin(), victims.end(), p) != victims.end(); };
      graph_edit<double> edit;
      std::set<std::pair<page_id, page_id>> gone;
      for (const page_id v : victims) {
        a.graph().for_each_parent(v, [&](page_id p) {
          if (gone.insert({p, v}).second) edit.remove_edge(p, v);
        });
        a.graph().for_each_child(v, [&](const auto& e) {
          if (gone.insert({v, e.child}).second) edit.remove_edge(v, e.child);
        });
      }
      for (const page_id n : fresh) {
        const bool as_child = rng() % 4 != 0;  // never both: no cycle
        std::set<page_id> linked;
        for (int k = 0; k < 2; ++k) {
          const page_id o = live[rng() % live.size()];
          if (victim(o) || !linked.insert(o).second) continue;
          edit.add_edge(as_child ? graph_edge<double>{o, n, edge_kind::data, 0.25} : graph_edge<double>{n, o, edge_kind::data, 0.75});
        }
      }
      REQUIRE(a.edit_graph(edit));
      REQUIRE(b.edit_graph(edit));
      live.insert(live.end(), fresh.begin(), fresh.end());
      created += fresh.size();
      step_both();  // propagates (the plan takes in the previous round's churn), then commits the edit
      for (const page_id v : victims) {
        REQUIRE(a.release_page(v));
        REQUIRE(b.release_page(v));
        live.erase(std::find(live.begin(), live.end(), v));
      }
      released += victims.size();
      REQUIRE(b.restore(b.snapshot()));  // the twin plans from scratch at its next step
    }
    step_both();  // the last round's churn, taken in
    CHECK(created == 1200);
    CHECK(released > 200);
    CHECK(a.counters().plan_rebuilds == rebuilds);  // pages came and went; the plan followed
    CHECK(b.counters().plan_rebuilds > rebuilds + 30);
  }
}

TEST_CASE("the tick orchestrator gives the engine's collector the tick's time, and the results do not change", "[engine][gc][tick]") {
  using engine_t = reference_engine<double, semiring_kernel<real_semiring<double>>, thread_pool>;
  engine_options o;
  o.gc_fragmentation = 0.01;
  engine_t a(o, 2), b({}, 2);
  auto ticks = tick_orchestrator<engine_t, engine_collector<engine_t>>::make(a, {}, engine_collector<engine_t>{&a});
  REQUIRE(ticks);
  std::vector<page_id> pages = twin_pages(a, b, 4000);
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

TEST_CASE("GC drops the log segments the newest checkpoint covers, in the tick's time, and no record after it", "[engine][gc][tick][segments]") {
  using engine_t = reference_engine<double, semiring_kernel<real_semiring<double>>, thread_pool>;
  const char* tmp = std::getenv("TMPDIR");
  const std::string dir = std::string(tmp != nullptr ? tmp : "/tmp") + "/tickflow_gc_segments_" + std::to_string(::getpid());
  const auto clear = [&] {
    if (auto segs = detail::list_segments(dir))
      for (const auto& s : *segs) ::unlink(s.path.c_str());
    ::unlink((dir + "/checkpoint").c_str());
    ::rmdir(dir.c_str());
  };
  clear();
  REQUIRE(::mkdir(dir.c_str(), 0755) == 0);
  {
    engine_t e({}, 2);
    auto log = segmented_tlog::open(dir, fsync_policy::never, 32 << 10);
    REQUIRE(log);
    tick_options opt;
    opt.segmented_log = &*log;
    opt.log_durability = durability::every_tick;
    auto ticks = tick_orchestrator<engine_t, engine_collector<engine_t>>::make(e, opt, engine_collector<engine_t>{&e, &*log});
    REQUIRE(ticks);
    {
      auto other = tlog_writer::open(dir + "/other.tlog", fsync_policy::never);
      REQUIRE(other);
      tick_options both = opt;
      both.log = &*other;
      CHECK(tick_orchestrator<engine_t>::make(e, both).error().code == errc::invalid_argument);
    }
    ::unlink((dir + "/other.tlog").c_str());
    std::vector<page_id> pages;
    for (int i = 0; i < 500; ++i) pages.push_back(*e.create_page(64));
    std::mt19937_64 rng(9);
    std::uint32_t checkpoint_at = 0;
    for (std::uint32_t t = 1; t <= 60; ++t) {
      for (int k = 0; k < 200; ++k)
        REQUIRE(e.submit(tt::element_delta(pages[rng() % pages.size()], epoch{t}, std::uint64_t{t} * 1000 + static_cast<std::uint64_t>(k), double(k))));
      REQUIRE(ticks->tick());
      if (t == 30) {
        // A checkpoint of the state after this tick: the segments before it become droppable.
        checkpoint_at = e.current_epoch().value();
        REQUIRE(save_checkpoint(e.store(), e.current_epoch(), dir + "/checkpoint"));
        CHECK(ticks->gc().segments_dropped == 0);
        ticks->gc().note_checkpoint(e.current_epoch());
      }
      // The report's log bytes are the files' bytes.
      std::uint64_t on_disk = 0;
      for (const auto& s : *detail::list_segments(dir)) on_disk += s.bytes;
      REQUIRE(e.memory(*log, false).log_disk_bytes == on_disk);
    }
    CHECK(ticks->gc().segments_dropped > 3);
    CHECK(ticks->gc().last_error == errc::ok);
    CHECK_FALSE(log->droppable(epoch{checkpoint_at}));
    // Everything after the checkpoint is still in the log: checkpoint + segments = the store now.
    auto left = read_tlog_segments(dir);
    REQUIRE(left);
    REQUIRE_FALSE(left->records.empty());
    CHECK(left->records.front().at.value() <= checkpoint_at + 1);
    std::size_t after = 0;
    for (const auto& d : left->records) after += d.at.value() > checkpoint_at ? 1 : 0;
    CHECK(after == 30 * 200);
    auto cp = load_checkpoint(dir + "/checkpoint");
    REQUIRE(cp);
    auto replayed = replay(std::move(*cp), *left);
    REQUIRE(replayed);
    CHECK(replayed->store.digest() == e.store().digest());
  }
  clear();
}

TEST_CASE("cold tier model test: pages round-trip bit-identical through all operations", "[engine][gc][cold]") {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    page_store s;
    std::map<page_id, model_page> model;
    std::vector<page_id> live;
    std::mt19937_64 rng(seed * 77);
    std::uint32_t now = 1;
    std::size_t frozen = 0, thawed_by_write = 0, zero_frozen = 0;
    for (int op = 0; op < 4000; ++op) {
      const unsigned what = static_cast<unsigned>(rng() % 16);
      if (what < 3 || live.empty()) {  // create: odd sizes too (the tier packs without padding)
        const std::size_t bytes = 8 * (1 + rng() % 40);
        const page_id id = *s.create(bytes);
        model[id] = model_page{std::vector<std::byte>(bytes, std::byte{0}), epoch{0}};
        live.push_back(id);
      } else if (what < 5) {  // release, cold or hot
        const std::size_t k = rng() % live.size();
        REQUIRE(s.release(live[k]));
        model.erase(live[k]);
        live[k] = live.back();
        live.pop_back();
      } else if (what < 9) {  // a delta: thaws a cold page first
        const page_id id = live[rng() % live.size()];
        auto& p = model[id];
        const bool was_cold = s.is_cold(id);
        const auto v = static_cast<double>(rng() % 1000);
        const std::uint32_t element = static_cast<std::uint32_t>(rng() % (p.bytes.size() / 8));
        REQUIRE(s.apply(tt::element_delta(id, epoch{++now}, static_cast<std::uint64_t>(op), v, element)));
        std::memcpy(p.bytes.data() + 8 * element, &v, 8);
        p.at = epoch{now};
        CHECK_FALSE(s.is_cold(id));
        thawed_by_write += was_cold ? 1 : 0;
      } else if (what < 11) {  // freeze one page
        const page_id id = live[rng() % live.size()];
        const bool zero = std::all_of(model[id].bytes.begin(), model[id].bytes.end(), [](std::byte b) { return b == std::byte{0}; });
        frozen += s.is_cold(id) ? 0 : 1;
        zero_frozen += !s.is_cold(id) && zero ? 1 : 0;
        REQUIRE(s.freeze(id));
        CHECK(s.is_cold(id));
      } else if (what < 12) {  // thaw one page
        REQUIRE(s.thaw(live[rng() % live.size()]));
      } else if (what < 14) {  // a freeze slice: the pages not written for a while
        const auto r = s.freeze_cold(epoch{now > 50 ? now - 50 : 0}, stop_after{static_cast<int>(rng() % 3)});
        frozen += r.frozen;
      } else {  // a compaction slice
        const auto digest = s.digest();
        (void)s.compact(stop_after{static_cast<int>(rng() % 4)});
        REQUIRE(s.digest() == digest);
      }
      same_as_model(s, model);
    }
    CHECK(frozen > 200);
    CHECK(zero_frozen > 10);
    CHECK(thawed_by_write > 20);
    // Everything back: the same pages, and a digest equal to a store that never froze.
    page_store twin;
    REQUIRE(twin.restore(s.snapshot()));
    s.thaw_all();
    CHECK(s.cold_pages() == 0);
    same_as_model(s, model);
    CHECK(s.digest() == twin.digest());
  }
}

TEST_CASE("the cold tier stores zero pages as nothing and others without padding", "[engine][gc][cold]") {
  page_store s;
  std::vector<page_id> zero, data;
  for (int i = 0; i < 100; ++i) zero.push_back(*s.create(100));
  for (int i = 0; i < 100; ++i) {
    data.push_back(*s.create(100));
    REQUIRE(s.apply(tt::element_delta(data.back(), epoch{1}, static_cast<std::uint64_t>(i), 1.0 + i, 3)));
  }
  const auto before = s.memory();
  const auto r = s.freeze_cold(epoch{2}, [] { return false; });
  CHECK(r.frozen == 200);
  CHECK(r.done);
  const auto after = s.memory();
  CHECK(after.cold_pages == 200);
  CHECK(after.cold_bytes == 100 * 100);  // 100 bytes each, not 128; zero pages: none
  CHECK(after.slot_bytes == before.slot_bytes - 200 * 128);
  CHECK(after.pages == before.pages);
  CHECK(after.payload_bytes == before.payload_bytes);
  // Reads in place, views included.
  for (int i = 0; i < 100; ++i) {
    CHECK(s.view<double>(data[static_cast<std::size_t>(i)]).error().code == errc::invalid_argument);  // 100 bytes: not doubles
    const auto b = *s.bytes(data[static_cast<std::size_t>(i)]);
    double v = 0;
    std::memcpy(&v, b.data() + 24, 8);
    CHECK(v == 1.0 + i);
    const auto z = *s.bytes(zero[static_cast<std::size_t>(i)]);
    CHECK(std::all_of(z.begin(), z.end(), [](std::byte x) { return x == std::byte{0}; }));
    CHECK(s.is_cold(data[static_cast<std::size_t>(i)]));
  }
  CHECK(s.freeze(page_id{12345}).error().code == errc::not_found);
  CHECK(s.thaw(page_id{12345}).error().code == errc::not_found);
}

TEST_CASE("reference_engine moves pages without edges to the cold tier and back, equal to a twin that never does", "[engine][gc][cold][tick]") {
  using engine_t = reference_engine<double, semiring_kernel<real_semiring<double>>, thread_pool>;
  engine_options o;
  o.cold_after = 4;
  engine_t a(o, 2), b({}, 2);
  auto ticks = tick_orchestrator<engine_t, engine_collector<engine_t>>::make(a, {}, engine_collector<engine_t>{&a});
  REQUIRE(ticks);
  std::vector<page_id> pages = twin_pages(a, b, 3000);
  // A chain over the first 200 pages (they stay hot); the rest have no edges.
  graph_edit<double> chain;
  for (std::size_t i = 1; i < 200; ++i) chain.add_edge({pages[i - 1], pages[i], edge_kind::data, 0.5});
  REQUIRE(a.edit_graph(chain));
  REQUIRE(b.edit_graph(chain));
  std::mt19937_64 rng(11);
  std::size_t writes_to_cold = 0;
  for (std::uint32_t t = 1; t <= 60; ++t) {
    // Deltas: the chain's head, and a few pages without edges (some cold by now).
    std::vector<delta> ds;
    ds.push_back(tt::element_delta(pages[0], epoch{t}, std::uint64_t{t} * 100, double(t)));
    for (int k = 0; k < 20; ++k) {
      const page_id p = pages[200 + rng() % 2800];
      writes_to_cold += a.store().is_cold(p) ? 1 : 0;
      ds.push_back(tt::element_delta(p, epoch{t}, std::uint64_t{t} * 100 + 1 + static_cast<std::uint64_t>(k), double(k), static_cast<std::uint32_t>(k % 8)));
    }
    if (t % 10 == 0) {
      // Link a page without edges (cold, likely) to the chain: the plan takes it back.
      graph_edit<double> link;
      link.add_edge({pages[199], pages[200 + t], edge_kind::data, 2.0});
      REQUIRE(a.edit_graph(link));
      REQUIRE(b.edit_graph(link));
    }
    for (const auto& d : ds) {
      REQUIRE(a.submit(d));
      REQUIRE(b.submit(d));
    }
    REQUIRE(ticks->tick());
    (void)b.step();
    REQUIRE(a.digest() == b.digest());  // every page's bytes and epoch, the graph, the epoch
  }
  const auto m = a.memory(nullptr, false);
  CHECK(m.cold_pages > 2000);
  CHECK(a.counters().pages_frozen >= m.cold_pages);
  CHECK(writes_to_cold > 50);
  CHECK(m.cold_bytes < m.cold_pages * 64);  // zero pages take nothing
  for (std::size_t i = 0; i < 200; ++i) CHECK_FALSE(a.store().is_cold(pages[i]));
  // Linked pages came back when the next propagation took their edge in (the last link waits
  // for the next tick).
  for (std::uint32_t t = 10; t < 60; t += 10) CHECK_FALSE(a.store().is_cold(pages[200 + t]));
  CHECK(m.slot_bytes < b.memory(nullptr, false).slot_bytes);
  same_figures(a.store());
}

// The engine-level suite (tests/support/engine_suites.hpp), over both engines.
TEMPLATE_TEST_CASE("07 memory: over any engine, churn never loses a live byte or epoch, with GC slices where the engine collects", "[suite07][any_engine]", tt::any_reference, tt::any_plain) {
  tt::suite07_memory_over_engine<TestType>();
}
