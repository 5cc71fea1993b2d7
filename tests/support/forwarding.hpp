// An engine that forwards every call of the engine, phased-engine and inspection concepts to a
// reference engine inside it, and shows nothing else (no store, no cut, no log): the validators
// take their generic paths through it.
#pragma once

#include <tickflow/engine/engine.hpp>
#include <tickflow/validate/inspect.hpp>

#include <utility>

namespace tickflow::test {

template <class E>
class forwarding_engine {
 public:
  using edit_type = typename E::edit_type;
  using value_type = typename E::value_type;
  using weight_type = typename E::weight_type;
  using snapshot_type = typename E::snapshot_type;

  template <class... A>
  explicit forwarding_engine(A&&... a) : inner(std::forward<A>(a)...) {}

  result<page_id> create_page(std::size_t bytes) { return inner.create_page(bytes); }
  result<void> release_page(page_id id) { return inner.release_page(id); }
  result<void> edit_graph(const edit_type& edit) { return inner.edit_graph(edit); }
  result<void> submit(const delta& d) { return inner.submit(d); }
  step_report step() { return inner.step(); }
  void step_apply(step_report& r) { inner.step_apply(r); }
  void step_propagate(step_report& r) { inner.step_propagate(r); }
  void step_graph(step_report& r) { inner.step_graph(r); }
  [[nodiscard]] epoch current_epoch() const noexcept { return inner.current_epoch(); }
  [[nodiscard]] snapshot_type snapshot() const { return inner.snapshot(); }
  result<void> restore(const snapshot_type& s) { return inner.restore(s); }
  result<void> apply(const delta& d) { return inner.apply(d); }
  [[nodiscard]] std::uint64_t digest() const { return inner.digest(); }
  template <class F>
  void for_each_page(F&& f) const {
    inner.for_each_page(std::forward<F>(f));
  }
  [[nodiscard]] result<std::span<const std::byte>> page_bytes(page_id id) const noexcept { return inner.page_bytes(id); }
  [[nodiscard]] result<epoch> page_epoch(page_id id) const noexcept { return inner.page_epoch(id); }
  [[nodiscard]] std::size_t parent_count(page_id id) const noexcept { return inner.parent_count(id); }
  template <class F>
  void for_each_in_edge(page_id id, F&& f) const {
    inner.for_each_in_edge(id, std::forward<F>(f));
  }

  E inner;
};

}  // namespace tickflow::test
