// A trading firm's risk rolled up as the market moves: positions -> books -> desks -> firm in the
// real semiring, with hedge ratios and FX rates as the weights. Market data and trades arrive from
// a feed thread through an SPSC ring; every tick is logged to a file, and the day replays from
// that file bit for bit; provenance answers "which trades moved desk X's exposure".
//
//   example_risk_aggregation [--short] [--positions P] [--books B] [--desks D] [--instruments I]
//                            [--ticks N] [--messages K] [--workers W] [--seed S]
//     --positions P    positions (default 100000)
//     --books B        books (default 1000)
//     --desks D        desks (default 40)
//     --instruments I  instruments the positions are in (default 2000)
//     --ticks N        engine ticks in the day (default 2000)
//     --messages K     feed messages per tick: prices and trades (default 64)
//     --workers W      worker threads, the caller included (default 2)
//     --seed S         the feed's and the book's seed (default 3)
//     --short          2000 positions, 100 books, 8 desks, 100 instruments, 100 ticks (ctest's mode)
//
// The pages. A position's page holds 8 risk measures (market value, then sensitivities), each
// quantity x price x the position's factor for that measure; a derived page holds the same 8
// measures summed over its children. Edge weights: position -> book, the unhedged fraction
// (1 - hedge ratio); book -> desk, the FX rate from the book's currency to the desk's; desk -> firm,
// the desk's currency to USD. So the firm's page is each measure in USD, net of hedges.
//
// The day. A feed thread publishes price moves (a multiplicative random walk per instrument) and
// trades (a position's new quantity) into an SPSC ring. Each tick takes the next K messages, writes
// every position they touched (one delta per position, its 8 measures) through the engine's ingest,
// and runs the tick orchestrator; phase 5 appends the tick's log records to a file (group commit
// every 16 ticks).
//
// The check. A plain roll-up of the final position pages (no tickflow), in the same order, must
// equal every book, desk and the firm bit for bit. The day is replayed from the log file on a fresh
// engine with another worker count, from the state the day began in; the in-memory log replays
// from every checkpoint; the invariants hold.
#include "example_support.hpp"

#include <tickflow/engine/engine.hpp>
#include <tickflow/engine/tick.hpp>
#include <tickflow/queue/spsc_ring.hpp>
#include <tickflow/semiring/builtin.hpp>
#include <tickflow/validate/provenance.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <unistd.h>

using namespace tickflow;

