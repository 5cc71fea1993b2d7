// tickflow/page/page_store.hpp — pages in slabs, a dense id index, and delta application.
//
// Contract
//   * A page is `bytes` bytes (1 .. max_page_bytes), zeroed at creation, stored in a slab of
//     pages of the same padded size (bytes rounded up to 64); plus its epoch (0 at creation).
//     Slabs grow by chunks of about 64 KiB (at least one page); no allocation per page.
//   * page_id: (index << 32) | generation. The index addresses a dense table of entries; the
//     generation changes every time an index is reused, so an id is not handed out twice within
//     2^32 reuses of one index (and never while its page is alive). Numeric id order is index
//     order: iteration "in id order" is a walk over the table.
//   * validate(d) returns the first violated rule, as a typed error, checked in this order:
//     the shape (delta.hpp: out_of_range, mask_length, stray_mask_bits, payload_mismatch),
//     errc::not_found (detail = page id), errc::out_of_range (window past the page's end;
//     detail = offset + length), errc::epoch_regression (d.at below the page's epoch; detail = the
//     page's epoch). Equal epochs are accepted.
//   * apply(d) validates, then writes the masked bytes and sets the page's epoch to d.at: all or
//     nothing. apply_all(ds) validates every delta against the state the earlier ones would leave
//     (their epochs), and applies them only if all are valid; otherwise it changes nothing and the
//     error's detail is the index of the first invalid delta (its code says why).
//   * digest(): digest64 (core/digest.hpp) over the live pages in id order: id, size, epoch,
//     then the page's bytes. Two stores with the same pages, bytes and epochs have equal digests.
//   * snapshot() copies every live page (id, size, epoch, bytes) into a value; restore(s)
//     replaces the whole store with that state, ids included (strong guarantee: on failure the
//     store is unchanged). Together with apply and digest they make page_store a replay engine
//     (validate/replay.hpp).
//   * Complexity: create/release/lookup O(1) amortized; apply O(length); digest O(total bytes).
//   * Allocation: create may allocate (a new chunk, a table slot); apply and the lookups never
//     do; apply_all allocates a scratch table sized by the batch.
//
// Thread-safety: none; calls must be serialized externally. Const members may run concurrently
// with each other.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tickflow/core/config.hpp"
#include "tickflow/core/digest.hpp"
#include "tickflow/core/ids.hpp"
#include "tickflow/core/result.hpp"
#include "tickflow/page/delta.hpp"

namespace tickflow {

class batch_applier;
class integrity_checker;
class page_log_applier;

class page_store {
 public:
  static constexpr std::size_t max_page_bytes = std::size_t{1} << 24;
  static constexpr std::size_t line = cache_line_size;

  page_store() = default;
  page_store(const page_store&) = delete;
  page_store& operator=(const page_store&) = delete;
  page_store(page_store&&) noexcept = default;
  page_store& operator=(page_store&&) noexcept = default;

  /// A new zeroed page of `bytes` bytes at epoch 0; errc::invalid_argument if bytes is 0 or
  /// above max_page_bytes.
  [[nodiscard]] result<page_id> create(std::size_t bytes) {
    if (bytes == 0 || bytes > max_page_bytes) return unexpected(errc::invalid_argument, bytes, "page size out of range");
    if (free_ids_.empty() && (entries_.size() == entries_.capacity() || generations_.size() == generations_.capacity())) {
      // Grow both tables first (geometrically), so that the push_backs below cannot throw.
      const std::size_t want = std::max<std::size_t>(64, 2 * entries_.size());
      entries_.reserve(want);
      generations_.reserve(want);
    }
    const auto lines = static_cast<std::uint32_t>((bytes + line - 1) / line);
    const std::uint16_t cls = class_for(lines);
    auto& c = classes_[cls];
    std::uint32_t slot;
    if (!c.free_slots.empty()) {
      slot = c.free_slots.back();
      c.free_slots.pop_back();
    } else {
      if (c.next_slot == c.chunks.size() * std::size_t{c.per_chunk}) c.chunks.push_back(allocate_chunk(c));
      slot = c.next_slot++;
    }
    std::byte* p = c.page(slot);
    std::memset(p, 0, std::size_t{c.lines} * line);
    std::uint32_t index;
    if (!free_ids_.empty()) {
      index = free_ids_.back();
      free_ids_.pop_back();
    } else {
      index = static_cast<std::uint32_t>(entries_.size());
      entries_.push_back({});
      generations_.push_back(0);
    }
    entry& e = entries_[index];
    std::uint32_t& generation = generations_[index];
    generation += 1;
    if (generation == 0) generation = 1;  // 0 is never a valid generation
    e.bytes = static_cast<std::uint32_t>(bytes);
    e.slot = slot;
    e.cls = cls;
    e.live = true;
    e.at = epoch{0};
    ++live_;
    return page_id{(std::uint64_t{index} << 32) | generation};
  }

