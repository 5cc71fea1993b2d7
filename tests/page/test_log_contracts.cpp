// Log, checkpoint and shape contracts that a review found loose, each as a class of test:
// header fields, torn headers seen the same way by every reader, whole images passed where
// records are expected, write failures undone with nothing acknowledged lost, checkpoints whose
// counts (behind a valid CRC) ask for more memory than the file justifies, the id table carried
// through checkpoints and snapshots, and the documented order of the shape checks.
#include <tickflow/columnar/tlog_batch.hpp>
#include <tickflow/core/crc32c.hpp>
#include <tickflow/page/checkpoint.hpp>
#include <tickflow/page/log_apply.hpp>
#include <tickflow/page/tlog.hpp>
#include <tickflow/validate/integrity.hpp>

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "support/catch.hpp"
#include "support/deltas.hpp"

using namespace tickflow;
namespace tt = tickflow::test;

namespace {

std::string temp_path(const char* tag) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/tickflow_lc_" + tag + "_" + std::to_string(::getpid());
}

std::vector<std::byte> read_all(const std::string& path) { return *detail::read_file(path); }
void write_all(const std::string& path, const std::vector<std::byte>& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  if (!bytes.empty()) REQUIRE(std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size());
  std::fclose(f);
}

delta small_delta(std::uint64_t id, std::uint32_t at) {
  delta d;
  d.page = page_id{(std::uint64_t{3} << 32) | 1};
  d.at = epoch{at};
  d.id = delta_id{id};
  d.offset = 2;
  d.length = 5;
  d.mask = {0x1F};
  d.payload.assign(5, static_cast<std::byte>(id));
  return d;
}

std::vector<std::byte> log_image(const std::vector<delta>& ds) {
  const auto h = detail::tlog_header();
  std::vector<std::byte> file(h.begin(), h.end());
  for (const auto& d : ds) detail::encode_record(d, file);
  return file;
}

void put32(std::vector<std::byte>& b, std::size_t at, std::uint32_t v) { detail::store_le(b.data() + at, v, 4); }
// Recomputes a checkpoint image's trailing CRC, so that a crafted field reaches the parser.
void reseal_checkpoint(std::vector<std::byte>& img) {
  const std::size_t body = img.size() - 4;
  put32(img, body, crc32c(std::span<const std::byte>(img.data(), body)));
}

}  // namespace

// ---------------------------------------------------------------- log headers

TEST_CASE("tlog: a non-zero reserved header word is corrupt data for every reader", "[tlog][contract]") {
  auto img = log_image({small_delta(1, 1), small_delta(2, 1)});
  put32(img, 12, 7);
  const auto r = parse_tlog(img);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::corrupt_data);
  CHECK(r.error().detail == 12);
  delta_batch batch;
  const auto b = recover_into(img, batch);
  REQUIRE_FALSE(b);
  CHECK(b.error() == r.error());
  CHECK(batch.size() == 0);
  const std::string path = temp_path("reserved");
  write_all(path, img);
  const auto w = tlog_writer::open(path, fsync_policy::never);
  REQUIRE_FALSE(w);
  CHECK(w.error().code == errc::corrupt_data);
  ::unlink(path.c_str());
}

TEST_CASE("tlog: a torn header reads as torn through parse_tlog, recover_into and open()", "[tlog][contract]") {
  const auto full = detail::tlog_header();
  for (std::size_t n = 0; n < full.size(); ++n) {
    const std::vector<std::byte> img(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    const auto r = parse_tlog(img);
    REQUIRE(r);
    CHECK(r->stop == tlog_stop::torn);
    CHECK(r->intact_bytes == 0);
    delta_batch batch;
    const auto b = recover_into(img, batch);
    REQUIRE(b);
    CHECK(b->stop == tlog_stop::torn);
    CHECK(b->intact_bytes == 0);
    const std::string path = temp_path("torn");
    write_all(path, img);
    {
      auto w = tlog_writer::open(path, fsync_policy::per_record);
      REQUIRE(w);
      CHECK(w->recovered().stop == r->stop);
      CHECK(w->recovered().intact_bytes == r->intact_bytes);
      CHECK(w->recovered().records.empty());
      REQUIRE(w->append(small_delta(1, 1)));
    }
    const auto again = read_tlog(path);
    REQUIRE(again);
    CHECK(again->records.size() == 1);
    CHECK(again->stop == tlog_stop::end_of_file);
    ::unlink(path.c_str());
  }
}

TEST_CASE("records readers refuse a whole image (header included) with a typed error", "[tlog][contract]") {
  page_store store;
  const page_id p = *store.create(64);
  delta d = small_delta(1, 1);
  d.page = p;
  const auto img = log_image({d});
  const auto before = store.digest();
  const auto a = apply_log_records(store, img);
  REQUIRE_FALSE(a);
  CHECK(a.error().code == errc::invalid_argument);
  CHECK(store.digest() == before);
  delta_batch batch;
  const auto r = recover_records_into(img, batch);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::invalid_argument);
  CHECK(batch.size() == 0);
  // The records part alone is accepted.
  const std::span<const std::byte> records = std::span<const std::byte>(img).subspan(detail::tlog_header_bytes);
  const auto ok = apply_log_records(store, records);
  REQUIRE(ok);
  CHECK(ok->records == 1);
  REQUIRE(recover_records_into(records, batch));
  CHECK(batch.size() == 1);
}

