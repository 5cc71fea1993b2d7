// Ingest: what goes in comes out once, unchanged, in the canonical order; shape errors and full
// lanes are typed; blocked submits wake when a cut makes room; four producers racing cuts
// deliver every delta exactly once, in order (ThreadSanitizer checks the publication).
#include <tickflow/engine/ingest.hpp>

#include <atomic>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

#include "support/catch.hpp"
#include "support/deltas.hpp"
#include "support/scale.hpp"

using namespace tickflow;
namespace tt = tickflow::test;

namespace {
delta make(std::mt19937_64& rng, std::uint32_t producer, std::uint64_t seq, std::uint32_t at, std::size_t page_bytes) {
  delta d = tt::random_delta(rng, page_id{(std::uint64_t{producer + 1} << 32) | 1}, page_bytes, epoch{at});
  d.id = delta_id{(std::uint64_t{producer} << 40) | seq};
  return d;
}
}  // namespace

TEST_CASE("ingest: deltas of every size come out of a cut unchanged and in submit order", "[engine][ingest]") {
  ingest in(1 << 16);  // 64 KiB lanes: records cross cell boundaries and the ring wraps
  auto p = in.make_producer();
  std::mt19937_64 rng(1);
  delta_batch out;
  for (int round = 0; round < 20; ++round) {
    std::vector<delta> sent;
    for (int k = 0; k < 40; ++k) {
      const std::size_t page_bytes = k % 7 == 0 ? 9000 : k % 3 == 0 ? 700 : 64;  // up to records of ~18 KiB
      sent.push_back(make(rng, 0, static_cast<std::uint64_t>(round * 100 + k), 3, page_bytes));
      const auto r = p.try_submit(sent.back());
      if (!r) {
        REQUIRE(r.error().code == errc::would_block);
        sent.pop_back();
        break;
      }
    }
    out.clear();
    CHECK(in.cut(out) == sent.size());
    CHECK(out.to_deltas() == sent);
  }
}

TEST_CASE("ingest: shape errors and oversized deltas are typed and queue nothing", "[engine][ingest]") {
  ingest in(4096);
  auto p = in.make_producer();
  std::mt19937_64 rng(2);
  delta bad = make(rng, 0, 1, 1, 64);
  bad.payload.push_back(std::byte{0});
  const auto r = p.try_submit(bad);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::payload_mismatch);
  const delta huge = make(rng, 0, 2, 1, 1 << 20);  // may be up to 2 MiB of record
  delta big = huge;
  big.offset = 0;
  big.length = 1 << 20;
  big.kind = delta_kind::dense;
  big.mask.assign(mask_words(big.length), ~std::uint64_t{0});
  big.payload.assign(big.length, std::byte{1});
  CHECK(p.try_submit(big).error().code == errc::capacity_exceeded);
  delta_batch out;
  CHECK(in.cut(out) == 0);
}

TEST_CASE("ingest: the cut orders by epoch, then producer id, then submit order", "[engine][ingest]") {
  ingest in;
  auto a = *in.make_producer(7);
  auto b = *in.make_producer(3);
  CHECK(in.make_producer(7).error().code == errc::duplicate_id);
  std::mt19937_64 rng(3);
  // a: epochs 2 2 5; b: epochs 1 2 5 (submitted interleaved).
  const delta a1 = make(rng, 7, 1, 2, 64), b1 = make(rng, 3, 1, 1, 64), a2 = make(rng, 7, 2, 2, 64), b2 = make(rng, 3, 2, 2, 64),
              a3 = make(rng, 7, 3, 5, 64), b3 = make(rng, 3, 3, 5, 64);
  for (const delta* d : {&a1, &b1, &a2, &b2, &a3, &b3}) REQUIRE((d->id.value() >> 40 == 7 ? a : b).try_submit(*d));
  delta_batch out;
  REQUIRE(in.cut(out) == 6);
  CHECK(out.to_deltas() == std::vector<delta>{b1, b2, a1, a2, b3, a3});
}

TEST_CASE("ingest: a blocked submit wakes when a cut makes room, and closed lanes are drained, then dropped", "[engine][ingest][threads]") {
  ingest in(1024);  // 16 chunks
  std::mt19937_64 rng(4);
  const delta d = make(rng, 0, 1, 1, 64);  // 2 chunks
  std::atomic<int> sent{0};
  std::thread producer([&] {
    auto p = in.make_producer(0);
    for (int k = 0; k < 100; ++k)
      if (p->submit(d)) sent.fetch_add(1);
  });
  delta_batch out;
  std::size_t got = 0;
  while (got < 100) {
    out.clear();
    got += in.cut(out);
  }
  producer.join();
  CHECK(sent.load() == 100);
  out.clear();
  CHECK(in.cut(out) == 0);
  CHECK(in.lanes() == 0);  // the handle is gone and its lane empty
}

TEST_CASE("ingest: four producers racing cuts, every delta exactly once and in order", "[engine][ingest][threads]") {
  const std::size_t per_producer = tt::scaled(200'000) / 4;
  ingest in(1 << 15);
  std::atomic<int> done{0};
  std::vector<std::thread> producers;
  for (std::uint32_t pid = 0; pid < 4; ++pid)
    producers.emplace_back([&, pid] {
      std::mt19937_64 rng(100 + pid);
      auto p = *in.make_producer(pid);
      for (std::uint64_t seq = 0; seq < per_producer; ++seq)
        (void)p.submit(make(rng, pid, seq, static_cast<std::uint32_t>(1 + seq / 1000), 64 + (seq % 5) * 40), yield_wait{});
      done.fetch_add(1);
    });
  std::vector<std::uint64_t> next(4, 0);
  std::size_t total = 0, cuts = 0, misordered = 0, out_of_sequence = 0;
  delta_batch out;
  while (done.load() < 4 || total < 4 * per_producer) {
    out.clear();
    const std::size_t n = in.cut(out);
    ++cuts;
    total += n;
    std::uint64_t prev_key = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t id = out.ids()[i];
      const auto pid = static_cast<std::uint32_t>(id >> 40);
      const std::uint64_t seq = id & ((std::uint64_t{1} << 40) - 1);
      if (pid >= 4 || seq != next[pid]) ++out_of_sequence;  // exactly once, in submit order
      if (pid < 4) next[pid] = seq + 1;
      const std::uint64_t key = (std::uint64_t{out.epochs()[i]} << 8) | pid;  // canonical: epoch, producer
      if (key < prev_key) ++misordered;
      prev_key = key;
    }
    if (total > 4 * per_producer) break;
  }
  for (auto& t : producers) t.join();
  CHECK(total == 4 * per_producer);
  CHECK(out_of_sequence == 0);
  CHECK(misordered == 0);
  for (std::uint32_t pid = 0; pid < 4; ++pid) CHECK(next[pid] == per_producer);
  CHECK(cuts > 1);
}
