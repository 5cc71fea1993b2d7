// tickflow/graph/page_graph.hpp — the page graph: edges parent -> child, kept acyclic.
//
// Contract
//   * Nodes are pages (page_id); edges are parent -> child with an edge_kind and a weight of type
//     W (a semiring's value_type; double by default). At most one edge per (parent, child).
//     A page with no parents is a source.
//   * The committed graph is always acyclic. add_edge checks one insertion incrementally with a
//     dynamic topological order (Pearce–Kelly): an edge that follows the order costs O(1);
//     otherwise only the nodes between the two endpoints in the order are searched and
//     reordered. A cycle-closing edge is rejected with errc::cycle and, if asked, a witness:
//     pages w[0] -> w[1] -> ... -> w[k-1] -> w[0] where w[0] -> w[1] is the rejected edge and
//     every other step is a committed edge.
//   * Shadow edits: a graph_edit collects proposed removals and insertions; check(edit) says
//     whether committing it would leave the graph acyclic (with the failing insertion and a
//     witness), commit(edit) applies it only if so. Either way a rejected edit leaves the
//     committed graph exactly as it was (same edges, same attributes, same adjacency order).
//     Small edits are applied one insertion at a time with an undo log; an edit with many
//     insertions (more than max(64, edges / 8)) takes the batch path: the edited graph is built
//     as CSR and checked whole (Kahn), then swapped in.
//   * snapshot() returns the committed graph as CSR over dense node numbers plus the page of each
//     node; children are sorted, so equal graphs give equal snapshots.
//   * validate() runs the full check (graph/csr.hpp) on the snapshot; validate_from(page) checks
//     the subgraph reachable from one page only. check_invariants() verifies the internal
//     state (the order is a permutation, every edge goes forward in it, the two adjacency
//     directions mirror each other, the page index is consistent).
//   * renumber_topologically() renumbers the nodes in topological order, so that children have
//     higher numbers than their parents and a snapshot's CSR is laid out in propagation order.
//   * Errors: errc::duplicate_id (page or edge exists), errc::not_found (unknown page or edge),
//     errc::cycle (detail: the index of the failing insertion in an edit, 0 for add_edge).
//
// Thread-safety: a value; const member functions may run concurrently, others are exclusive.
// validate_from and check keep scratch space and so are not const.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tickflow/core/ids.hpp"
#include "tickflow/core/result.hpp"
#include "tickflow/graph/csr.hpp"

namespace tickflow {

enum class edge_kind : std::uint8_t { data = 0, control = 1 };

template <class W>
struct graph_edge {
  page_id parent;
  page_id child;
  edge_kind kind = edge_kind::data;
  W weight{};
  friend bool operator==(const graph_edge&, const graph_edge&) = default;
};

/// A proposed change to a page_graph: removals apply first, then insertions in order.
template <class W>
class graph_edit {
 public:
  void add_edge(const graph_edge<W>& e) { adds_.push_back(e); }
  void remove_edge(page_id parent, page_id child) { removes_.emplace_back(parent, child); }
  [[nodiscard]] const std::vector<graph_edge<W>>& additions() const noexcept { return adds_; }
  [[nodiscard]] const std::vector<std::pair<page_id, page_id>>& removals() const noexcept { return removes_; }
  [[nodiscard]] bool empty() const noexcept { return adds_.empty() && removes_.empty(); }
  void clear() noexcept {
    adds_.clear();
    removes_.clear();
  }

 private:
  std::vector<graph_edge<W>> adds_;
  std::vector<std::pair<page_id, page_id>> removes_;
};

/// What check/commit of an edit found.
struct edit_report {
  error err{};                   ///< errc::ok if the edit is (was) committable
  std::vector<page_id> witness;  ///< for errc::cycle
  [[nodiscard]] bool ok() const noexcept { return err.code == errc::ok; }
};

/// A cycle report in pages.
struct graph_report {
  bool acyclic = true;
  std::vector<page_id> witness;
  std::size_t visited = 0;  ///< validate_from: nodes reached
};

template <class W = double>
class page_graph {
 public:
  using weight_type = W;

