// A game AI's influence map: 10k agents on a 1024x1024 grid, moving every frame, submitting their
// presence from several threads; the engine spreads each agent's threat over the cells around it
// in the max-plus semiring, ticked by the orchestrator at 60 Hz; provenance answers "why is this
// cell dangerous" with the chain down to the agent whose move put the threat there.
//
//   example_influence_map [--short] [--grid G] [--agents A] [--ticks N] [--threads T] [--workers W] [--seed S]
//     --grid G     cells per side, a multiple of 64 (default 1024)
//     --agents A   agents (default 10000)
//     --ticks N    frames to run at 60 Hz (default 600: 10 s)
//     --threads T  agent threads, each with its own producer (default 4)
//     --workers W  the engine's worker threads, the caller included (default 2)
//     --seed S     the agents' seed (default 11)
//     --short      a 128x128 grid, 500 agents, 30 frames, 2 threads (ctest's mode)
//
// The map. A page holds 8 cells of one row, interleaved: page (y, s) holds the cells
// x = s + i * G/8 for i = 0..7, so that element i of page (y, s+1) is the right-hand neighbour of
// element i of page (y, s), and the max-plus fold, which combines element i of the parents into
// element i of the child, spreads influence from each cell to its neighbour. The columns
// x = k * G/8 are ridges: influence does not cross them sideways (the pages on either side are not
// neighbours). Three layers of G*G/8 pages each:
//   presence  (sources) an agent's strength in the cell it stands on, -inf elsewhere;
//   spread    (derived) max over the 3x3 pages around it of weight + presence;
//   threat    (derived) the same over spread: a radius of two cells.
// Weights decay with distance: 3 for the page itself, 2 for an orthogonal neighbour, 1.5 for a
// diagonal one, so threat(c) = max over agents a within two steps of strength(a) + 6 - d(a, c),
// with d the cost of the cheapest two-step path (1 per orthogonal step, 1.5 per diagonal one).
//
// Every frame, each agent moves one cell (or stays) and submits two deltas through its thread's
// producer: -inf where it was, its strength where it is. The threads work in lock step with the
// frames (a barrier), so every frame's deltas are in that frame's cut, and the canonical order of
// the cut (producer id, then submit order; agents are split among threads in order) is the
// agents' order whatever the number of threads: the result, and its digest, depend on neither
// the thread count nor the worker count.
//
// The check. A plain two-pass dilation of the final presence (no tickflow) must equal the threat
// layer bit for bit; the witness chain of the most dangerous cell must end at the delta of the
// agent standing within two cells of it; then the run is replayed from its checkpoints on an
// engine with another worker count, and the invariants are checked.
#include "example_support.hpp"

#include <tickflow/engine/engine.hpp>
#include <tickflow/engine/tick.hpp>
#include <tickflow/semiring/builtin.hpp>
#include <tickflow/validate/provenance.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <thread>
#include <vector>

using namespace tickflow;

namespace {

using semiring_t = max_plus_semiring<double>;
using engine_t = reference_engine<double, semiring_kernel<semiring_t>, thread_pool>;
constexpr double none = -std::numeric_limits<double>::infinity();
constexpr std::uint32_t lanes = 8;  // cells per page

struct grid_map {
  std::uint32_t side = 0, strips = 0;  // cells per side; pages per row (side / 8)
  [[nodiscard]] std::uint32_t page_of(std::uint32_t x, std::uint32_t y) const { return y * strips + x % strips; }
  [[nodiscard]] static std::uint32_t lane_of(std::uint32_t x, std::uint32_t strips) { return x / strips; }
  [[nodiscard]] std::uint32_t cell_x(std::uint32_t page, std::uint32_t lane) const { return page % strips + lane * strips; }
  [[nodiscard]] std::uint32_t cell_y(std::uint32_t page) const { return page / strips; }
  [[nodiscard]] std::uint32_t pages() const { return side * strips; }
};

// The decay weight from the page at (ds, dy) to the page at (0, 0).
constexpr double weight_of(int ds, int dy) { return ds == 0 && dy == 0 ? 3.0 : (ds == 0 || dy == 0 ? 2.0 : 1.5); }

struct agent {
  std::uint32_t x = 0, y = 0;
  double strength = 1;
};

int usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--short] [--grid G] [--agents A] [--ticks N] [--threads T] [--workers W] [--seed S]\n", argv0);
  return 2;
}

