// The transaction log: round trips, recovery of the intact prefix after truncation at every
// offset and after every single-bit flip, random mutations, and SIGKILL in the middle of appends.
#include <tickflow/core/crc32c.hpp>
#include <tickflow/page/tlog.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "support/catch.hpp"
#include "support/deltas.hpp"
#include "support/scale.hpp"

using namespace tickflow;
namespace tt = tickflow::test;

namespace {

std::string temp_path(const char* tag) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/tickflow_" + tag + "_" + std::to_string(::getpid()) + ".tlog";
}

// A deterministic sequence of deltas with non-decreasing epochs.
std::vector<delta> make_log(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<delta> out;
  std::uint32_t e = 1;
  for (std::size_t i = 0; i < n; ++i) {
    if (rng() % 4 == 0) ++e;
    out.push_back(tt::random_delta(rng, page_id{1 + rng() % 5}, 1 + rng() % 150, epoch{e}));
  }
  return out;
}

std::vector<std::byte> encode_log(const std::vector<delta>& ds, std::vector<std::size_t>* ends = nullptr) {
  std::vector<std::byte> file(detail::tlog_header_bytes, std::byte{0});
  std::memcpy(file.data(), detail::tlog_magic, 8);
  file[8] = static_cast<std::byte>(detail::tlog_version);
  for (const auto& d : ds) {
    detail::encode_record(d, file);
    if (ends) ends->push_back(file.size());
  }
  return file;
}

}  // namespace

TEST_CASE("crc32c: check value, chaining, hardware equals table", "[tlog][crc]") {
  const char* s = "123456789";
  CHECK(crc32c(std::as_bytes(std::span<const char>(s, 9))) == 0xE3069283U);
  std::mt19937_64 rng(1);
  for (int k = 0; k < 200; ++k) {
    std::vector<std::byte> data(rng() % 300);
    for (auto& b : data) b = static_cast<std::byte>(rng());
    const std::size_t cut = data.empty() ? 0 : rng() % data.size();
    const std::uint32_t whole = crc32c(data);
    CHECK(crc32c(std::span(data).subspan(cut), crc32c(std::span(data).first(cut))) == whole);
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    CHECK(~detail::crc32c_sw(~0U, p, data.size()) == whole);
  }
  // Four buffers at once, of unequal lengths (0 included), equal four single calls.
  for (int k = 0; k < 200; ++k) {
    std::vector<std::byte> bufs[4];
    std::span<const std::byte> spans[4];
    for (int j = 0; j < 4; ++j) {
      bufs[j].resize(rng() % 200);
      for (auto& b : bufs[j]) b = static_cast<std::byte>(rng());
      spans[j] = bufs[j];
    }
    std::uint32_t out[4];
    crc32c_x4(spans, out);
    for (int j = 0; j < 4; ++j) CHECK(out[j] == crc32c(spans[j]));
  }
}

TEST_CASE("tlog round trip under every fsync policy", "[tlog]") {
  const auto log = make_log(300, 2);
  for (auto policy : {fsync_policy::never, fsync_policy::per_epoch, fsync_policy::per_record}) {
    const std::string path = temp_path("roundtrip");
    std::remove(path.c_str());
    {
      auto w = tlog_writer::open(path, policy);
      REQUIRE(w);
      for (const auto& d : log) REQUIRE(w->append(d));
      REQUIRE(w->flush());
      CHECK(w->appended() == log.size());
    }
    auto r = read_tlog(path);
    REQUIRE(r);
    CHECK(r->stop == tlog_stop::end_of_file);
    CHECK(r->records == log);
    std::remove(path.c_str());
  }
}