  [[nodiscard]] std::size_t pages() const noexcept { return live_; }
  [[nodiscard]] std::size_t edges() const noexcept { return edges_; }
  [[nodiscard]] bool contains(page_id p) const noexcept { return index_.find(p).has_value(); }

  result<void> add_page(page_id p) {
    if (contains(p)) return unexpected(errc::duplicate_id, p.value(), "page already in the graph");
    std::uint32_t u;
    if (!free_nodes_.empty()) {
      u = free_nodes_.back();
      free_nodes_.pop_back();
    } else {
      if (page_of_.size() >= 0xFFFFFFFEULL) return unexpected(errc::capacity_exceeded, p.value(), "too many pages");
      u = static_cast<std::uint32_t>(page_of_.size());
      page_of_.emplace_back();
      alive_.push_back(false);
      nodes_.push_back(node_rec{u, {}, {}});
      node_at_.push_back(u);
    }
    index_.insert(p, u, live_);
    page_of_[u] = p;
    alive_[u] = true;
    ++live_;
    return {};
  }

  /// Removes a page and every edge touching it.
  result<void> remove_page(page_id p) {
    const auto u = node(p);
    if (!u) return unexpected(errc::not_found, p.value(), "no such page");
    while (!nodes_[*u].out.empty()) unlink(*u, nodes_[*u].out.back().child);
    while (!nodes_[*u].in.empty()) unlink(nodes_[*u].in.back(), *u);
    index_.erase(p);
    alive_[*u] = false;
    free_nodes_.push_back(*u);
    --live_;
    return {};
  }

  /// Inserts one edge (see the file contract). On errc::cycle, `witness` (if given) receives the cycle.
  result<void> add_edge(const graph_edge<W>& e, std::vector<page_id>* witness = nullptr) {
    const auto u = node(e.parent), v = node(e.child);
    if (!u) return unexpected(errc::not_found, e.parent.value(), "parent page not in the graph");
    if (!v) return unexpected(errc::not_found, e.child.value(), "child page not in the graph");
    if (find_out(*u, *v) != npos) return unexpected(errc::duplicate_id, e.child.value(), "edge already exists");
    if (!reorder_for(*u, *v, witness)) return unexpected(errc::cycle, 0, "edge would close a cycle");
    link(*u, *v, e.kind, e.weight);
    return {};
  }

  result<void> remove_edge(page_id parent, page_id child) {
    const auto u = node(parent), v = node(child);
    if (!u || !v || find_out(*u, *v) == npos) return unexpected(errc::not_found, child.value(), "no such edge");
    unlink(*u, *v);
    return {};
  }

  [[nodiscard]] bool has_edge(page_id parent, page_id child) const noexcept {
    const auto u = node(parent), v = node(child);
    return u && v && find_out(*u, *v) != npos;
  }
  [[nodiscard]] std::optional<graph_edge<W>> edge(page_id parent, page_id child) const {
    const auto u = node(parent), v = node(child);
    if (!u || !v) return std::nullopt;
    const std::size_t k = find_out(*u, *v);
    if (k == npos) return std::nullopt;
    const out_edge& o = nodes_[*u].out[k];
    return graph_edge<W>{parent, child, o.kind, o.weight};
  }
  /// A page with no parents (errc::not_found for an unknown page).
  [[nodiscard]] result<bool> is_source(page_id p) const noexcept {
    const auto u = node(p);
    if (!u) return unexpected(errc::not_found, p.value(), "no such page");
    return nodes_[*u].in.empty();
  }
  template <class F>
  void for_each_child(page_id p, F&& f) const {
    if (const auto u = node(p))
      for (const out_edge& o : nodes_[*u].out) f(graph_edge<W>{p, page_of_[o.child], o.kind, o.weight});
  }
  template <class F>
  void for_each_parent(page_id p, F&& f) const {
    if (const auto u = node(p))
      for (std::uint32_t x : nodes_[*u].in) f(page_of_[x]);
  }
  /// Every edge, parents in node order, children in insertion order.
  [[nodiscard]] std::vector<graph_edge<W>> edge_list() const {
    std::vector<graph_edge<W>> out;
    out.reserve(edges_);
    for (std::uint32_t u = 0; u < nodes_.size(); ++u)
      for (const out_edge& o : nodes_[u].out) out.push_back({page_of_[u], page_of_[o.child], o.kind, o.weight});
    return out;
  }

