/// @file
/// tickflow/validate/inspect.hpp — what the purity, stability and provenance validators read of
/// an engine, as a concept a user's engine can satisfy.
///
/// Contract
///   * inspectable_engine<E>: an engine (engine/engine.hpp) that names its element and weight
///     types (E::value_type, E::weight_type) and answers, between steps:
///       - page_bytes(id) -> result<std::span<const std::byte>>: the page's bytes;
///       - page_epoch(id) -> result<epoch>: the page's epoch;
///       - parent_count(id): how many parents the page has (0: a source, or unknown);
///       - for_each_in_edge(id, f): f(graph_edge<weight_type>) for each parent, by increasing
///         page id (the fixed order of propagation).
///     Unknown or released pages are errc::not_found from the first two. The graph the last
///     calls describe is the committed one.
///   * cut_exposing_engine<E>: an engine that shows the last step's cut (last_cut(), a
///     delta_batch in canonical order). The purity validator then checks that the cut equals
///     what was submitted and that no phase changes it.
///   * value_at<T>(bytes, i): element i of a page read as T (memcpy: no alignment assumed).
///
/// Thread-safety: the calls are made between steps, by the thread that steps.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstring>
#include <span>

#include "tickflow/columnar/delta_batch.hpp"
#include "tickflow/core/ids.hpp"
#include "tickflow/core/result.hpp"
#include "tickflow/engine/engine.hpp"
#include "tickflow/graph/page_graph.hpp"

namespace tickflow {

template <class E>
concept inspectable_engine = engine<E> && requires(const E& ce, page_id id) {
  typename E::value_type;
  typename E::weight_type;
  { ce.page_bytes(id) } -> std::same_as<result<std::span<const std::byte>>>;
  { ce.page_epoch(id) } -> std::same_as<result<epoch>>;
  { ce.parent_count(id) } -> std::convertible_to<std::size_t>;
  ce.for_each_in_edge(id, [](const graph_edge<typename E::weight_type>&) {});
};

template <class E>
concept cut_exposing_engine = requires(const E& ce) {
  { ce.last_cut() } -> std::convertible_to<const delta_batch&>;
};

/// Element i of a page's bytes read as T.
template <class T>
[[nodiscard]] T value_at(std::span<const std::byte> bytes, std::size_t i) noexcept {
  T v;
  std::memcpy(&v, bytes.data() + i * sizeof(T), sizeof(T));
  return v;
}

}  // namespace tickflow
