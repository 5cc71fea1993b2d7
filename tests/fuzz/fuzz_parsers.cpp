// Fuzz target for every parser of untrusted bytes: the log (raw, and behind a valid header so
// that the fuzzer reaches the record parser at once) and the checkpoint. It also treats each
// input as a list of edits to a valid checkpoint and a valid log, then recomputes every CRC, so
// that mutations reach the decoders' logic behind the checksums (counts, ids, sizes): the class
// of input where a count behind a valid CRC once drove a huge allocation. Built with libFuzzer
// when clang is available (.ci/run runs it for a bounded time; its malloc limit turns any
// outsized allocation into a finding); tests/fuzz/replay_main.cpp drives the same function over
// the committed corpus under ctest everywhere.
#include <tickflow/columnar/tlog_batch.hpp>
#include <tickflow/page/checkpoint.hpp>
#include <tickflow/page/tlog.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

namespace {
[[noreturn]] void fail() { std::abort(); }

void check_log(std::span<const std::byte> in) {
  auto r = tickflow::parse_tlog(in);
  if (!r) return;
  if (r->intact_bytes > in.size()) fail();
  for (const auto& d : r->records)
    if (!tickflow::check_shape(d)) fail();  // recovery must never return an ill-formed record
  for (const auto& e : r->events)
    if (!tickflow::detail::check_event(e) || e.position > r->records.size()) fail();
  tickflow::delta_batch batch;
  auto b = tickflow::recover_into(in, batch);
  if (!r->events.empty()) {
    // A log with engine events: the delta-only reader refuses it whole, naming the first event.
    if (b || b.error().code != tickflow::errc::invalid_argument || b.error().detail != r->events.front().position || batch.size() != 0) fail();
    return;
  }
  // The columnar recovery agrees with parse_tlog record for record, and on where and why it stopped.
  if (!b || b->records != r->records.size() || b->intact_bytes != r->intact_bytes || b->stop != r->stop ||
      b->reason != r->reason || batch.to_deltas() != r->records || batch.first_ill_formed() != tickflow::delta_batch::no_row)
    fail();
}
void check_checkpoint(std::span<const std::byte> in) {
  auto cp = tickflow::decode_checkpoint(in);
  if (!cp) return;
  if (cp->store.digest() != cp->digest) fail();
  // What decodes re-encodes to an image that decodes to the same store.
  auto again = tickflow::decode_checkpoint(tickflow::encode_checkpoint(cp->store, cp->at));
  if (!again || again->digest != cp->digest || again->store.size() != cp->store.size()) fail();
}

// A small valid checkpoint (released pages: a free list and generations above 1) and log.
const std::vector<std::byte>& seed_checkpoint() {
  static const std::vector<std::byte> img = [] {
    tickflow::page_store s;
    std::vector<tickflow::page_id> ids;
    for (int i = 0; i < 6; ++i) ids.push_back(*s.create(static_cast<std::size_t>(8 + 30 * i)));
    (void)s.release(ids[1]);
    (void)s.release(ids[4]);
    ids.push_back(*s.create(16));
    for (auto& b : *s.mutable_bytes(ids[0])) b = std::byte{0x5A};
    return tickflow::encode_checkpoint(s, tickflow::epoch{7});
  }();
  return img;
}
const std::vector<std::byte>& seed_log() {
  static const std::vector<std::byte> img = [] {
    const auto h = tickflow::detail::tlog_header();
    std::vector<std::byte> out(h.begin(), h.end());
    for (std::uint32_t i = 0; i < 5; ++i) {
      tickflow::delta d;
      d.page = tickflow::page_id{(std::uint64_t{i} << 32) | 1};
      d.at = tickflow::epoch{1 + i / 2};
      d.id = tickflow::delta_id{100 + i};
      d.offset = i;
      d.length = 3 + 40 * i;
      d.mask.assign(tickflow::mask_words(d.length), 0);
      for (std::uint32_t b = 0; b < d.length; b += 2) d.mask[b / 64] |= std::uint64_t{1} << (b % 64);
      d.kind = i % 2 == 0 ? tickflow::delta_kind::dense : tickflow::delta_kind::sparse;
      d.payload.assign(d.kind == tickflow::delta_kind::dense ? d.length : (d.length + 1) / 2, std::byte{0x33});
      tickflow::detail::encode_record(d, out);
    }
    return out;
  }();
  return img;
}
// The same log with engine events among the deltas (page create, edge insert and remove, step).
const std::vector<std::byte>& seed_engine_log() {
  static const std::vector<std::byte> img = [] {
    std::vector<std::byte> out = seed_log();
    using k = tickflow::tlog_event_kind;
    const tickflow::page_id a{(std::uint64_t{7} << 32) | 1}, b{(std::uint64_t{8} << 32) | 1};
    tickflow::detail::encode_event({k::page_create, tickflow::epoch{3}, a, {}, 64, 0, 0}, out);
    tickflow::detail::encode_event({k::page_create, tickflow::epoch{3}, b, {}, 64, 0, 0}, out);
    tickflow::detail::encode_event({k::edge_insert, tickflow::epoch{3}, a, b, 1, 0x3FE0000000000000ULL, 0}, out);
    tickflow::detail::encode_event({k::step, tickflow::epoch{3}, {}, {}, 0, 0, 0}, out);
    tickflow::detail::encode_event({k::edge_remove, tickflow::epoch{4}, a, b, 0, 0, 0}, out);
    tickflow::detail::encode_event({k::page_release, tickflow::epoch{4}, b, {}, 0, 0, 0}, out);
    return out;
  }();
  return img;
}

// Applies the input as edits of 4 bytes each: (op, offset lo, offset hi, value). op % 4: 0 sets a
// byte, 1 flips bits, 2 writes a boundary value into the 4- or 8-byte field at the offset, 3
// resizes (truncates or extends with the value).
std::vector<std::byte> edited(const std::vector<std::byte>& seed, std::span<const std::byte> in) {
  std::vector<std::byte> img = seed;
  static constexpr std::uint64_t boundary[] = {0, 1, 0x7F, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF,
                                               std::uint64_t{1} << 20, std::uint64_t{1} << 28, std::uint64_t{1} << 32,
                                               std::uint64_t{1} << 62, ~std::uint64_t{0}, 0xFFFFFFFE00000001ULL, 0x1000000001ULL};
  for (std::size_t i = 0; i + 4 <= in.size(); i += 4) {
    const auto op = static_cast<unsigned>(in[i]) % 4;
    const std::size_t off = static_cast<std::size_t>(in[i + 1]) | static_cast<std::size_t>(in[i + 2]) << 8;
    const auto val = static_cast<std::uint8_t>(in[i + 3]);
    if (op == 3) {
      img.resize(off % (seed.size() + 64), std::byte{val});
      continue;
    }
    if (img.empty()) continue;
    const std::size_t at = off % img.size();
    if (op == 0) img[at] = std::byte{val};
    if (op == 1) img[at] ^= std::byte{val};
    if (op == 2) {
      const int width = (val & 0x80) != 0 ? 8 : 4;
      if (at + static_cast<std::size_t>(width) <= img.size())
        tickflow::detail::store_le(img.data() + at, boundary[val % std::size(boundary)], width);
    }
  }
  return img;
}

void check_structured(std::span<const std::byte> in) {
  auto cp = edited(seed_checkpoint(), in);
  if (cp.size() >= 4) {  // reseal: the trailing CRC over everything before it
    const std::size_t body = cp.size() - 4;
    tickflow::detail::store_le(cp.data() + body, tickflow::crc32c(std::span<const std::byte>(cp.data(), body)), 4);
  }
  check_checkpoint(cp);
  auto log = edited(in.size() % 2 == 0 ? seed_log() : seed_engine_log(), in);  // deltas only, or with events
  // Reseal every record that lies whole in the image, walking the (possibly edited) lengths.
  for (std::size_t pos = tickflow::detail::tlog_header_bytes; pos + 8 <= log.size();) {
    const std::uint64_t len = tickflow::detail::get_le(log.data() + pos, 4);
    if (len > log.size() - pos - 8) break;
    const std::span<const std::byte> body(log.data() + pos + 8, static_cast<std::size_t>(len));
    tickflow::detail::store_le(log.data() + pos + 4, tickflow::crc32c(body), 4);
    pos += 8 + static_cast<std::size_t>(len);
  }
  check_log(log);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  check_structured(in);
  check_log(in);
  std::vector<std::byte> framed(tickflow::detail::tlog_header_bytes, std::byte{0});
  std::memcpy(framed.data(), tickflow::detail::tlog_magic, 8);
  framed[8] = static_cast<std::byte>(tickflow::detail::tlog_version);
  framed.insert(framed.end(), in.begin(), in.end());
  check_log(framed);
  check_checkpoint(in);
  return 0;
}