  /// The committed graph as CSR (dense node numbers, dead slots as isolated nodes) and the page
  /// of each node.
  struct snapshot_type {
    csr_graph csr;
    std::vector<page_id> page_of;
  };
  [[nodiscard]] snapshot_type snapshot() const {
    snapshot_type s;
    const std::size_t n = nodes_.size();
    s.csr.offsets.assign(n + 1, 0);
    s.csr.targets.reserve(edges_);
    for (std::size_t u = 0; u < n; ++u) {
      const std::size_t first = s.csr.targets.size();
      for (const out_edge& o : nodes_[u].out) s.csr.targets.push_back(o.child);
      std::sort(s.csr.targets.begin() + static_cast<std::ptrdiff_t>(first), s.csr.targets.end());
      s.csr.offsets[u + 1] = static_cast<std::uint32_t>(s.csr.targets.size());
    }
    s.page_of = page_of_;
    return s;
  }

  /// Full check of the committed graph (always acyclic unless the state is corrupt).
  [[nodiscard]] graph_report validate() const {
    const auto s = snapshot();
    const auto r = check_acyclic(s.csr);
    return graph_report{r.acyclic, to_pages(r.witness), s.csr.nodes()};
  }
  /// The subgraph reachable from `p` only. errc::not_found for an unknown page.
  [[nodiscard]] result<graph_report> validate_from(page_id p) {
    const auto u = node(p);
    if (!u) return unexpected(errc::not_found, p.value(), "no such page");
    const auto r = check_reachable(nodes_.size(), *u, [this](std::uint32_t x) { return child_view{&nodes_[x].out}; }, scratch_);
    return graph_report{r.acyclic, to_pages(r.witness), r.visited};
  }

  /// Whether committing `edit` would succeed; the committed graph is unchanged either way.
  [[nodiscard]] edit_report check(const graph_edit<W>& edit) { return run_edit(edit, false); }
  /// Commits `edit` if check(edit) would succeed; otherwise changes nothing.
  edit_report commit(const graph_edit<W>& edit) { return run_edit(edit, true); }

  /// Renumbers nodes in topological order (children after parents).
  void renumber_topologically() {
    const std::size_t n = nodes_.size();
    std::vector<std::uint32_t> new_of(n);
    for (std::size_t pos = 0; pos < n; ++pos) new_of[node_at_[pos]] = static_cast<std::uint32_t>(pos);
    std::vector<node_rec> nodes(n);
    std::vector<page_id> page_of(n);
    std::vector<bool> alive(n);
    for (std::size_t u = 0; u < n; ++u) {
      const std::uint32_t nu = new_of[u];
      nodes[nu].out = std::move(nodes_[u].out);
      for (out_edge& o : nodes[nu].out) o.child = new_of[o.child];
      nodes[nu].in = std::move(nodes_[u].in);
      for (std::uint32_t& x : nodes[nu].in) x = new_of[x];
      page_of[nu] = page_of_[u];
      alive[nu] = alive_[u];
    }
    nodes_ = std::move(nodes);
    page_of_ = std::move(page_of);
    alive_ = std::move(alive);
    for (std::size_t u = 0; u < n; ++u) nodes_[u].ord = node_at_[u] = static_cast<std::uint32_t>(u);
    for (auto& x : free_nodes_) x = new_of[x];
    index_.remap(new_of);
  }

  /// The node number of a page (stable until renumber_topologically or remove_page).
  [[nodiscard]] std::optional<std::uint32_t> node(page_id p) const noexcept {
    return index_.find(p);
  }
  [[nodiscard]] std::uint32_t position(std::uint32_t u) const noexcept { return nodes_[u].ord; }