// ---------------------------------------------------------------- failed writes

namespace {
// Limits the file size this process may write (EFBIG past it; SIGXFSZ ignored), restoring the
// old limit on destruction.
struct file_size_limit {
  rlimit old{};
  explicit file_size_limit(rlim_t bytes) {
    ::signal(SIGXFSZ, SIG_IGN);
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
    rlimit lim = old;
    lim.rlim_cur = bytes;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &lim) == 0);
  }
  ~file_size_limit() { ::setrlimit(RLIMIT_FSIZE, &old); }
};
}  // namespace

TEST_CASE("tlog: a failed write is undone, nothing acknowledged is lost, later records recover in order", "[tlog][contract]") {
  for (const auto policy : {fsync_policy::per_record, fsync_policy::per_epoch, fsync_policy::never}) {
    const std::string path = temp_path("efbig");
    ::unlink(path.c_str());
    std::vector<delta> acknowledged;
    {
      auto w = tlog_writer::open(path, policy);
      REQUIRE(w);
      const std::uint64_t limit = 4096;
      std::uint64_t id = 1;
      bool failed = false;
      {
        file_size_limit lim(limit);
        // Big records (about 1.1 KiB each): per_record writes each at once; the buffered policies
        // are made to write by flush().
        for (int i = 0; i < 16 && !failed; ++i) {
          delta d = small_delta(id++, 1);
          d.length = 1000;
          d.mask.assign(mask_words(1000), ~std::uint64_t{0});
          d.mask.back() = (std::uint64_t{1} << (1000 % 64)) - 1;
          d.payload.assign(1000, static_cast<std::byte>(i));
          auto ok = w->append(d);
          if (ok && policy != fsync_policy::per_record) ok = w->flush();
          if (ok) {
            acknowledged.push_back(d);
          } else {
            CHECK(ok.error().code == errc::io_error);
            failed = true;
            if (policy == fsync_policy::per_record) {
              CHECK(w->buffered_bytes() == 0);  // the failed record is not kept
            } else {
              // A failed flush keeps the record buffered (append itself succeeded): it is
              // acknowledged to the buffer, and is written by a later flush.
              acknowledged.push_back(d);
            }
          }
        }
        REQUIRE(failed);
        CHECK_FALSE(w->is_failed());
        CHECK(w->file_bytes() <= limit);
        // The file holds exactly the complete writes: no partial record.
        CHECK(read_all(path).size() == w->file_bytes());
      }
      // With room again, the writer carries on.
      for (int i = 0; i < 3; ++i) {
        const delta d = small_delta(id++, 2);
        REQUIRE(w->append(d));
        acknowledged.push_back(d);
      }
      REQUIRE(w->flush());
    }
    const auto rec = read_tlog(path);
    REQUIRE(rec);
    CHECK(rec->stop == tlog_stop::end_of_file);
    CHECK(rec->records == acknowledged);
    ::unlink(path.c_str());
  }
}

// ---------------------------------------------------------------- checkpoints