TEST_CASE("appending an older epoch or an ill-formed delta is refused", "[tlog]") {
  const std::string path = temp_path("refuse");
  std::remove(path.c_str());
  auto w = tlog_writer::open(path, fsync_policy::never);
  REQUIRE(w);
  std::mt19937_64 rng(3);
  REQUIRE(w->append(tt::random_delta(rng, page_id{1}, 64, epoch{5})));
  auto old = w->append(tt::random_delta(rng, page_id{1}, 64, epoch{4}));
  REQUIRE_FALSE(old);
  CHECK(old.error().code == errc::epoch_regression);
  delta bad = tt::random_delta(rng, page_id{1}, 64, epoch{6});
  bad.mask.push_back(0);
  CHECK(w->append(bad).error().code == errc::mask_length);
  CHECK(w->appended() == 1);
  std::remove(path.c_str());
}

TEST_CASE("truncation at every byte offset recovers exactly the intact prefix", "[tlog]") {
  const auto log = make_log(25, 4);
  std::vector<std::size_t> ends;
  const auto file = encode_log(log, &ends);
  for (std::size_t cut = 0; cut <= file.size(); ++cut) {
    auto r = parse_tlog(std::span(file).first(cut));
    REQUIRE(r);
    std::size_t whole = 0;
    while (whole < ends.size() && ends[whole] <= cut) ++whole;
    REQUIRE(r->records.size() == whole);
    CHECK(std::equal(r->records.begin(), r->records.end(), log.begin()));
    const std::size_t boundary = whole == 0 ? detail::tlog_header_bytes : ends[whole - 1];
    if (cut >= detail::tlog_header_bytes) CHECK(r->intact_bytes == boundary);
    CHECK(r->stop == (cut == boundary ? tlog_stop::end_of_file : tlog_stop::torn));
  }
}

TEST_CASE("every single-bit flip stops recovery at the flipped record", "[tlog]") {
  const auto log = make_log(12, 5);
  std::vector<std::size_t> ends;
  const auto file = encode_log(log, &ends);
  const std::size_t victim = 6;
  const std::size_t from = ends[victim - 1], to = ends[victim];
  for (std::size_t byte = from; byte < to; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      auto copy = file;
      copy[byte] ^= static_cast<std::byte>(1U << bit);
      auto r = parse_tlog(copy);
      REQUIRE(r);
      REQUIRE(r->records.size() == victim);
      CHECK(std::equal(r->records.begin(), r->records.end(), log.begin()));
      CHECK(r->stop != tlog_stop::end_of_file);
      CHECK(r->intact_bytes == from);
    }
  }
  // A flip in the file header is an error, not an empty log.
  auto copy = file;
  copy[3] ^= std::byte{0x10};
  CHECK(parse_tlog(copy).error().code == errc::corrupt_data);
}

TEST_CASE("random mutations never yield a damaged record (corpus replay)", "[tlog][fuzz]") {
  const auto log = make_log(20, 6);
  const auto file = encode_log(log);
  std::mt19937_64 rng(7);
  const int rounds = static_cast<int>(tickflow::test::scaled(20000));
  for (int k = 0; k < rounds; ++k) {
    auto copy = file;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = detail::tlog_header_bytes + rng() % (copy.size() - detail::tlog_header_bytes);
      switch (rng() % 3) {
        case 0: copy[at] = static_cast<std::byte>(rng()); break;
        case 1: copy.erase(copy.begin() + static_cast<std::ptrdiff_t>(at)); break;
        default: copy.insert(copy.begin() + static_cast<std::ptrdiff_t>(at), static_cast<std::byte>(rng())); break;
      }
    }
    auto r = parse_tlog(copy);
    REQUIRE(r);
    REQUIRE(r->intact_bytes <= copy.size());
    for (std::size_t i = 0; i < r->records.size(); ++i) REQUIRE(check_shape(r->records[i]));
  }
}