  /// Frees a page; its id becomes unknown. errc::not_found if it is not alive.
  result<void> release(page_id id) {
    entry* e = find(id);
    if (e == nullptr) return unexpected(errc::not_found, id.value(), "no such page");
    classes_[e->cls].free_slots.push_back(e->slot);
    e->live = false;
    free_ids_.push_back(static_cast<std::uint32_t>(id.value() >> 32));
    --live_;
    return {};
  }

  [[nodiscard]] bool contains(page_id id) const noexcept { return find(id) != nullptr; }
  /// Number of live pages.
  [[nodiscard]] std::size_t size() const noexcept { return live_; }

  [[nodiscard]] result<std::size_t> page_size(page_id id) const noexcept {
    const entry* e = find(id);
    if (e == nullptr) return unexpected(errc::not_found, id.value(), "no such page");
    return std::size_t{e->bytes};
  }
  [[nodiscard]] result<epoch> epoch_of(page_id id) const noexcept {
    const entry* e = find(id);
    if (e == nullptr) return unexpected(errc::not_found, id.value(), "no such page");
    return e->at;
  }
  [[nodiscard]] result<std::span<const std::byte>> bytes(page_id id) const noexcept {
    const entry* e = find(id);
    if (e == nullptr) return unexpected(errc::not_found, id.value(), "no such page");
    return std::span<const std::byte>(classes_[e->cls].page(e->slot), e->bytes);
  }
  /// Mutable bytes. Writing through them bypasses epochs and validation: meant for loading
  /// checkpoints and for tests.
  [[nodiscard]] result<std::span<std::byte>> mutable_bytes(page_id id) noexcept {
    entry* e = find(id);
    if (e == nullptr) return unexpected(errc::not_found, id.value(), "no such page");
    return std::span<std::byte>(classes_[e->cls].page(e->slot), e->bytes);
  }

  /// The page as an array of T (read-only); errc::invalid_argument if its size is not a
  /// multiple of sizeof(T). Pages are 64-byte aligned, so any T up to that alignment fits.
  template <class T>
    requires std::is_trivially_copyable_v<T> && (alignof(T) <= cache_line_size)
  [[nodiscard]] result<std::span<const T>> view(page_id id) const noexcept {
    const entry* e = find(id);
    if (e == nullptr) return unexpected(errc::not_found, id.value(), "no such page");
    if (e->bytes % sizeof(T) != 0) return unexpected(errc::invalid_argument, e->bytes, "page size is not a multiple of the element size");
    return std::span<const T>(reinterpret_cast<const T*>(classes_[e->cls].page(e->slot)), e->bytes / sizeof(T));
  }

  /// The first rule `d` breaks against this store (see the file contract), or success.
  [[nodiscard]] result<void> validate(const delta& d) const noexcept {
    if (auto ok = check_shape(d); !ok) return ok;
    const entry* e = find(d.page);
    if (e == nullptr) return unexpected(errc::not_found, d.page.value(), "delta to an unknown page");
    return check_against(d, *e, e->at);
  }

  /// Validates and applies one delta; all or nothing.
  result<void> apply(const delta& d) noexcept {
    if (auto ok = validate(d); !ok) return ok;
    write(d);
    return {};
  }

  /// Validates every delta (each against the epochs the earlier ones leave), then applies all;
  /// on the first invalid one nothing is applied and the error's detail is its index.
  result<std::size_t> apply_all(std::span<const delta> ds) {
    std::unordered_map<std::uint64_t, epoch> seen;  // page -> epoch after the deltas so far
    seen.reserve(ds.size());
    for (std::size_t i = 0; i < ds.size(); ++i) {
      const delta& d = ds[i];
      result<void> ok = check_shape(d);
      if (ok) {
        const entry* e = find(d.page);
        if (e == nullptr) {
          ok = unexpected(errc::not_found, d.page.value(), "delta to an unknown page");
        } else {
          auto it = seen.find(d.page.value());
          ok = check_against(d, *e, it == seen.end() ? e->at : it->second);
        }
      }
      if (!ok) return unexpected(ok.error().code, i, ok.error().message);
      seen[d.page.value()] = d.at;
    }
    for (const delta& d : ds) write(d);
    return ds.size();
  }