TEST_CASE("checkpoint: counts behind a valid CRC never drive an allocation beyond the file", "[checkpoint][contract]") {
  page_store s;
  std::vector<page_id> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(*s.create(64));
  REQUIRE(s.release(ids[1]));
  const auto img = encode_checkpoint(s, epoch{3});
  REQUIRE(decode_checkpoint(img));
  const std::size_t n_at = 16, k_at = 24, m_at = 32, table_at = detail::checkpoint_head_bytes;
  const std::size_t n = 4, k = 1;
  const std::size_t pages_at = table_at + 4 * (n + k);
  struct crafted {
    const char* what;
    std::size_t at;
    std::uint64_t value;
    int bytes;
  };
  const crafted cases[] = {
      {"table size 2^32", n_at, std::uint64_t{1} << 32, 8},
      {"table size 2^62", n_at, std::uint64_t{1} << 62, 8},
      {"table size all ones", n_at, ~std::uint64_t{0}, 8},
      {"free list all ones", k_at, ~std::uint64_t{0}, 8},
      {"page count 2^40", m_at, std::uint64_t{1} << 40, 8},
      {"page index 0xFFFFFFFE", pages_at, (std::uint64_t{0xFFFFFFFE} << 32) | 1, 8},
      {"page index 2^28", pages_at, (std::uint64_t{1} << 60) | 1, 8},
      {"page index 2^20", pages_at, (std::uint64_t{1} << 52) | 1, 8},
      {"page size 2^31", pages_at + 8, std::uint64_t{1} << 31, 4},
      {"generation of a live page", table_at, 99, 4},
      {"free index out of the table", table_at + 4 * n, 0xFFFFFFFE, 4},
      {"free index alive", table_at + 4 * n, 0, 4},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto bad = img;
    detail::store_le(bad.data() + c.at, c.value, c.bytes);
    reseal_checkpoint(bad);
    const auto r = decode_checkpoint(bad);  // must not throw bad_alloc
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::corrupt_data);
  }
  // Version 1 images are refused as unsupported.
  auto v1 = img;
  v1[7] = std::byte{'1'};
  put32(v1, 8, 1);
  reseal_checkpoint(v1);
  const auto r1 = decode_checkpoint(v1);
  REQUIRE_FALSE(r1);
  CHECK(r1.error().detail == 8);
}

TEST_CASE("checkpoint and snapshot carry the id table: the loaded store hands out the same ids", "[checkpoint][contract]") {
  std::mt19937_64 rng(77);
  page_store s;
  std::vector<page_id> live;
  for (int round = 0; round < 400; ++round) {
    if (live.empty() || rng() % 3 != 0) {
      live.push_back(*s.create(1 + rng() % 200));
    } else {
      const std::size_t k = rng() % live.size();
      REQUIRE(s.release(live[k]));
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
    }
  }
  auto cp = decode_checkpoint(encode_checkpoint(s, epoch{1}));
  REQUIRE(cp);
  page_store restored;
  REQUIRE(restored.restore(s.snapshot()));
  CHECK(std::ranges::equal(cp->store.id_generations(), s.id_generations()));
  CHECK(std::ranges::equal(cp->store.id_free_list(), s.id_free_list()));
  for (int i = 0; i < 300; ++i) {
    const auto a = s.create(8), b = cp->store.create(8), c = restored.create(8);
    REQUIRE(a);
    REQUIRE(b);
    REQUIRE(c);
    CHECK(*a == *b);
    CHECK(*a == *c);
  }
}

TEST_CASE("page_store::rebuild checks the id table and changes nothing on failure", "[page][contract]") {
  page_store s;
  const page_id a = *s.create(16), b = *s.create(16);
  REQUIRE(s.release(a));
  const auto digest = s.digest();
  const std::vector<std::byte> bytes(16, std::byte{1});
  using rec = page_store::page_record;
  const std::vector<std::uint32_t> gens{1, 1, 1};
  const auto id = [](std::uint64_t index, std::uint32_t gen) { return page_id{(index << 32) | gen}; };
  struct bad_case {
    const char* what;
    std::vector<std::uint32_t> free_ids;
    std::vector<rec> pages;
    errc code;
  };
  const bad_case cases[] = {
      {"generation mismatch", {0, 1}, {rec{id(2, 5), bytes, epoch{0}}}, errc::invalid_argument},
      {"index outside the table", {0, 1}, {rec{id(3, 1), bytes, epoch{0}}}, errc::invalid_argument},
      {"index given twice", {0}, {rec{id(2, 1), bytes, epoch{0}}, rec{id(2, 1), bytes, epoch{0}}}, errc::duplicate_id},
      {"free list names a live index", {2, 1}, {rec{id(2, 1), bytes, epoch{0}}}, errc::invalid_argument},
      {"free list repeats an index", {1, 1}, {rec{id(2, 1), bytes, epoch{0}}}, errc::invalid_argument},
      {"free list too short", {1}, {rec{id(2, 1), bytes, epoch{0}}}, errc::invalid_argument},
      {"empty page", {0, 1}, {rec{id(2, 1), {}, epoch{0}}}, errc::invalid_argument},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    const auto r = s.rebuild(gens, c.free_ids, c.pages.size(), [&](std::size_t i) { return c.pages[i]; });
    REQUIRE_FALSE(r);
    CHECK(r.error().code == c.code);
    CHECK(s.digest() == digest);
    CHECK(s.contains(b));
  }
  REQUIRE(s.rebuild(gens, std::vector<std::uint32_t>{0, 1}, 1, [&](std::size_t) { return rec{id(2, 1), bytes, epoch{4}}; }));
  CHECK(s.size() == 1);
  CHECK(*s.epoch_of(id(2, 1)) == epoch{4});
  CHECK(s.create(8)->value() == id(1, 2).value());  // the free list's last entry is reused first
}

