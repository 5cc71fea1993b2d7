// The segmented log: segments roll at epoch boundaries past their size, read back in order as
// one log, recover a torn newest segment, refuse a gap, and drop exactly the segments a
// checkpoint covers (a checkpoint plus the segments left replays to the final store).
#include <tickflow/page/checkpoint.hpp>
#include <tickflow/page/tlog_segments.hpp>

#include <sys/stat.h>
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

namespace {

// A fresh folder, removed with its files at the end of the test.
struct temp_folder {
  std::string path;
  explicit temp_folder(const char* tag) {
    const char* dir = std::getenv("TMPDIR");
    path = std::string(dir != nullptr ? dir : "/tmp") + "/tickflow_seg_" + tag + "_" + std::to_string(::getpid());
    clear();
    REQUIRE(::mkdir(path.c_str(), 0755) == 0);
  }
  ~temp_folder() {
    clear();
    ::rmdir(path.c_str());
  }
  void clear() const {
    if (auto segs = detail::list_segments(path))
      for (const auto& s : *segs) ::unlink(s.path.c_str());
    ::unlink((path + "/checkpoint").c_str());
  }
};

bool same(const delta& a, const delta& b) {
  return a.page == b.page && a.at == b.at && a.id == b.id && a.offset == b.offset && a.length == b.length && a.kind == b.kind &&
         a.mask == b.mask && a.payload == b.payload;
}

}  // namespace

TEST_CASE("segmented log: segments roll at epoch boundaries and read back as one log", "[tlog][segments]") {
  temp_folder dir("roll");
  std::mt19937_64 rng(5);
  tt::page_world w;
  tt::add_pages(w, rng, 40, 200, 1);
  const auto stream = tt::random_stream(rng, w, 3000, 1, 20);
  {
    auto log = segmented_tlog::open(dir.path, fsync_policy::never, 16 << 10);
    REQUIRE(log);
    CHECK(log->segments().empty());  // nothing until the first append
    for (const auto& d : stream) REQUIRE(log->append(d));
    REQUIRE(log->commit());
    REQUIRE(log->segments().size() > 5);
    std::uint64_t sum = 0;
    for (const auto& s : log->segments()) {
      struct stat st {};
      REQUIRE(::stat(s.path.c_str(), &st) == 0);
      sum += static_cast<std::uint64_t>(st.st_size);
    }
    CHECK(log->file_bytes() == sum);
    // Every record of a segment is below the next segment's first epoch, which its name holds.
    const auto& segs = log->segments();
    for (std::size_t i = 0; i < segs.size(); ++i) {
      auto one = read_tlog(segs[i].path);
      REQUIRE(one);
      REQUIRE_FALSE(one->records.empty());
      CHECK(one->records.front().at == segs[i].first);
      if (i + 1 < segs.size()) CHECK(one->records.back().at < segs[i + 1].first);
    }
    // A regression is refused across segments too.
    delta late = stream.front();
    CHECK(log->append(late).error().code == errc::epoch_regression);
  }
  auto all = read_tlog_segments(dir.path);
  REQUIRE(all);
  CHECK(all->stop == tlog_stop::end_of_file);
  REQUIRE(all->records.size() == stream.size());
  for (std::size_t i = 0; i < stream.size(); ++i) REQUIRE(same(all->records[i], stream[i]));
}

TEST_CASE("segmented log: a torn newest segment is cut back on open, and appends go on after it", "[tlog][segments]") {
  temp_folder dir("torn");
  std::mt19937_64 rng(6);
  tt::page_world w;
  tt::add_pages(w, rng, 20, 200, 2);
  const auto stream = tt::random_stream(rng, w, 1200, 1, 10);
  std::size_t segments = 0;
  {
    auto log = segmented_tlog::open(dir.path, fsync_policy::never, 8 << 10);
    REQUIRE(log);
    for (std::size_t i = 0; i < 1000; ++i) REQUIRE(log->append(stream[i]));
    REQUIRE(log->commit());
    segments = log->segments().size();
    REQUIRE(segments > 3);
  }
  // Tear the newest segment in the middle of its last record.
  auto segs = detail::list_segments(dir.path);
  REQUIRE(segs);
  REQUIRE(::truncate(segs->back().path.c_str(), static_cast<off_t>(segs->back().bytes - 3)) == 0);
  std::size_t kept = 0;
  {
    auto log = segmented_tlog::open(dir.path, fsync_policy::never, 8 << 10);
    REQUIRE(log);
    CHECK(log->recovered().stop == tlog_stop::torn);
    kept = 999;  // every record but the torn last one
    for (std::size_t i = 1000; i < stream.size(); ++i) REQUIRE(log->append(stream[i]));
    REQUIRE(log->commit());
  }
  auto all = read_tlog_segments(dir.path);
  REQUIRE(all);
  CHECK(all->stop == tlog_stop::end_of_file);
  REQUIRE(all->records.size() == kept + (stream.size() - 1000));
  for (std::size_t i = 0; i < kept; ++i) REQUIRE(same(all->records[i], stream[i]));
  for (std::size_t i = 1000; i < stream.size(); ++i) REQUIRE(same(all->records[kept + i - 1000], stream[i]));
  // A segment missing in the middle is corrupt data, naming the missing sequence number.
  segs = detail::list_segments(dir.path);
  REQUIRE(segs);
  REQUIRE(::unlink((*segs)[2].path.c_str()) == 0);
  const auto gap = read_tlog_segments(dir.path);
  REQUIRE_FALSE(gap);
  CHECK(gap.error() == error{errc::corrupt_data, (*segs)[2].sequence});
  CHECK_FALSE(segmented_tlog::open(dir.path, fsync_policy::never));
}

