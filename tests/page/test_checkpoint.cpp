// Checkpoints round-trip bit for bit, reject any damage, and replay (checkpoint + later log
// records) reproduces the recorded state from every checkpoint.
#include <tickflow/page/checkpoint.hpp>
#include <tickflow/page/log_apply.hpp>

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "support/catch.hpp"
#include "support/deltas.hpp"

using namespace tickflow;
namespace tt = tickflow::test;


TEST_CASE("a checkpoint round-trips ids, bytes and epochs", "[checkpoint]") {
  std::mt19937_64 rng(1);
  std::vector<page_id> ids;
  page_store s = tt::random_store(rng, ids, 60);
  for (auto id : ids) {
    delta d = tt::random_delta(rng, id, *s.page_size(id), epoch{static_cast<std::uint32_t>(1 + rng() % 9)});
    REQUIRE(s.apply(d));
  }
  const auto image = encode_checkpoint(s, epoch{9});
  auto cp = decode_checkpoint(image);
  REQUIRE(cp);
  CHECK(cp->at == epoch{9});
  CHECK(cp->digest == s.digest());
  CHECK(cp->store.digest() == s.digest());
  CHECK(cp->store.size() == s.size());
  for (auto id : ids) {
    REQUIRE(cp->store.contains(id));
    CHECK(*cp->store.epoch_of(id) == *s.epoch_of(id));
  }
  // The restored store keeps working: new pages get fresh ids.
  auto fresh = cp->store.create(10);
  REQUIRE(fresh);
  CHECK_FALSE(s.contains(*fresh));
}

TEST_CASE("any damaged byte or truncation of a checkpoint is refused", "[checkpoint]") {
  std::mt19937_64 rng(2);
  std::vector<page_id> ids;
  page_store s = tt::random_store(rng, ids, 6);
  const auto image = encode_checkpoint(s, epoch{3});
  REQUIRE(decode_checkpoint(image));
  for (std::size_t i = 0; i < image.size(); ++i) {
    auto copy = image;
    copy[i] ^= static_cast<std::byte>(1U << (i % 8));
    auto r = decode_checkpoint(copy);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::corrupt_data);
  }
  for (std::size_t cut = 0; cut < image.size(); cut += 7) {
    auto r = decode_checkpoint(std::span(image).first(cut));
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::corrupt_data);
  }
}

TEST_CASE("replay from every checkpoint reproduces the final state bit for bit", "[checkpoint][replay]") {
  std::mt19937_64 rng(3);
  std::vector<page_id> ids;
  page_store live = tt::random_store(rng, ids, 40);
  std::vector<std::vector<std::byte>> checkpoints;
  recovered_tlog log;
  for (std::uint32_t cycle = 1; cycle <= 1000; ++cycle) {
    const int n = 1 + static_cast<int>(rng() % 5);
    for (int k = 0; k < n; ++k) {
      const page_id id = ids[rng() % ids.size()];
      delta d = tt::random_delta(rng, id, *live.page_size(id), epoch{cycle});
      REQUIRE(live.apply(d));
      log.records.push_back(std::move(d));
    }
    if (cycle % 100 == 0) checkpoints.push_back(encode_checkpoint(live, epoch{cycle}));
  }
  const std::uint64_t final_digest = live.digest();
  REQUIRE(checkpoints.size() == 10);
  for (std::size_t c = 0; c < checkpoints.size(); ++c) {
    INFO("checkpoint " << c);
    auto cp = decode_checkpoint(checkpoints[c]);
    REQUIRE(cp);
    auto replayed = replay(std::move(*cp), log);
    REQUIRE(replayed);
    CHECK(replayed->digest == final_digest);
    CHECK(replayed->at == epoch{1000});
  }
}

TEST_CASE("checkpoint and log files: save, load, replay", "[checkpoint][replay]") {
  const std::string dir = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp");
  const std::string cpath = dir + "/tickflow_ckpt_" + std::to_string(::getpid());
  const std::string lpath = dir + "/tickflow_ckptlog_" + std::to_string(::getpid()) + ".tlog";
  std::remove(lpath.c_str());
  std::mt19937_64 rng(4);
  std::vector<page_id> ids;
  page_store live = tt::random_store(rng, ids, 20);
  auto w = tlog_writer::open(lpath, fsync_policy::per_epoch);
  REQUIRE(w);
  for (std::uint32_t cycle = 1; cycle <= 200; ++cycle) {
    const page_id id = ids[rng() % ids.size()];
    delta d = tt::random_delta(rng, id, *live.page_size(id), epoch{cycle});
    REQUIRE(live.apply(d));
    REQUIRE(w->append(d));
    if (cycle == 120) REQUIRE(save_checkpoint(live, epoch{cycle}, cpath));
  }
  REQUIRE(w->flush());
  auto cp = load_checkpoint(cpath);
  REQUIRE(cp);
  CHECK(cp->at == epoch{120});
  auto log = read_tlog(lpath);
  REQUIRE(log);
  auto replayed = replay(std::move(*cp), *log);
  REQUIRE(replayed);
  CHECK(replayed->digest == live.digest());
  std::remove(cpath.c_str());
  std::remove(lpath.c_str());
}

TEST_CASE("apply_log_records equals recovery then apply_all, on intact, damaged and invalid logs", "[page][replay]") {
  std::mt19937_64 rng(77);
  for (int trial = 0; trial < 60; ++trial) {
    page_store a, b;
    std::vector<page_id> ids;
    std::vector<std::size_t> sizes;
    for (int i = 0; i < 20; ++i) {
      sizes.push_back(1 + rng() % 200);
      ids.push_back(*a.create(sizes.back()));
      REQUIRE(b.create(sizes.back()));
    }
    std::vector<std::byte> log;
    std::uint32_t e = 1;
    for (int i = 0; i < 300; ++i) {
      if (rng() % 10 == 0) ++e;
      const std::size_t k = rng() % ids.size();
      delta d = tt::random_delta(rng, ids[k], sizes[k], epoch{e});
      if (trial % 4 == 1 && i == 150) d.page = page_id{ids[k].value() + 1};  // unknown generation
      if (trial % 4 == 2 && i == 200) d.at = epoch{0};                       // epoch regression
      detail::encode_record(d, log);
    }
    if (trial % 4 == 3) {  // damage or cut the tail
      if (trial % 8 == 3) log.resize(log.size() - 1 - rng() % 200);
      else log[log.size() / 2 + rng() % (log.size() / 2)] ^= std::byte{4};
    }
    std::vector<std::byte> image(detail::tlog_header_bytes, std::byte{0});
    std::memcpy(image.data(), detail::tlog_magic, 8);
    image[8] = static_cast<std::byte>(detail::tlog_version);
    image.insert(image.end(), log.begin(), log.end());
    const auto want = *parse_tlog(image);
    const auto expected = b.apply_all(want.records);
    const std::uint64_t before = a.digest();
    const auto got = apply_log_records(a, log);
    REQUIRE(static_cast<bool>(got) == static_cast<bool>(expected));
    if (got) {
      CHECK(got->records == want.records.size());
      CHECK(got->stop == want.stop);
      CHECK(got->intact_bytes + detail::tlog_header_bytes == want.intact_bytes);
      CHECK(a.digest() == b.digest());
    } else {
      CHECK(got.error().code == expected.error().code);
      CHECK(got.error().detail == expected.error().detail);
      CHECK(a.digest() == before);
    }
  }
}
