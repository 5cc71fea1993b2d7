// Suite 01 (replay), correctness: 1000 recorded cycles with a checkpoint every 100; replay from
// every checkpoint reproduces the run bit for bit (digest, zero L2 divergence, epochs, pages).
// A flipped byte, a dropped delta and a swapped pair in the log are each detected. A
// reference-engine run (pages created and released, graph edits, derived pages, deltas from
// producer threads) replays from every checkpoint to the same state with 1 and with 3 workers.
#include <tickflow/engine/engine.hpp>
#include <tickflow/page/checkpoint.hpp>
#include <tickflow/page/page_store.hpp>
#include <tickflow/semiring/builtin.hpp>
#include <tickflow/validate/replay.hpp>

#include <cstdint>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "support/catch.hpp"
#include "support/deltas.hpp"
#include "support/scale.hpp"
#include "support/engine_suites.hpp"

using namespace tickflow;
namespace tt = tickflow::test;

static_assert(replay_engine<page_store>);

namespace {
// Any engine: here a wrapper, which the validator drives one delta at a time.
struct wrapped_engine {
  page_store store;
  using snapshot_type = page_store::snapshot_type;
  [[nodiscard]] snapshot_type snapshot() const { return store.snapshot(); }
  result<void> restore(const snapshot_type& s) { return store.restore(s); }
  result<void> apply(const delta& d) { return store.apply(d); }
  [[nodiscard]] std::uint64_t digest() const { return store.digest(); }
  template <class F>
  void for_each_page(F&& f) const {
    store.for_each_page(f);
  }
};
static_assert(replay_engine<wrapped_engine>);
}  // namespace

namespace {

struct run {
  page_store live;
  std::vector<page_id> ids;
  std::vector<delta> recorded;
};

// Pages of doubles (sizes multiple of 8); each cycle is one epoch of random deltas.
void record_run(run& r, replay_validator<page_store>& v, std::mt19937_64& rng, std::size_t cycles, std::size_t per_cycle,
                std::size_t checkpoint_every, std::uint32_t first_epoch) {
  for (std::size_t c = 0; c < cycles; ++c) {
    const auto e = epoch{first_epoch + static_cast<std::uint32_t>(c)};
    for (std::size_t k = 0; k < per_cycle; ++k) {
      const page_id p = r.ids[rng() % r.ids.size()];
      const delta d = tt::random_delta(rng, p, *r.live.page_size(p), e);
      REQUIRE(r.live.apply(d));
      REQUIRE(v.record(d));
      r.recorded.push_back(d);
    }
    if ((c + 1) % checkpoint_every == 0) v.checkpoint(r.live);
  }
}

void make_pages(run& r, std::mt19937_64& rng, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    r.ids.push_back(*r.live.create(8 * (1 + rng() % 32)));
    tt::fill_random(r.live, r.ids.back(), rng());
  }
}

// A log image holding exactly `ds`, for replays of tampered histories.
std::vector<std::byte> image_of(const std::vector<std::byte>& header_source, const std::vector<delta>& ds) {
  std::vector<std::byte> out(header_source.begin(), header_source.begin() + 16);
  for (const auto& d : ds) detail::encode_record(d, out);
  return out;
}

}  // namespace

