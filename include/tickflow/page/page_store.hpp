/// @file
/// tickflow/page/page_store.hpp — pages in slabs, a dense id index, and delta application.
///
/// Contract
///   * A page is `bytes` bytes (1 .. max_page_bytes), zeroed at creation, stored in a slab of
///     pages of the same padded size (bytes rounded up to 64); plus its epoch (0 at creation).
///     Slabs grow by chunks of about 64 KiB (at least one page); no allocation per page.
///   * page_id: (index << 32) | generation. The index addresses a dense table of entries; the
///     generation changes every time an index is reused, so an id is not handed out twice within
///     2^32 reuses of one index (and never while its page is alive). Numeric id order is index
///     order: iteration "in id order" is a walk over the table.
///   * validate(d) returns the first violated rule, as a typed error, checked in this order:
///     the shape (check_shape, in the order delta.hpp states), errc::not_found (detail = page
///     id), errc::out_of_range (window past the page's end; detail = offset + length),
///     errc::epoch_regression (d.at below the page's epoch; detail = the page's epoch). Equal
///     epochs are accepted.
///   * apply(d) validates, then writes the masked bytes and sets the page's epoch to d.at: all or
///     nothing. apply_all(ds) validates every delta against the state the earlier ones would leave
///     (their epochs), and applies them only if all are valid; otherwise it changes nothing and the
///     error's detail is the index of the first invalid delta (its code says why).
///   * digest(): digest64 (core/digest.hpp) over the live pages in id order: id, size, epoch,
///     then the page's bytes. Two stores with the same pages, bytes and epochs have equal digests.
///   * The id table: one generation per index (the generation of the last page at that index, 0 if
///     none ever lived there) and the free list (dead indexes in the order create() reuses them:
///     the last one first). It decides the ids future create() calls return, so snapshots and
///     checkpoints carry it, and a restored store hands out the same ids as the original.
///   * snapshot() copies every live page (id, size, epoch, bytes) and the id table into a value;
///     restore(s) replaces the whole store with that state. rebuild(...) is the same from parts
///     (checkpoint loading). Both check everything (ids against the table, each index live at most
///     once, the free list exactly the dead indexes), and have the strong guarantee: on failure
///     (an error, or std::bad_alloc) the store is unchanged. Together with apply and digest they
///     make page_store a replay engine (validate/replay.hpp).
///   * memory() reports pages, payload bytes, the live pages' padded slots, slab bytes (every
///     chunk), and the table and free-list bytes (capacities), from counters kept by create,
///     release and rebuild: O(size classes), never a scan of the pages. Slab bytes not in live
///     slots are the fragmentation. Tests compare each figure with a count over the pages.
///   * compact(stop) is one resumable slice of slab compaction: live pages move from the highest
///     slots of their size class into the lowest free ones (a page keeps its id, bytes and
///     epoch; only where its bytes live changes), and chunks past the last live page are freed.
///     It asks stop() before the first move, every 32 moves, every 4096 free slots walked past and
///     every 8 chunks freed, and leaves the store consistent
///     whenever it stops; a slice given no time does nothing and says so (had_time false).
///     Pointers to page bytes are invalidated (an optional callback is told each move). Cost: per move one page copy and the bitmap
///     words between two free slots; per class cut back, O(slots cut / 64). Free slots are a
///     bitmap per size class, and create() takes the lowest one (holes fill from the bottom).
///   * Cold tier: freeze(id) moves a page out of its slab into a packed tier (its bytes back to
///     back with the other cold pages', no padding; a page of zeros is stored as nothing) and
///     frees its slot; freeze_cold(before, stop) is a resumable slice that freezes the pages not
///     written since epoch `before` (epoch < before). A cold page keeps its id, size, epoch and
///     bytes: const reads (bytes, view, for_each_page, snapshot, digest) are served from the cold
///     tier as they are, bit for bit; anything that writes or hands out a writable pointer
///     (mutable_bytes, handle, apply, apply_all, relayout, the batch and log appliers) first
///     brings the page back into a slab (thaw), bit-identical. thaw may allocate (a chunk); where
///     that fails inside a noexcept call (apply), the call returns errc::capacity_exceeded and
///     changes nothing. The cold tier's holes (pages thawed or released) are packed away by
///     freeze_cold when they pass half of it. memory() counts cold pages and the tier's bytes.
///   * Complexity: create/release/lookup O(1) amortized; apply O(length); digest O(total bytes).
///   * Allocation: create may allocate (a new chunk, a table slot); apply and the lookups never
///     do; apply_all allocates a scratch table sized by the batch; rebuild allocates the id table
///     (20 bytes per index) and the pages' chunks.
///
/// Thread-safety: none; calls must be serialized externally. Const members may run concurrently
/// with each other.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
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

/// Pages of bytes with epochs, under stale-safe ids, in 64-byte-aligned slots of slab chunks, with a cold tier (see the file contract).
class page_store {
 public:
  static constexpr std::size_t max_page_bytes = std::size_t{1} << 24;  ///< the largest page, in bytes (16 MiB)
  static constexpr std::size_t line = cache_line_size;  ///< slots are whole multiples of this (a cache line)

