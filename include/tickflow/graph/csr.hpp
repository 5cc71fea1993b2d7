/// @file
/// tickflow/graph/csr.hpp — compact adjacency (CSR) and the cycle checks that run on it.
///
/// Contract
///   * csr_graph: nodes 0..n-1; the children of u are targets[offsets[u] .. offsets[u+1]).
///     from_edges() builds one from an edge list in O(n + m) (two counting-sort passes: by child,
///     then stably by parent), children in ascending order.
///   * check_acyclic(g, options): Kahn's algorithm first (O(n + m)); only if it leaves nodes
///     unprocessed does an iterative Tarjan SCC run, restricted to those nodes. Reports whether
///     the graph is acyclic, a topological order when it is (if asked), the number of cyclic
///     strongly connected components (all of them, or 1 with stop_at_first), and a witness: a
///     real cycle w[0] -> w[1] -> ... -> w[k-1] -> w[0] (a self-loop is the cycle {u}).
///   * check_reachable(g, start, scratch): the same question for the subgraph reachable from
///     `start` only: an iterative depth-first search that touches only reachable nodes (the
///     scratch keeps its marks between calls, stamped, so it is never cleared in full).
///     errc::out_of_range if start is not a node. The generic form takes children(u) returning
///     any indexable range, by value or by reference (a reference is not copied).
///   * Nothing recurses: a 1M-node chain or ring runs on the default stack.
///   * Allocation: results own vectors; graph_scratch is reusable (it grows to the largest graph).
///
/// Thread-safety: functions over values; a graph_scratch is used by one thread at a time.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "tickflow/core/result.hpp"

namespace tickflow {

/// A directed graph in compressed sparse rows: node u's children are targets[offsets[u] .. offsets[u+1]).
struct csr_graph {
  std::vector<std::uint32_t> offsets{0};  ///< n + 1 entries
  std::vector<std::uint32_t> targets;     ///< m entries

  /// Nodes.
  [[nodiscard]] std::size_t nodes() const noexcept { return offsets.size() - 1; }
  /// Edges.
  [[nodiscard]] std::size_t edges() const noexcept { return targets.size(); }
  /// Node u's children.
  [[nodiscard]] std::span<const std::uint32_t> children(std::uint32_t u) const noexcept {
    return {targets.data() + offsets[u], targets.data() + offsets[u + 1]};
  }

  /// errc::out_of_range (detail: the edge's index) if an endpoint is >= n;
  /// errc::capacity_exceeded if n or the edge count does not fit 32 bits.
  [[nodiscard]] static result<csr_graph> from_edges(std::size_t n, std::span<const std::pair<std::uint32_t, std::uint32_t>> edges) {
    if (n >= 0xFFFFFFFFULL || edges.size() >= 0xFFFFFFFFULL) return unexpected(errc::capacity_exceeded, n, "graph too large for 32-bit ids");
    csr_graph g;
    g.offsets.assign(n + 1, 0);
    std::vector<std::uint32_t> by_child(n + 1, 0);
    for (std::size_t i = 0; i < edges.size(); ++i) {
      if (edges[i].first >= n || edges[i].second >= n) return unexpected(errc::out_of_range, i, "edge endpoint is not a node");
      ++g.offsets[edges[i].first + 1];
      ++by_child[edges[i].second + 1];
    }
    for (std::size_t u = 0; u < n; ++u) {
      g.offsets[u + 1] += g.offsets[u];
      by_child[u + 1] += by_child[u];
    }
    // Pass 1: the edges' parents grouped by child, children ascending. Pass 2: distributed
    // stably by parent, so every parent's children come out ascending. No comparison sort.
    std::vector<std::uint32_t> parents(edges.size());
    for (const auto& [u, v] : edges) parents[by_child[v]++] = u;
    g.targets.resize(edges.size());
    std::vector<std::uint32_t> fill(g.offsets.begin(), g.offsets.end() - 1);
    for (std::uint32_t v = 0, k = 0; v < n; ++v)
      for (const std::uint32_t end = by_child[v]; k < end; ++k) g.targets[fill[parents[k]]++] = v;
    return g;
  }
};

/// What check_acyclic looks for.
struct acyclic_options {
  bool stop_at_first = true;  ///< stop at the first cyclic component (witness of that one)
  bool want_order = false;    ///< fill `order` with a topological order when acyclic
};

/// What check_acyclic found.
struct acyclic_report {
  bool acyclic = true;  ///< whether the graph has no cycle
  std::vector<std::uint32_t> witness;  ///< a cycle when !acyclic: w[i] -> w[i+1], last -> first
  std::size_t cyclic_components = 0;   ///< cyclic SCCs found (at most 1 with stop_at_first)
  std::vector<std::uint32_t> order;    ///< topological order, if acyclic and asked for
};

/// What check_reachable found.
struct reach_report {
  bool acyclic = true;  ///< whether the reachable subgraph has no cycle
  std::vector<std::uint32_t> witness;  ///< as in acyclic_report
  std::size_t visited = 0;             ///< nodes reached from the start (including it)
};

/// Reusable scratch for the checks (marks are stamped per call, never cleared in full).
class graph_scratch {
 public:
  /// Makes room for n nodes and starts a new call's marks.
  void fit(std::size_t n) {
    // Both sizes are tested: if one resize threw (std::bad_alloc) the next call must redo it.
    if (mark_.size() < n || aux_.size() < n) {
      aux_.resize(std::max(n, aux_.size()), 0);
      mark_.resize(std::max(n, mark_.size()), 0);
    }
    stamp_ += 2;
    if (stamp_ < 2) {  // wrapped: clear once
      std::fill(mark_.begin(), mark_.end(), 0);
      stamp_ = 2;
    }
  }
  // Node states for one call: 0 = unseen, gray, black.
  /// Whether u was reached in this call.
  [[nodiscard]] bool seen(std::uint32_t u) const noexcept { return mark_[u] >= stamp_; }
  /// Whether u is on the current path (gray).
  [[nodiscard]] bool gray(std::uint32_t u) const noexcept { return mark_[u] == stamp_; }
  /// Marks u as on the path.
  void set_gray(std::uint32_t u) noexcept { mark_[u] = stamp_; }
  /// Marks u as finished.
  void set_black(std::uint32_t u) noexcept { mark_[u] = stamp_ + 1; }
  /// Per-node scratch of the checks.
  std::vector<std::uint32_t>& aux() noexcept { return aux_; }

