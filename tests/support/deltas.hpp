// Random deltas and page contents for the page/ tests.
#pragma once

#include <tickflow/page/delta.hpp>
#include <tickflow/page/page_store.hpp>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

namespace tickflow::test {

/// A dense delta writing `v` into element `element` of a page viewed as doubles.
inline delta element_delta(page_id page, epoch at, std::uint64_t id, double v, std::uint32_t element = 0) {
  delta d;
  d.page = page;
  d.at = at;
  d.id = delta_id{id};
  d.offset = 8 * element;
  d.length = 8;
  d.mask.assign(1, 0xFF);
  d.payload.resize(8);
  std::memcpy(d.payload.data(), &v, 8);
  return d;
}

/// A well-formed random delta inside a page of `page_bytes` bytes: random window, a mask that is
/// full, empty-ish or random, dense or sparse.
inline delta random_delta(std::mt19937_64& rng, page_id page, std::size_t page_bytes, epoch at) {
  static std::atomic<std::uint64_t> next_id{1};  // atomic: threaded tests draw deltas too
  delta d;
  d.page = page;
  d.at = at;
  d.id = delta_id{next_id.fetch_add(1, std::memory_order_relaxed)};
  d.offset = static_cast<std::uint32_t>(rng() % page_bytes);
  d.length = static_cast<std::uint32_t>(1 + rng() % (page_bytes - d.offset));
  d.mask.assign(mask_words(d.length), 0);
  const auto style = rng() % 3;
  for (std::uint32_t i = 0; i < d.length; ++i) {
    const bool on = style == 0 ? true : style == 1 ? (rng() % 8 == 0) : (rng() & 1) != 0;
    if (on) d.mask[i / 64] |= std::uint64_t{1} << (i % 64);
  }
  d.kind = (rng() & 1) != 0 ? delta_kind::dense : delta_kind::sparse;
  if (d.kind == delta_kind::dense) {
    d.payload.resize(d.length);
    for (auto& b : d.payload) b = static_cast<std::byte>(rng());
  } else {
    for (std::uint32_t i = 0; i < d.length; ++i)
      if (mask_bit(d.mask, i)) d.payload.push_back(static_cast<std::byte>(rng()));
  }
  return d;
}

/// Fills a page with bytes from a seeded generator (bypassing epochs).
inline void fill_random(page_store& s, page_id p, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (auto& b : *s.mutable_bytes(p)) b = static_cast<std::byte>(rng());
}

/// A store with its pages' ids and sizes, for tests that draw deltas over it.
struct page_world {
  page_store store;
  std::vector<page_id> ids;
  std::vector<std::size_t> sizes;
};

/// Adds `pages` pages of 1..max_size bytes (sizes drawn from rng); with fill_seed != 0, page i
/// of this call is filled from fill_seed + i.
inline void add_pages(page_world& w, std::mt19937_64& rng, std::size_t pages, std::size_t max_size, std::uint64_t fill_seed = 0) {
  for (std::size_t i = 0; i < pages; ++i) {
    const std::size_t size = 1 + rng() % max_size;
    w.ids.push_back(*w.store.create(size));
    w.sizes.push_back(size);
    if (fill_seed != 0) fill_random(w.store, w.ids.back(), fill_seed + i);
  }
}

/// n well-formed deltas to random pages of w; the epoch starts at first_epoch and rises by one
/// before a delta with probability 1/every.
inline std::vector<delta> random_stream(std::mt19937_64& rng, const page_world& w, std::size_t n, std::uint32_t first_epoch,
                                        unsigned every) {
  std::vector<delta> out;
  out.reserve(n);
  std::uint32_t e = first_epoch;
  for (std::size_t i = 0; i < n; ++i) {
    if (rng() % every == 0) ++e;
    const std::size_t k = rng() % w.ids.size();
    out.push_back(random_delta(rng, w.ids[k], w.sizes[k], epoch{e}));
  }
  return out;
}

/// A store of `pages` random pages (1..300 bytes, random contents); a fifth are released again,
/// so that ids have gaps and reused indices. `ids` receives the live ones.
inline page_store random_store(std::mt19937_64& rng, std::vector<page_id>& ids, std::size_t pages) {
  page_store s;
  for (std::size_t i = 0; i < pages; ++i) {
    ids.push_back(*s.create(1 + rng() % 300));
    fill_random(s, ids.back(), rng());
  }
  for (std::size_t i = 0; i < pages / 5; ++i) {
    const std::size_t k = rng() % ids.size();
    if (s.release(ids[k])) ids.erase(ids.begin() + static_cast<std::ptrdiff_t>(k));
  }
  return s;
}

/// Copies the bytes of page `from` in `a` onto page `to` in `b` (same size).
inline void copy_page(const page_store& a, page_id from, page_store& b, page_id to) {
  auto src = *a.bytes(from);
  auto dst = *b.mutable_bytes(to);
  std::copy(src.begin(), src.end(), dst.begin());
}

}  // namespace tickflow::test
