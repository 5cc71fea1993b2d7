// Incremental value-range analysis of a generated SSA program, as a compiler's IDE service would
// run it: one engine step per edit, re-analysing only the dirty cone, with early cutoff.
//
//   example_incremental_analysis [--short] [--functions F] [--blocks B] [--edits N] [--workers W] [--seed S]
//     --functions F  functions in the program (default 1000)
//     --blocks B     basic blocks per function (default 100: 100k blocks in all)
//     --edits N      edits to analyse, one step each (default 300)
//     --workers W    worker threads, the caller included (default 2)
//     --seed S       the program generator's seed (default 7)
//     --short        20 functions of 50 blocks, 40 edits (ctest's mode)
//
// The program. Each basic block defines four SSA values. Its code is a source page of eight
// 64-bit words (two per value: an encoded instruction and its constant); its facts are a derived
// page of eight words (the range [lo, hi] of each value). An instruction reads values defined in
// this block (earlier) or in a block that dominates it (an earlier block of the function, or, for
// an entry block, the exit block of a function it calls, which comes earlier in the program). The
// def-use graph is the page graph: a block's facts page has as parents its code page (a control
// edge, weight -1) and the facts page of every block it reads from (a data edge whose weight is
// that block's index, so that the kernel can find an operand among its parents).
//
// The analysis. The kernel below computes a block's facts from its parents: the interval of each
// value, by its instruction's transfer function (constant, add a constant, add, phi = the hull of
// two intervals, clamp into [0, c]), saturating at +-2^40. It is noexcept and reads its inputs
// only, as a propagation kernel must. An edit changes one instruction's constant or its op (add a
// constant <-> clamp): a delta to one code page. The step recomputes the cone below that block in
// topological order and stops wherever a block's facts came out unchanged (clamps and phis absorb
// many changes), which is the point of early cutoff.
//
// The check. A plain sequential analysis of the same code (no tickflow) runs from scratch at the
// end; every facts page must equal it bit for bit. Its time is the from-scratch baseline each
// edit's step is compared with. Then the whole run is replayed from its checkpoints on an engine
// with another worker count, the invariants are checked, and a provenance query names the code
// edits that reach one block's facts.
#include "example_support.hpp"

#include <tickflow/engine/engine.hpp>
#include <tickflow/validate/provenance.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <span>
#include <vector>

using namespace tickflow;
using examples::number_option;