  /// Raw access for batch kernels: the page's bytes, size and epoch, or data == nullptr for an
  /// unknown id. Pointers stay valid until the next create, release or insert_with_id.
  struct page_handle {
    std::byte* data = nullptr;
    std::uint32_t bytes = 0;
    epoch* at = nullptr;
  };
  [[nodiscard]] page_handle handle(page_id id) noexcept {
    entry* e = find(id);
    if (e == nullptr) return {};
    return {classes_[e->cls].page(e->slot), e->bytes, &e->at};
  }
  /// Prefetch hint for the table entry of `id` (batch kernels look ids up ahead of use).
  void prefetch_entry(page_id id) const noexcept {
    const std::uint64_t index = id.value() >> 32;
    if (index < entries_.size()) __builtin_prefetch(&entries_[index], 0, 1);
  }

  /// Recreates a page under a given id with given bytes and epoch (loading a checkpoint).
  /// errc::invalid_argument for an id no create() could have returned or a size out of range,
  /// errc::duplicate_id if that index is alive. Fastest when ids arrive in increasing order.
  result<void> insert_with_id(page_id id, std::span<const std::byte> content, epoch at) {
    const std::uint64_t index = id.value() >> 32;
    const auto generation = static_cast<std::uint32_t>(id.value());
    if (generation == 0 || index >= 0xFFFFFFFFULL) return unexpected(errc::invalid_argument, id.value(), "not a page id");
    if (content.empty() || content.size() > max_page_bytes)
      return unexpected(errc::invalid_argument, content.size(), "page size out of range");
    if (index < entries_.size()) {
      if (entries_[index].live) return unexpected(errc::duplicate_id, id.value(), "page id already alive");
      auto it = std::find(free_ids_.begin(), free_ids_.end(), static_cast<std::uint32_t>(index));
      if (it != free_ids_.end()) free_ids_.erase(it);
    } else {
      for (std::size_t i = entries_.size(); i < index; ++i) free_ids_.push_back(static_cast<std::uint32_t>(i));
      entries_.resize(index + 1);
      generations_.resize(index + 1);
    }
    // Allocate through create() on a scratch index, then move the slot under the wanted index.
    auto made = create(content.size());
    if (!made) return unexpected(made.error());
    const std::uint64_t scratch = made->value() >> 32;
    entry e = entries_[scratch];
    entries_[scratch].live = false;
    free_ids_.push_back(static_cast<std::uint32_t>(scratch));
    e.at = at;
    entries_[index] = e;
    generations_[index] = generation;
    std::memcpy(classes_[e.cls].page(e.slot), content.data(), content.size());
    return {};
  }

  /// Calls f(id, bytes, epoch) for every live page, in id order.
  template <class F>
  void for_each_page(F&& f) const {
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      const entry& e = entries_[i];
      if (!e.live) continue;
      f(page_id{(std::uint64_t{i} << 32) | generations_[i]},
        std::span<const std::byte>(classes_[e.cls].page(e.slot), e.bytes), e.at);
    }
  }

  /// A copy of every live page, in id order.
  struct snapshot_type {
    std::vector<std::uint64_t> ids;
    std::vector<std::uint32_t> sizes;
    std::vector<std::uint32_t> epochs;
    std::vector<std::byte> bytes;  // the pages' bytes, back to back
  };
  [[nodiscard]] snapshot_type snapshot() const {
    snapshot_type s;
    s.ids.reserve(live_);
    s.sizes.reserve(live_);
    s.epochs.reserve(live_);
    for_each_page([&](page_id id, std::span<const std::byte> b, epoch at) {
      s.ids.push_back(id.value());
      s.sizes.push_back(static_cast<std::uint32_t>(b.size()));
      s.epochs.push_back(at.value());
      s.bytes.insert(s.bytes.end(), b.begin(), b.end());
    });
    return s;
  }
  /// Replaces the store's contents with `s` (errc::invalid_argument if `s` is inconsistent).
  result<void> restore(const snapshot_type& s) {
    if (s.sizes.size() != s.ids.size() || s.epochs.size() != s.ids.size())
      return unexpected(errc::invalid_argument, s.ids.size(), "snapshot columns differ in length");
    page_store fresh;
    std::size_t at = 0;
    for (std::size_t i = 0; i < s.ids.size(); ++i) {
      if (s.sizes[i] > s.bytes.size() - at) return unexpected(errc::invalid_argument, i, "snapshot bytes too short");
      if (auto ok = fresh.insert_with_id(page_id{s.ids[i]}, std::span<const std::byte>(s.bytes.data() + at, s.sizes[i]), epoch{s.epochs[i]}); !ok)
        return ok;
      at += s.sizes[i];
    }
    *this = std::move(fresh);
    return {};
  }