namespace {

using engine_t = reference_engine<double, semiring_kernel<real_semiring<double>>, thread_pool>;
constexpr std::size_t measures = 8;
using measure_row = std::array<double, measures>;
constexpr std::array<double, 6> usd_per_unit = {1.0, 1.08, 1.27, 0.0067, 0.74, 0.11};  // USD, EUR, GBP, JPY, CHF-ish, CNY-ish
constexpr std::array<const char*, 6> currency_names = {"USD", "EUR", "GBP", "JPY", "CHF", "CNY"};

// One feed message: a new price for an instrument, or a trade setting a position's quantity.
struct feed_message {
  enum kind_type : std::uint32_t { price = 0, trade = 1 } kind = price;
  std::uint32_t index = 0;  // instrument or position
  double value = 0;         // the new price or quantity
  std::uint64_t seq = 0;    // the feed's sequence number
};

struct position {
  std::uint32_t instrument = 0, book = 0;
  double quantity = 1;
  measure_row factor{};
};

measure_row value_of(const position& p, double price) {
  measure_row v{};
  for (std::size_t k = 0; k < measures; ++k) v[k] = p.quantity * price * p.factor[k];
  return v;
}

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--short] [--positions P] [--books B] [--desks D] [--instruments I] [--ticks N] [--messages K] [--workers W] "
               "[--seed S]\n",
               argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  unsigned long positions_n = 100'000, books_n = 1000, desks_n = 40, instruments_n = 2000, ticks_n = 2000, per_tick = 64, workers = 2,
                seed = 3;
  bool short_mode = examples::wants_short(argc, argv);
  if (short_mode) positions_n = 2000, books_n = 100, desks_n = 8, instruments_n = 100, ticks_n = 100;
  if (!examples::parse_options(argc, argv,
                               {{"--positions", &positions_n, 1, 10'000'000},
                                {"--books", &books_n, 1, 1'000'000},
                                {"--desks", &desks_n, 1, 100'000},
                                {"--instruments", &instruments_n, 1, 10'000'000},
                                {"--ticks", &ticks_n, 1, 10'000'000},
                                {"--messages", &per_tick, 1, 100'000},
                                {"--workers", &workers, 1, 64},
                                {"--seed", &seed, 0, ~0UL}},
                               &short_mode) ||
      books_n > positions_n || desks_n > books_n || instruments_n > positions_n)
    return usage(argv[0]);

  // The firm's structure: which book each position is in, its hedge ratio and factors; each
  // book's currency and desk; each desk's currency.
  std::mt19937_64 rng(seed);
  const auto uniform = [&](double lo, double hi) { return lo + (hi - lo) * static_cast<double>(rng() >> 11) * 0x1.0p-53; };
  std::vector<position> pos(positions_n);
  std::vector<double> hedge(positions_n), price(instruments_n);
  std::vector<std::uint32_t> book_ccy(books_n), book_desk(books_n), desk_ccy(desks_n);
  for (auto& c : desk_ccy) c = static_cast<std::uint32_t>(rng() % usd_per_unit.size());
  for (std::size_t b = 0; b < books_n; ++b) {
    book_ccy[b] = static_cast<std::uint32_t>(rng() % usd_per_unit.size());
    book_desk[b] = static_cast<std::uint32_t>(b < desks_n ? b : rng() % desks_n);  // every desk has a book
  }
  for (auto& p : price) p = uniform(10, 200);
  std::vector<std::vector<std::uint32_t>> holders(instruments_n);  // positions in each instrument
  for (std::size_t i = 0; i < positions_n; ++i) {
    position& p = pos[i];
    p.instrument = static_cast<std::uint32_t>(i % instruments_n);
    p.book = static_cast<std::uint32_t>(i < books_n ? i : rng() % books_n);  // every book has a position
    p.quantity = static_cast<double>(100 * (1 + rng() % 50));
    p.factor[0] = 1.0;  // market value
    for (std::size_t k = 1; k < measures; ++k) p.factor[k] = uniform(0, 1);
    hedge[i] = uniform(0, 0.8);
    holders[p.instrument].push_back(static_cast<std::uint32_t>(i));
  }

  engine_options eo;
  eo.lane_bytes = std::max<std::size_t>(eo.lane_bytes, positions_n * 128);  // the opening marks, in one cut
  engine_t e(eo, static_cast<std::size_t>(workers));
  examples::self_check<engine_t> check(e);
  std::vector<page_id> position_pages(positions_n), book_pages(books_n), desk_pages(desks_n), all_pages;
  for (auto& p : position_pages) p = *e.create_page(measures * sizeof(double));
  for (auto& p : book_pages) p = *e.create_page(measures * sizeof(double));
  for (auto& p : desk_pages) p = *e.create_page(measures * sizeof(double));
  const page_id firm = *e.create_page(measures * sizeof(double));
  for (const auto* layer : {&position_pages, &book_pages, &desk_pages}) all_pages.insert(all_pages.end(), layer->begin(), layer->end());
  all_pages.push_back(firm);
  graph_edit<double> structure;
  for (std::size_t i = 0; i < positions_n; ++i) structure.add_edge({position_pages[i], book_pages[pos[i].book], edge_kind::data, 1 - hedge[i]});
  for (std::size_t b = 0; b < books_n; ++b)
    structure.add_edge({book_pages[b], desk_pages[book_desk[b]], edge_kind::data,
                        usd_per_unit[book_ccy[b]] / usd_per_unit[desk_ccy[book_desk[b]]]});
  for (std::size_t d = 0; d < desks_n; ++d) structure.add_edge({desk_pages[d], firm, edge_kind::data, usd_per_unit[desk_ccy[d]]});
  if (auto ok = e.edit_graph(structure); !ok) return std::fprintf(stderr, "structure: %s\n", ok.error().message), 1;
  (void)e.step();

  // The opening marks: every position at the opening prices.
  std::uint64_t next_id = 1;
  const auto write_position = [&](std::size_t i, epoch at) {
    return e.submit(examples::element_delta(position_pages[i], at, next_id++, 0, value_of(pos[i], price[pos[i].instrument])));
  };
  {
    const epoch at{e.current_epoch().value() + 1};
    for (std::size_t i = 0; i < positions_n; ++i)
      if (!write_position(i, at)) return std::fprintf(stderr, "opening marks: lane full\n"), 1;
    if (e.step().applied != positions_n) return 1;
  }
  measure_row firm_open{};
  std::memcpy(firm_open.data(), e.page_bytes(firm)->data(), sizeof(firm_open));
  std::vector<measure_row> desk_open(desks_n);
  for (std::size_t d = 0; d < desks_n; ++d) std::memcpy(desk_open[d].data(), e.page_bytes(desk_pages[d])->data(), sizeof(measure_row));

  // The day begins: checkpoints, the log file, the orchestrator.
  if (!check.checkpoint(e)) return 1;
  replay_validator<engine_t> day(e);  // checkpoint 0: the state the day begins in
  const char* dir = std::getenv("TMPDIR");
  const std::string path = std::string(dir != nullptr ? dir : "/tmp") + "/tickflow_risk_" + std::to_string(::getpid()) + ".tlog";
  std::remove(path.c_str());
  auto log = tlog_writer::open(path, fsync_policy::never);
  if (!log) return std::fprintf(stderr, "cannot open %s: %s\n", path.c_str(), log.error().message), 1;
  tick_options options;
  options.log = &*log;
  options.log_durability = durability::group_commit;
  options.group = 16;
  auto ticks = tick_orchestrator<engine_t>::make(e, options);
  if (!ticks) return 1;

  // The feed: its own thread, its own generator, the ring its only link to the engine's thread.
  const std::uint64_t total_messages = ticks_n * per_tick;
  spsc_ring<feed_message> ring(4096);
  std::thread feed([&, prices = price] () mutable {
    std::mt19937_64 g(seed * 7919 + 1);
    std::normal_distribution<double> move(0.0, 0.002);
    for (std::uint64_t s = 0; s < total_messages; ++s) {
      feed_message m;
      m.seq = s;
      if (g() % 16 == 0) {  // one message in 16 is a trade
        m.kind = feed_message::trade;
        m.index = static_cast<std::uint32_t>(g() % positions_n);
        m.value = static_cast<double>(100 * (1 + g() % 50));
      } else {
        m.index = static_cast<std::uint32_t>(g() % instruments_n);
        prices[m.index] *= std::exp(move(g));
        m.value = prices[m.index];
      }
      ring.push(m);
    }
  });

  struct trade_record {
    std::uint64_t seq;
    std::uint32_t position;
    double before, after;
    std::uint64_t tick;
  };
  std::unordered_map<std::uint64_t, trade_record> trade_of;  // delta id -> the trade it carried
  std::vector<std::uint32_t> touched;
  std::vector<std::uint8_t> is_touched(positions_n, 0);
  std::vector<std::optional<trade_record>> traded(positions_n);
  std::uint64_t expect_seq = 0, trades = 0, position_writes = 0;
  bool in_order = true;
  for (std::uint64_t t = 0; t < ticks_n; ++t) {
    for (unsigned long k = 0; k < per_tick; ++k) {
      const feed_message m = ring.pop();
      in_order = in_order && m.seq == expect_seq++;
      const auto touch = [&](std::uint32_t i) {
        if (!is_touched[i]) is_touched[i] = 1, touched.push_back(i);
      };
      if (m.kind == feed_message::trade) {
        traded[m.index] = trade_record{m.seq, m.index, pos[m.index].quantity, m.value, t};
        pos[m.index].quantity = m.value;
        touch(m.index);
        ++trades;
      } else {
        price[m.index] = m.value;
        for (const std::uint32_t i : holders[m.index]) touch(i);
      }
    }
    std::sort(touched.begin(), touched.end());  // one delta per position touched, in position order
    const epoch at{e.current_epoch().value() + 1};
    for (const std::uint32_t i : touched) {
      if (traded[i]) trade_of.emplace(next_id, *traded[i]), traded[i].reset();
      if (auto ok = write_position(i, at); !ok) return std::fprintf(stderr, "submit: %s\n", ok.error().message), 1;
      is_touched[i] = 0;
    }
    position_writes += touched.size();
    touched.clear();
    if (auto ok = ticks->tick(); !ok) return std::fprintf(stderr, "tick: %s\n", ok.error().message), 1;
  }
  feed.join();
  if (!ticks->flush_log()) return std::fprintf(stderr, "log flush failed\n"), 1;

  const auto& total = ticks->total_histogram();
  std::printf("firm: %lu positions in %lu books, %lu desks, %lu instruments; %lu workers\n", positions_n, books_n, desks_n, instruments_n,
              workers);
  std::printf("day: %llu ticks, %llu feed messages (%llu trades) %s, %llu position writes; tick p50 %.3f ms, p99 %.3f ms, max %.3f ms; "
              "log %llu bytes\n",
              static_cast<unsigned long long>(ticks->ticks()), static_cast<unsigned long long>(total_messages),
              static_cast<unsigned long long>(trades), in_order ? "in order" : "OUT OF ORDER", static_cast<unsigned long long>(position_writes),
              static_cast<double>(total.p50()) / 1e6, static_cast<double>(total.p99()) / 1e6, static_cast<double>(total.max()) / 1e6,
              static_cast<unsigned long long>(log->file_bytes()));

  // The oracle: a plain roll-up of the final positions, in the engine's fold order (by page id).
  std::vector<measure_row> book_want(books_n), desk_want(desks_n);
  measure_row firm_want{};
  const auto add_into = [](measure_row& acc, double w, const std::byte* v) {
    for (std::size_t k = 0; k < measures; ++k) {
      double x;
      std::memcpy(&x, v + k * sizeof(double), sizeof(double));
      acc[k] = acc[k] + w * x;
    }
  };
  for (std::size_t i = 0; i < positions_n; ++i) add_into(book_want[pos[i].book], 1 - hedge[i], e.page_bytes(position_pages[i])->data());
  for (std::size_t b = 0; b < books_n; ++b)
    add_into(desk_want[book_desk[b]], usd_per_unit[book_ccy[b]] / usd_per_unit[desk_ccy[book_desk[b]]],
             reinterpret_cast<const std::byte*>(book_want[b].data()));
  for (std::size_t d = 0; d < desks_n; ++d) add_into(firm_want, usd_per_unit[desk_ccy[d]], reinterpret_cast<const std::byte*>(desk_want[d].data()));
  std::size_t wrong = 0;
  for (std::size_t b = 0; b < books_n; ++b) wrong += std::memcmp(e.page_bytes(book_pages[b])->data(), book_want[b].data(), sizeof(measure_row)) != 0;
  for (std::size_t d = 0; d < desks_n; ++d) wrong += std::memcmp(e.page_bytes(desk_pages[d])->data(), desk_want[d].data(), sizeof(measure_row)) != 0;
  wrong += std::memcmp(e.page_bytes(firm)->data(), firm_want.data(), sizeof(measure_row)) != 0;
  std::printf("books, desks and firm equal to a plain roll-up: %s\n", wrong == 0 ? "yes, bit for bit" : "NO");
  std::printf("firm market value (USD): open %.2f, close %.2f\n", firm_open[0], firm_want[0]);

  // The day, replayed from the file on disk.
  std::ifstream in(path, std::ios::binary);
  const std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::remove(path.c_str());
  const std::span<const std::byte> file(reinterpret_cast<const std::byte*>(chars.data()), chars.size());
  const auto parsed = parse_tlog(file);
  bool day_ok = parsed && parsed->stop == tlog_stop::end_of_file && day.record_log(file.subspan(16)).has_value();
  if (day_ok) {
    engine_t scratch({}, workers == 1 ? 3 : 1);
    const auto rep = day.replay(0, scratch, e);
    day_ok = rep.ok() && scratch.digest() == e.digest();
    std::printf("the day replayed from its log file (%zu bytes, %llu records): digest %016llx %s\n", file.size(),
                static_cast<unsigned long long>(rep.records_replayed), static_cast<unsigned long long>(scratch.digest()),
                day_ok ? "equal, bit for bit" : "DIFFERENT");
  } else {
    std::printf("the log file did not parse whole\n");
  }

  // Which trades moved the exposure of the desk that moved the most? Provenance gives the desk's
  // contributing cone (its books and their positions, with the delta that last wrote each); the
  // day's log, read back from the file, gives every write to those positions; the ones that
  // carried a trade are the answer, ranked by how much each moved the desk (the quantity's change
  // at the trade's price, through the hedge and the FX rate).
  std::size_t desk = 0;
  for (std::size_t d = 1; d < desks_n; ++d)
    if (std::fabs(desk_want[d][0] - desk_open[d][0]) > std::fabs(desk_want[desk][0] - desk_open[desk][0])) desk = d;
  provenance_tracker<engine_t> prov(e);
  const auto cone = prov.cone(desk_pages[desk], 0);
  if (!cone) return std::fprintf(stderr, "provenance: %s\n", cone.error().message), 1;
  std::unordered_map<std::uint64_t, std::uint32_t> in_cone;  // position page -> position
  for (const auto& src : (*cone)->sources) in_cone.emplace(src.page.value(), 0);
  for (std::size_t i = 0; i < positions_n; ++i)
    if (auto it = in_cone.find(position_pages[i].value()); it != in_cone.end()) it->second = static_cast<std::uint32_t>(i);
  struct desk_move {
    trade_record trade;
    double impact;  // in the desk's currency
  };
  std::vector<desk_move> moved;
  bool trades_known = parsed.has_value();
  if (parsed) {
    for (const delta& d : parsed->records) {
      const auto t = trade_of.find(d.id.value());
      if (t == trade_of.end()) continue;
      trades_known = trades_known && d.page == position_pages[t->second.position];
      const auto it = in_cone.find(d.page.value());
      if (it == in_cone.end()) continue;
      double value0;  // market value after the trade: quantity x price
      std::memcpy(&value0, d.payload.data(), sizeof(double));
      const std::uint32_t b = pos[it->second].book;
      const double fx = usd_per_unit[book_ccy[b]] / usd_per_unit[desk_ccy[desk]];
      moved.push_back({t->second, (t->second.after - t->second.before) / t->second.after * value0 * (1 - hedge[it->second]) * fx});
    }
  }
  std::sort(moved.begin(), moved.end(), [](const desk_move& a, const desk_move& b) { return std::fabs(a.impact) > std::fabs(b.impact); });
  std::printf("provenance: desk %zu (%s) market value %.2f -> %.2f; its cone holds %zu positions, moved by %zu trades today%s\n", desk,
              currency_names[desk_ccy[desk]], desk_open[desk][0], desk_want[desk][0], (*cone)->sources.size(), moved.size(),
              moved.empty() ? "" : "; the largest:");
  for (std::size_t i = 0; i < moved.size() && i < 5; ++i) {
    const trade_record& r = moved[i].trade;
    std::printf("  feed message %llu at tick %llu: position %u (book %u) quantity %.0f -> %.0f, %+.2f %s\n",
                static_cast<unsigned long long>(r.seq), static_cast<unsigned long long>(r.tick), r.position, pos[r.position].book, r.before,
                r.after, moved[i].impact, currency_names[desk_ccy[desk]]);
  }

  const bool replayed = check.replay(e, workers == 1 ? 3 : 1);
  const bool invariants_hold = check.invariants(e, all_pages);
  const bool ok = in_order && wrong == 0 && trades_known && day_ok && replayed && invariants_hold;
  std::printf("%s\n", ok ? "self-check passed" : "self-check FAILED");
  return ok ? 0 : 1;
}
