/// @file
/// tickflow/engine/parallel_apply.hpp — applying a delta_batch with an executor's workers.
///
/// Contract
///   * apply_batch(applier, store, batch, ex) is batch_applier::apply (columnar/batch_apply.hpp)
///     with its passes spread over ex's workers: rows in one contiguous chunk per worker for the
///     partition, pages in buckets (contiguous table-index ranges, a core's L2 each) owned by one
///     task each for the checks and the writes. The result is bit-identical to sequential
///     page_store::apply_all in batch order for every worker count: the same bytes, epochs and
///     digest, or the same error (the lowest failing row) with nothing written. Batches the
///     applier streams (few rows for a large store, stream_pages_per_row) and stores that fit in
///     cache (in_order_bytes) are applied on the calling thread.
///   * Allocation: the applier's scratch grows to the largest batch and worker count seen and is
///     kept; the executor allocates nothing per fork-join (thread_pool).
///
/// Thread-safety: one call at a time per applier; the store is not used concurrently.
#pragma once

#include <cstddef>

#include "tickflow/columnar/batch_apply.hpp"
#include "tickflow/columnar/delta_batch.hpp"
#include "tickflow/core/result.hpp"
#include "tickflow/engine/executor.hpp"
#include "tickflow/page/page_store.hpp"

namespace tickflow {

/// See the file contract.
template <executor E>
result<std::size_t> apply_batch(batch_applier& applier, page_store& store, const delta_batch& batch, E& ex) {
  return applier.apply(
      store, batch, [&](std::size_t count, auto&& fn) { ex.parallel_for(count, fn); }, ex.concurrency());
}

}  // namespace tickflow