namespace {

constexpr std::uint32_t values_per_block = 4;
constexpr std::uint32_t words_per_page = 2 * values_per_block;  // 64-byte pages
constexpr std::int64_t limit = std::int64_t{1} << 40;           // intervals saturate here
constexpr std::uint32_t self_block = 0xFFFFFF;                  // an operand defined in this block

enum class op : std::uint8_t { constant = 1, add_const = 2, add = 3, phi = 4, clamp = 5 };

// An instruction word: op (8 bits), then operands a and b as (block: 24 bits, value: 4 bits).
struct operand {
  std::uint32_t block = self_block;  // global block index, or self_block
  std::uint32_t value = 0;
};
constexpr std::int64_t encode(op o, operand a, operand b) {
  const std::uint64_t w = static_cast<std::uint64_t>(o) | (std::uint64_t{a.block} << 8) | (std::uint64_t{a.value} << 32) |
                          (std::uint64_t{b.block} << 36) | (std::uint64_t{b.value} << 60);
  return static_cast<std::int64_t>(w);
}
struct decoded {
  op o;
  operand a, b;
};
constexpr decoded decode(std::int64_t word) {
  const auto w = static_cast<std::uint64_t>(word);
  return {static_cast<op>(w & 0xFF), {static_cast<std::uint32_t>((w >> 8) & 0xFFFFFF), static_cast<std::uint32_t>((w >> 32) & 0xF)},
          {static_cast<std::uint32_t>((w >> 36) & 0xFFFFFF), static_cast<std::uint32_t>((w >> 60) & 0xF)}};
}

struct interval {
  std::int64_t lo = -limit, hi = limit;  // the default is "anything"
};
constexpr std::int64_t saturate(std::int64_t v) { return std::clamp(v, -limit, limit); }

// The transfer function of one block: code (8 words) and a way to read operands from other
// blocks -> facts (8 words). Shared by the kernel and the from-scratch oracle, so that both
// compute the same thing by construction and the comparison tests the engine's scheduling,
// cut-off and bookkeeping, not two formulas.
template <class Lookup>
void transfer(const std::int64_t* code, std::int64_t* facts, Lookup&& lookup) noexcept {
  for (std::uint32_t j = 0; j < values_per_block; ++j) {
    const decoded d = decode(code[2 * j]);
    const std::int64_t c = code[2 * j + 1];
    const auto read = [&](operand x) -> interval {
      if (x.block == self_block) {
        if (x.value >= j) return {};  // not defined yet: malformed code reads as "anything"
        return {facts[2 * x.value], facts[2 * x.value + 1]};
      }
      return lookup(x);
    };
    interval r;
    switch (d.o) {
      case op::constant: r = {saturate(c), saturate(c)}; break;
      case op::add_const: {
        const interval a = read(d.a);
        r = {saturate(a.lo + saturate(c)), saturate(a.hi + saturate(c))};
        break;
      }
      case op::add: {
        const interval a = read(d.a), b = read(d.b);
        r = {saturate(a.lo + b.lo), saturate(a.hi + b.hi)};
        break;
      }
      case op::phi: {
        const interval a = read(d.a), b = read(d.b);
        r = {std::min(a.lo, b.lo), std::max(a.hi, b.hi)};
        break;
      }
      case op::clamp: {
        const interval a = read(d.a);
        const std::int64_t top = std::max<std::int64_t>(0, saturate(c));
        r = {std::clamp<std::int64_t>(a.lo, 0, top), std::clamp<std::int64_t>(a.hi, 0, top)};
        break;
      }
      default: break;  // an unknown op: "anything"
    }
    facts[2 * j] = r.lo;
    facts[2 * j + 1] = r.hi;
  }
}

// The propagation kernel: finds the code page (the control edge) and the operand blocks (data
// edges weighted by their block index) among the parents.
struct range_kernel {
  void operator()(std::span<std::int64_t> out, const parent_inputs<std::int64_t, std::int64_t>& in) const noexcept {
    const std::int64_t* code = nullptr;
    for (std::size_t p = 0; p < in.values.size(); ++p)
      if (in.kinds[p] == edge_kind::control) code = in.values[p];
    if (code == nullptr || out.size() != words_per_page) {  // not a facts page: nothing known
      for (std::size_t i = 0; i < out.size(); ++i) out[i] = i % 2 == 0 ? -limit : limit;
      return;
    }
    transfer(code, out.data(), [&](operand x) -> interval {
      for (std::size_t p = 0; p < in.values.size(); ++p)
        if (in.kinds[p] == edge_kind::data && in.weights[p] == static_cast<std::int64_t>(x.block))
          return {in.values[p][2 * x.value], in.values[p][2 * x.value + 1]};
      return {};
    });
  }
};

using engine_t = reference_engine<std::int64_t, range_kernel, thread_pool>;
using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t0) { return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count(); }

// The generated program: code words per block, and the blocks each block reads from.
struct program {
  std::uint32_t functions = 0, blocks = 0;  // blocks per function
  std::vector<std::array<std::int64_t, words_per_page>> code;
  std::vector<std::vector<std::uint32_t>> reads;  // per block: distinct operand blocks

  [[nodiscard]] std::uint32_t size() const { return functions * blocks; }

