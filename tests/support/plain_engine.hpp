// A deliberately plain engine, written from DESIGN.md's semantics alone: pages in a std::map,
// the graph in maps, everything sequential, no SIMD, no plan (every derived page recomputed in
// topological order at every step). It satisfies the engine, phased_engine and
// inspectable_engine concepts and keeps a log in the tlog format, so that the suites can check
// it exactly as they check reference_engine: the proof that a user's engine is checked by
// tickflow without adapting the suites.
#pragma once

#include <tickflow/core/digest.hpp>
#include <tickflow/engine/engine.hpp>
#include <tickflow/page/delta.hpp>
#include <tickflow/page/tlog.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <span>
#include <type_traits>
#include <vector>

namespace tickflow::test {

template <class T, class Kernel, class W = T>
class plain_engine {
 public:
  using value_type = T;
  using weight_type = W;
  using edit_type = graph_edit<W>;
  struct page {
    std::vector<std::byte> bytes;
    epoch at{0};
  };
  struct edge {
    edge_kind kind;
    W weight;
  };
  using parent_map = std::map<std::uint64_t, std::map<std::uint64_t, edge>>;  // child -> parent -> edge
  struct snapshot_type {
    std::map<std::uint64_t, page> pages;
    parent_map parents;
    std::uint32_t now = 0;
    std::uint64_t next_id = 1;
  };

  explicit plain_engine(Kernel k = Kernel{}) : kernel_(k) {
    const auto h = detail::tlog_header();
    log_.assign(h.begin(), h.end());
  }

  // ------------------------------------------------------------------ the engine concept
  result<page_id> create_page(std::size_t bytes) {
    if (bytes == 0 || bytes > (std::size_t{1} << 24) || bytes % sizeof(T) != 0) return unexpected(errc::invalid_argument, bytes, "bad page size");
    const page_id id{s_.next_id++};
    s_.pages[id.value()] = page{std::vector<std::byte>(bytes), epoch{0}};
    detail::encode_event({tlog_event_kind::page_create, epoch{s_.now}, id, {}, static_cast<std::uint32_t>(bytes), 0, 0}, log_);
    return id;
  }
  result<void> release_page(page_id id) {
    if (!s_.pages.contains(id.value())) return unexpected(errc::not_found, id.value(), "no such page");
    if (s_.parents.contains(id.value()) || has_children(id.value())) return unexpected(errc::has_dependents, id.value(), "a page with edges");
    s_.pages.erase(id.value());
    detail::encode_event({tlog_event_kind::page_release, epoch{s_.now}, id, {}, 0, 0, 0}, log_);
    return {};
  }
  result<void> edit_graph(const edit_type& e) {
    for (const auto& r : e.removals()) pending_.remove_edge(r.first, r.second);
    for (const auto& a : e.additions()) pending_.add_edge(a);
    return {};
  }
  result<void> submit(const delta& d) {
    if (auto ok = check_shape(d); !ok) return ok;
    queued_.push_back(d);
    return {};
  }
  step_report step() {
    step_report r;
    step_apply(r);
    step_propagate(r);
    step_graph(r);
    return r;
  }
  [[nodiscard]] epoch current_epoch() const noexcept { return epoch{s_.now}; }

  // ------------------------------------------------------------------ phases
  void step_apply(step_report& r) {
    std::stable_sort(queued_.begin(), queued_.end(), [](const delta& a, const delta& b) { return a.at < b.at; });
    r.cut = queued_.size();
    std::uint32_t top = s_.now;
    for (const delta& d : queued_) {
      if (auto ok = admit(d); !ok) {
        r.rejected.push_back({d.id, d.page, d.at, ok.error()});
        continue;
      }
      write(d);
      ++r.applied;
      top = std::max(top, d.at.value());
    }
    queued_.clear();
    r.at = epoch{std::max(top, s_.now + 1)};
  }
  void step_propagate(step_report& r) {
    // Every derived page, in topological order (Kahn, ties by page id), recomputed from its
    // parents by page id; a page whose bits change takes the step's epoch.
    for (const std::uint64_t c : topological_order()) {
      const auto it = s_.parents.find(c);
      if (it == s_.parents.end() || it->second.empty()) continue;
      std::vector<const T*> values;
      std::vector<W> weights;
      std::vector<edge_kind> kinds;
      for (const auto& [p, e] : it->second) {
        values.push_back(reinterpret_cast<const T*>(s_.pages.at(p).bytes.data()));
        weights.push_back(e.weight);
        kinds.push_back(e.kind);
      }
      page& pg = s_.pages.at(c);
      std::vector<T> out(pg.bytes.size() / sizeof(T));
      kernel_(std::span<T>(out), parent_inputs<T, W>{values, weights, kinds});
      ++r.propagation.recomputed;
      if (std::memcmp(out.data(), pg.bytes.data(), pg.bytes.size()) != 0) {
        std::memcpy(pg.bytes.data(), out.data(), pg.bytes.size());
        pg.at = r.at;
        ++r.propagation.changed;
      }
    }
  }
  void step_graph(step_report& r) {
    detail::encode_event({tlog_event_kind::step, r.at, {}, {}, 0, 0, 0}, log_);
    s_.now = r.at.value();
    if (!pending_.empty()) {
      parent_map next = s_.parents;
      r.graph = try_edit(next);
      if (r.graph.ok()) {
        s_.parents = std::move(next);
        for (const auto& x : pending_.removals()) detail::encode_event({tlog_event_kind::edge_remove, r.at, x.first, x.second, 0, 0, 0}, log_);
        for (const auto& a : pending_.additions()) {
          std::uint64_t bits = 0;
          std::memcpy(&bits, &a.weight, sizeof(W));
          detail::encode_event({tlog_event_kind::edge_insert, r.at, a.parent, a.child, static_cast<std::uint32_t>(a.kind), bits, 0}, log_);
        }
        r.edits_committed = pending_.removals().size() + pending_.additions().size();
      }
      pending_.clear();
    }
  }