  /// One level of the depth-first walk: a node and where it is in its child list.
  struct frame {
    std::uint32_t node;  ///< the node
    std::uint32_t next;  ///< position in the node's child list
  };
  std::vector<frame> frames;  ///< the walk's stack
  std::vector<std::uint32_t> list;  ///< a node list the checks reuse (Kahn's queue, the cycle's nodes)
  /// Bytes held (capacities).
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return frames.capacity() * sizeof(frame) + (list.capacity() + mark_.capacity() + aux_.capacity()) * sizeof(std::uint32_t);
  }

 private:
  std::vector<std::uint32_t> mark_;
  std::vector<std::uint32_t> aux_;
  std::uint32_t stamp_ = 0;
};

namespace detail {

// A cycle through `root` inside the node set where in_set(x) holds (root's strongly connected
// component): breadth-first from root's children back to root. Precondition: one exists.
template <class InSet>
std::vector<std::uint32_t> cycle_through(const csr_graph& g, std::uint32_t root, InSet&& in_set, graph_scratch& s) {
  s.fit(g.nodes());
  auto& pred = s.aux();
  auto& queue = s.list;
  queue.clear();
  for (std::uint32_t c : g.children(root)) {
    if (c == root) return {root};
    if (!in_set(c) || s.seen(c)) continue;
    s.set_gray(c);
    pred[c] = root;
    queue.push_back(c);
  }
  for (std::size_t head = 0; head < queue.size(); ++head) {
    const std::uint32_t u = queue[head];
    for (std::uint32_t c : g.children(u)) {
      if (c == root) {
        std::vector<std::uint32_t> path{u};
        for (std::uint32_t x = u; pred[x] != root; x = pred[x]) path.push_back(pred[x]);
        path.push_back(root);
        std::reverse(path.begin(), path.end());  // root -> ... -> u, and u -> root closes it
        return path;
      }
      if (!in_set(c) || s.seen(c)) continue;
      s.set_gray(c);
      pred[c] = u;
      queue.push_back(c);
    }
  }
  return {};
}

}  // namespace detail

