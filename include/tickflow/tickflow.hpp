// tickflow/tickflow.hpp — the umbrella header: every public tickflow header.
//
// Including it in several translation units of one program is supported (everything is inline
// or a template); the test suite links two such units into one binary to keep it that way.
#pragma once

#include "tickflow/columnar/batch_apply.hpp"
#include "tickflow/columnar/delta_batch.hpp"
#include "tickflow/columnar/fwd.hpp"
#include "tickflow/columnar/tlog_batch.hpp"
#if __has_include(<xsimd/xsimd.hpp>)
#  include "tickflow/columnar/scan.hpp"  // needs the xsimd headers
#endif
#include "tickflow/core/cache_padded.hpp"
#include "tickflow/core/config.hpp"
#include "tickflow/core/crc32c.hpp"
#include "tickflow/core/digest.hpp"
#include "tickflow/core/fwd.hpp"
#include "tickflow/core/histogram.hpp"
#include "tickflow/core/huge_alloc.hpp"
#include "tickflow/core/ids.hpp"
#include "tickflow/core/pod_buffer.hpp"
#include "tickflow/core/result.hpp"
#include "tickflow/core/wait.hpp"
#include "tickflow/engine/engine.hpp"
#include "tickflow/engine/executor.hpp"
#include "tickflow/engine/ingest.hpp"
#include "tickflow/engine/parallel_apply.hpp"
#include "tickflow/engine/propagate.hpp"
#include "tickflow/graph/csr.hpp"
#include "tickflow/graph/page_graph.hpp"
#include "tickflow/page/checkpoint.hpp"
#include "tickflow/page/delta.hpp"
#include "tickflow/page/fwd.hpp"
#include "tickflow/page/log_apply.hpp"
#include "tickflow/page/page_store.hpp"
#include "tickflow/page/tlog.hpp"
#include "tickflow/queue/concepts.hpp"
#include "tickflow/queue/fwd.hpp"
#include "tickflow/queue/mpmc_ring.hpp"
#include "tickflow/queue/spsc_layout.hpp"
#include "tickflow/queue/spsc_ring.hpp"
#include "tickflow/semiring/builtin.hpp"
#include "tickflow/semiring/fwd.hpp"
#include "tickflow/semiring/semiring.hpp"
#include "tickflow/semiring/ulp.hpp"
#include "tickflow/validate/integrity.hpp"
#include "tickflow/validate/invariants.hpp"
#include "tickflow/validate/replay.hpp"
