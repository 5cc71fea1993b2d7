/// @file
/// tickflow/engine/memory.hpp — what an engine's memory holds, from counters kept on the way.
///
/// Contract
///   * memory_report is one snapshot: pages, payload bytes, the slabs (bytes allocated, bytes in
///     live pages' slots), bookkeeping by kind (id table, free lists, graph, ingest lanes, log
///     buffers, apply and propagation scratch), log bytes on disk, and the process's resident set.
///     Derived figures: bookkeeping total, fragmentation (slab bytes not in live slots, and its
///     share of the slab bytes) and bytes per page (slabs and bookkeeping over the pages).
///   * reference_engine::memory() fills it without scanning pages or edges: the store and the
///     graph keep their counters as pages and edges come and go (page_store::memory,
///     page_graph::memory_bytes), and the rest are container capacities, a few per structure. The
///     resident set comes from /proc/self/statm (0 where there is none). Tests compare every
///     figure with a fresh count over the pages, the nodes and the containers.
///   * Bookkeeping figures are capacities (what is allocated, not what is in use); the graph's
///     id-index hash map, used only for ids past the dense range, is estimated (see page_graph).
///
/// Thread-safety: a value. read_rss_bytes() is reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>

#if defined(__unix__)
#  include <unistd.h>
#endif

namespace tickflow {

/// Where an engine's memory goes, by part (reference_engine::memory()).
struct memory_report {
  std::size_t pages = 0;  ///< live pages, cold ones included
  std::size_t payload_bytes = 0;  ///< the live pages' sizes
  std::size_t slab_bytes = 0;     ///< slab chunks allocated
  std::size_t slot_bytes = 0;     ///< live pages' slots (sizes rounded up to 64-byte lines)
  // Bookkeeping, by kind (capacities).
  std::size_t table_bytes = 0;       ///< the page id table
  std::size_t free_list_bytes = 0;   ///< free ids, free slots, slab chunk lists
  std::size_t graph_bytes = 0;       ///< nodes, adjacency, id index, search scratch
  std::size_t ingest_bytes = 0;      ///< producer lanes and the cut's scratch
  std::size_t log_buffer_bytes = 0;  ///< the in-memory log and the log writer's buffer
  std::size_t scratch_bytes = 0;     ///< the cut batch, apply and propagation scratch, the queued edit
  std::uint64_t log_disk_bytes = 0;  ///< the log file's length (0 without a writer)
  std::size_t rss_bytes = 0;         ///< the process's resident set (0 if unknown)
  // The cold tier (counted in pages and payload_bytes, not in the slabs).
  std::size_t cold_pages = 0;        ///< pages in the cold tier
  std::size_t cold_bytes = 0;        ///< their packed bytes (zero pages: none)
  std::size_t cold_tier_bytes = 0;   ///< the tier's memory (arena and records, capacity)

  /// All bookkeeping: table, free lists, graph, ingest, log buffers, scratch and the cold tier.
  [[nodiscard]] std::size_t bookkeeping_bytes() const noexcept {
    return table_bytes + free_list_bytes + graph_bytes + ingest_bytes + log_buffer_bytes + scratch_bytes + cold_tier_bytes;
  }
  /// Slab bytes not holding a live page's slot.
  [[nodiscard]] std::size_t fragmentation_bytes() const noexcept { return slab_bytes - slot_bytes; }
  /// Fragmentation as a share of the slab bytes (0 with no slabs).
  [[nodiscard]] double fragmentation() const noexcept {
    return slab_bytes == 0 ? 0.0 : static_cast<double>(fragmentation_bytes()) / static_cast<double>(slab_bytes);
  }
  /// Slab and bookkeeping bytes per live page (0 with no pages).
  [[nodiscard]] double bytes_per_page() const noexcept {
    return pages == 0 ? 0.0 : static_cast<double>(slab_bytes + bookkeeping_bytes()) / static_cast<double>(pages);
  }
};

/// The process's resident set in bytes, from /proc/self/statm (0 where it cannot be read).
[[nodiscard]] inline std::size_t read_rss_bytes() noexcept {
#if defined(__linux__)
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  const int got = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  if (got != 2) return 0;
  const long page = ::sysconf(_SC_PAGESIZE);
  return page > 0 ? static_cast<std::size_t>(resident) * static_cast<std::size_t>(page) : 0;
#else
  return 0;
#endif
}

}  // namespace tickflow