  /// Internal consistency (see the file contract); the error's detail is the offending node.
  [[nodiscard]] result<void> check_invariants() const {
    const std::size_t n = nodes_.size();
    std::size_t edges = 0, live = 0;
    for (std::size_t pos = 0; pos < n; ++pos)
      if (node_at_[pos] >= n || nodes_[node_at_[pos]].ord != pos) return unexpected(errc::corrupt_data, pos, "order is not a permutation");
    for (std::uint32_t u = 0; u < n; ++u) {
      if (alive_[u]) {
        ++live;
        if (index_.find(page_of_[u]) != std::optional<std::uint32_t>(u)) return unexpected(errc::corrupt_data, u, "page index out of step");
      } else if (!nodes_[u].out.empty() || !nodes_[u].in.empty()) {
        return unexpected(errc::corrupt_data, u, "a dead node has edges");
      }
      for (const out_edge& o : nodes_[u].out) {
        ++edges;
        if (o.child >= n || nodes_[u].ord >= nodes_[o.child].ord) return unexpected(errc::corrupt_data, u, "edge against the topological order");
        if (std::count(nodes_[o.child].in.begin(), nodes_[o.child].in.end(), u) != 1) return unexpected(errc::corrupt_data, u, "in-edges do not mirror out-edges");
        if (std::count_if(nodes_[u].out.begin(), nodes_[u].out.end(), [&](const out_edge& x) { return x.child == o.child; }) != 1)
          return unexpected(errc::corrupt_data, u, "duplicate edge");
      }
    }
    std::size_t in_edges = 0;
    for (const auto& v : nodes_) in_edges += v.in.size();
    if (edges != edges_ || in_edges != edges_) return unexpected(errc::corrupt_data, edges, "edge count out of step");
    if (live != live_ || index_.size() != live_) return unexpected(errc::corrupt_data, live, "page count out of step");
    return {};
  }

  /// Same pages and same edges with the same attributes (adjacency order aside).
  friend bool operator==(const page_graph& a, const page_graph& b) {
    if (a.live_ != b.live_ || a.edges_ != b.edges_) return false;
    for (std::uint32_t u = 0; u < a.page_of_.size(); ++u)
      if (a.alive_[u] && !b.contains(a.page_of_[u])) return false;
    auto ea = a.edge_list(), eb = b.edge_list();
    const auto key = [](const graph_edge<W>& e) { return std::pair{e.parent.value(), e.child.value()}; };
    const auto less = [&](const graph_edge<W>& x, const graph_edge<W>& y) { return key(x) < key(y); };
    std::sort(ea.begin(), ea.end(), less);
    std::sort(eb.begin(), eb.end(), less);
    return ea == eb;
  }

 private:
  struct out_edge {
    std::uint32_t child;
    edge_kind kind;
    W weight;
  };
  struct child_view {  // the children of one node as a range of node numbers
    const std::vector<out_edge>* v;
    [[nodiscard]] std::size_t size() const noexcept { return v->size(); }
    [[nodiscard]] std::uint32_t operator[](std::size_t i) const noexcept { return (*v)[i].child; }
  };
  static constexpr std::size_t npos = ~std::size_t{0};

  [[nodiscard]] std::size_t find_out(std::uint32_t u, std::uint32_t v) const noexcept {
    const auto& o = nodes_[u].out;
    for (std::size_t k = 0; k < o.size(); ++k)
      if (o[k].child == v) return k;
    return npos;
  }
  void link(std::uint32_t u, std::uint32_t v, edge_kind kind, const W& w) {
    nodes_[u].out.push_back(out_edge{v, kind, w});
    nodes_[v].in.push_back(u);
    ++edges_;
  }
  // Removes u -> v; returns where it was in each list (for an exact undo).
  std::pair<std::size_t, std::size_t> unlink(std::uint32_t u, std::uint32_t v) {
    const std::size_t k = find_out(u, v);
    const std::size_t j = static_cast<std::size_t>(std::find(nodes_[v].in.begin(), nodes_[v].in.end(), u) - nodes_[v].in.begin());
    nodes_[u].out.erase(nodes_[u].out.begin() + static_cast<std::ptrdiff_t>(k));
    nodes_[v].in.erase(nodes_[v].in.begin() + static_cast<std::ptrdiff_t>(j));
    --edges_;
    return {k, j};
  }

  std::vector<page_id> to_pages(const std::vector<std::uint32_t>& nodes) const {
    std::vector<page_id> out;
    out.reserve(nodes.size());
    for (std::uint32_t x : nodes) out.push_back(page_of_[x]);
    return out;
  }