  void generate(std::uint32_t f_count, std::uint32_t b_count, std::uint64_t seed) {
    functions = f_count;
    blocks = b_count;
    std::mt19937_64 rng(seed);
    code.assign(size(), {});
    reads.assign(size(), {});
    const auto pick = [&](std::uint32_t g, std::uint32_t j) -> operand {
      const std::uint32_t b = g % blocks;
      if (j > 0 && (b == 0 || rng() % 3 == 0)) return {self_block, static_cast<std::uint32_t>(rng() % j)};
      if (b == 0) {  // an entry block: the result of a call to an earlier function, if any
        const std::uint32_t f = g / blocks;
        if (f == 0) return {self_block, 0};
        const std::uint32_t callee = static_cast<std::uint32_t>(rng() % std::min<std::uint32_t>(f, 8)) + 1;
        return {(f - callee) * blocks + blocks - 1, static_cast<std::uint32_t>(rng() % values_per_block)};
      }
      const std::uint32_t back = 1 + static_cast<std::uint32_t>(rng() % std::min<std::uint32_t>(b, 6));  // a nearby dominator
      return {g - back, static_cast<std::uint32_t>(rng() % values_per_block)};
    };
    for (std::uint32_t g = 0; g < size(); ++g) {
      for (std::uint32_t j = 0; j < values_per_block; ++j) {
        op o = static_cast<op>(1 + rng() % 5);
        operand a = pick(g, j), b = pick(g, j);
        if (j == 0 && a.block == self_block) o = op::constant;  // nothing to read yet
        if (o != op::constant && a.block == self_block && a.value >= j) o = op::constant;
        if ((o == op::add || o == op::phi) && b.block == self_block && b.value >= j) b = a;
        const std::int64_t c = o == op::clamp ? static_cast<std::int64_t>(rng() % 64) : static_cast<std::int64_t>(rng() % 201) - 100;
        if (o == op::constant) a = b = operand{};
        if (o != op::add && o != op::phi) b = operand{};
        code[g][2 * j] = encode(o, a, b);
        code[g][2 * j + 1] = c;
        for (const operand x : {a, b})
          if (x.block != self_block && std::find(reads[g].begin(), reads[g].end(), x.block) == reads[g].end()) reads[g].push_back(x.block);
      }
    }
  }

  // The from-scratch analysis: every block in index order (each reads only earlier blocks).
  [[nodiscard]] std::vector<std::array<std::int64_t, words_per_page>> analyse() const {
    std::vector<std::array<std::int64_t, words_per_page>> facts(size());
    for (std::uint32_t g = 0; g < size(); ++g)
      transfer(code[g].data(), facts[g].data(), [&](operand x) -> interval {
        if (x.block >= g) return {};
        return {facts[x.block][2 * x.value], facts[x.block][2 * x.value + 1]};
      });
    return facts;
  }
};

int usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--short] [--functions F] [--blocks B] [--edits N] [--workers W] [--seed S]\n", argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  unsigned long functions = 1000, blocks = 100, edits = 300, workers = 2, seed = 7;
  bool short_mode = examples::wants_short(argc, argv);
  if (short_mode) functions = 20, blocks = 50, edits = 40;
  if (!examples::parse_options(argc, argv,
                               {{"--functions", &functions, 1, 100'000},
                                {"--blocks", &blocks, 2, 10'000},
                                {"--edits", &edits, 1, 1'000'000},
                                {"--workers", &workers, 1, 64},
                                {"--seed", &seed, 0, ~0UL}},
                               &short_mode) ||
      functions * blocks > (1UL << 23))
    return usage(argv[0]);

  program prog;
  prog.generate(static_cast<std::uint32_t>(functions), static_cast<std::uint32_t>(blocks), seed);
  const std::uint32_t n = prog.size();

  engine_options options;
  options.lane_bytes = std::max<std::size_t>(options.lane_bytes, std::size_t{2} * n * (64 + 48));  // the whole program's code in one cut
  engine_t e(options, static_cast<std::size_t>(workers));
  examples::self_check<engine_t> check(e);
  std::vector<page_id> code_pages(n), fact_pages(n), all_pages;
  auto t0 = clock_type::now();
  for (std::uint32_t g = 0; g < n; ++g) {
    code_pages[g] = *e.create_page(8 * words_per_page);
    fact_pages[g] = *e.create_page(8 * words_per_page);
  }
  graph_edit<std::int64_t> def_use;
  std::size_t edges = 0;
  for (std::uint32_t g = 0; g < n; ++g) {
    def_use.add_edge({code_pages[g], fact_pages[g], edge_kind::control, -1});
    for (const std::uint32_t from : prog.reads[g]) def_use.add_edge({fact_pages[from], fact_pages[g], edge_kind::data, from});
    edges += 1 + prog.reads[g].size();
  }
  if (auto ok = e.edit_graph(def_use); !ok) {
    std::fprintf(stderr, "def-use graph: %s\n", ok.error().message);
    return 1;
  }
  (void)e.step();  // commits the graph
  std::uint64_t next_id = 1;
  epoch at{e.current_epoch().value() + 1};
  for (std::uint32_t g = 0; g < n; ++g) {
    const delta d = examples::element_delta(code_pages[g], at, next_id++, 0, prog.code[g]);  // the whole page
    if (auto ok = e.submit(d); !ok) return std::fprintf(stderr, "submit: %s\n", ok.error().message), 1;
  }
  const double build_ms = ms_since(t0);
  t0 = clock_type::now();
  const auto first = e.step();  // every code page written: the whole program is analysed
  const double first_ms = ms_since(t0);
  if (first.applied != n) return std::fprintf(stderr, "first step applied %zu of %u\n", first.applied, n), 1;
  if (!check.checkpoint(e)) return 1;
  std::printf("program: %lu functions x %lu blocks = %u blocks, %zu def-use edges (%zu pages); built in %.0f ms\n", functions, blocks, n,
              edges, e.store().size(), build_ms);
  std::printf("first analysis (engine, %lu workers): %.2f ms, %zu blocks recomputed\n", workers, first_ms, first.propagation.recomputed);

  // The edits: one step each.
  std::mt19937_64 rng(seed ^ 0x5EED);
  std::vector<double> edit_ms;
  std::size_t recomputed = 0, changed = 0, cut_off = 0, largest = 0;
  std::uint32_t widest = 0;  // the block whose edit changed the most facts
  for (unsigned long k = 0; k < edits; ++k) {
    const std::uint32_t g = static_cast<std::uint32_t>(rng() % n), j = static_cast<std::uint32_t>(rng() % values_per_block);
    auto& word = prog.code[g][2 * j];
    decoded d = decode(word);
    if (d.o == op::add_const || d.o == op::clamp) d.o = rng() % 4 == 0 ? (d.o == op::add_const ? op::clamp : op::add_const) : d.o;
    word = encode(d.o, d.a, d.b);
    prog.code[g][2 * j + 1] = d.o == op::clamp ? static_cast<std::int64_t>(rng() % 64) : static_cast<std::int64_t>(rng() % 201) - 100;
    const std::array<std::int64_t, 2> instruction{word, prog.code[g][2 * j + 1]};
    at = epoch{e.current_epoch().value() + 1};
    if (auto ok = e.submit(examples::element_delta(code_pages[g], at, next_id++, j, instruction)); !ok) return 1;
    t0 = clock_type::now();
    const auto rep = e.step();
    edit_ms.push_back(ms_since(t0));
    if (rep.applied != 1) return std::fprintf(stderr, "edit %lu not applied\n", k), 1;
    recomputed += rep.propagation.recomputed;
    changed += rep.propagation.changed;
    cut_off += rep.propagation.recomputed - rep.propagation.changed;
    if (rep.propagation.changed > largest) largest = rep.propagation.changed, widest = g;
  }

  t0 = clock_type::now();
  const auto oracle = prog.analyse();
  const double scratch_ms = ms_since(t0);
  std::size_t wrong = 0;
  for (std::uint32_t g = 0; g < n; ++g)
    if (std::memcmp(e.page_bytes(fact_pages[g])->data(), oracle[g].data(), 8 * words_per_page) != 0) ++wrong;

  std::vector<double> sorted = edit_ms;
  std::sort(sorted.begin(), sorted.end());
  const auto pct = [&](double q) { return sorted[std::min(sorted.size() - 1, static_cast<std::size_t>(q * static_cast<double>(sorted.size())))]; };
  std::printf("%lu edits: step p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", edits, pct(0.5), pct(0.99), sorted.back());
  std::printf("  per edit: %.1f blocks recomputed, %.1f changed, %.1f stopped by early cutoff; largest cone changed %zu blocks\n",
              static_cast<double>(recomputed) / static_cast<double>(edits), static_cast<double>(changed) / static_cast<double>(edits),
              static_cast<double>(cut_off) / static_cast<double>(edits), largest);
  std::printf("from-scratch analysis (sequential, no engine): %.2f ms; median edit is %.0fx faster\n", scratch_ms, scratch_ms / pct(0.5));
  std::printf("facts equal to the from-scratch analysis: %u of %u blocks%s\n", n - static_cast<std::uint32_t>(wrong), n,
              wrong == 0 ? "" : "  <- WRONG");

  // Provenance: which code pages, and which edits to them, reach the facts of the block whose
  // edit changed the most?
  provenance_tracker<engine_t> prov(e);
  const std::uint32_t asked = widest;
  const auto cone = prov.cone(fact_pages[asked]);
  if (!cone) return std::fprintf(stderr, "provenance: %s\n", cone.error().message), 1;
  std::vector<std::pair<std::uint64_t, std::uint32_t>> edits_seen;  // (delta id, epoch) of edited code pages
  for (const auto& s : (*cone)->sources)
    if (s.writer && s.writer->id.value() > n) edits_seen.emplace_back(s.writer->id.value(), s.writer->at.value());
  std::sort(edits_seen.begin(), edits_seen.end());
  std::printf("provenance: block %u's facts depend on %zu pages within %u edges%s: %zu code pages, %zu of them edited since the first "
              "analysis",
              asked, (*cone)->pages.size(), prov.options().max_depth, (*cone)->depth_truncated ? " (depth limit reached)" : "",
              (*cone)->sources.size(), edits_seen.size());
  for (std::size_t i = 0; i < edits_seen.size() && i < 4; ++i)
    std::printf("%s delta %llu at epoch %u", i == 0 ? ":" : ",", static_cast<unsigned long long>(edits_seen[i].first), edits_seen[i].second);
  std::printf("%s\n", edits_seen.size() > 4 ? ", ..." : "");

  // A use before its definition would close a cycle in the def-use graph: refused, nothing changed.
  graph_edit<std::int64_t> bad;
  bad.add_edge({fact_pages[n - 1], fact_pages[0], edge_kind::data, static_cast<std::int64_t>(n - 1)});
  bad.add_edge({fact_pages[0], fact_pages[n - 1], edge_kind::data, 0});
  (void)e.edit_graph(bad);
  const auto refused = e.step();
  std::printf("an edit closing a cycle: %s, witness of %zu pages, %zu edges committed\n",
              refused.graph.ok() ? "ACCEPTED" : refused.graph.err.message, refused.graph.witness.size(), refused.edits_committed);

  all_pages.insert(all_pages.end(), code_pages.begin(), code_pages.end());
  all_pages.insert(all_pages.end(), fact_pages.begin(), fact_pages.end());
  const bool replayed = check.replay(e, workers == 1 ? 3 : 1);
  const bool invariants_hold = check.invariants(e, all_pages);
  const bool ok = wrong == 0 && replayed && invariants_hold && !refused.graph.ok() && refused.edits_committed == 0;
  std::printf("%s\n", ok ? "self-check passed" : "self-check FAILED");
  return ok ? 0 : 1;
}
