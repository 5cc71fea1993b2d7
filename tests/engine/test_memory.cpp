// The memory monitor: every figure the counters give equals a fresh count (over the pages, the
// table, the slabs, the graph's nodes, the file), through random creates, releases, edge edits,
// copies and renumberings; the engine's report adds up; the resident set is read for real.
#include <tickflow/engine/engine.hpp>
#include <tickflow/engine/memory.hpp>
#include <tickflow/semiring/builtin.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "support/catch.hpp"
#include "support/deltas.hpp"

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
  s.for_each_page([&](page_id, std::span<const std::byte> b, epoch) {
    ++pages;
    payload += b.size();
    slots += (b.size() + 63) / 64 * 64;
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
}