// ---------------------------------------------------------------- shape order

TEST_CASE("check_shape reports the first broken rule in the documented order", "[delta][contract]") {
  delta d = small_delta(1, 1);
  REQUIRE(check_shape(d));
  delta bad = d;
  bad.length = 0;
  bad.kind = static_cast<delta_kind>(7);  // also broken, but later in the order
  CHECK(check_shape(bad).error() == error{errc::out_of_range, 0});
  bad = d;
  bad.offset = 0xFFFFFFFF;
  bad.mask.clear();  // mask_length also broken, later
  CHECK(check_shape(bad).error() == error{errc::out_of_range, 0xFFFFFFFF});
  bad = d;
  bad.mask = {0x1F, 0};
  bad.payload.clear();
  CHECK(check_shape(bad).error() == error{errc::mask_length, 2});
  bad = d;
  bad.mask = {0xFF};
  bad.kind = static_cast<delta_kind>(7);
  CHECK(check_shape(bad).error() == error{errc::stray_mask_bits, 5});
  bad = d;
  bad.kind = static_cast<delta_kind>(7);
  bad.payload.clear();
  CHECK(check_shape(bad).error() == error{errc::invalid_argument, 7});
  bad = d;
  bad.payload.pop_back();
  CHECK(check_shape(bad).error() == error{errc::payload_mismatch, 4});
}

// ---------------------------------------------------------------- integrity checker

TEST_CASE("integrity: a delta rejected only as a duplicate does not move the running epoch", "[integrity][contract]") {
  page_store s;
  const page_id p = *s.create(64);
  integrity_checker chk(s);
  delta d1 = small_delta(10, 5);
  d1.page = p;
  delta dup = small_delta(10, 9);  // same id, a later epoch: rejected as a duplicate only
  dup.page = p;
  delta d3 = small_delta(11, 6);  // above 5, below 9: valid only if the duplicate moved nothing
  d3.page = p;
  chk.check(d1);
  chk.check(dup);
  chk.check(d3);
  const auto& rep = chk.report();
  REQUIRE(rep.total() == 1);
  REQUIRE(rep.violations.size() == 1);
  CHECK(rep.violations[0].kind == violation_kind::duplicate_delta_id);
  CHECK(rep.violations[0].index == 1);
  CHECK(rep.violations[0].detail == 10);  // the delta id, as documented
  CHECK(rep.count(violation_kind::epoch_regression) == 0);
}

TEST_CASE("tlog: the delta-only readers refuse an engine log whole, naming the first event", "[tlog][contract][events]") {
  std::mt19937_64 rng(8);
  std::vector<page_id> ids;
  page_store store = tt::random_store(rng, ids, 20);
  const auto before = store.digest();
  const auto header = detail::tlog_header();
  std::vector<std::byte> image(header.begin(), header.end());
  for (int i = 0; i < 5; ++i) detail::encode_record(tt::random_delta(rng, ids[static_cast<std::size_t>(i)], *store.page_size(ids[static_cast<std::size_t>(i)]), epoch{1}), image);
  detail::encode_event({tlog_event_kind::step, epoch{1}, {}, {}, 0, 0, 0}, image);
  detail::encode_record(tt::random_delta(rng, ids[6], *store.page_size(ids[6]), epoch{2}), image);
  const auto records = std::span<const std::byte>(image).subspan(detail::tlog_header_bytes);
  page_log_applier applier;
  const auto applied = applier.apply(store, records);
  REQUIRE_FALSE(applied);
  CHECK(applied.error() == error{errc::invalid_argument, 5});
  CHECK(store.digest() == before);  // nothing applied
  delta_batch batch;
  batch.push_back(tt::random_delta(rng, ids[0], *store.page_size(ids[0]), epoch{1}));
  const auto scanned = recover_into(image, batch);
  REQUIRE_FALSE(scanned);
  CHECK(scanned.error() == error{errc::invalid_argument, 5});
  CHECK(batch.size() == 1);  // the rows already there, and none added
  const auto parsed = parse_tlog(image);
  REQUIRE(parsed);
  CHECK(parsed->records.size() == 6);
  REQUIRE(parsed->events.size() == 1);
  CHECK(parsed->events[0].position == 5);
}