TEST_CASE("01 replay: 1000 cycles, replay from every checkpoint is bit for bit", "[suite01]") {
  std::mt19937_64 rng(1);
  run r;
  make_pages(r, rng, 200);
  replay_validator<page_store> v(r.live);
  record_run(r, v, rng, 1000, 20, 100, 1);
  REQUIRE(v.checkpoints() == 11);  // the start, then every 100 cycles
  REQUIRE(v.records() == 20'000);
  page_store scratch;
  for (std::size_t k = 0; k < v.checkpoints(); ++k) {
    const auto rep = v.replay(k, scratch, r.live);
    INFO("checkpoint " << k);
    CHECK(rep.ok());
    CHECK(rep.replayed_digest == rep.expected_digest);
    CHECK(rep.l2_divergence == 0.0);
    CHECK(rep.epoch_mismatches.empty());
    CHECK(rep.missing_pages.empty());
    CHECK(rep.extra_pages.empty());
    CHECK(rep.records_replayed == 20'000 - 2'000 * k);
  }
  // A generic engine (replayed one delta at a time) gives the same verdicts.
  wrapped_engine live, again;
  std::vector<page_id> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(*live.store.create(64));
  replay_validator<wrapped_engine> w(live);
  for (std::uint32_t c = 1; c <= 100; ++c) {
    for (int k = 0; k < 10; ++k) {
      const delta d = tt::random_delta(rng, ids[rng() % ids.size()], 64, epoch{c});
      REQUIRE(live.apply(d));
      REQUIRE(w.record(d));
    }
    if (c == 50) w.checkpoint(live);
  }
  for (std::size_t k = 0; k < w.checkpoints(); ++k) CHECK(w.replay(k, again, live).ok());
  w.log_image().resize(w.log_image().size() - 1);  // a torn last record
  const auto torn = w.replay(1, again, live);
  CHECK(torn.log_stop == tlog_stop::torn);
  CHECK_FALSE(torn.ok());
}

TEST_CASE("01 replay: a flipped byte, a dropped delta and a swapped pair are detected", "[suite01]") {
  std::mt19937_64 rng(2);
  run r;
  make_pages(r, rng, 50);
  replay_validator<page_store> v(r.live);
  record_run(r, v, rng, 100, 20, 1000, 1);  // no checkpoint but the first
  // Two last deltas on one page, same epoch, full window, different bytes: their order matters.
  const page_id p = r.ids[0];
  const std::size_t size = *r.live.page_size(p);
  delta a = tt::random_delta(rng, p, size, epoch{100});
  a.offset = 0, a.length = static_cast<std::uint32_t>(size), a.kind = delta_kind::dense;
  a.mask.assign(mask_words(a.length), ~std::uint64_t{0});
  if (a.length % 64 != 0) a.mask.back() = (std::uint64_t{1} << (a.length % 64)) - 1;
  a.payload.assign(size, std::byte{0x11});
  delta b = a;
  b.id = delta_id{a.id.value() + 1};
  b.payload.assign(size, std::byte{0x22});
  for (const delta* d : {&a, &b}) {
    REQUIRE(r.live.apply(*d));
    REQUIRE(v.record(*d));
    r.recorded.push_back(*d);
  }
  page_store scratch;
  REQUIRE(v.replay(0, scratch, r.live).ok());
  auto& log = v.log_image();
  const std::vector<std::byte> original = log;

  SECTION("a flipped byte") {
    log[original.size() - 3] ^= std::byte{0x40};  // inside the last record's payload
    const auto rep = v.replay(0, scratch, r.live);
    CHECK_FALSE(rep.ok());
    CHECK(rep.log_stop == tlog_stop::damaged);  // its CRC no longer matches
    CHECK(rep.replayed_digest != rep.expected_digest);
    CHECK(rep.differing_bytes > 0);
  }
  SECTION("a dropped delta") {
    auto ds = r.recorded;
    ds.pop_back();
    log = image_of(original, ds);
    const auto rep = v.replay(0, scratch, r.live);
    CHECK_FALSE(rep.ok());
    CHECK(rep.log_stop == tlog_stop::end_of_file);  // a well-formed log, a different history
    CHECK(rep.replayed_digest != rep.expected_digest);
    CHECK(rep.l2_divergence > 0);
  }
  SECTION("a swapped pair") {
    auto ds = r.recorded;
    std::swap(ds[ds.size() - 1], ds[ds.size() - 2]);
    log = image_of(original, ds);
    const auto rep = v.replay(0, scratch, r.live);
    CHECK_FALSE(rep.ok());
    CHECK(rep.replayed_digest != rep.expected_digest);
    CHECK(rep.l2_divergence > 0);
    CHECK(rep.differing_bytes == size);
  }
  SECTION("a swapped pair across epochs is an apply error") {
    auto ds = r.recorded;
    // The first delta of the run and the last one of cycle 50 (a later epoch) trade places.
    std::swap(ds[0], ds[50 * 20 + 19]);
    log = image_of(original, ds);
    const auto rep = v.replay(0, scratch, r.live);
    CHECK_FALSE(rep.ok());
    CHECK(rep.apply_error.code == errc::epoch_regression);
  }
}

TEST_CASE("01 replay: missing and extra pages and epoch mismatches are named", "[suite01]") {
  std::mt19937_64 rng(3);
  run r;
  make_pages(r, rng, 10);
  page_store other;
  REQUIRE(other.restore(r.live.snapshot()));
  replay_report same;
  compare_engines(r.live, other, same);
  CHECK(same.ok());
  // One page fewer, one more, one with another epoch.
  REQUIRE(other.release(r.ids[3]));
  const page_id added = *other.create(16);
  delta d = tt::random_delta(rng, r.ids[5], *other.page_size(r.ids[5]), epoch{7});
  REQUIRE(other.apply(d));
  replay_report rep;
  compare_engines(r.live, other, rep);
  CHECK_FALSE(rep.ok());
  CHECK(rep.missing_pages == std::vector<page_id>{r.ids[3]});
  CHECK(rep.extra_pages == std::vector<page_id>{added});
  CHECK(rep.epoch_mismatches == std::vector<page_id>{r.ids[5]});
}

namespace {

using engine_kernel = semiring_kernel<real_semiring<double>>;
using ref_engine = reference_engine<double, engine_kernel, thread_pool>;


}  // namespace

TEST_CASE("01 replay: a reference-engine run replays from every checkpoint with 1 and 3 workers", "[suite01][engine]") {
  ref_engine e({}, 2);
  replay_validator<ref_engine> v(e);
  std::size_t logged = 0;  // bytes of e.log_records() already recorded
  const auto record = [&] {
    const auto records = e.log_records();
    REQUIRE(v.record_log(records.subspan(logged)));
    logged = records.size();
  };
  std::mt19937_64 rng(2026);
  std::vector<page_id> pages;
  for (int i = 0; i < 200; ++i) pages.push_back(*e.create_page(64));
  auto producer = *e.make_producer(1);
  std::uint64_t next_id = 1;
  const int steps = 100;
  std::size_t rejected_edits = 0, released = 0;
  for (int s = 0; s < steps; ++s) {
    graph_edit<double> edit;
    for (int k = 0; k < 8; ++k) {
      const std::size_t a = rng() % pages.size(), b = rng() % pages.size();
      if (a < b && !e.graph().has_edge(pages[a], pages[b]))
        edit.add_edge({pages[a], pages[b], edge_kind::data, 0.125 * static_cast<double>(1 + rng() % 6)});
    }
    if (s % 9 == 8) {
      const auto edges = e.graph().edge_list();
      for (std::size_t k = 0; k < 4 && k < edges.size(); ++k) edit.remove_edge(edges[(k * 7919) % edges.size()].parent, edges[(k * 7919) % edges.size()].child);
    }
    if (s % 13 == 12 && !e.graph().edge_list().empty()) {  // closes a cycle: rejected whole
      const auto back = e.graph().edge_list().back();
      edit.add_edge({back.child, back.parent, edge_kind::data, 1.0});
    }
    (void)e.edit_graph(edit);
    if (s % 6 == 5) pages.push_back(*e.create_page(64));
    if (s % 10 == 9) {  // release an isolated page, if there is one
      for (std::size_t k = 0; k < pages.size(); ++k) {
        bool linked = false;
        e.graph().for_each_parent(pages[k], [&](const auto&) { linked = true; });
        e.graph().for_each_child(pages[k], [&](const auto&) { linked = true; });
        if (!linked) {
          REQUIRE(e.release_page(pages[k]));
          pages.erase(pages.begin() + static_cast<std::ptrdiff_t>(k));
          ++released;
          break;
        }
      }
    }
    const epoch at{e.current_epoch().value() + 1};
    std::vector<delta> ds;
    for (int k = 0; k < 60; ++k)
      ds.push_back(tt::element_delta(pages[rng() % pages.size()], at, next_id++, static_cast<double>(rng() % 4000) / 16.0,
                                 static_cast<std::uint32_t>(rng() % 8)));
    std::thread other([&] {
      for (std::size_t k = 0; k < 30; ++k) (void)producer.submit(ds[k], yield_wait{});
    });
    for (std::size_t k = 30; k < ds.size(); ++k) REQUIRE(e.submit(ds[k]));
    other.join();
    const auto r = e.step();
    rejected_edits += r.graph.ok() ? 0 : 1;
    record();
    if (s % 20 == 19) v.checkpoint(e);
  }
  CHECK(rejected_edits > 0);
  CHECK(released > 0);
  CHECK(e.graph().edges() > 100);
  REQUIRE(v.checkpoints() >= 2);
  for (std::size_t k = 0; k < v.checkpoints(); ++k) {
    for (std::size_t workers : {1u, 3u}) {
      INFO("checkpoint " << k << ", " << workers << " workers");
      ref_engine scratch({}, workers);
      const auto rep = v.replay(k, scratch, e);
      CHECK(rep.apply_error.code == errc::ok);
      CHECK(rep.ok());
      CHECK(rep.l2_divergence == 0);
      if (k + 1 < v.checkpoints()) CHECK(rep.records_replayed > 0);  // the last one may end the log
      CHECK(scratch.digest() == e.digest());
    }
  }
  // The log, damaged in the middle, stops the replay there and is reported.
  auto& image = v.log_image();
  image[image.size() / 2] ^= std::byte{0x40};
  ref_engine scratch({}, 2);
  const auto bad = v.replay(0, scratch, e);
  CHECK_FALSE(bad.ok());
  CHECK(bad.log_stop == tlog_stop::damaged);
}

// The engine-level suite (tests/support/engine_suites.hpp), over both engines.
TEMPLATE_TEST_CASE("01 replay: over any engine, a world run replays from every checkpoint bit for bit", "[suite01][any_engine]", tt::any_reference, tt::any_plain) {
  tt::suite01_replay_over_engine<TestType>();
}

// A checkpoint is where a replay starts, so its image is verified whole: the CRC catches damage,
// and the store's digest catches what a CRC recomputed over changed bytes would let through (a
// tool that rewrites the file, a bug that writes pages after the checksum).
TEST_CASE("01 replay: a checkpoint image whose pages changed under a recomputed CRC is refused", "[suite01][checkpoint]") {
  std::mt19937_64 rng(101);
  run r;
  make_pages(r, rng, 40);
  replay_validator<page_store> v(r.live);
  record_run(r, v, rng, 20, 10, 10, 1);
  const auto image = encode_checkpoint(r.live, epoch{20});
  const auto good = decode_checkpoint(image);
  REQUIRE(good);
  CHECK(good->at == epoch{20});
  CHECK(good->store.digest() == r.live.digest());
  // The last page's bytes end 12 bytes before the image's end (the digest, then the CRC).
  const std::size_t last_page = *r.live.page_size(r.ids.back());
  std::size_t refused = 0, tried = 0;
  for (std::size_t k = 0; k < last_page; k += 3) {
    auto bad = image;
    bad[bad.size() - 13 - k] ^= std::byte{0x20};
    const std::size_t body = bad.size() - 4;
    const std::uint32_t crc = crc32c(std::span<const std::byte>(bad).first(body));
    for (int b = 0; b < 4; ++b) bad[body + static_cast<std::size_t>(b)] = static_cast<std::byte>((crc >> (8 * b)) & 0xFF);
    const auto loaded = decode_checkpoint(bad);
    ++tried;
    if (!loaded && loaded.error().code == errc::corrupt_data) ++refused;
  }
  CHECK(tried > 0);
  CHECK(refused == tried);
}

// The log a replay reads is protected byte by byte: a flip anywhere in a record (its length, its
// CRC or its body) stops recovery before that record, as damage (or as a tear, when the flipped
// length runs past the end), and a cut anywhere inside it, its 8-byte header included, is a tear.
TEST_CASE("01 replay: every byte of a logged record is covered: a flip is damage, a cut is a tear", "[suite01][log]") {
  std::mt19937_64 rng(102);
  run r;
  make_pages(r, rng, 8);
  replay_validator<page_store> v(r.live);
  record_run(r, v, rng, 4, 5, 100, 1);
  const std::vector<std::byte>& image = v.log_image();
  const std::vector<delta> before_last(r.recorded.begin(), r.recorded.end() - 1);
  const std::size_t start = image_of(image, before_last).size(), end = image.size();
  REQUIRE(start < end);
  REQUIRE(parse_tlog(image)->records.size() == r.recorded.size());
  std::size_t flips = 0, cuts = 0;
  for (std::size_t p = start; p < end; ++p) {
    for (const std::byte bit : {std::byte{0x01}, std::byte{0x80}}) {
      auto bad = image;
      bad[p] ^= bit;
      const auto rec = parse_tlog(bad);
      INFO("flip at byte " << p - start << " of the last record");
      REQUIRE(rec);
      CHECK(rec->stop != tlog_stop::end_of_file);
      CHECK(rec->records.size() == before_last.size());
      ++flips;
    }
  }
  for (std::size_t len = start + 1; len < end; ++len) {
    const std::vector<std::byte> cut(image.begin(), image.begin() + static_cast<std::ptrdiff_t>(len));
    const auto rec = parse_tlog(cut);
    INFO("cut after byte " << len - start << " of the last record");
    REQUIRE(rec);
    CHECK(rec->stop == tlog_stop::torn);
    CHECK(rec->intact_bytes == start);
    ++cuts;
  }
  CHECK(flips == 2 * (end - start));
  CHECK(cuts == end - start - 1);
}