/// Kahn, then (only if needed) iterative Tarjan on what Kahn could not order.
[[nodiscard]] inline acyclic_report check_acyclic(const csr_graph& g, const acyclic_options& opt, graph_scratch& s) {
  acyclic_report rep;
  const auto n = static_cast<std::uint32_t>(g.nodes());
  std::vector<std::uint32_t> indeg(n, 0);
  for (std::uint32_t v : g.targets) ++indeg[v];
  std::vector<std::uint32_t>& order = rep.order;
  order.clear();
  order.reserve(n);
  for (std::uint32_t u = 0; u < n; ++u)
    if (indeg[u] == 0) order.push_back(u);
  for (std::size_t head = 0; head < order.size(); ++head) {
    const std::uint32_t u = order[head];
    for (std::uint32_t c : g.children(u))
      if (--indeg[c] == 0) order.push_back(c);
  }
  if (order.size() == n) {
    if (!opt.want_order) order.clear();
    return rep;
  }
  order.clear();
  rep.acyclic = false;
  // Nodes left with indeg > 0 are on a cycle or downstream of one; every cycle is among them.
  const auto left = [&](std::uint32_t x) { return indeg[x] != 0; };
  constexpr std::uint32_t unvisited = 0xFFFFFFFF;
  std::vector<std::uint32_t> index(n, unvisited), low(n, 0);
  std::vector<bool> on_stack(n, false);
  std::vector<std::uint32_t> stack;
  std::vector<graph_scratch::frame> frames;
  std::uint32_t counter = 0;
  for (std::uint32_t r = 0; r < n; ++r) {
    if (!left(r) || index[r] != unvisited) continue;
    index[r] = low[r] = counter++;
    stack.push_back(r);
    on_stack[r] = true;
    frames.push_back({r, g.offsets[r]});
    while (!frames.empty()) {
      graph_scratch::frame& f = frames.back();
      const std::uint32_t u = f.node;
      if (f.next < g.offsets[u + 1]) {
        const std::uint32_t w = g.targets[f.next++];
        if (!left(w)) continue;
        if (index[w] == unvisited) {
          index[w] = low[w] = counter++;
          stack.push_back(w);
          on_stack[w] = true;
          frames.push_back({w, g.offsets[w]});
        } else if (on_stack[w]) {
          low[u] = std::min(low[u], index[w]);
        }
        continue;
      }
      frames.pop_back();
      if (!frames.empty()) low[frames.back().node] = std::min(low[frames.back().node], low[u]);
      if (low[u] != index[u]) continue;
      // u is the root of a component: pop it.
      std::size_t size = 0;
      std::uint32_t x;
      do {
        x = stack.back();
        stack.pop_back();
        on_stack[x] = false;
        low[x] = u;  // component id, for the witness search
        ++size;
      } while (x != u);
      bool cyclic = size > 1;
      if (!cyclic)
        for (std::uint32_t c : g.children(u)) cyclic = cyclic || c == u;
      if (!cyclic) continue;
      ++rep.cyclic_components;
      if (rep.witness.empty())
        rep.witness = detail::cycle_through(g, u, [&](std::uint32_t y) { return left(y) && index[y] != unvisited && !on_stack[y] && low[y] == u; }, s);
      if (opt.stop_at_first) return rep;
    }
  }
  return rep;
}

/// check_acyclic with its own scratch.
[[nodiscard]] inline acyclic_report check_acyclic(const csr_graph& g, const acyclic_options& opt = {}) {
  graph_scratch s;
  return check_acyclic(g, opt, s);
}

/// Iterative three-colour depth-first search from `start` over `children(u)` (any callable
/// returning a range of node ids); visits only what `start` reaches.
template <class Children>
[[nodiscard]] result<reach_report> check_reachable(std::size_t n, std::uint32_t start, Children&& children, graph_scratch& s) {
  if (start >= n) return unexpected(errc::out_of_range, start, "start is not a node");
  reach_report rep;
  s.fit(n);
  auto& frames = s.frames;
  frames.clear();
  s.set_gray(start);
  rep.visited = 1;
  frames.push_back({start, 0});
  while (!frames.empty()) {
    graph_scratch::frame& f = frames.back();
    auto&& kids = children(f.node);  // a returned reference is not copied
    if (f.next < kids.size()) {
      const std::uint32_t w = kids[f.next++];
      if (s.gray(w)) {  // a back edge: the frames from w to here, then back to w, are a cycle
        rep.acyclic = false;
        std::size_t k = frames.size();
        while (frames[k - 1].node != w) --k;
        for (std::size_t i = k - 1; i < frames.size(); ++i) rep.witness.push_back(frames[i].node);
        frames.clear();
        return rep;
      }
      if (s.seen(w)) continue;
      s.set_gray(w);
      ++rep.visited;
      frames.push_back({w, 0});
      continue;
    }
    s.set_black(f.node);
    frames.pop_back();
  }
  return rep;
}

/// Whether the subgraph reachable from `start` is acyclic, with a witness if not (see the file contract); errc::out_of_range for a start past the graph.
[[nodiscard]] inline result<reach_report> check_reachable(const csr_graph& g, std::uint32_t start, graph_scratch& s) {
  return check_reachable(g.nodes(), start, [&](std::uint32_t u) { return g.children(u); }, s);
}

}  // namespace tickflow