  page_store() = default;
  page_store(const page_store&) = delete;
  page_store& operator=(const page_store&) = delete;
  /// Takes the other store's pages; the other is left empty.
  page_store(page_store&&) noexcept = default;
  /// Takes the other store's pages; the other is left empty.
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
    const auto [cls, slot] = take_slot(bytes);
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
    e.bytes = static_cast<std::uint32_t>(bytes) & max_bytes_field;
    e.slot = slot;
    e.generation = generation;
    e.live = true;
    e.cold = false;
    e.at = epoch{0};
    classes_[cls].owner[slot] = index;
    ++live_;
    payload_bytes_ += bytes;
    slot_bytes_ += std::size_t{classes_[cls].lines} * line;
    return page_id{(std::uint64_t{index} << 32) | generation};
  }

  /// Frees a page; its id becomes unknown. errc::not_found if it is not alive. Strong guarantee.
  result<void> release(page_id id) {
    entry* e = find(id);
    if (e == nullptr) return unexpected(errc::not_found, id.value(), "no such page");
    // Room first (geometrically), so that nothing changes if an allocation throws. (The free
    // slot bitmap has a bit for every slot already.)
    if (free_ids_.size() == free_ids_.capacity()) free_ids_.reserve(2 * free_ids_.size() + 16);
    if (e->cold) {
      drop_cold(*e);
    } else {
      class_of(*e).mark_free(e->slot);
      class_of(*e).owner[e->slot] = no_owner;
      slot_bytes_ -= std::size_t{class_of(*e).lines} * line;
    }
    e->live = false;
    free_ids_.push_back(static_cast<std::uint32_t>(id.value() >> 32));
    --live_;
    payload_bytes_ -= e->bytes;
    return {};
  }

  /// Whether `id` names a live page.
  [[nodiscard]] bool contains(page_id id) const noexcept { return find(id) != nullptr; }

  /// What the store holds, from counters kept as pages come and go (see the contract).
  struct memory_use {
    std::size_t pages = 0;  ///< live pages
    std::size_t payload_bytes = 0;  ///< the live pages' sizes
    std::size_t slot_bytes = 0;     ///< their slots: sizes rounded up to 64-byte lines
    std::size_t slab_bytes = 0;     ///< every slab chunk allocated
    std::size_t table_bytes = 0;    ///< the id table: entries and generations (capacity)
    std::size_t free_list_bytes = 0;  ///< free ids, free slots and the chunk lists (capacity)
    std::size_t cold_pages = 0;       ///< pages in the cold tier (counted in pages and payload_bytes)
    std::size_t cold_bytes = 0;       ///< the cold tier's packed bytes in use (zero pages: none)
    std::size_t cold_tier_bytes = 0;  ///< the cold tier's memory: its arena and records (capacity)
    /// Slab bytes not in live pages' slots (free slots and never-used chunk tails).
    [[nodiscard]] std::size_t fragmentation_bytes() const noexcept { return slab_bytes - slot_bytes; }
  };
  /// What the store holds now, from its counters (no walk).
  [[nodiscard]] memory_use memory() const noexcept {
    memory_use m;
    m.pages = live_;
    m.payload_bytes = payload_bytes_;
    m.slot_bytes = slot_bytes_;
    m.slab_bytes = slab_bytes_;
    m.table_bytes = entries_.capacity() * sizeof(entry) + generations_.capacity() * sizeof(std::uint32_t);
    m.free_list_bytes = free_ids_.capacity() * sizeof(std::uint32_t) + classes_.capacity() * sizeof(size_class);
    for (const auto& c : classes_)
      m.free_list_bytes += c.free_bits.capacity() * sizeof(std::uint64_t) + c.owner.capacity() * sizeof(std::uint32_t) + c.chunks.capacity() * sizeof(chunk);
    m.cold_pages = cold_pages_;
    m.cold_bytes = cold_used_;
    m.cold_tier_bytes = cold_arena_.capacity() + cold_recs_.capacity() * sizeof(cold_rec) + cold_free_.capacity() * sizeof(std::uint32_t) +
                        zeros_.capacity();
    return m;
  }
  /// What one compaction slice did.
  struct compact_result {
    bool had_time = true;         ///< false: stop() held from the start, and nothing was done
    std::size_t moved = 0;        ///< pages moved to lower slots (their ids, bytes and epochs kept)
    std::size_t freed_bytes = 0;  ///< slab bytes returned to the allocator
    bool done = false;            ///< no free slot lies below a live page: nothing is left to do
  };
  /// One slice of compaction (see the contract): per size class, the live page in the highest
  /// slot moves into the lowest free slot, until no free slot lies below a live page, then the
  /// chunks past the last live page are freed. `stop()` is asked before the first move and every
  /// 32 moves; the store is consistent whenever it stops, and the next slice goes on from there.
  /// Invalidates pointers to page bytes (bytes(), view()); `moved(id, to)`, if given, is
  /// called after each move with the page's id and its bytes' new address (for a caller that
  /// keeps pointers into the slabs, as the propagation plan does). It must not call the store.
  template <class Stop>
  compact_result compact(Stop&& stop) {
    return compact(std::forward<Stop>(stop), [](page_id, std::byte*) noexcept {});
  }
  /// Compacts the slabs (see compact(stop)), calling moved(id, new address) after each page it moves.
  template <class Stop, class Moved>
  compact_result compact(Stop&& stop, Moved&& moved) {
    compact_result r;
    if (stop()) {
      r.had_time = false;
      return r;
    }
    bool out_of_time = false;
    for (auto& c : classes_) {
      if (out_of_time) break;
      if (c.free_count == 0 && c.chunks.size() <= c.chunks_needed()) continue;
      std::int64_t hi = static_cast<std::int64_t>(c.next_slot) - 1;
      const std::size_t bytes = std::size_t{c.lines} * line;
      std::size_t since_check = 0;
      std::size_t scanned = 0;
      for (;;) {
        // Down to the highest live page; a class that shrank has long runs of free slots at
        // its top, so the walk asks stop() too (every 4096 slots: a few microseconds).
        while (hi >= 0 && c.owner[static_cast<std::size_t>(hi)] == no_owner) {
          --hi;
          if ((++scanned & 4095) == 0 && stop()) {
            out_of_time = true;
            break;
          }
        }
        if (out_of_time || c.free_count == 0) break;
        const std::uint32_t lo = c.lowest_free();
        if (static_cast<std::int64_t>(lo) > hi) break;
        if (++since_check == 32) {
          since_check = 0;
          if (stop()) {
            out_of_time = true;
            break;
          }
        }
        c.take_free(lo);
        const auto from = static_cast<std::uint32_t>(hi);
        std::memcpy(c.page(lo), c.page(from), bytes);
        const std::uint32_t index = c.owner[from];
        entries_[index].slot = lo;
        c.owner[lo] = index;
        c.owner[from] = no_owner;
        moved(page_id{(std::uint64_t{index} << 32) | generations_[index]}, c.page(lo));
        ++r.moved;
        --hi;
      }
      // Every slot above hi is free now (free before, or just vacated): cut the class back to
      // hi + 1 slots and whole chunks. The bitmap's words above are cleared, O(slots cut / 64).
      const auto top = static_cast<std::uint32_t>(hi + 1);
      c.forget_free_from(top);
      c.next_slot = top;
      // Empty chunks go back one at a time, with stop() asked every 8: returning memory can
      // cost the allocator a trim (tens of microseconds per chunk), and a class that shrank by
      // half holds thousands of empty chunks. What is left goes in the next slice.
      const std::size_t keep = c.chunks_needed(), chunk_bytes = std::size_t{c.per_chunk} * bytes;
      if (keep < c.chunks.size()) {
        std::size_t since_free_check = 0;
        while (c.chunks.size() > keep && !out_of_time) {
          if (++since_free_check == 8) {
            since_free_check = 0;
            if (stop()) {
              out_of_time = true;
              break;
            }
          }
          c.chunks.pop_back();
          slab_bytes_ -= chunk_bytes;
          r.freed_bytes += chunk_bytes;
        }
        c.owner.resize(c.chunks.size() * std::size_t{c.per_chunk});
        c.free_bits.resize((c.chunks.size() * std::size_t{c.per_chunk} + 63) / 64);
      }
    }
    r.done = true;
    for (const auto& c : classes_) r.done = r.done && c.free_count == 0 && c.chunks.size() <= c.chunks_needed();
    return r;
  }

  /// The same figures counted afresh, over every table entry and slab chunk: O(table + chunks).
  /// (What memory() keeps as counters; tests compare the two.)
  [[nodiscard]] memory_use count_memory() const noexcept {
    memory_use m = memory();
    m.pages = m.payload_bytes = m.slot_bytes = m.slab_bytes = m.cold_pages = m.cold_bytes = 0;
    for (const entry& e : entries_) {
      if (!e.live) continue;
      ++m.pages;
      m.payload_bytes += e.bytes;
      if (e.cold) {
        ++m.cold_pages;
        if (cold_recs_[e.slot].offset != zero_page) m.cold_bytes += e.bytes;
      } else {
        m.slot_bytes += std::size_t{class_of(e).lines} * line;
      }
    }
    for (const auto& c : classes_) m.slab_bytes += c.chunks.size() * c.per_chunk * std::size_t{c.lines} * line;
    return m;
  }
  /// Number of live pages.
  [[nodiscard]] std::size_t size() const noexcept { return live_; }

  /// The page's size in bytes; errc::not_found for an unknown or released id.
  [[nodiscard]] result<std::size_t> page_size(page_id id) const noexcept {
    const entry* e = find(id);
    if (e == nullptr) return unexpected(errc::not_found, id.value(), "no such page");
    return std::size_t{e->bytes};
  }
  /// The page's epoch; errc::not_found for an unknown or released id.
  [[nodiscard]] result<epoch> epoch_of(page_id id) const noexcept {
    const entry* e = find(id);
    if (e == nullptr) return unexpected(errc::not_found, id.value(), "no such page");
    return e->at;
  }
  /// The page's bytes (a cold page is read from the cold tier); errc::not_found for an unknown or released id.
  [[nodiscard]] result<std::span<const std::byte>> bytes(page_id id) const noexcept {
    const entry* e = find(id);
    if (e == nullptr) return unexpected(errc::not_found, id.value(), "no such page");
    return std::span<const std::byte>(read_ptr(*e), e->bytes);
  }
  /// Mutable bytes (a cold page is thawed first). Writing through them bypasses epochs and
  /// validation: meant for loading checkpoints and for tests.
  [[nodiscard]] result<std::span<std::byte>> mutable_bytes(page_id id) {
    entry* e = find(id);
    if (e == nullptr) return unexpected(errc::not_found, id.value(), "no such page");
    if (e->cold) thaw_entry(*e, static_cast<std::uint32_t>(id.value() >> 32));
    return std::span<std::byte>(class_of(*e).page(e->slot), e->bytes);
  }

  // ------------------------------------------------------------------ cold tier

  /// Whether the page is in the cold tier (false for an unknown id).
  [[nodiscard]] bool is_cold(page_id id) const noexcept {
    const entry* e = find(id);
    return e != nullptr && e->cold;
  }
  /// Pages in the cold tier.
  [[nodiscard]] std::size_t cold_pages() const noexcept { return cold_pages_; }
  /// Moves a page into the cold tier (see the contract); a cold page stays as it is.
  /// errc::not_found for an unknown id. Strong guarantee (std::bad_alloc as the arena grows).
  result<void> freeze(page_id id) {
    entry* e = find(id);
    if (e == nullptr) return unexpected(errc::not_found, id.value(), "no such page");
    if (!e->cold) freeze_entry(*e, static_cast<std::uint32_t>(id.value() >> 32));
    return {};
  }
  /// Brings a cold page back into a slab, bit-identical; a hot page stays as it is.
  /// errc::not_found for an unknown id. Strong guarantee.
  result<void> thaw(page_id id) {
    entry* e = find(id);
    if (e == nullptr) return unexpected(errc::not_found, id.value(), "no such page");
    if (e->cold) thaw_entry(*e, static_cast<std::uint32_t>(id.value() >> 32));
    return {};
  }
  /// Thaws the cold pages among `ids` (unknown ids are skipped); nothing when none is cold.
  void thaw_listed(std::span<const std::uint64_t> ids) {
    if (cold_pages_ == 0) return;
    for (const std::uint64_t v : ids)
      if (entry* e = find(page_id{v}); e != nullptr && e->cold) thaw_entry(*e, static_cast<std::uint32_t>(v >> 32));
  }
  /// Brings every cold page back into the slabs.
  void thaw_all() {
    for (std::size_t i = 0; i < entries_.size() && cold_pages_ != 0; ++i)
      if (entries_[i].live && entries_[i].cold) thaw_entry(entries_[i], static_cast<std::uint32_t>(i));
  }
  /// What one freeze_cold slice did.
  struct freeze_result {
    bool had_time = true;      ///< false: stop() held from the start, and nothing was done
    std::size_t frozen = 0;    ///< pages moved to the cold tier
    bool done = false;         ///< the walk of the table came round: every page was looked at once
  };
  /// One resumable slice: walks the table from where the last slice stopped, freezing every hot
  /// page with epoch < before (and, if `eligible` is given, eligible(id)); asks stop() before
  /// the first page and every 64. Packs the tier first when its holes pass half of it.
  template <class Stop, class Eligible>
  freeze_result freeze_cold(epoch before, Stop&& stop, Eligible&& eligible) {
    freeze_result r;
    if (stop()) {
      r.had_time = false;
      return r;
    }
    if (cold_arena_.size() > 2 * cold_used_ + 4096) pack_cold();
    const std::size_t n = entries_.size();
    for (std::size_t k = 0; k < n; ++k) {
      if ((k & 63) == 63 && stop()) return r;
      if (freeze_cursor_ >= n) freeze_cursor_ = 0;
      const auto i = static_cast<std::uint32_t>(freeze_cursor_++);
      entry& e = entries_[i];
      if (!e.live || e.cold || !(e.at < before)) continue;
      if (!eligible(page_id{(std::uint64_t{i} << 32) | generations_[i]})) continue;
      freeze_entry(e, i);
      ++r.frozen;
    }
    r.done = true;
    return r;
  }
  /// Freezes every page whose epoch is below `before`, until stop() says to stop (see freeze_cold(before, stop, want)).
  template <class Stop>
  freeze_result freeze_cold(epoch before, Stop&& stop) {
    return freeze_cold(before, std::forward<Stop>(stop), [](page_id) { return true; });
  }

  /// The page as an array of T (read-only); errc::invalid_argument if its size is not a
  /// multiple of sizeof(T). Pages are 64-byte aligned, so any T up to that alignment fits.
  template <class T>
    requires std::is_trivially_copyable_v<T> && (alignof(T) <= cache_line_size)
  [[nodiscard]] result<std::span<const T>> view(page_id id) const noexcept {
    const entry* e = find(id);
    if (e == nullptr) return unexpected(errc::not_found, id.value(), "no such page");
    if (e->bytes % sizeof(T) != 0) return unexpected(errc::invalid_argument, e->bytes, "page size is not a multiple of the element size");
    return std::span<const T>(reinterpret_cast<const T*>(read_ptr(*e)), e->bytes / sizeof(T));
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
    if (entry* e = find(d.page); e->cold) {
      try {
        thaw_entry(*e, static_cast<std::uint32_t>(d.page.value() >> 32));
      } catch (const std::bad_alloc&) {
        return unexpected(errc::capacity_exceeded, d.page.value(), "no memory to bring a cold page back");
      }
    }
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
    if (cold_pages_ != 0)
      for (const delta& d : ds)
        if (entry* e = find(d.page); e->cold) thaw_entry(*e, static_cast<std::uint32_t>(d.page.value() >> 32));
    for (const delta& d : ds) write(d);
    return ds.size();
  }

  /// Raw access for batch kernels: the page's bytes, size and epoch, or data == nullptr for an
  /// unknown id. Pointers stay valid until the next create, release, rebuild, restore or compact.
  /// More precisely, for a page that stays alive: its bytes do not move on a create or a release
  /// (only compact, relayout, freezing it and restore move them), and its epoch does not move while
  /// table_address() is unchanged (a create that grows the id table moves every epoch).
  struct page_handle {
    std::byte* data = nullptr;  ///< the page's bytes (null: no such page)
    std::uint32_t bytes = 0;  ///< how many
    epoch* at = nullptr;  ///< its epoch
  };
  /// Where the id table (and so every page's epoch) lives; see page_handle.
  [[nodiscard]] const void* table_address() const noexcept { return entries_.data(); }
  /// The page's bytes and epoch pointers (a cold page is thawed first); a null handle for an unknown id.
  [[nodiscard]] page_handle handle(page_id id) {
    entry* e = find(id);
    if (e == nullptr) return {};
    if (e->cold) thaw_entry(*e, static_cast<std::uint32_t>(id.value() >> 32));
    return {class_of(*e).page(e->slot), e->bytes, &e->at};
  }
  /// The same without thawing: data == nullptr for a cold page too (its size and epoch are there).
  [[nodiscard]] page_handle peek_handle(page_id id) noexcept {
    entry* e = find(id);
    if (e == nullptr) return {};
    return {e->cold ? nullptr : class_of(*e).page(e->slot), e->bytes, &e->at};
  }
  /// Moves pages in memory (ids, bytes and epochs unchanged) so that, within each size class,
  /// the listed pages occupy the class's slots they held, in increasing address order by their
  /// position in `order`: a sweep in that order then streams through memory. Pages not listed
  /// stay where they are. errc::not_found for a page that is not alive, errc::duplicate_id for
  /// one listed twice (detail: the id); nothing moves then. Strong guarantee (the scratch tables,
  /// 4 bytes per slot of a class, are allocated before anything moves). Invalidates pointers from
  /// bytes(), view() and handle().
  result<void> relayout(std::span<const page_id> order) {
    if (cold_pages_ != 0)
      for (const page_id id : order)
        if (entry* e = find(id); e != nullptr && e->cold) thaw_entry(*e, static_cast<std::uint32_t>(id.value() >> 32));
    std::vector<std::vector<std::uint32_t>> slots(classes_.size());  // per class: the listed pages' slots, in order
    std::vector<std::uint32_t> index(order.size());
    {
      std::vector<bool> seen(entries_.size(), false);
      for (std::size_t k = 0; k < order.size(); ++k) {
        const entry* e = find(order[k]);
        if (e == nullptr) return unexpected(errc::not_found, order[k].value(), "relayout of a page that is not alive");
        index[k] = static_cast<std::uint32_t>(order[k].value() >> 32);
        if (seen[index[k]]) return unexpected(errc::duplicate_id, order[k].value(), "page listed twice in a relayout");
        seen[index[k]] = true;
        slots[cls_of(*e)].push_back(e->slot);
      }
    }
    // Per class: source_of[new slot] = the slot whose page moves there (identity elsewhere).
    std::vector<std::vector<std::uint32_t>> source_of(classes_.size());
    std::vector<std::size_t> taken(classes_.size(), 0);
    std::vector<std::vector<std::uint32_t>> sorted = slots;
    for (std::size_t c = 0; c < classes_.size(); ++c) {
      std::sort(sorted[c].begin(), sorted[c].end());
      if (slots[c].empty()) continue;
      source_of[c].resize(classes_[c].next_slot);
      for (std::uint32_t s = 0; s < classes_[c].next_slot; ++s) source_of[c][s] = s;
      for (std::size_t k = 0; k < slots[c].size(); ++k) source_of[c][sorted[c][k]] = slots[c][k];
    }
    std::unique_ptr<std::byte[]> tmp;
    std::size_t widest = 0;
    for (std::size_t c = 0; c < classes_.size(); ++c)
      if (!slots[c].empty()) widest = std::max<std::size_t>(widest, std::size_t{classes_[c].lines} * line);
    if (widest != 0) tmp = std::make_unique<std::byte[]>(widest);
    // Nothing below allocates. Entries take their new slots, in order.
    for (std::size_t k = 0; k < order.size(); ++k) {
      entry& e = entries_[index[k]];
      e.slot = sorted[cls_of(e)][taken[cls_of(e)]++];
      class_of(e).owner[e.slot] = index[k];
    }
    // Bytes follow the permutation, one cycle at a time (one page of scratch).
    for (std::size_t c = 0; c < classes_.size(); ++c) {
      auto& src = source_of[c];
      const std::size_t bytes = std::size_t{classes_[c].lines} * line;
      for (std::uint32_t s = 0; s < src.size(); ++s) {
        if (src[s] == s) continue;
        std::memcpy(tmp.get(), classes_[c].page(s), bytes);
        std::uint32_t cur = s;
        while (src[cur] != s) {
          const std::uint32_t from = src[cur];
          std::memcpy(classes_[c].page(cur), classes_[c].page(from), bytes);
          src[cur] = cur;
          cur = from;
        }
        std::memcpy(classes_[c].page(cur), tmp.get(), bytes);
        src[cur] = cur;
      }
    }
    return {};
  }

  /// Prefetch hint for the table entry of `id` (batch kernels look ids up ahead of use).
  void prefetch_entry(page_id id) const noexcept {
    const std::uint64_t index = id.value() >> 32;
    if (index < entries_.size()) __builtin_prefetch(&entries_[index], 0, 1);
  }
  /// Prefetch hint for everything a lookup of `id` reads (its entry, which holds the live
  /// page's generation too).
  void prefetch_lookup(page_id id) const noexcept { prefetch_entry(id); }

  /// The id table (see the file contract): the generation of every index, and the free list.
  [[nodiscard]] std::span<const std::uint32_t> id_generations() const noexcept { return generations_; }
  /// The free list of the id table: indexes a create will reuse, next first.
  [[nodiscard]] std::span<const std::uint32_t> id_free_list() const noexcept { return free_ids_; }

  /// One page of a rebuild: its id, bytes and epoch.
  struct page_record {
    page_id id;  ///< the page's id
    std::span<const std::byte> bytes;  ///< its bytes
    epoch at;  ///< its epoch
  };

  /// Replaces the store with `pages` live pages under the id table (generations, free_ids);
  /// page_at(i) returns the i-th page (a page_record, or result<page_record> to stop with that
  /// error) and is called once per i, in increasing order. Errors: errc::invalid_argument (detail:
  /// the id) for an id whose index is outside the table or whose generation is not the table's,
  /// or a size out of range; errc::duplicate_id for an index given twice; errc::invalid_argument
  /// for a table of 2^32 - 1 or more indexes, a free-list entry outside the table, alive, or
  /// listed twice (detail: its position), or a free list that misses a dead index (detail: the
  /// index). Strong guarantee; allocates the table before the first page is read.
  template <class PageAt>
  result<void> rebuild(std::span<const std::uint32_t> generations, std::span<const std::uint32_t> free_ids, std::size_t pages,
                       PageAt&& page_at) {
    const std::size_t n = generations.size();
    if (n >= 0xFFFFFFFFULL) return unexpected(errc::invalid_argument, n, "id table too large");
    if (pages > n || free_ids.size() != n - pages)
      return unexpected(errc::invalid_argument, free_ids.size(), "free list length is not the number of dead indexes");
    page_store fresh;
    fresh.entries_.resize(n);
    fresh.generations_.assign(generations.begin(), generations.end());
    fresh.free_ids_.assign(free_ids.begin(), free_ids.end());
    for (std::size_t i = 0; i < pages; ++i) {
      const result<page_record> rec = page_at(i);
      if (!rec) return unexpected(rec.error());
      const std::uint64_t index = rec->id.value() >> 32;
      const auto generation = static_cast<std::uint32_t>(rec->id.value());
      if (index >= n || generation == 0 || generations[index] != generation)
        return unexpected(errc::invalid_argument, rec->id.value(), "page id does not match the id table");
      if (fresh.entries_[index].live) return unexpected(errc::duplicate_id, rec->id.value(), "page id given twice");
      if (rec->bytes.empty() || rec->bytes.size() > max_page_bytes)
        return unexpected(errc::invalid_argument, rec->bytes.size(), "page size out of range");
      const auto [cls, slot] = fresh.take_slot(rec->bytes.size());
      entry& fe = fresh.entries_[index];
      fe.bytes = static_cast<std::uint32_t>(rec->bytes.size()) & max_bytes_field;
      fe.live = true;
      fe.cold = false;
      fe.slot = slot;
      fe.generation = generation;
      fe.at = rec->at;
      fresh.classes_[cls].owner[slot] = static_cast<std::uint32_t>(index);
      std::memcpy(fresh.classes_[cls].page(slot), rec->bytes.data(), rec->bytes.size());
      ++fresh.live_;
      fresh.payload_bytes_ += rec->bytes.size();
      fresh.slot_bytes_ += std::size_t{fresh.classes_[cls].lines} * line;
    }
    // The free list names every dead index exactly once (pages == n - free_ids.size() already).
    std::vector<bool> listed(n, false);
    for (std::size_t k = 0; k < free_ids.size(); ++k) {
      const std::uint32_t index = free_ids[k];
      if (index >= n || fresh.entries_[index].live || listed[index])
        return unexpected(errc::invalid_argument, k, "free list entry outside the table, alive, or repeated");
      listed[index] = true;
    }
    *this = std::move(fresh);
    return {};
  }

  /// Calls f(id, bytes, epoch) for every live page, in id order.
  template <class F>
  void for_each_page(F&& f) const {
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      const entry& e = entries_[i];
      if (!e.live) continue;
      f(page_id{(std::uint64_t{i} << 32) | generations_[i]}, std::span<const std::byte>(read_ptr(e), e.bytes), e.at);
    }
  }

  /// For scans in memory order: calls f(run, stride, cls, first_slot) for the used part of
  /// every chunk of every size class, where run is the chunk's bytes from first_slot on (slots of
  /// `stride` bytes, each a page of class `cls` or a free slot, whose bytes are unspecified;
  /// a page's bytes are the first bytes of its slot). page_in_slot tells which. Cold pages are
  /// not in any run (for_each_page reads them).
  template <class F>
  void for_each_hot_run(F&& f) const {
    for (std::uint32_t k = 0; k < classes_.size(); ++k) {
      const size_class& c = classes_[k];
      const std::size_t stride = std::size_t{c.lines} * line;
      for (std::uint32_t first = 0; first < c.next_slot; first += c.per_chunk) {
        const std::uint32_t slots = std::min(c.per_chunk, c.next_slot - first);
        f(std::span<const std::byte>(c.chunks[first >> c.chunk_shift].get(), slots * stride), stride, k, first);
      }
    }
  }
  /// The live page in slot `slot` of size class `cls` (for_each_hot_run), with its byte count,
  /// or an empty id for a free slot.
  [[nodiscard]] std::pair<page_id, std::uint32_t> page_in_slot(std::uint32_t cls, std::uint32_t slot) const noexcept {
    const size_class& c = classes_[cls];
    if (slot >= c.next_slot || c.owner[slot] == no_owner) return {page_id{}, 0};
    const std::uint32_t index = c.owner[slot];
    return {page_id{(std::uint64_t{index} << 32) | generations_[index]}, entries_[index].bytes};
  }

  /// A copy of every live page, in id order, and of the id table.
  struct snapshot_type {
    std::vector<std::uint64_t> ids;  ///< live page ids, in increasing order
    std::vector<std::uint32_t> sizes;  ///< their sizes, parallel to ids
    std::vector<std::uint32_t> epochs;  ///< their epochs, parallel to ids
    std::vector<std::byte> bytes;  ///< the pages' bytes, back to back
    std::vector<std::uint32_t> generations;  ///< id_generations()
    std::vector<std::uint32_t> free_ids;     ///< id_free_list()
  };
  /// A copy of every live page, in id order, and of the id table.
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
    s.generations = generations_;
    s.free_ids = free_ids_;
    return s;
  }
  /// Replaces the store's contents with `s`: errc::invalid_argument if `s` is inconsistent (its
  /// columns differ in length, its bytes are too short or too long), else as rebuild().
  result<void> restore(const snapshot_type& s) {
    if (s.sizes.size() != s.ids.size() || s.epochs.size() != s.ids.size())
      return unexpected(errc::invalid_argument, s.ids.size(), "snapshot columns differ in length");
    std::uint64_t total = 0;
    for (auto z : s.sizes) total += z;
    if (total != s.bytes.size()) return unexpected(errc::invalid_argument, total, "snapshot bytes do not match its page sizes");
    std::size_t at = 0;
    return rebuild(s.generations, s.free_ids, s.ids.size(), [&](std::size_t i) {
      const page_record r{page_id{s.ids[i]}, std::span<const std::byte>(s.bytes.data() + at, s.sizes[i]), epoch{s.epochs[i]}};
      at += s.sizes[i];
      return r;
    });
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
  // kernels scan apart from the rest of the entry, and, while the page is alive, in the entry
  // too, so that a check of an id against a live page reads one line. A hot page's size class
  // follows from its size (class_of), so the entry does not hold it.
  static constexpr std::uint32_t max_bytes_field = (std::uint32_t{1} << 25) - 1;  // holds max_page_bytes
  struct entry {
    std::uint32_t bytes : 25 = 0;
    std::uint32_t live : 1 = 0;
    std::uint32_t cold : 1 = 0;
    std::uint32_t slot = 0;        // hot: the slot in its class; cold: its record in cold_recs_
    std::uint32_t generation = 0;  // the live page's generation (generations_[index])
    epoch at{0};
  };
  static_assert(sizeof(entry) == 16, "bookkeeping per page stays small: 16 + 4 bytes of generation");
  static_assert(max_page_bytes <= max_bytes_field);

  struct aligned_delete {
    void operator()(std::byte* p) const noexcept { ::operator delete[](p, std::align_val_t{cache_line_size}); }
  };
  using chunk = std::unique_ptr<std::byte[], aligned_delete>;

  struct size_class {
    std::uint32_t lines = 0;
    std::uint32_t per_chunk = 0;  // a power of two: page() shifts and masks, it never divides
    std::uint32_t chunk_shift = 0;  // log2(per_chunk)
    std::uint32_t next_slot = 0;
    std::vector<chunk> chunks;
    std::vector<std::uint32_t> owner;  // per slot: the table index of its page, or no_owner
    // Free slots below next_slot: a bitmap with a bit for every slot of the chunks (grown with
    // owner, before a chunk is added), their count, and a bound: no free slot lies below
    // low_free. Creates take the lowest free slot, and so fill holes from the bottom; compaction
    // moves the highest live page into the lowest free slot. Neither scans a list of free slots
    // (a heap of them, rebuilt per GC slice, cost 15-30 ms per slice at 300k free slots).
    std::vector<std::uint64_t> free_bits;
    std::uint32_t free_count = 0;
    std::uint32_t low_free = 0;
    std::byte* page(std::uint32_t slot) const noexcept {
      return chunks[slot >> chunk_shift].get() + std::size_t{slot & (per_chunk - 1)} * lines * line;
    }
    [[nodiscard]] std::size_t chunks_needed() const noexcept { return (std::size_t{next_slot} + per_chunk - 1) / per_chunk; }
    void mark_free(std::uint32_t slot) noexcept {
      free_bits[slot / 64] |= std::uint64_t{1} << (slot % 64);
      ++free_count;
      low_free = std::min(low_free, slot);
    }
    // The lowest free slot; free_count > 0. Moves low_free up to it.
    std::uint32_t lowest_free() noexcept {
      std::size_t w = low_free / 64;
      std::uint64_t bits = free_bits[w] & (~std::uint64_t{0} << (low_free % 64));
      while (bits == 0) bits = free_bits[++w];
      low_free = static_cast<std::uint32_t>(w * 64 + static_cast<std::size_t>(std::countr_zero(bits)));
      return low_free;
    }
    void take_free(std::uint32_t slot) noexcept {
      free_bits[slot / 64] &= ~(std::uint64_t{1} << (slot % 64));
      --free_count;
      if (low_free == slot) ++low_free;
    }
    // Forgets the free slots at or above `top` (the class is being cut back to top slots).
    void forget_free_from(std::uint32_t top) noexcept {
      for (std::size_t w = top / 64; w < free_bits.size() && w * 64 < next_slot; ++w) {
        const std::uint64_t keep = w == top / 64 ? ~(~std::uint64_t{0} << (top % 64)) : 0;
        free_count -= static_cast<std::uint32_t>(std::popcount(free_bits[w] & ~keep));
        free_bits[w] &= keep;
      }
    }
  };

  // The cold tier: per cold page a record (offset of its bytes in the arena, or zero_page), and
  // the records' free list; the arena packs the bytes of the cold pages back to back.
  struct cold_rec {
    std::uint64_t offset = 0;
    std::uint32_t index = 0;  // its table index (packing rewrites offsets)
  };
  static constexpr std::uint64_t zero_page = ~std::uint64_t{0};

  const std::byte* read_ptr(const entry& e) const noexcept {
    if (!e.cold) return class_of(e).page(e.slot);
    const std::uint64_t off = cold_recs_[e.slot].offset;
    return off == zero_page ? zeros_.data() : cold_arena_.data() + off;
  }
  // Moves a hot page into the tier. Strong guarantee: everything is reserved first.
  void freeze_entry(entry& e, std::uint32_t index) {
    const std::byte* src = class_of(e).page(e.slot);
    bool zero = true;
    {
      std::uint32_t b = 0;
      for (; b + 8 <= e.bytes && zero; b += 8) {
        std::uint64_t w;
        std::memcpy(&w, src + b, 8);
        zero = w == 0;
      }
      for (; b < e.bytes && zero; ++b) zero = src[b] == std::byte{0};
    }
    if (cold_free_.empty() && cold_recs_.size() == cold_recs_.capacity()) cold_recs_.reserve(2 * cold_recs_.size() + 64);
    if (zero && zeros_.size() < e.bytes) zeros_.resize(e.bytes, std::byte{0});
    if (!zero && cold_arena_.size() + e.bytes > cold_arena_.capacity()) cold_arena_.reserve(std::max(cold_arena_.size() + e.bytes, 2 * cold_arena_.capacity()));
    if (cold_free_.capacity() < cold_recs_.capacity()) cold_free_.reserve(cold_recs_.capacity());
    // Nothing below allocates.
    cold_rec rec{zero ? zero_page : cold_arena_.size(), index};
    if (!zero) cold_arena_.insert(cold_arena_.end(), src, src + e.bytes);
    std::uint32_t r;
    if (!cold_free_.empty()) {
      r = cold_free_.back();
      cold_free_.pop_back();
      cold_recs_[r] = rec;
    } else {
      r = static_cast<std::uint32_t>(cold_recs_.size());
      cold_recs_.push_back(rec);
    }
    auto& c = class_of(e);
    c.mark_free(e.slot);
    c.owner[e.slot] = no_owner;
    slot_bytes_ -= std::size_t{c.lines} * line;
    e.cold = true;
    e.slot = r;
    ++cold_pages_;
    if (!zero) cold_used_ += e.bytes;
  }
  // Brings a cold page back into a slab, bit-identical. Strong guarantee (take_slot is the only
  // allocation, and it comes first).
  void thaw_entry(entry& e, std::uint32_t index) {
    const auto [cls, slot] = take_slot(e.bytes);  // zeroed
    const cold_rec rec = cold_recs_[e.slot];
    if (rec.offset != zero_page) std::memcpy(classes_[cls].page(slot), cold_arena_.data() + rec.offset, e.bytes);
    drop_cold(e);
    e.cold = false;
    e.slot = slot;
    classes_[cls].owner[slot] = index;
    slot_bytes_ += std::size_t{classes_[cls].lines} * line;
  }
  // Forgets a cold page's record (its arena bytes become a hole). Never allocates: cold_free_
  // has room for every record.
  void drop_cold(entry& e) noexcept {
    if (cold_recs_[e.slot].offset != zero_page) cold_used_ -= e.bytes;
    cold_recs_[e.slot].offset = zero_page;
    cold_free_.push_back(e.slot);
    --cold_pages_;
    if (cold_pages_ == 0) {  // all gone: the tier starts over
      cold_arena_.clear();
      cold_recs_.clear();
      cold_free_.clear();
    }
  }
  // Packs the arena: the live records' bytes, back to back in record order.
  void pack_cold() {
    std::vector<std::byte> packed;
    packed.reserve(cold_used_);
    std::vector<bool> is_free(cold_recs_.size(), false);
    for (const std::uint32_t r : cold_free_) is_free[r] = true;
    for (std::size_t r = 0; r < cold_recs_.size(); ++r) {
      cold_rec& rec = cold_recs_[r];
      if (is_free[r] || rec.offset == zero_page) continue;
      const std::uint32_t bytes = entries_[rec.index].bytes;
      const std::uint64_t to = packed.size();
      packed.insert(packed.end(), cold_arena_.data() + rec.offset, cold_arena_.data() + rec.offset + bytes);
      rec.offset = to;
    }
    cold_arena_ = std::move(packed);
  }

  // A zeroed slot for a page of `bytes` bytes: its size class and slot number.
  std::pair<std::uint16_t, std::uint32_t> take_slot(std::size_t bytes) {
    const auto lines = static_cast<std::uint32_t>((bytes + line - 1) / line);
    const std::uint16_t cls = class_for(lines);
    auto& c = classes_[cls];
    std::uint32_t slot;
    if (c.free_count != 0) {
      slot = c.lowest_free();
      c.take_free(slot);
    } else {
      if (c.next_slot == c.chunks.size() * std::size_t{c.per_chunk}) {
        if (c.chunks.size() == c.chunks.capacity()) c.chunks.reserve(2 * c.chunks.size() + 4);
        c.owner.resize((c.chunks.size() + 1) * std::size_t{c.per_chunk}, no_owner);
        c.free_bits.resize(((c.chunks.size() + 1) * std::size_t{c.per_chunk} + 63) / 64, 0);
        c.chunks.push_back(allocate_chunk(c));  // cannot throw now: the chunk is the only allocation
        slab_bytes_ += std::size_t{c.per_chunk} * c.lines * line;
      }
      slot = c.next_slot++;
    }
    std::memset(c.page(slot), 0, std::size_t{c.lines} * line);
    return {cls, slot};
  }

  static chunk allocate_chunk(const size_class& c) {
    const std::size_t bytes = std::size_t{c.per_chunk} * c.lines * line;
    return chunk(static_cast<std::byte*>(::operator new[](bytes, std::align_val_t{cache_line_size})));
  }

  std::uint16_t class_for(std::uint32_t lines) {
    if (lines < class_of_lines_.size() && class_of_lines_[lines] != no_class) return class_of_lines_[lines];
    if (lines >= class_of_lines_.size()) class_of_lines_.resize(std::size_t{lines} + 1, no_class);
    size_class c;
    c.lines = lines;
    // The most pages of this class in 64 KiB, rounded down to a power of two (docs/decisions.md).
    c.per_chunk = std::bit_floor(std::max<std::uint32_t>(1, static_cast<std::uint32_t>((64 * 1024) / (std::size_t{lines} * line))));
    c.chunk_shift = static_cast<std::uint32_t>(std::countr_zero(c.per_chunk));
    classes_.push_back(std::move(c));
    class_of_lines_[lines] = static_cast<std::uint16_t>(classes_.size() - 1);
    return class_of_lines_[lines];
  }
  // A hot page's size class, and its index in classes_.
  [[nodiscard]] std::uint16_t cls_of(const entry& e) const noexcept { return class_of_lines_[(e.bytes + line - 1) / line]; }
  [[nodiscard]] size_class& class_of(const entry& e) noexcept { return classes_[cls_of(e)]; }
  [[nodiscard]] const size_class& class_of(const entry& e) const noexcept { return classes_[cls_of(e)]; }

  const entry* find(page_id id) const noexcept {
    const std::uint64_t index = id.value() >> 32;
    if (index >= entries_.size()) return nullptr;
    const entry& e = entries_[index];
    return e.live && e.generation == static_cast<std::uint32_t>(id.value()) ? &e : nullptr;
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
    write_masked(class_of(e).page(e.slot) + d.offset, d.kind, d.mask.size(), [&](std::size_t w) { return d.mask[w]; },
                 d.payload.data());
    e.at = d.at;
  }

  static constexpr std::uint32_t no_owner = 0xFFFFFFFF;
  std::vector<entry> entries_;
  std::vector<std::uint32_t> generations_;  // parallel to entries_
  std::vector<std::uint32_t> free_ids_;
  std::vector<size_class> classes_;
  static constexpr std::uint16_t no_class = 0xFFFF;
  std::vector<std::uint16_t> class_of_lines_;  // per line count: its class in classes_, or no_class
  std::size_t live_ = 0;
  // Kept on the way for memory() (see the contract).
  std::size_t payload_bytes_ = 0;  // live pages' sizes
  std::size_t slot_bytes_ = 0;     // live pages' slots (sizes rounded up to lines)
  std::size_t slab_bytes_ = 0;     // every chunk of every class
  // The cold tier (see the contract and cold_rec).
  std::vector<std::byte> cold_arena_;
  std::vector<cold_rec> cold_recs_;
  std::vector<std::uint32_t> cold_free_;
  std::vector<std::byte> zeros_;   // as long as the longest zero page frozen: its bytes for reads
  std::size_t cold_pages_ = 0;
  std::size_t cold_used_ = 0;      // arena bytes of live cold pages
  std::size_t freeze_cursor_ = 0;  // where the next freeze_cold slice starts
};

}  // namespace tickflow