TEST_CASE("open cuts a torn or damaged tail and appends after the intact prefix", "[tlog]") {
  const std::string path = temp_path("reopen");
  std::remove(path.c_str());
  const auto log = make_log(10, 8);
  std::vector<std::size_t> ends;
  auto file = encode_log(log, &ends);
  file.resize(ends[6] + 5);  // a torn seventh+ record
  {
    FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f != nullptr);
    REQUIRE(std::fwrite(file.data(), 1, file.size(), f) == file.size());
    std::fclose(f);
  }
  {
    auto w = tlog_writer::open(path, fsync_policy::per_record);
    REQUIRE(w);
    CHECK(w->recovered().records.size() == 7);
    CHECK(w->recovered().stop == tlog_stop::torn);
    REQUIRE(w->append(log[7]));
  }
  auto r = read_tlog(path);
  REQUIRE(r);
  CHECK(r->stop == tlog_stop::end_of_file);
  REQUIRE(r->records.size() == 8);
  CHECK(std::equal(r->records.begin(), r->records.end(), log.begin()));
  std::remove(path.c_str());
}

TEST_CASE("SIGKILL during appends: only whole records, nothing acknowledged is lost", "[tlog][crash]") {
  const auto log = make_log(4000, 9);
  std::mt19937_64 rng(10);
  const std::string path = temp_path("kill");
  int runs_with_records = 0, runs_cut_short = 0;
  for (int round = 0; round < 100; ++round) {
    std::remove(path.c_str());
    int ack[2];
    REQUIRE(::pipe(ack) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::close(ack[0]);
      auto w = tlog_writer::open(path, fsync_policy::per_record);
      if (!w) ::_exit(2);
      for (std::uint32_t i = 0; i < log.size(); ++i) {
        if (!w->append(log[i])) ::_exit(3);
        if (::write(ack[1], &i, sizeof i) != sizeof i) ::_exit(4);  // acknowledged
      }
      ::_exit(0);
    }
    ::close(ack[1]);
    // The kill lands once the child has acknowledged a random number of records (not after a
    // random sleep: on a fast disk the child could finish first), while it keeps appending.
    const auto target = static_cast<std::uint32_t>(rng() % 3000);
    std::uint32_t acked = 0, v = 0;
    while (acked < target && ::read(ack[0], &v, sizeof v) == static_cast<ssize_t>(sizeof v)) acked = v + 1;
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    while (::read(ack[0], &v, sizeof v) == static_cast<ssize_t>(sizeof v)) acked = v + 1;
    ::close(ack[0]);
    auto r = read_tlog(path);
    if (!r) {
      // Killed before the header existed at all.
      REQUIRE(r.error().code == errc::not_found);
      REQUIRE(acked == 0);
      continue;
    }
    INFO("round " << round << ": acknowledged " << acked << ", recovered " << r->records.size());
    REQUIRE(r->stop != tlog_stop::damaged);
    REQUIRE(r->records.size() >= acked);
    REQUIRE(r->records.size() <= log.size());
    REQUIRE(std::equal(r->records.begin(), r->records.end(), log.begin()));
    runs_with_records += r->records.empty() ? 0 : 1;
    runs_cut_short += r->records.size() < log.size() ? 1 : 0;
  }
  std::remove(path.c_str());
  // The kills did land in the middle of appending.
  CHECK(runs_with_records > 50);
  CHECK(runs_cut_short > 90);
  INFO("runs with records " << runs_with_records << ", cut short " << runs_cut_short);
}