  // ------------------------------------------------------------------ replay_engine
  [[nodiscard]] snapshot_type snapshot() const { return s_; }
  result<void> restore(const snapshot_type& s) {
    s_ = s;
    return {};
  }
  result<void> apply(const delta& d) {
    if (auto ok = check_shape(d); !ok) return ok;
    if (auto ok = admit(d); !ok) return ok;
    write(d);
    return {};
  }
  /// Replays one logged engine event as the run that logged it did.
  result<void> apply(const tlog_event& e) {
    switch (e.kind) {
      case tlog_event_kind::page_create: {
        if (e.page.value() != s_.next_id) return unexpected(errc::corrupt_data, e.page.value(), "a replayed page got another id");
        auto id = create_page(e.aux);
        return id ? result<void>{} : unexpected(id.error());
      }
      case tlog_event_kind::page_release: return release_page(e.page);
      case tlog_event_kind::edge_insert:
      case tlog_event_kind::edge_remove: {
        edit_type one;
        if (e.kind == tlog_event_kind::edge_remove) {
          one.remove_edge(e.page, e.child);
        } else {
          W w;
          std::memcpy(&w, &e.weight, sizeof(W));
          one.add_edge({e.page, e.child, static_cast<edge_kind>(e.aux), w});
        }
        parent_map next = s_.parents;
        std::swap(pending_, one);
        const edit_report rep = try_edit(next);
        std::swap(pending_, one);
        if (!rep.ok()) return unexpected(rep.err.code, rep.err.detail, rep.err.message);
        s_.parents = std::move(next);
        detail::encode_event(e, log_);
        return {};
      }
      case tlog_event_kind::step: {
        step_report r;
        r.at = e.at;
        step_propagate(r);
        detail::encode_event({tlog_event_kind::step, e.at, {}, {}, 0, 0, 0}, log_);
        s_.now = e.at.value();
        return {};
      }
    }
    return unexpected(errc::corrupt_data, static_cast<std::uint64_t>(e.kind), "unknown event kind");
  }
  [[nodiscard]] std::uint64_t digest() const {
    digest64 h;
    for (const auto& [id, p] : s_.pages) {
      h.u64(id);
      h.u64(p.at.value());
      h.bytes(p.bytes);
    }
    for (const auto& [c, ps] : s_.parents)
      for (const auto& [p, e] : ps) {
        h.u64(p);
        h.u64(c);
        h.u64(static_cast<std::uint64_t>(e.kind));
        h.bytes(std::as_bytes(std::span<const W>(&e.weight, 1)));
      }
    h.u64(s_.now);
    return h.value();
  }
  template <class F>
  void for_each_page(F&& f) const {
    for (const auto& [id, p] : s_.pages) f(page_id{id}, std::span<const std::byte>(p.bytes), p.at);
  }

  // ------------------------------------------------------------------ inspection
  [[nodiscard]] result<std::span<const std::byte>> page_bytes(page_id id) const noexcept {
    const auto it = s_.pages.find(id.value());
    if (it == s_.pages.end()) return unexpected(errc::not_found, id.value(), "no such page");
    return std::span<const std::byte>(it->second.bytes);
  }
  [[nodiscard]] result<epoch> page_epoch(page_id id) const noexcept {
    const auto it = s_.pages.find(id.value());
    if (it == s_.pages.end()) return unexpected(errc::not_found, id.value(), "no such page");
    return it->second.at;
  }
  [[nodiscard]] std::size_t parent_count(page_id id) const noexcept {
    const auto it = s_.parents.find(id.value());
    return it == s_.parents.end() ? 0 : it->second.size();
  }
  template <class F>
  void for_each_in_edge(page_id child, F&& f) const {
    const auto it = s_.parents.find(child.value());
    if (it == s_.parents.end()) return;
    for (const auto& [p, e] : it->second) f(graph_edge<W>{page_id{p}, child, e.kind, e.weight});
  }
  [[nodiscard]] std::span<const std::byte> log_records() const noexcept {
    return std::span<const std::byte>(log_).subspan(detail::tlog_header_bytes);
  }