  // Pearce–Kelly: makes room in the order for u -> v, or finds the cycle it would close. If
  // `undo` is given, the positions changed are logged there first.
  bool reorder_for(std::uint32_t u, std::uint32_t v, std::vector<page_id>* witness,
                   std::vector<std::pair<std::uint32_t, std::uint32_t>>* undo = nullptr) {
    if (u == v) {
      if (witness) *witness = {page_of_[u]};
      return false;
    }
    const std::uint32_t lb = nodes_[v].ord, ub = nodes_[u].ord;
    if (ub < lb) return true;  // already in order
    scratch_.fit(nodes_.size());
    auto& pred = scratch_.aux();
    // Forward from v through nodes placed no later than u.
    fwd_.clear();
    stack_.clear();
    stack_.push_back(v);
    scratch_.set_gray(v);
    while (!stack_.empty()) {
      const std::uint32_t x = stack_.back();
      stack_.pop_back();
      fwd_.push_back(x);
      for (const out_edge& o : nodes_[x].out) {
        const std::uint32_t y = o.child;
        if (y == u) {
          if (witness) {
            std::vector<std::uint32_t> path{x};
            for (std::uint32_t z = x; z != v; z = pred[z]) path.push_back(pred[z]);
            witness->clear();
            witness->push_back(page_of_[u]);
            for (auto it = path.rbegin(); it != path.rend(); ++it) witness->push_back(page_of_[*it]);
          }
          return false;
        }
        if (nodes_[y].ord < ub && !scratch_.seen(y)) {
          scratch_.set_gray(y);
          pred[y] = x;
          stack_.push_back(y);
        }
      }
    }
    // Backward from u through nodes placed no earlier than v.
    bwd_.clear();
    stack_.push_back(u);
    scratch_.set_black(u);
    while (!stack_.empty()) {
      const std::uint32_t x = stack_.back();
      stack_.pop_back();
      bwd_.push_back(x);
      for (std::uint32_t y : nodes_[x].in)
        if (nodes_[y].ord > lb && !scratch_.seen(y)) {
          scratch_.set_black(y);
          stack_.push_back(y);
        }
    }
    // The backward set goes first, then the forward set, into the union of their positions.
    const auto by_ord = [this](std::uint32_t a, std::uint32_t b) { return nodes_[a].ord < nodes_[b].ord; };
    std::sort(fwd_.begin(), fwd_.end(), by_ord);
    std::sort(bwd_.begin(), bwd_.end(), by_ord);
    slots_.clear();
    for (std::uint32_t x : bwd_) slots_.push_back(nodes_[x].ord);
    for (std::uint32_t x : fwd_) slots_.push_back(nodes_[x].ord);
    std::sort(slots_.begin(), slots_.end());
    if (undo)
      for (std::uint32_t s : slots_) undo->emplace_back(s, node_at_[s]);
    std::size_t k = 0;
    for (std::uint32_t x : bwd_) place(x, slots_[k++]);
    for (std::uint32_t x : fwd_) place(x, slots_[k++]);
    return true;
  }
  void place(std::uint32_t x, std::uint32_t pos) noexcept {
    nodes_[x].ord = pos;
    node_at_[pos] = x;
  }