TEST_CASE("segmented log: a checkpoint drops exactly the segments it covers, and replay still reaches the final store", "[tlog][segments]") {
  temp_folder dir("drop");
  std::mt19937_64 rng(7);
  tt::page_world w;
  tt::add_pages(w, rng, 30, 200, 3);
  const auto start = w.store.snapshot();
  const auto stream = tt::random_stream(rng, w, 4000, 1, 15);
  auto log = segmented_tlog::open(dir.path, fsync_policy::never, 12 << 10);
  REQUIRE(log);
  page_store live, at_checkpoint;
  REQUIRE(live.restore(start));
  REQUIRE(at_checkpoint.restore(start));
  const std::uint32_t checkpoint_epoch = stream[2500].at.value();
  for (const auto& d : stream) {
    REQUIRE(log->append(d));
    REQUIRE(live.apply(d));
    if (d.at.value() <= checkpoint_epoch) REQUIRE(at_checkpoint.apply(d));
  }
  REQUIRE(log->commit());
  const std::string cp_path = dir.path + "/checkpoint";
  REQUIRE(save_checkpoint(at_checkpoint, epoch{checkpoint_epoch}, cp_path));
  const auto before = log->segments();
  REQUIRE(before.size() > 6);
  // Which should go: a segment whose successor starts at or below checkpoint + 1.
  std::size_t want = 0;
  std::uint64_t want_bytes = 0;
  while (want + 1 < before.size() && before[want + 1].first.value() <= checkpoint_epoch + 1) want_bytes += before[want++].bytes;
  REQUIRE(want > 2);
  REQUIRE(want < before.size() - 1);
  // A slice told to stop after one segment drops one, and says more are left.
  int asked = 0;
  auto one = log->drop_covered(epoch{checkpoint_epoch}, [&] { return asked++ == 1; });
  REQUIRE(one);
  CHECK(one->segments == 1);
  CHECK(one->more);
  auto rest = log->drop_covered(epoch{checkpoint_epoch});
  REQUIRE(rest);
  CHECK(one->segments + rest->segments == want);
  CHECK(one->bytes + rest->bytes == want_bytes);
  CHECK_FALSE(rest->more);
  CHECK_FALSE(log->droppable(epoch{checkpoint_epoch}));
  CHECK(log->segments().size() == before.size() - want);
  for (std::size_t i = 0; i < want; ++i) CHECK(::access(before[i].path.c_str(), F_OK) != 0);
  // Every record above the checkpoint is still there; checkpoint + log = the final store.
  auto left = read_tlog_segments(dir.path);
  REQUIRE(left);
  REQUIRE_FALSE(left->records.empty());
  CHECK(left->records.front().at.value() <= checkpoint_epoch + 1);
  auto cp = load_checkpoint(cp_path);
  REQUIRE(cp);
  auto replayed = replay(std::move(*cp), *left);
  REQUIRE(replayed);
  CHECK(replayed->store.digest() == live.digest());
  // The newest segment is never dropped, whatever the checkpoint.
  auto all = log->drop_covered(epoch{0xFFFFFFF0U});
  REQUIRE(all);
  CHECK(log->segments().size() == 1);
  CHECK(log->append(stream.back()));  // and the log goes on
}

TEST_CASE("segmented log: framed batches go whole to one segment and a zero segment size is refused", "[tlog][segments]") {
  temp_folder dir("batch");
  CHECK(segmented_tlog::open(dir.path, fsync_policy::never, 0).error().code == errc::invalid_argument);
  CHECK(segmented_tlog::open(dir.path + "/absent", fsync_policy::never).error().code == errc::not_found);
  std::mt19937_64 rng(8);
  tt::page_world w;
  tt::add_pages(w, rng, 10, 100, 4);
  auto log = segmented_tlog::open(dir.path, fsync_policy::per_epoch, 2 << 10);
  REQUIRE(log);
  std::vector<delta> all;
  std::uint32_t e = 1;
  for (int batch = 0; batch < 40; ++batch) {
    // Each batch: records over three epochs, the first possibly equal to the last batch's.
    std::vector<std::byte> frames;
    if (batch % 3 != 0) ++e;
    for (int k = 0; k < 12; ++k) {
      if (k % 4 == 3) ++e;
      const std::size_t p = rng() % w.ids.size();
      all.push_back(tt::random_delta(rng, w.ids[p], w.sizes[p], epoch{e}));
      detail::encode_record(all.back(), frames);
    }
    REQUIRE(log->append_records(frames));
  }
  REQUIRE(log->commit());
  REQUIRE(log->segments().size() > 3);
  std::size_t seen = 0;
  for (const auto& s : log->segments()) {
    auto one = read_tlog(s.path);
    REQUIRE(one);
    CHECK(one->records.size() % 12 == 0);  // whole batches only
    seen += one->records.size();
  }
  CHECK(seen == all.size());
  auto back = read_tlog_segments(dir.path);
  REQUIRE(back);
  REQUIRE(back->records.size() == all.size());
  for (std::size_t i = 0; i < all.size(); ++i) REQUIRE(same(back->records[i], all[i]));
}