 private:
  bool has_children(std::uint64_t p) const {
    for (const auto& [c, ps] : s_.parents)
      if (ps.contains(p)) return true;
    return false;
  }
  result<void> admit(const delta& d) const {
    const auto it = s_.pages.find(d.page.value());
    if (it == s_.pages.end()) return unexpected(errc::not_found, d.page.value(), "no such page");
    if (std::uint64_t{d.offset} + d.length > it->second.bytes.size()) return unexpected(errc::out_of_range, d.offset, "window past the page");
    if (parent_count(d.page) != 0) return unexpected(errc::derived_target, d.page.value(), "a derived page");
    if (d.at.value() < s_.now || d.at < it->second.at) return unexpected(errc::epoch_regression, s_.now, "late delta");
    return {};
  }
  void write(const delta& d) {
    page& pg = s_.pages.at(d.page.value());
    for_each_write(d, [&](std::size_t i, std::byte b) { pg.bytes[d.offset + i] = b; });
    pg.at = std::max(pg.at, d.at);
    record(d);
  }
  void record(const delta& d) { detail::encode_record(d, log_); }

  std::vector<std::uint64_t> topological_order() const {
    std::map<std::uint64_t, std::size_t> indegree;
    std::map<std::uint64_t, std::vector<std::uint64_t>> children;
    for (const auto& [id, p] : s_.pages) indegree[id] = 0;
    for (const auto& [c, ps] : s_.parents)
      for (const auto& [p, e] : ps) {
        ++indegree[c];
        children[p].push_back(c);
      }
    std::vector<std::uint64_t> ready, order;
    for (const auto& [id, n] : indegree)
      if (n == 0) ready.push_back(id);
    while (!ready.empty()) {
      std::sort(ready.begin(), ready.end(), std::greater<>());
      const std::uint64_t u = ready.back();
      ready.pop_back();
      order.push_back(u);
      for (const std::uint64_t c : children[u])
        if (--indegree[c] == 0) ready.push_back(c);
    }
    return order;
  }
  edit_report try_edit(parent_map& g) const {
    edit_report rep;
    for (const auto& [p, c] : pending_.removals()) {
      auto it = g.find(c.value());
      if (it == g.end() || it->second.erase(p.value()) == 0) {
        rep.err = error{errc::not_found, c.value(), "an edge the graph does not hold"};
        return rep;
      }
      if (it->second.empty()) g.erase(it);
    }
    for (const auto& a : pending_.additions()) {
      const auto pp = s_.pages.find(a.parent.value()), cc = s_.pages.find(a.child.value());
      if (pp == s_.pages.end() || cc == s_.pages.end()) {
        rep.err = error{errc::not_found, a.child.value(), "an edge to an unknown page"};
        return rep;
      }
      if (pp->second.bytes.size() != cc->second.bytes.size()) {
        rep.err = error{errc::invalid_argument, a.child.value(), "pages of different sizes"};
        return rep;
      }
      if (a.parent == a.child || !g[a.child.value()].emplace(a.parent.value(), edge{a.kind, a.weight}).second) {
        rep.err = error{a.parent == a.child ? errc::cycle : errc::duplicate_id, a.child.value(), "a self-loop or a second edge"};
        return rep;
      }
    }
    // Acyclic: every page taken by Kahn's order.
    std::map<std::uint64_t, std::size_t> indegree;
    std::map<std::uint64_t, std::vector<std::uint64_t>> children;
    for (const auto& [c, ps] : g)
      for (const auto& [p, e] : ps) {
        ++indegree[c];
        children[p].push_back(c);
        indegree.try_emplace(p, 0);
      }
    std::vector<std::uint64_t> ready;
    for (const auto& [id, n] : indegree)
      if (n == 0) ready.push_back(id);
    std::size_t seen = 0;
    while (!ready.empty()) {
      const std::uint64_t u = ready.back();
      ready.pop_back();
      ++seen;
      for (const std::uint64_t c : children[u])
        if (--indegree[c] == 0) ready.push_back(c);
    }
    if (seen != indegree.size()) rep.err = error{errc::cycle, 0, "the edit closes a cycle"};
    return rep;
  }

  Kernel kernel_;
  snapshot_type s_;
  std::vector<delta> queued_;
  edit_type pending_;
  std::vector<std::byte> log_;
};

}  // namespace tickflow::test

namespace tickflow::test {

/// An engine of type E for the suites: reference engines take the options and a worker count;
/// an engine that takes neither (plain_engine) is default-constructed (its worker count is 1).
template <class E>
std::unique_ptr<E> make_engine(unsigned workers) {
  if constexpr (std::is_constructible_v<E, engine_options, unsigned>) return std::make_unique<E>(engine_options{}, workers);
  else return std::make_unique<E>();
}

}  // namespace tickflow::test