  edit_report run_edit(const graph_edit<W>& edit, bool keep) {
    edit_report rep;
    // Resolve and check every operation first: nothing changes if one is unknown.
    std::vector<std::pair<std::uint32_t, std::uint32_t>> removes, adds;
    for (std::size_t i = 0; i < edit.removals().size(); ++i) {
      const auto& [p, c] = edit.removals()[i];
      const auto u = node(p), v = node(c);
      if (!u || !v || find_out(*u, *v) == npos) {
        rep.err = error{errc::not_found, i, "edit removes an edge that does not exist"};
        return rep;
      }
      removes.emplace_back(*u, *v);
    }
    for (std::size_t i = 0; i < edit.additions().size(); ++i) {
      const auto& e = edit.additions()[i];
      const auto u = node(e.parent), v = node(e.child);
      if (!u || !v) {
        rep.err = error{errc::not_found, i, "edit adds an edge to a page not in the graph"};
        return rep;
      }
      adds.emplace_back(*u, *v);
    }
    {  // duplicates: an added edge may exist only if the edit removes it, and be added once
      std::vector<std::uint64_t> keys;
      for (const auto& [u, v] : adds) keys.push_back((std::uint64_t{u} << 32) | v);
      std::vector<std::uint64_t> removed;
      for (const auto& [u, v] : removes) removed.push_back((std::uint64_t{u} << 32) | v);
      std::sort(removed.begin(), removed.end());
      if (std::adjacent_find(removed.begin(), removed.end()) != removed.end()) {
        rep.err = error{errc::not_found, 0, "edit removes an edge twice"};
        return rep;
      }
      std::vector<std::uint64_t> sorted = keys;
      std::sort(sorted.begin(), sorted.end());
      for (std::size_t i = 0; i < adds.size(); ++i) {
        const auto [u, v] = adds[i];
        const bool twice = std::equal_range(sorted.begin(), sorted.end(), keys[i]).second -
                               std::equal_range(sorted.begin(), sorted.end(), keys[i]).first > 1;
        const bool exists = find_out(u, v) != npos && !std::binary_search(removed.begin(), removed.end(), keys[i]);
        if (twice || exists) {
          rep.err = error{errc::duplicate_id, i, "edit adds an edge that exists"};
          return rep;
        }
      }
    }
    if (adds.size() > std::max<std::size_t>(64, edges_ / 8)) return run_edit_rebuild(edit, removes, adds, keep);

    // Incremental path with an undo log.
    struct removed_edge {
      std::uint32_t u, v;
      std::size_t out_pos, in_pos;
      out_edge attrs;
    };
    std::vector<removed_edge> undone;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> order_undo;
    for (const auto& [u, v] : removes) {
      const out_edge attrs = nodes_[u].out[find_out(u, v)];
      const auto [k, j] = unlink(u, v);
      undone.push_back({u, v, k, j, attrs});
    }
    std::size_t added = 0;
    for (; added < adds.size(); ++added) {
      const auto [u, v] = adds[added];
      if (!reorder_for(u, v, &rep.witness, &order_undo)) {
        rep.err = error{errc::cycle, added, "edit would close a cycle"};
        break;
      }
      const auto& e = edit.additions()[added];
      link(u, v, e.kind, e.weight);
    }
    if (rep.ok() && keep) return rep;
    // Roll back: insertions (newest first), positions, then removals (newest first).
    for (std::size_t i = added; i-- > 0;) {
      const auto [u, v] = adds[i];
      nodes_[u].out.pop_back();
      nodes_[v].in.pop_back();
      --edges_;
    }
    for (auto it = order_undo.rbegin(); it != order_undo.rend(); ++it) place(it->second, it->first);
    for (auto it = undone.rbegin(); it != undone.rend(); ++it) {
      nodes_[it->u].out.insert(nodes_[it->u].out.begin() + static_cast<std::ptrdiff_t>(it->out_pos), it->attrs);
      nodes_[it->v].in.insert(nodes_[it->v].in.begin() + static_cast<std::ptrdiff_t>(it->in_pos), it->u);
      ++edges_;
    }
    return rep;
  }