  /// Digest of the live pages in id order (see the file contract).
  [[nodiscard]] std::uint64_t digest() const noexcept {
    digest64 h;
    for_each_page([&](page_id id, std::span<const std::byte> b, epoch at) {
      h.u64(id.value());
      h.u64(b.size());
      h.u64(at.value());
      h.bytes(b);
    });
    return h.value();
  }

 private:
  friend class batch_applier;
  friend class integrity_checker;
  friend class page_log_applier;

  // The generation of each index lives in its own dense array (generations_), which batch
  // kernels scan apart from the rest of the entry.
  struct entry {
    std::uint32_t bytes = 0;
    std::uint32_t slot = 0;
    std::uint16_t cls = 0;
    bool live = false;
    epoch at{0};
  };
  static_assert(sizeof(entry) == 16, "bookkeeping per page stays small: 16 + 4 bytes of generation");

  struct aligned_delete {
    void operator()(std::byte* p) const noexcept { ::operator delete[](p, std::align_val_t{cache_line_size}); }
  };
  using chunk = std::unique_ptr<std::byte[], aligned_delete>;

  struct size_class {
    std::uint32_t lines = 0;
    std::uint32_t per_chunk = 0;
    std::uint32_t next_slot = 0;
    std::vector<chunk> chunks;
    std::vector<std::uint32_t> free_slots;
    std::byte* page(std::uint32_t slot) const noexcept {
      return chunks[slot / per_chunk].get() + std::size_t{slot % per_chunk} * lines * line;
    }
  };

  static chunk allocate_chunk(const size_class& c) {
    const std::size_t bytes = std::size_t{c.per_chunk} * c.lines * line;
    return chunk(static_cast<std::byte*>(::operator new[](bytes, std::align_val_t{cache_line_size})));
  }

  std::uint16_t class_for(std::uint32_t lines) {
    for (std::size_t i = 0; i < classes_.size(); ++i)
      if (classes_[i].lines == lines) return static_cast<std::uint16_t>(i);
    size_class c;
    c.lines = lines;
    c.per_chunk = std::max<std::uint32_t>(1, static_cast<std::uint32_t>((64 * 1024) / (std::size_t{lines} * line)));
    classes_.push_back(std::move(c));
    return static_cast<std::uint16_t>(classes_.size() - 1);
  }

  const entry* find(page_id id) const noexcept {
    const std::uint64_t index = id.value() >> 32;
    if (index >= entries_.size()) return nullptr;
    const entry& e = entries_[index];
    return e.live && generations_[index] == static_cast<std::uint32_t>(id.value()) ? &e : nullptr;
  }
  entry* find(page_id id) noexcept { return const_cast<entry*>(std::as_const(*this).find(id)); }

  static result<void> check_against(const delta& d, const entry& e, epoch current) noexcept {
    if (std::uint64_t{d.offset} + d.length > e.bytes)
      return unexpected(errc::out_of_range, std::uint64_t{d.offset} + d.length, "window past the end of the page");
    if (d.at < current) return unexpected(errc::epoch_regression, current.value(), "delta epoch below the page's");
    return {};
  }

  // Precondition: validate(d) succeeded.
  void write(const delta& d) noexcept {
    entry& e = *find(d.page);
    write_masked(classes_[e.cls].page(e.slot) + d.offset, d.kind, d.mask.size(), [&](std::size_t w) { return d.mask[w]; },
                 d.payload.data());
    e.at = d.at;
  }

  std::vector<entry> entries_;
  std::vector<std::uint32_t> generations_;  // parallel to entries_
  std::vector<std::uint32_t> free_ids_;
  std::vector<size_class> classes_;
  std::size_t live_ = 0;
};

}  // namespace tickflow
