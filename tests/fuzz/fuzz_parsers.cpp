// Fuzz target for every parser of untrusted bytes: the log (raw, and behind a valid header so
// that the fuzzer reaches the record parser at once) and the checkpoint. Built with libFuzzer
// when clang is available (.ci/run runs it for a bounded time); tests/fuzz/replay_main.cpp
// drives the same function over the committed corpus under ctest everywhere.
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
  // The columnar recovery agrees with parse_tlog record for record, and on where and why it stopped.
  tickflow::delta_batch batch;
  auto b = tickflow::recover_into(in, batch);
  if (!b || b->records != r->records.size() || b->intact_bytes != r->intact_bytes || b->stop != r->stop ||
      b->reason != r->reason || batch.to_deltas() != r->records || batch.first_ill_formed() != tickflow::delta_batch::no_row)
    fail();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  check_log(in);
  std::vector<std::byte> framed(tickflow::detail::tlog_header_bytes, std::byte{0});
  std::memcpy(framed.data(), tickflow::detail::tlog_magic, 8);
  framed[8] = static_cast<std::byte>(tickflow::detail::tlog_version);
  framed.insert(framed.end(), in.begin(), in.end());
  check_log(framed);
  auto cp = tickflow::decode_checkpoint(in);
  if (cp && cp->store.digest() != cp->digest) fail();
  return 0;
}