  // Batch path: build the edited graph as CSR, check it whole, and swap it in if acyclic.
  edit_report run_edit_rebuild(const graph_edit<W>& edit, const std::vector<std::pair<std::uint32_t, std::uint32_t>>& removes,
                               const std::vector<std::pair<std::uint32_t, std::uint32_t>>& adds, bool keep) {
    edit_report rep;
    std::vector<std::uint64_t> removed;
    for (const auto& [u, v] : removes) removed.push_back((std::uint64_t{u} << 32) | v);
    std::sort(removed.begin(), removed.end());
    std::vector<std::pair<std::uint32_t, std::uint32_t>> all;
    all.reserve(edges_ + adds.size());
    for (std::uint32_t u = 0; u < nodes_.size(); ++u)
      for (const out_edge& o : nodes_[u].out)
        if (!std::binary_search(removed.begin(), removed.end(), (std::uint64_t{u} << 32) | o.child)) all.emplace_back(u, o.child);
    all.insert(all.end(), adds.begin(), adds.end());
    auto g = csr_graph::from_edges(nodes_.size(), all);
    if (!g) {
      rep.err = g.error();
      return rep;
    }
    acyclic_options opt;
    opt.want_order = true;
    auto r = check_acyclic(*g, opt, scratch_);
    if (!r.acyclic) {
      // Name the first insertion on the witness cycle (every cycle uses at least one).
      rep.witness = to_pages(r.witness);
      std::size_t failing = 0;
      for (std::size_t i = 0; i < r.witness.size(); ++i) {
        const std::uint32_t a = r.witness[i], b = r.witness[(i + 1) % r.witness.size()];
        const auto it = std::find(adds.begin(), adds.end(), std::pair{a, b});
        if (it != adds.end()) {
          failing = static_cast<std::size_t>(it - adds.begin());
          break;
        }
      }
      rep.err = error{errc::cycle, failing, "edit would close a cycle"};
      return rep;
    }
    if (!keep) return rep;
    for (const auto& [u, v] : removes) unlink(u, v);
    for (std::size_t i = 0; i < adds.size(); ++i) link(adds[i].first, adds[i].second, edit.additions()[i].kind, edit.additions()[i].weight);
    // Kahn's order covers every node slot (dead ones are isolated nodes).
    for (std::size_t pos = 0; pos < r.order.size(); ++pos) place(r.order[pos], static_cast<std::uint32_t>(pos));
    return rep;
  }

  // page id -> node. Ids from a page_store have dense indices (the high 32 bits): those are
  // looked up in a vector by index; any other id goes to a hash map.
  class page_index {
   public:
    [[nodiscard]] std::optional<std::uint32_t> find(page_id p) const noexcept {
      const std::uint64_t i = p.value() >> 32;
      if (i < dense_.size()) {
        const slot& s = dense_[i];
        if (s.node != 0 && s.generation == static_cast<std::uint32_t>(p.value())) return s.node - 1;
      }
      if (sparse_.empty()) return std::nullopt;
      const auto it = sparse_.find(p.value());
      if (it == sparse_.end()) return std::nullopt;
      return it->second;
    }
    // Precondition: p is not in the index.
    void insert(page_id p, std::uint32_t node, std::size_t live) {
      const std::uint64_t i = p.value() >> 32;
      if (i >= dense_.size() && i < 2 * live + 1024) dense_.resize(std::max<std::size_t>(i + 1, 2 * dense_.size()));
      if (i < dense_.size() && dense_[i].node == 0) {
        dense_[i] = slot{static_cast<std::uint32_t>(p.value()), node + 1};
      } else {
        sparse_.emplace(p.value(), node);
      }
      ++size_;
    }
    void erase(page_id p) noexcept {
      const std::uint64_t i = p.value() >> 32;
      if (i < dense_.size() && dense_[i].node != 0 && dense_[i].generation == static_cast<std::uint32_t>(p.value())) {
        dense_[i] = slot{};
      } else {
        sparse_.erase(p.value());
      }
      --size_;
    }
    void remap(const std::vector<std::uint32_t>& new_of) {
      for (slot& s : dense_)
        if (s.node != 0) s.node = new_of[s.node - 1] + 1;
      for (auto& [id, u] : sparse_) u = new_of[u];
    }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

   private:
    struct slot {
      std::uint32_t generation = 0;
      std::uint32_t node = 0;  // node + 1; 0: empty
    };
    std::vector<slot> dense_;
    std::unordered_map<std::uint64_t, std::uint32_t> sparse_;
    std::size_t size_ = 0;
  };
  page_index index_;
  std::vector<page_id> page_of_;
  std::vector<bool> alive_;
  // Per node, on one cache line: its position in the topological order and its adjacency.
  struct node_rec {
    std::uint32_t ord;
    std::vector<out_edge> out;
    std::vector<std::uint32_t> in;
  };
  std::vector<node_rec> nodes_;
  std::vector<std::uint32_t> node_at_;  // position -> node
  std::vector<std::uint32_t> free_nodes_;
  std::size_t live_ = 0, edges_ = 0;
  // Scratch of the incremental search.
  graph_scratch scratch_;
  std::vector<std::uint32_t> fwd_, bwd_, stack_, slots_;
};

}  // namespace tickflow