// Calls f(from, to, weight) for every page `to` of a layer and each page `from` of the 3x3 around
// it (itself included), in the order of `to`, by page index within the layer.
template <class F>
void for_each_link(const grid_map& m, F&& f) {
  for (std::uint32_t y = 0; y < m.side; ++y)
    for (std::uint32_t s = 0; s < m.strips; ++s)
      for (int dy = -1; dy <= 1; ++dy)
        for (int ds = -1; ds <= 1; ++ds) {
          const auto py = static_cast<std::int64_t>(y) + dy, ps = static_cast<std::int64_t>(s) + ds;
          if (py < 0 || py >= m.side || ps < 0 || ps >= m.strips) continue;
          f(static_cast<std::size_t>(py) * m.strips + static_cast<std::size_t>(ps), static_cast<std::size_t>(y) * m.strips + s, weight_of(ds, dy));
        }
}

// One layer's dilation, as the engine's fold computes it: out = max over the 3x3 pages of w + v.
std::vector<double> dilate(const grid_map& m, const std::vector<double>& in) {
  std::vector<double> out(in.size(), none);
  for_each_link(m, [&](std::size_t from, std::size_t to, double w) {
    for (std::uint32_t i = 0; i < lanes; ++i) out[to * lanes + i] = std::max(out[to * lanes + i], w + in[from * lanes + i]);
  });
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  unsigned long side = 1024, agents_n = 10'000, ticks_n = 600, threads_n = 4, workers = 2, seed = 11;
  bool short_mode = examples::wants_short(argc, argv);
  if (short_mode) side = 128, agents_n = 500, ticks_n = 30, threads_n = 2;
  if (!examples::parse_options(argc, argv,
                               {{"--grid", &side, 64, 8192},
                                {"--agents", &agents_n, 1, 1'000'000},
                                {"--ticks", &ticks_n, 1, 1'000'000},
                                {"--threads", &threads_n, 1, 64},
                                {"--workers", &workers, 1, 64},
                                {"--seed", &seed, 0, ~0UL}},
                               &short_mode) ||
      side % 64 != 0 || threads_n > agents_n)
    return usage(argv[0]);

  const grid_map m{static_cast<std::uint32_t>(side), static_cast<std::uint32_t>(side / lanes)};
  engine_t e({}, static_cast<std::size_t>(workers));
  examples::self_check<engine_t> check(e);

  // The three layers and the 3x3 edges between them.
  const auto t_build = std::chrono::steady_clock::now();
  std::vector<page_id> presence(m.pages()), spread(m.pages()), threat(m.pages()), all_pages;
  for (auto* layer : {&presence, &spread, &threat})
    for (auto& p : *layer) {
      p = *e.create_page(lanes * sizeof(double));
      all_pages.push_back(p);
    }
  graph_edit<double> edges;
  for (const auto& [from, to] : {std::pair{&presence, &spread}, std::pair{&spread, &threat}})
    for_each_link(m, [&, from = from, to = to](std::size_t a, std::size_t b, double w) { edges.add_edge({(*from)[a], (*to)[b], edge_kind::data, w}); });
  const std::size_t edge_count = edges.additions().size();
  if (auto ok = e.edit_graph(edges); !ok) return std::fprintf(stderr, "graph: %s\n", ok.error().message), 1;
  (void)e.step();

  // Nobody anywhere: every presence cell -inf, in steps of at most 8192 pages (the engine's lane).
  std::uint64_t next_id = 1;
  std::array<double, lanes> blank;
  blank.fill(none);
  for (std::size_t p = 0; p < presence.size();) {
    const epoch at{e.current_epoch().value() + 1};
    for (std::size_t k = 0; k < 8192 && p < presence.size(); ++k, ++p) {
      const delta d = examples::element_delta(presence[p], at, next_id++, 0, blank);  // the whole page
      if (auto ok = e.submit(d); !ok) return std::fprintf(stderr, "submit: %s\n", ok.error().message), 1;
    }
    if (e.step().rejected.size() != 0) return 1;
  }
  if (!check.checkpoint(e)) return 1;
  const double build_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_build).count();
  std::printf("map: %lux%lu cells in %u pages of 8 cells x 3 layers, %zu edges; %lu agents on %lu threads, %lu workers; built in %.0f ms\n",
              side, side, m.pages(), edge_count, agents_n, threads_n, workers, build_ms);

  // The agents, and the threads that move them in lock step with the frames.
  std::vector<agent> agents(agents_n);
  {
    std::mt19937_64 rng(seed);
    for (auto& a : agents) {
      a.x = static_cast<std::uint32_t>(rng() % side);
      a.y = static_cast<std::uint32_t>(rng() % side);
      a.strength = static_cast<double>(1 + rng() % 10);
    }
  }
  const std::uint64_t first_agent_id = next_id;  // frame f's ids: first_agent_id + 2 * (f * agents + agent) + {0: leave, 1: arrive}
  const std::uint32_t first_epoch = e.current_epoch().value() + 1;
  std::atomic<std::uint64_t> frame{0};
  std::atomic<bool> stop{false}, failed{false};
  std::barrier sync(static_cast<std::ptrdiff_t>(threads_n + 1));
  std::vector<std::thread> threads;
  for (unsigned long k = 0; k < threads_n; ++k)
    threads.emplace_back([&, k] {
      auto producer = e.make_producer(static_cast<std::uint32_t>(k + 1));
      if (!producer) failed = true;
      const std::size_t lo = agents_n * k / threads_n, hi = agents_n * (k + 1) / threads_n;
      std::mt19937_64 rng;  // reseeded per agent and frame: the moves depend on neither the thread nor the timing
      for (;;) {
        sync.arrive_and_wait();  // a frame opens (or the run ends)
        if (stop.load()) return;
        const std::uint64_t f = frame.load();
        const epoch at{static_cast<std::uint32_t>(first_epoch + f)};
        for (std::size_t a = lo; a < hi && producer; ++a) {
          agent& g = agents[a];
          rng.seed(seed ^ (f * 0x9E3779B97F4A7C15ULL) ^ (a * 0xC2B2AE3D27D4EB4FULL));
          const std::uint64_t id = first_agent_id + 2 * (f * agents_n + a);
          const auto put = [&](std::uint64_t delta_no, double v) {
            const delta d = examples::element_delta(presence[m.page_of(g.x, g.y)], at, delta_no, grid_map::lane_of(g.x, m.strips), v);
            if (!producer->submit(d, park_wait{})) failed = true;
          };
          put(id, none);
          const int dx = static_cast<int>(rng() % 3) - 1, dy = static_cast<int>(rng() % 3) - 1;
          g.x = static_cast<std::uint32_t>(std::clamp<std::int64_t>(g.x + dx, 0, static_cast<std::int64_t>(side) - 1));
          g.y = static_cast<std::uint32_t>(std::clamp<std::int64_t>(g.y + dy, 0, static_cast<std::int64_t>(side) - 1));
          put(id + 1, g.strength);
        }
        sync.arrive_and_wait();  // this thread's frame is submitted
      }
    });

  tick_options options;
  options.mode = tick_mode::fixed_rate;  // 60 Hz
  auto ticks = tick_orchestrator<engine_t>::make(e, options);
  if (!ticks) return 1;
  std::size_t rejected = 0;
  for (std::uint64_t f = 0; f < ticks_n && !failed; ++f) {
    frame = f;
    sync.arrive_and_wait();  // open the frame
    sync.arrive_and_wait();  // every agent moved
    if (!ticks->run(1)) failed = true;
    rejected += ticks->last().rejected;
  }
  stop = true;
  sync.arrive_and_wait();
  for (auto& t : threads) t.join();
  if (failed) return std::fprintf(stderr, "a submit or a tick failed\n"), 1;

  const auto& total = ticks->total_histogram();
  std::printf("%llu frames at 60 Hz: tick p50 %.2f ms, p99 %.2f ms, max %.2f ms; missed frames %llu; deltas rejected %zu\n",
              static_cast<unsigned long long>(ticks->ticks()), static_cast<double>(total.p50()) / 1e6, static_cast<double>(total.p99()) / 1e6,
              static_cast<double>(total.max()) / 1e6, static_cast<unsigned long long>(ticks->missed_frames()), rejected);
  for (std::size_t p = 0; p < 3; ++p) {
    const auto& h = ticks->histogram(static_cast<tick_phase>(p));
    std::printf("  %-9s p50 %.3f ms, p99 %.3f ms\n", name_of(static_cast<tick_phase>(p)), static_cast<double>(h.p50()) / 1e6,
                static_cast<double>(h.p99()) / 1e6);
  }

  // The oracle: the final presence, dilated twice by plain loops.
  const auto read_layer = [&](const std::vector<page_id>& layer) {
    std::vector<double> v(layer.size() * lanes);
    for (std::size_t p = 0; p < layer.size(); ++p) std::memcpy(v.data() + p * lanes, e.page_bytes(layer[p])->data(), lanes * sizeof(double));
    return v;
  };
  const auto want = dilate(m, dilate(m, read_layer(presence)));
  const auto got = read_layer(threat);
  const bool equal = std::memcmp(want.data(), got.data(), got.size() * sizeof(double)) == 0;
  std::printf("threat layer equal to a plain dilation of the presence: %s\n", equal ? "yes, bit for bit" : "NO");

  // Why is the most dangerous cell dangerous?
  const std::size_t hot = static_cast<std::size_t>(std::max_element(got.begin(), got.end()) - got.begin());
  const auto hot_page = static_cast<std::uint32_t>(hot / lanes), hot_lane = static_cast<std::uint32_t>(hot % lanes);
  provenance_tracker<engine_t, semiring_t> prov(e);
  const auto chain = prov.resolve(threat[hot_page], hot_lane);
  if (!chain) return std::fprintf(stderr, "provenance: %s\n", chain.error().message), 1;
  const auto& c = **chain;
  std::printf("provenance: cell (%u, %u) has threat %g:", m.cell_x(hot_page, hot_lane), m.cell_y(hot_page), got[hot]);
  for (const auto& step : c.steps) {
    const auto index = static_cast<std::uint32_t>(std::find(all_pages.begin(), all_pages.end(), step.page) - all_pages.begin());
    static constexpr const char* layer_names[] = {"presence", "spread", "threat"};
    std::printf(" %s(%u,%u)", layer_names[index / m.pages()], m.cell_x(index % m.pages(), hot_lane), m.cell_y(index % m.pages()));
  }
  bool explained = false;
  if (c.reached_source && c.writer) {
    const std::uint64_t n = c.writer->id.value() - first_agent_id;
    const std::uint64_t who = (n / 2) % agents_n, when = n / 2 / agents_n;
    const agent& a = agents[who];
    const auto source = static_cast<std::uint32_t>(std::find(all_pages.begin(), all_pages.end(), c.steps.back().page) - all_pages.begin());
    explained = n % 2 == 1 && a.x == m.cell_x(source, hot_lane) && a.y == m.cell_y(source) && a.strength + 6 >= got[hot];
    std::printf(" <- delta %llu: agent %llu (strength %g) moved to (%u, %u) in frame %llu%s\n",
                static_cast<unsigned long long>(c.writer->id.value()), static_cast<unsigned long long>(who), a.strength, a.x, a.y,
                static_cast<unsigned long long>(when), explained ? "" : "  <- NOT WHERE THE AGENT IS");
  } else {
    std::printf(" (no source delta found)\n");
  }
  std::printf("digest %016llx\n", static_cast<unsigned long long>(e.digest()));

  const bool replayed = check.replay(e, workers == 1 ? 3 : 1);
  const bool invariants_hold = check.invariants(e, all_pages);
  const bool ok = equal && explained && rejected == 0 && replayed && invariants_hold;
  std::printf("%s\n", ok ? "self-check passed" : "self-check FAILED");
  return ok ? 0 : 1;
}