TEST_CASE("tlog: engine events round trip among deltas, in order, through the writer and recovery", "[tlog][events]") {
  const std::string path = temp_path("events");
  ::unlink(path.c_str());
  using k = tlog_event_kind;
  const page_id a{(std::uint64_t{3} << 32) | 1}, b{(std::uint64_t{4} << 32) | 2};
  const auto ds = make_log(40, 12);
  std::vector<tlog_event> events;
  {
    auto w = tlog_writer::open(path, fsync_policy::per_epoch);
    REQUIRE(w);
    for (std::size_t i = 0; i < ds.size(); ++i) {
      REQUIRE(w->append(ds[i]));
      if (i % 10 == 9) {
        const epoch at = ds[i].at;
        const std::vector<tlog_event> some = {{k::page_create, at, a, {}, 64, 0, i + 1},
                                              {k::edge_insert, at, a, b, 1, 0x4000000000000000ULL, i + 1},
                                              {k::edge_remove, at, a, b, 0, 0, i + 1},
                                              {k::page_release, at, a, {}, 0, 0, i + 1},
                                              {k::step, at, {}, {}, 0, 0, i + 1}};
        for (const auto& e : some) {
          REQUIRE(w->append(e));
          events.push_back(e);
        }
      }
    }
    // Bad events: typed, not appended.
    CHECK(w->append(tlog_event{k::step, epoch{0}, {}, {}, 0, 0, 0}).error().code == errc::epoch_regression);
    CHECK(w->append(tlog_event{k::page_create, ds.back().at, a, {}, 0, 0, 0}).error().code == errc::invalid_argument);
    CHECK(w->append(tlog_event{k::edge_insert, ds.back().at, a, b, 7, 0, 0}).error().code == errc::invalid_argument);
    CHECK(w->append(tlog_event{k::step, ds.back().at, a, {}, 0, 0, 0}).error().code == errc::invalid_argument);
    CHECK(w->append(tlog_event{static_cast<k>(9), ds.back().at, {}, {}, 0, 0, 0}).error().code == errc::invalid_argument);
  }
  auto r = read_tlog(path);
  REQUIRE(r);
  CHECK(r->stop == tlog_stop::end_of_file);
  CHECK(r->records == ds);
  CHECK(r->events == events);
  // Reopening continues after the last event's epoch.
  {
    auto w = tlog_writer::open(path, fsync_policy::never);
    REQUIRE(w);
    CHECK(w->recovered().events.size() == events.size());
    CHECK(w->append(tlog_event{k::step, epoch{0}, {}, {}, 0, 0, 0}).error().code == errc::epoch_regression);
  }
  ::unlink(path.c_str());
}

TEST_CASE("tlog: a damaged event stops recovery, and version 1 logs still read", "[tlog][events]") {
  using k = tlog_event_kind;
  const auto ds = make_log(6, 13);
  auto image = encode_log(ds);
  const std::size_t event_at = image.size();
  detail::encode_event({k::edge_insert, ds.back().at, page_id{5}, page_id{6}, 0, 42, 0}, image);
  detail::encode_record(ds.back(), image);
  {
    const auto r = parse_tlog(image);
    REQUIRE(r);
    CHECK(r->events.size() == 1);
    CHECK(r->events[0].position == ds.size());
    CHECK(r->records.size() == ds.size() + 1);
  }
  // A field set that the kind does not use, resealed so that only the parse can catch it.
  for (const std::size_t field : {std::size_t{24}, std::size_t{12}}) {
    auto bad = image;
    std::byte* body = bad.data() + event_at + detail::tlog_record_header_bytes;
    if (field == 12) body[28] = static_cast<std::byte>(k::step);  // a step with a page and a child
    else body[24] = std::byte{1};                                // the reserved word
    detail::store_le(bad.data() + event_at + 4, crc32c(std::span<const std::byte>(body, detail::tlog_event_body_bytes)), 4);
    const auto r = parse_tlog(bad);
    REQUIRE(r);
    CHECK(r->stop == tlog_stop::damaged);
    CHECK(r->reason == errc::corrupt_data);
    CHECK(r->records.size() == ds.size());
    CHECK(r->events.empty());
    CHECK(r->intact_bytes == event_at);
  }
  auto v1 = encode_log(ds);
  v1[8] = std::byte{1};
  const auto r1 = parse_tlog(v1);
  REQUIRE(r1);
  CHECK(r1->records == ds);
  v1[8] = std::byte{3};
  CHECK(parse_tlog(v1).error().code == errc::corrupt_data);
}
