/// @file
/// tickflow/graph/page_graph.hpp — the page graph: edges parent -> child, kept acyclic.
///
/// Contract
///   * Nodes are pages (page_id); edges are parent -> child with an edge_kind and a weight of type
///     W (a semiring's value_type; double by default). At most one edge per (parent, child).
///     A page with no parents is a source.
///   * The committed graph is always acyclic. add_edge checks one insertion incrementally with a
///     dynamic topological order (Pearce–Kelly): an edge that follows the order costs its
///     duplicate check (a scan of the shorter of the parent's children and the child's parents,
///     no edge set: docs/decisions.md); otherwise only the nodes between the two
///     endpoints in the order are searched and reordered. A cycle-closing edge is rejected with
///     errc::cycle and, if asked, a witness: pages w[0] -> w[1] -> ... -> w[k-1] -> w[0] where
///     w[0] -> w[1] is the rejected edge and every other step is an edge of the graph it was
///     checked against. The witness is canonical: the shortest path back from w[1] to w[0], the
///     lexicographically smallest by page id among the shortest; it costs a breadth-first search
///     over the ancestors of w[0], paid only on rejection.
///   * remove_edge, edge() and the duplicate-free removal inside edits cost O(out-degree of the
///     parent + in-degree of the child): adjacency lists are vectors, and removal keeps their order.
///   * Shadow edits: a graph_edit collects proposed removals and insertions; check(edit) says
///     whether committing it would leave the graph acyclic, commit(edit) applies it only if so.
///     Either way a rejected edit leaves the committed graph exactly as it was (same edges, same
///     attributes, same adjacency order). The verdict is defined by the edit alone, whichever path
///     computes it: removals apply first, then insertions in edit order, and a cycle is reported
///     for the first insertion i such that removals + insertions 0..i close one, with the canonical
///     witness of insertion i against the graph with insertions 0..i-1 (as add_edge would give).
///     Paths: small edits are applied one insertion at a time with an undo log; an edit with many
///     insertions (more than max(64, edges / 8)) takes the rebuild path: the edited graph is built
///     as CSR and checked whole (Kahn), then swapped in; on rejection it finds the first failing
///     insertion by bisection over prefixes (O((n + m) log insertions)); a committed rebuild
///     also renumbers the nodes in the new order. edit_path forces a path.
///   * Edit errors name the operation: edit_report::part says whether err.detail indexes
///     removals() or additions(). errc::not_found: a removal of a missing edge (or one removed
///     twice), or an insertion touching a page not in the graph; errc::duplicate_id: an insertion
///     of an edge that exists and is not removed by the edit, or is inserted twice.
///   * snapshot() is canonical: the live pages in increasing page id order, numbered 0..n-1, and
///     the CSR of their edges with children sorted; graphs that are equal (operator==) give equal
///     snapshots, however they were built. node_csr() is the internal view: CSR over node numbers
///     (dead slots as isolated nodes), in the order renumber_topologically() sets.
///   * operator==: the same live pages and the same edges with the same kinds and weights, weights
///     compared by their object representation (so a NaN weight equals itself, and -0.0 differs
///     from 0.0); adjacency order and node numbering aside.
///   * validate() runs the full check (graph/csr.hpp) on the snapshot (visited: live pages);
///     validate_from(page) checks the subgraph reachable from one page only. check_invariants()
///     verifies the internal state (the order is a permutation, every edge goes forward in it,
///     the two adjacency directions mirror each other without duplicates, the page index is
///     consistent).
///   * renumber_topologically() renumbers the nodes in topological order, so that children have
///     higher numbers than their parents and node_csr() is laid out in propagation order.
///   * Errors: errc::duplicate_id (page or edge exists), errc::not_found (unknown page or edge),
///     errc::cycle (detail: the index of the failing insertion in an edit, 0 for add_edge).
///   * Exceptions: add_page, add_edge, remove_edge, check and commit have the strong guarantee:
///     if an allocation throws std::bad_alloc, the graph is as it was (an edit in progress is
///     rolled back, which allocates nothing).
///
/// Thread-safety: a value; const member functions may run concurrently, others are exclusive.
/// validate_from and check keep scratch space and so are not const.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <optional>
#include <span>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tickflow/core/config.hpp"
#include "tickflow/core/ids.hpp"
#include "tickflow/core/result.hpp"
#include "tickflow/graph/csr.hpp"

namespace tickflow {

/// What an edge means to the kernel: a data dependency or a control one (the built-in kernels treat both alike).
enum class edge_kind : std::uint8_t { data = 0, control = 1 };

/// A directed edge between two pages, with its kind and weight.
template <class W>
struct graph_edge {
  page_id parent;  ///< the page it reads from
  page_id child;  ///< the page it feeds
  edge_kind kind = edge_kind::data;  ///< its kind
  W weight{};  ///< its weight
  /// Edges compare field by field.
  friend bool operator==(const graph_edge&, const graph_edge&) = default;
};

/// A proposed change to a page_graph: removals apply first, then insertions in order.
template <class W>
class graph_edit {
 public:
  /// Queues an insertion.
  void add_edge(const graph_edge<W>& e) { adds_.push_back(e); }
  /// Queues a removal.
  void remove_edge(page_id parent, page_id child) { removes_.emplace_back(parent, child); }
  /// The insertions, in the order queued.
  [[nodiscard]] const std::vector<graph_edge<W>>& additions() const noexcept { return adds_; }
  /// The removals (parent, child), in the order queued.
  [[nodiscard]] const std::vector<std::pair<page_id, page_id>>& removals() const noexcept { return removes_; }
  /// Whether nothing is queued.
  [[nodiscard]] bool empty() const noexcept { return adds_.empty() && removes_.empty(); }
  /// Drops everything queued; keeps the capacity.
  void clear() noexcept {
    adds_.clear();
    removes_.clear();
  }
  /// Gives back the room a large edit left (clear() keeps it, for the next edit of that size).
  void release_room() noexcept {
    std::vector<graph_edge<W>>().swap(adds_);
    std::vector<std::pair<page_id, page_id>>().swap(removes_);
  }
  /// Bytes held (capacities).
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return adds_.capacity() * sizeof(graph_edge<W>) + removes_.capacity() * sizeof(std::pair<page_id, page_id>);
  }

 private:
  std::vector<graph_edge<W>> adds_;
  std::vector<std::pair<page_id, page_id>> removes_;
};

/// Which list of a graph_edit an edit error's detail indexes.
enum class edit_part : std::uint8_t { none, removals, insertions };

/// Which way check/commit of an edit works (see the file contract); the verdict is the same.
enum class edit_path : std::uint8_t { automatic, incremental, rebuild };

/// What check/commit of an edit found.
struct edit_report {
  error err{};                   ///< errc::ok if the edit is (was) committable
  edit_part part = edit_part::none;  ///< the list err.detail indexes
  std::vector<page_id> witness;  ///< for errc::cycle
  /// Whether the edit is (was) committable.
  [[nodiscard]] bool ok() const noexcept { return err.code == errc::ok; }
};

namespace detail {

/// Equality by object representation for trivially copyable types without padding or with
/// floating point (NaN == NaN, -0.0 != 0.0); operator== otherwise.
template <class W>
[[nodiscard]] bool same_weight(const W& a, const W& b) noexcept(noexcept(a == b)) {
  if constexpr (std::is_floating_point_v<W> || (std::is_trivially_copyable_v<W> && std::has_unique_object_representations_v<W>)) {
    return std::memcmp(&a, &b, sizeof(W)) == 0;
  } else {
    return a == b;
  }
}

/// A set of (u, v) node pairs: open addressing with linear probing and backward-shift deletion
/// (no tombstones), load factor at most 1/2, 8 bytes per slot. Node numbers are below
/// 0xFFFFFFFF, so the all-ones key marks an empty slot.
class edge_set {
 public:
  [[nodiscard]] bool contains(std::uint32_t u, std::uint32_t v) const noexcept {
    if (slots_.empty()) return false;
    const std::uint64_t k = key(u, v);
    for (std::size_t i = home(k);; i = (i + 1) & mask_) {
      if (slots_[i] == k) return true;
      if (slots_[i] == empty) return false;
    }
  }
  /// Precondition: (u, v) is not in the set. May allocate (strong guarantee).
  void insert(std::uint32_t u, std::uint32_t v) {
    if (2 * (size_ + 1) > slots_.size()) grow();
    place(key(u, v));
    ++size_;
  }
  /// Precondition: (u, v) is in the set.
  void erase(std::uint32_t u, std::uint32_t v) noexcept {
    const std::uint64_t k = key(u, v);
    std::size_t i = home(k);
    while (slots_[i] != k) i = (i + 1) & mask_;
    // Backward shift: move later members of the probe run into the hole when their home allows.
    for (std::size_t j = (i + 1) & mask_; slots_[j] != empty; j = (j + 1) & mask_) {
      const std::size_t h = home(slots_[j]);
      if (((j - h) & mask_) >= ((j - i) & mask_)) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i] = empty;
    --size_;
  }
  void clear() noexcept {
    std::fill(slots_.begin(), slots_.end(), empty);
    size_ = 0;
  }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::size_t memory_bytes() const noexcept { return slots_.capacity() * sizeof(std::uint64_t); }
  /// Reserves room for `n` members (one allocation).
  void reserve(std::size_t n) {
    if (2 * n > slots_.size()) rehash(std::bit_ceil(std::max<std::size_t>(16, 2 * n)));
  }

 private:
  static constexpr std::uint64_t empty = ~std::uint64_t{0};
  static std::uint64_t key(std::uint32_t u, std::uint32_t v) noexcept { return (std::uint64_t{u} << 32) | v; }
  std::size_t home(std::uint64_t k) const noexcept {
    return static_cast<std::size_t>((k * 0x9E3779B97F4A7C15ULL) >> shift_);  // Fibonacci hashing
  }
  void place(std::uint64_t k) noexcept {
    std::size_t i = home(k);
    while (slots_[i] != empty) i = (i + 1) & mask_;
    slots_[i] = k;
  }
  void grow() { rehash(std::max<std::size_t>(16, 2 * slots_.size())); }
  void rehash(std::size_t n) {
    std::vector<std::uint64_t> old(n, empty);
    old.swap(slots_);
    mask_ = n - 1;
    shift_ = 64 - static_cast<unsigned>(std::countr_zero(n));
    for (std::uint64_t k : old)
      if (k != empty) place(k);
  }

  std::vector<std::uint64_t> slots_;
  std::size_t mask_ = 0, size_ = 0;
  unsigned shift_ = 64;
};

}  // namespace detail

/// A cycle report in pages.
struct graph_report {
  bool acyclic = true;  ///< whether no cycle was found
  std::vector<page_id> witness;  ///< a cycle when !acyclic: w[i] -> w[i+1], last -> first
  std::size_t visited = 0;  ///< validate_from: nodes reached
};

/// Pages as nodes, dependencies as edges, kept acyclic: incremental topological order, whole-or-nothing edits with cycle witnesses, canonical snapshots (see the file contract).
template <class W = double>
class page_graph {
 public:
  /// The edge weight type.
  using weight_type = W;

  /// Pages in the graph.
  [[nodiscard]] std::size_t pages() const noexcept { return live_; }
  /// Edges in the graph.
  [[nodiscard]] std::size_t edges() const noexcept { return edges_; }

  /// Bytes the graph holds: node records, adjacency lists, index and search scratch
  /// (capacities; the index's hash map part estimated). The adjacency part is a counter kept by
  /// the edge inserts, so this is O(1) (after a copy, the first call recounts it).
  [[nodiscard]] std::size_t memory_bytes() const noexcept {
    return adjacency_bytes() + nodes_.capacity() * sizeof(node_rec) + page_of_.capacity() * sizeof(page_id) + alive_.capacity() / 8 +
           (node_at_.capacity() + free_nodes_.capacity() + fwd_.capacity() + bwd_.capacity() + stack_.capacity() + bstack_.capacity() + slots_.capacity()) *
               sizeof(std::uint32_t) +
           index_.memory_bytes() + scratch_.memory_bytes() + moved_.capacity() * sizeof(moved_[0]);
  }
  /// The adjacency lists' bytes, as the counter keeps them (O(1); after a copy, one recount).
  [[nodiscard]] std::size_t adjacency_bytes() const noexcept {
    if (adjacency_.stale) {
      adjacency_.bytes = count_adjacency_bytes();
      adjacency_.stale = false;
    }
    return adjacency_.bytes;
  }
  /// The adjacency lists' bytes, counted over every node (what memory_bytes() keeps as a counter).
  [[nodiscard]] std::size_t count_adjacency_bytes() const noexcept {
    std::size_t b = 0;
    for (const auto& n : nodes_) b += n.out.capacity() * sizeof(out_edge) + n.in.capacity() * sizeof(std::uint32_t);
    return b;
  }
  /// Whether `p` is in the graph.
  [[nodiscard]] bool contains(page_id p) const noexcept { return index_.find(p).has_value(); }
  /// Whether the page has an edge (parent or child); false for a page not in the graph.
  [[nodiscard]] bool linked(page_id p) const noexcept {
    const auto u = index_.find(p);
    return u && (!nodes_[*u].out.empty() || !nodes_[*u].in.empty());
  }

  /// Adds a page without edges; errc::duplicate_id if it is already there.
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
    if (linked_nodes(*u, *v)) return unexpected(errc::duplicate_id, e.child.value(), "edge already exists");
    if (!reorder_for(*u, *v)) {
      if (witness) *witness = canonical_witness(*u, *v);
      return unexpected(errc::cycle, 0, "edge would close a cycle");
    }
    link(*u, *v, e.kind, e.weight);
    return {};
  }

  /// Removes one edge; errc::not_found if there is none.
  result<void> remove_edge(page_id parent, page_id child) {
    const auto u = node(parent), v = node(child);
    if (!u || !v || !linked_nodes(*u, *v)) return unexpected(errc::not_found, child.value(), "no such edge");
    unlink(*u, *v);
    return {};
  }

  /// Whether the edge parent -> child exists.
  [[nodiscard]] bool has_edge(page_id parent, page_id child) const noexcept {
    const auto u = node(parent), v = node(child);
    return u && v && linked_nodes(*u, *v);
  }
  /// The edge parent -> child, if it exists.
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
  /// Prefetch hints for is_source(p) (and node(p)) ahead of use, in two stages: the page's
  /// index slot first; then, once that is cached, its node record.
  void prefetch_index(page_id p) const noexcept { index_.prefetch(p); }
  /// The second stage of the prefetch: the page's node record (once its index slot is cached).
  void prefetch_node(page_id p) const noexcept {
    if (const auto u = node(p)) __builtin_prefetch(&nodes_[*u], 0, 1);
  }
  /// Calls f(edge) for each of p's out-edges.
  template <class F>
  void for_each_child(page_id p, F&& f) const {
    if (const auto u = node(p))
      for (const out_edge& o : nodes_[*u].out) f(graph_edge<W>{p, page_of_[o.child], o.kind, o.weight});
  }
  /// Calls f(parent page) for each of p's parents.
  template <class F>
  void for_each_parent(page_id p, F&& f) const {
    if (const auto u = node(p))
      for (std::uint32_t x : nodes_[*u].in) f(page_of_[x]);
  }
  /// Calls f(graph_edge) for each in-edge of `child` (parent, child, kind, weight), parents by
  /// increasing page id: the fixed order in which propagation combines them. Nothing for an
  /// unknown page. O(d log d + sum of the parents' out-degrees) for in-degree d; allocates only
  /// past 32 parents.
  template <class F>
  void for_each_in_edge(page_id child, F&& f) const {
    const auto v = node(child);
    if (!v) return;
    const auto& in = nodes_[*v].in;
    std::uint32_t small[32];
    std::vector<std::uint32_t> large;
    std::uint32_t* order = small;
    if (in.size() > 32) {
      large.assign(in.begin(), in.end());
      order = large.data();
    } else {
      std::copy(in.begin(), in.end(), small);
    }
    std::sort(order, order + in.size(), [&](std::uint32_t a, std::uint32_t b) { return page_of_[a] < page_of_[b]; });
    for (std::size_t k = 0; k < in.size(); ++k) {
      const std::uint32_t u = order[k];
      const out_edge& o = nodes_[u].out[find_out(u, *v)];
      f(graph_edge<W>{page_of_[u], child, o.kind, o.weight});
    }
  }
  /// How many parents `p` has (0 for an unknown page).
  [[nodiscard]] std::size_t in_degree(page_id p) const noexcept {
    const auto u = node(p);
    return u ? nodes_[*u].in.size() : 0;
  }
  /// Every edge, parents in node order, children in insertion order.
  [[nodiscard]] std::vector<graph_edge<W>> edge_list() const {
    std::vector<graph_edge<W>> out;
    out.reserve(edges_);
    for (std::uint32_t u = 0; u < nodes_.size(); ++u)
      for (const out_edge& o : nodes_[u].out) out.push_back({page_of_[u], page_of_[o.child], o.kind, o.weight});
    return out;
  }

  /// A graph as CSR and the page of each node number.
  struct snapshot_type {
    csr_graph csr;  ///< the graph over node numbers 0..n-1
    std::vector<page_id> page_of;  ///< the page of each node number
  };
  /// The canonical snapshot (see the file contract): live pages in page id order.
  [[nodiscard]] snapshot_type snapshot() const {
    snapshot_type s;
    std::vector<std::uint32_t> live;
    live.reserve(live_);
    for (std::uint32_t u = 0; u < nodes_.size(); ++u)
      if (alive_[u]) live.push_back(u);
    std::sort(live.begin(), live.end(), [this](std::uint32_t a, std::uint32_t b) { return page_of_[a] < page_of_[b]; });
    std::vector<std::uint32_t> rank(nodes_.size(), 0);
    for (std::uint32_t r = 0; r < live.size(); ++r) rank[live[r]] = r;
    s.page_of.reserve(live.size());
    s.csr.offsets.assign(live.size() + 1, 0);
    s.csr.targets.reserve(edges_);
    for (std::uint32_t r = 0; r < live.size(); ++r) {
      const std::size_t first = s.csr.targets.size();
      for (const out_edge& o : nodes_[live[r]].out) s.csr.targets.push_back(rank[o.child]);
      std::sort(s.csr.targets.begin() + static_cast<std::ptrdiff_t>(first), s.csr.targets.end());
      s.csr.offsets[r + 1] = static_cast<std::uint32_t>(s.csr.targets.size());
      s.page_of.push_back(page_of_[live[r]]);
    }
    return s;
  }
  /// The internal view (see the file contract): CSR over node numbers, dead slots as isolated
  /// nodes (their page_of entry is page_id{}), children in adjacency order.
  [[nodiscard]] snapshot_type node_csr() const {
    snapshot_type s;
    const std::size_t n = nodes_.size();
    s.csr.offsets.assign(n + 1, 0);
    s.csr.targets.reserve(edges_);
    s.page_of.assign(n, page_id{});
    for (std::size_t u = 0; u < n; ++u) {
      for (const out_edge& o : nodes_[u].out) s.csr.targets.push_back(o.child);
      s.csr.offsets[u + 1] = static_cast<std::uint32_t>(s.csr.targets.size());
      if (alive_[u]) s.page_of[u] = page_of_[u];
    }
    return s;
  }

  /// Full check of the committed graph (always acyclic unless the state is corrupt).
  [[nodiscard]] graph_report validate() const {
    const auto s = snapshot();
    const auto r = check_acyclic(s.csr);
    std::vector<page_id> witness;
    for (std::uint32_t x : r.witness) witness.push_back(s.page_of[x]);
    return graph_report{r.acyclic, std::move(witness), s.csr.nodes()};
  }
  /// The subgraph reachable from `p` only. errc::not_found for an unknown page.
  [[nodiscard]] result<graph_report> validate_from(page_id p) {
    const auto u = node(p);
    if (!u) return unexpected(errc::not_found, p.value(), "no such page");
    const auto r = check_reachable(nodes_.size(), *u, [this](std::uint32_t x) { return child_view{&nodes_[x].out}; }, scratch_);
    if (!r) return unexpected(r.error());
    return graph_report{r->acyclic, to_pages(r->witness), r->visited};
  }

  /// Whether committing `edit` would succeed; the committed graph is unchanged either way.
  [[nodiscard]] edit_report check(const graph_edit<W>& edit, edit_path path = edit_path::automatic) {
    return run_edit(edit, false, path);
  }
  /// Commits `edit` if check(edit) would succeed; otherwise changes nothing.
  edit_report commit(const graph_edit<W>& edit, edit_path path = edit_path::automatic) { return run_edit(edit, true, path); }

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
    ++numbering_;
    moved_.clear();
    if (n != 0) moved_.emplace_back(0, static_cast<std::uint32_t>(n - 1));
    for (auto& x : free_nodes_) x = new_of[x];
    index_.remap(new_of);
  }

  /// How many times the nodes were renumbered (renumber_topologically, or a commit on the
  /// rebuild path): node numbers held from before a change of this count are stale.
  [[nodiscard]] std::uint64_t numbering() const noexcept { return numbering_; }
  /// The node at position `pos` of the topological order (pos < node_slots(), checked by
  /// TICKFLOW_ASSERT).
  [[nodiscard]] std::uint32_t node_at_position(std::uint32_t pos) const noexcept {
    TICKFLOW_ASSERT(pos < node_at_.size(), "node_at_position: position out of range");
    return node_at_[pos];
  }
  /// Position intervals [first, last] of the topological order whose nodes insertions (add_edge,
  /// check, commit) may have moved since the last clear_moved_positions(): a superset of the
  /// moves (a rejected or checked edit's moves, undone, stay listed), in no particular order,
  /// possibly overlapping. At most moved_limit intervals are kept: past that they are coalesced,
  /// and if still too many, merged into one, from the lowest start to the highest end. A
  /// renumbering lists every position.
  /// A cache of positions (the propagation plan's order) repairs itself from these.
  [[nodiscard]] std::span<const std::pair<std::uint32_t, std::uint32_t>> moved_positions() const noexcept { return moved_; }
  /// Forgets the moved positions (a cache that repaired itself calls it).
  void clear_moved_positions() noexcept { moved_.clear(); }
  static constexpr std::size_t moved_limit = 4096;  ///< at most this many moved intervals are kept before they are coalesced

  /// The node number of a page (stable until renumber_topologically or remove_page).
  [[nodiscard]] std::optional<std::uint32_t> node(page_id p) const noexcept {
    return index_.find(p);
  }
  /// Node slots (live and dead): node numbers are below this.
  [[nodiscard]] std::size_t node_slots() const noexcept { return nodes_.size(); }
  /// The position of node `u` in the topological order. u >= node_slots() results in undefined
  /// behavior (checked by TICKFLOW_ASSERT).
  [[nodiscard]] std::uint32_t position(std::uint32_t u) const noexcept {
    TICKFLOW_ASSERT(u < nodes_.size(), "position: node number out of range");
    return nodes_[u].ord;
  }

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

  /// Same pages and same edges with the same kinds and weights, weights compared by bits (see
  /// the file contract); adjacency order and node numbering aside.
  friend bool operator==(const page_graph& a, const page_graph& b) {
    if (a.live_ != b.live_ || a.edges_ != b.edges_) return false;
    for (std::uint32_t u = 0; u < a.page_of_.size(); ++u)
      if (a.alive_[u] && !b.contains(a.page_of_[u])) return false;
    auto ea = a.edge_list(), eb = b.edge_list();
    const auto key = [](const graph_edge<W>& e) { return std::pair{e.parent.value(), e.child.value()}; };
    const auto less = [&](const graph_edge<W>& x, const graph_edge<W>& y) { return key(x) < key(y); };
    std::sort(ea.begin(), ea.end(), less);
    std::sort(eb.begin(), eb.end(), less);
    return std::equal(ea.begin(), ea.end(), eb.begin(), eb.end(), [&](const graph_edge<W>& x, const graph_edge<W>& y) {
      return key(x) == key(y) && x.kind == y.kind && detail::same_weight(x.weight, y.weight);
    });
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
  // Whether u -> v is an edge: a scan of the shorter of u's children and v's parents, so
  // O(min(out-degree of u, in-degree of v)); removals scan both lists anyway (unlink).
  [[nodiscard]] bool linked_nodes(std::uint32_t u, std::uint32_t v) const noexcept {
    const auto& out = nodes_[u].out;
    const auto& in = nodes_[v].in;
    if (out.size() <= in.size()) return std::any_of(out.begin(), out.end(), [v](const out_edge& o) { return o.child == v; });
    return std::find(in.begin(), in.end(), u) != in.end();
  }
  // Strong guarantee: every allocation comes before the first change.
  void link(std::uint32_t u, std::uint32_t v, edge_kind kind, const W& w) {
    auto& out = nodes_[u].out;
    auto& in = nodes_[v].in;
    const std::size_t out_was = out.capacity(), in_was = in.capacity();
    if (out.size() == out.capacity()) out.reserve(2 * out.size() + 2);
    if (in.size() == in.capacity()) in.reserve(2 * in.size() + 2);
    adjacency_.bytes += (out.capacity() - out_was) * sizeof(out_edge) + (in.capacity() - in_was) * sizeof(std::uint32_t);
    out.push_back(out_edge{v, kind, w});
    nodes_[v].in.push_back(u);
    ++edges_;
  }
  // Removes the newest edge of u (and the newest parent of v): the undo of link(u, v).
  void unlink_last(std::uint32_t u, std::uint32_t v) noexcept {
    nodes_[u].out.pop_back();
    nodes_[v].in.pop_back();
    --edges_;
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

  // The canonical witness for a rejected u -> v (see the file contract) against the current
  // adjacency: [u, v, ..., x] with x -> u. Breadth-first backwards from u until v is met, then
  // forwards from v, each step to the child one closer to u with the smallest page id.
  std::vector<page_id> canonical_witness(std::uint32_t u, std::uint32_t v) {
    if (u == v) return {page_of_[u]};
    scratch_.fit(nodes_.size());
    auto& dist = scratch_.aux();
    auto& queue = scratch_.list;
    queue.clear();
    queue.push_back(u);
    scratch_.set_gray(u);
    dist[u] = 0;
    for (std::size_t head = 0; head < queue.size() && !scratch_.seen(v); ++head) {
      const std::uint32_t x = queue[head];
      for (std::uint32_t y : nodes_[x].in) {
        if (scratch_.seen(y)) continue;
        scratch_.set_gray(y);
        dist[y] = dist[x] + 1;
        queue.push_back(y);
        if (y == v) break;
      }
    }
    std::vector<page_id> w{page_of_[u]};
    if (!scratch_.seen(v)) return w;  // not reached: no cycle (the caller's precondition failed)
    for (std::uint32_t x = v;;) {
      w.push_back(page_of_[x]);
      if (x == u) break;
      std::uint32_t best = x;
      for (const out_edge& o : nodes_[x].out) {
        const std::uint32_t y = o.child;
        if (scratch_.seen(y) && dist[y] + 1 == dist[x] && (best == x || page_of_[y] < page_of_[best])) best = y;
      }
      x = best;
    }
    w.pop_back();  // u is w[0]
    return w;
  }

  std::vector<page_id> to_pages(const std::vector<std::uint32_t>& nodes) const {
    std::vector<page_id> out;
    out.reserve(nodes.size());
    for (std::uint32_t x : nodes) out.push_back(page_of_[x]);
    return out;
  }

  // Makes room in the order for u -> v, or finds that it would close a cycle (false; the order
  // is then unchanged). If `undo` is given, the positions changed are logged there first.
  //
  // The affected region is the positions lb = ord(v) .. ub = ord(u). Two searches run in lockstep,
  // one node each per round: F, forward from v through nodes placed before u, and B, backward
  // from u through nodes placed after v. F meeting a node of B (or u), or B one of F (or v),
  // closes a cycle. Once one search ends without meeting, there is no cycle (every path v -> u
  // lies in the region), and the order is repaired one of two ways:
  //   * both searches finished (the other one within a budget of region / 128 more nodes: a node
  //     searched costs about what a hundred positions rewritten do):
  //     Pearce–Kelly: B then F, each in its old order, into the union of their positions;
  //     O((|F| + |B|) log) and nothing else moves;
  //   * else, with the finished set S alone: the region is rewritten in one pass, S kept
  //     together (after u if S = F, before v if S = B) and every other node of the region in
  //     its old relative order; O(ub - lb) without a search of the big side. Valid because S is
  //     closed within the region: no edge leaves F for a region node outside F, and none enters
  //     B from one outside B.
  // Plain Pearce–Kelly searches both sides in full; in a graph whose new edge joins a page with
  // few descendants to one with a huge ancestry, that is most of the graph per insertion.
  bool reorder_for(std::uint32_t u, std::uint32_t v, std::vector<std::pair<std::uint32_t, std::uint32_t>>* undo = nullptr) {
    if (u == v) return false;
    const std::uint32_t lb = nodes_[v].ord, ub = nodes_[u].ord;
    if (ub < lb) return true;  // already in order
    scratch_.fit(nodes_.size());
    fwd_.clear();
    bwd_.clear();
    stack_.clear();
    bstack_.clear();
    stack_.push_back(v);
    scratch_.set_gray(v);
    bstack_.push_back(u);
    scratch_.set_black(u);
    // One node of F; false on a cycle.
    const auto step_fwd = [&] {
      const std::uint32_t x = stack_.back();
      stack_.pop_back();
      fwd_.push_back(x);
      for (const out_edge& o : nodes_[x].out) {
        const std::uint32_t y = o.child;
        if (nodes_[y].ord > ub) continue;
        if (!scratch_.seen(y)) {
          scratch_.set_gray(y);
          stack_.push_back(y);
        } else if (!scratch_.gray(y)) {
          return false;  // y is u or in B
        }
      }
      return true;
    };
    const auto step_bwd = [&] {
      const std::uint32_t x = bstack_.back();
      bstack_.pop_back();
      bwd_.push_back(x);
      for (const std::uint32_t y : nodes_[x].in) {
        if (nodes_[y].ord < lb) continue;
        if (!scratch_.seen(y)) {
          scratch_.set_black(y);
          bstack_.push_back(y);
        } else if (scratch_.gray(y)) {
          return false;  // y is v or in F
        }
      }
      return true;
    };
    while (!stack_.empty() && !bstack_.empty())
      if (!step_fwd() || !step_bwd()) return false;
    // One search is over without meeting the other: no cycle. Finish the other within budget.
    const std::size_t budget = fwd_.size() + bwd_.size() + (ub - lb) / 128;
    const bool f_done = stack_.empty();
    if (f_done) {
      while (!bstack_.empty() && bwd_.size() + bstack_.size() <= budget) (void)step_bwd();  // F is whole: no meeting
    } else {
      while (!stack_.empty() && fwd_.size() + stack_.size() <= budget) (void)step_fwd();
    }
    const auto by_ord = [this](std::uint32_t a, std::uint32_t b) { return nodes_[a].ord < nodes_[b].ord; };
    if (stack_.empty() && bstack_.empty()) {
      // Pearce–Kelly: the backward set goes first, then the forward set, into their positions.
      std::sort(fwd_.begin(), fwd_.end(), by_ord);
      std::sort(bwd_.begin(), bwd_.end(), by_ord);
      slots_.clear();
      for (std::uint32_t x : bwd_) slots_.push_back(nodes_[x].ord);
      for (std::uint32_t x : fwd_) slots_.push_back(nodes_[x].ord);
      std::sort(slots_.begin(), slots_.end());
      if (undo)
        for (std::uint32_t s : slots_) undo->emplace_back(s, node_at_[s]);
      for (const std::uint32_t s : slots_) note_moved(s, s);
      std::size_t k = 0;
      for (std::uint32_t x : bwd_) place(x, slots_[k++]);
      for (std::uint32_t x : fwd_) place(x, slots_[k++]);
      return true;
    }
    // One pass over the region with the finished set S. Marks: F gray, B black (B may be partial
    // here, F too; only the finished side's marks are read).
    auto& set = f_done ? fwd_ : bwd_;
    std::sort(set.begin(), set.end(), by_ord);
    slots_.assign(set.begin(), set.end());  // S in its old order (place() rewrites ords)
    if (undo) {
      // O(|S|), not O(region): S's old places, then the region and a marker (see undo_shift).
      // Reserved first: the record is whole before anything moves, or not there at all.
      if (const std::size_t need = undo->size() + set.size() + 2; need > undo->capacity()) undo->reserve(std::max(need, 2 * undo->capacity()));
      for (const std::uint32_t x : set) undo->emplace_back(nodes_[x].ord, x);
      undo->emplace_back(lb, ub);
      undo->emplace_back(shift_mark, static_cast<std::uint32_t>(set.size()) | (f_done ? shift_forward : 0U));
    }
    note_moved(lb, ub);
    const auto in_set = [&](std::uint32_t x) { return f_done ? scratch_.gray(x) : (scratch_.seen(x) && !scratch_.gray(x)); };
    if (f_done) {
      std::uint32_t k = lb;
      for (std::uint32_t pos = lb; pos <= ub; ++pos) {
        const std::uint32_t x = node_at_[pos];
        if (!in_set(x)) place(x, k++);
      }
      for (const std::uint32_t x : slots_) place(x, k++);
    } else {
      std::uint32_t k = ub + 1;
      for (std::uint32_t pos = ub + 1; pos-- > lb;) {
        const std::uint32_t x = node_at_[pos];
        if (!in_set(x)) place(x, --k);
      }
      for (std::size_t i = slots_.size(); i-- > 0;) place(slots_[i], --k);
    }
    return true;
  }
  // The one-pass repair's undo record in an order log: S's (old position, node) pairs in
  // ascending position, then (lb, ub), then (shift_mark, |S| | shift_forward if S went after u).
  // Positions are below 0xFFFFFFFF, so the mark cannot be a position; |S| < 2^31.
  static constexpr std::uint32_t shift_mark = 0xFFFFFFFFU, shift_forward = 0x80000000U;
  // Undoes one repair, in place and without allocating: S's nodes go back to their old places,
  // and the other nodes of the region, still in their old relative order, to the rest.
  void undo_shift(const std::pair<std::uint32_t, std::uint32_t>* set, std::size_t count, std::uint32_t lb, std::uint32_t ub, bool forward) noexcept {
    if (forward) {
      // Now: others at lb.., S at the top. Fill from the top down; the others' reader stays at
      // or below the writer.
      std::uint32_t r = ub - static_cast<std::uint32_t>(count);
      std::size_t k = count;
      for (std::uint32_t pos = ub + 1; pos-- > lb;) {
        if (k > 0 && set[k - 1].first == pos) place(set[--k].second, pos);
        else place(node_at_[r--], pos);
      }
    } else {
      // Now: S at the bottom, others above. Fill from the bottom up; the reader stays at or
      // above the writer.
      std::uint32_t r = lb + static_cast<std::uint32_t>(count);
      std::size_t k = 0;
      for (std::uint32_t pos = lb; pos <= ub; ++pos) {
        if (k < count && set[k].first == pos) place(set[k++].second, pos);
        else place(node_at_[r++], pos);
      }
    }
  }
  void place(std::uint32_t x, std::uint32_t pos) noexcept {
    nodes_[x].ord = pos;
    node_at_[pos] = x;
  }
  // Records [lo, hi] in moved_ (see moved_positions). Never allocates past moved_limit entries:
  // the list is coalesced, then merged into one interval. noexcept: the capacity is reserved
  // once (a failed reservation merges instead).
  void note_moved(std::uint32_t lo, std::uint32_t hi) noexcept {
    if (!moved_.empty() && std::uint64_t{moved_.back().second} + 1 >= lo && moved_.back().first <= std::uint64_t{hi} + 1) {
      moved_.back() = {std::min(moved_.back().first, lo), std::max(moved_.back().second, hi)};
      return;
    }
    if (moved_.capacity() < moved_limit) {
      try {
        moved_.reserve(moved_limit);
      } catch (...) {
      }
    }
    if (moved_.size() == moved_.capacity()) coalesce_moved();
    if (moved_.size() == moved_.capacity()) {
      const std::uint32_t first = moved_.front().first, last = moved_.back().second;
      moved_.clear();
      moved_.emplace_back(std::min(first, lo), std::max(last, hi));
      return;
    }
    moved_.emplace_back(lo, hi);
  }
  void coalesce_moved() noexcept {
    if (moved_.size() < 2) return;
    std::sort(moved_.begin(), moved_.end());
    std::size_t w = 0;
    for (std::size_t i = 1; i < moved_.size(); ++i) {
      if (std::uint64_t{moved_[w].second} + 1 >= moved_[i].first) moved_[w].second = std::max(moved_[w].second, moved_[i].second);
      else moved_[++w] = moved_[i];
    }
    moved_.resize(w + 1);
  }

  using node_pairs = std::vector<std::pair<std::uint32_t, std::uint32_t>>;

  // What an edit changed so far, for an exact undo: removed edges (with their list positions and
  // attributes), the number of insertions linked, and the order positions overwritten.
  struct edit_undo {
    /// One edge an edit removed, kept to undo it exactly.
    struct removed_edge {
      std::uint32_t u;        ///< the parent's node
      std::uint32_t v;        ///< the child's node
      std::size_t out_pos;    ///< where it was in the parent's child list
      std::size_t in_pos;     ///< where it was in the child's parent list
      out_edge attrs;         ///< its kind and weight
    };
    std::vector<removed_edge> removed;
    std::size_t linked = 0;
    node_pairs order;
  };
  void unlink_all(const node_pairs& removes, edit_undo& undo) {
    undo.removed.reserve(removes.size());
    for (const auto& [u, v] : removes) {
      const out_edge attrs = nodes_[u].out[find_out(u, v)];
      const auto [k, j] = unlink(u, v);
      undo.removed.push_back({u, v, k, j, attrs});
    }
  }
  // Undoes, newest first: insertions, order positions, removals.
  void roll_back(const node_pairs& adds, edit_undo& undo) {
    for (std::size_t i = undo.linked; i-- > 0;) unlink_last(adds[i].first, adds[i].second);
    for (std::size_t i = undo.order.size(); i-- > 0;) {
      if (undo.order[i].first != shift_mark) {
        place(undo.order[i].second, undo.order[i].first);
        continue;
      }
      const std::uint32_t word = undo.order[i].second;
      const std::size_t count = word & ~shift_forward;
      const auto [lb, ub] = undo.order[i - 1];
      i -= 1 + count;  // now at S's first pair
      undo_shift(undo.order.data() + i, count, lb, ub, (word & shift_forward) != 0);
    }
    for (auto it = undo.removed.rbegin(); it != undo.removed.rend(); ++it) {
      nodes_[it->u].out.insert(nodes_[it->u].out.begin() + static_cast<std::ptrdiff_t>(it->out_pos), it->attrs);
      nodes_[it->v].in.insert(nodes_[it->v].in.begin() + static_cast<std::ptrdiff_t>(it->in_pos), it->u);
      ++edges_;
    }
    undo = edit_undo{};
  }
  // The report for insertion `failing`, the first that closes a cycle: its canonical witness
  // against the graph with the removals and insertions 0..failing-1 (built raw, no order
  // maintenance, then undone).
  void report_cycle(const graph_edit<W>& edit, const node_pairs& removes, const node_pairs& adds, std::size_t failing,
                    edit_report& rep) {
    edit_undo undo;
    try {
      unlink_all(removes, undo);
      for (; undo.linked < failing; ++undo.linked) {
        const auto& e = edit.additions()[undo.linked];
        link(adds[undo.linked].first, adds[undo.linked].second, e.kind, e.weight);
      }
      rep.witness = canonical_witness(adds[failing].first, adds[failing].second);
    } catch (...) {
      roll_back(adds, undo);
      throw;
    }
    roll_back(adds, undo);
    rep.err = error{errc::cycle, failing, "edit would close a cycle"};
    rep.part = edit_part::insertions;
  }

  edit_report run_edit(const graph_edit<W>& edit, bool keep, edit_path path) {
    edit_report rep;
    const auto fail = [&](errc code, std::size_t index, edit_part part, const char* message) {
      rep.err = error{code, index, message};
      rep.part = part;
      return rep;
    };
    // Resolve and check every operation first: nothing changes if one is unknown.
    node_pairs removes, adds;
    std::vector<std::uint64_t> removed;  // keys of removed edges, sorted
    for (std::size_t i = 0; i < edit.removals().size(); ++i) {
      const auto& [p, c] = edit.removals()[i];
      const auto u = node(p), v = node(c);
      if (!u || !v || !linked_nodes(*u, *v))
        return fail(errc::not_found, i, edit_part::removals, "edit removes an edge that does not exist");
      removes.emplace_back(*u, *v);
      removed.push_back((std::uint64_t{*u} << 32) | *v);
    }
    {
      std::vector<std::uint64_t> sorted = removed;
      std::sort(sorted.begin(), sorted.end());
      if (const auto it = std::adjacent_find(sorted.begin(), sorted.end()); it != sorted.end()) {
        // Name the second removal of that edge, in edit order.
        const std::size_t second = static_cast<std::size_t>(
            std::find(std::find(removed.begin(), removed.end(), *it) + 1, removed.end(), *it) - removed.begin());
        return fail(errc::not_found, second, edit_part::removals, "edit removes an edge twice");
      }
      removed = std::move(sorted);
    }
    detail::edge_set added;
    added.reserve(edit.additions().size());
    for (std::size_t i = 0; i < edit.additions().size(); ++i) {
      const auto& e = edit.additions()[i];
      const auto u = node(e.parent), v = node(e.child);
      if (!u || !v) return fail(errc::not_found, i, edit_part::insertions, "edit adds an edge to a page not in the graph");
      // An added edge may exist only if the edit removes it, and may be added once.
      const bool exists = linked_nodes(*u, *v) && !std::binary_search(removed.begin(), removed.end(), (std::uint64_t{*u} << 32) | *v);
      if (exists || added.contains(*u, *v)) return fail(errc::duplicate_id, i, edit_part::insertions, "edit adds an edge that exists");
      added.insert(*u, *v);
      adds.emplace_back(*u, *v);
    }
    const bool rebuild = path == edit_path::rebuild ||
                         (path == edit_path::automatic && adds.size() > std::max<std::size_t>(64, edges_ / 8));
    if (rebuild) return run_edit_rebuild(edit, removes, adds, keep);

    // Incremental path with an undo log. Rolling back only shrinks what grew, so it cannot
    // throw: an exception (std::bad_alloc) midway leaves the graph as it was.
    edit_undo undo;
    try {
      unlink_all(removes, undo);
      for (; undo.linked < adds.size(); ++undo.linked) {
        const auto [u, v] = adds[undo.linked];
        if (!reorder_for(u, v, &undo.order)) {
          rep.witness = canonical_witness(u, v);
          rep.err = error{errc::cycle, undo.linked, "edit would close a cycle"};
          rep.part = edit_part::insertions;
          break;
        }
        const auto& e = edit.additions()[undo.linked];
        link(u, v, e.kind, e.weight);
      }
    } catch (...) {
      roll_back(adds, undo);
      throw;
    }
    if (!(rep.ok() && keep)) roll_back(adds, undo);
    return rep;
  }

  // Rebuild path: build the edited graph as CSR, check it whole, and swap it in if acyclic.
  edit_report run_edit_rebuild(const graph_edit<W>& edit, const node_pairs& removes, const node_pairs& adds, bool keep) {
    edit_report rep;
    std::vector<std::uint64_t> removed;
    for (const auto& [u, v] : removes) removed.push_back((std::uint64_t{u} << 32) | v);
    std::sort(removed.begin(), removed.end());
    node_pairs all;
    all.reserve(edges_ + adds.size());
    for (std::uint32_t u = 0; u < nodes_.size(); ++u)
      for (const out_edge& o : nodes_[u].out)
        if (!std::binary_search(removed.begin(), removed.end(), (std::uint64_t{u} << 32) | o.child)) all.emplace_back(u, o.child);
    const std::size_t base = all.size();
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
      // The first failing insertion: the smallest i whose prefix 0..i is cyclic. The base graph
      // (committed minus removals) is acyclic and the whole edit is not: bisect.
      std::size_t lo = 0, hi = adds.size() - 1;  // prefix hi is cyclic
      while (lo < hi) {
        const std::size_t mid = lo + (hi - lo) / 2;
        const auto prefix = csr_graph::from_edges(nodes_.size(), std::span(all).first(base + mid + 1));
        if (check_acyclic(*prefix, acyclic_options{}, scratch_).acyclic) lo = mid + 1;
        else hi = mid;
      }
      report_cycle(edit, removes, adds, lo, rep);
      return rep;
    }
    if (!keep) return rep;
    // The new order, chosen before anything changes (it allocates): none when every insertion
    // already follows the committed order (removals cannot break an order).
    const bool follows = std::all_of(adds.begin(), adds.end(), [this](const auto& e) { return nodes_[e.first].ord < nodes_[e.second].ord; });
    std::vector<std::uint32_t> order;
    if (!follows) order = level_order(*g, r.order);
    reserve_exactly(removes, adds);
    edit_undo undo;
    try {
      unlink_all(removes, undo);
      for (; undo.linked < adds.size(); ++undo.linked) {
        const auto& e = edit.additions()[undo.linked];
        link(adds[undo.linked].first, adds[undo.linked].second, e.kind, e.weight);
      }
    } catch (...) {
      roll_back(adds, undo);
      throw;
    }
    // The order covers every node slot (dead ones are isolated nodes).
    for (std::size_t pos = 0; pos < order.size(); ++pos) place(order[pos], static_cast<std::uint32_t>(pos));
    if (!order.empty()) note_moved(0, static_cast<std::uint32_t>(order.size() - 1));
    // Then the nodes are numbered in that order, so that what is read in order (adjacency, the
    // propagation plan's build) is near in memory. An optimisation only: if it cannot allocate,
    // the committed edit stands as it is (renumbering changes nothing before its allocations).
    try {
      renumber_topologically();
    } catch (const std::bad_alloc&) {
    }
    return rep;
  }

  // Before a large edit links its insertions: every list that will grow gets room for exactly
  // what it will hold, so that the edit's pushes do not leave lists with up to twice the room
  // they need (a whole graph given as one edit: 44 MB less on 4M edges). Capacity only: nothing
  // observable changes if an allocation fails here.
  void reserve_exactly(const node_pairs& removes, const node_pairs& adds) {
    std::vector<std::uint32_t> out_n(nodes_.size()), in_n(nodes_.size());
    for (std::size_t u = 0; u < nodes_.size(); ++u) {
      out_n[u] = static_cast<std::uint32_t>(nodes_[u].out.size());
      in_n[u] = static_cast<std::uint32_t>(nodes_[u].in.size());
    }
    for (const auto& [u, v] : removes) {
      --out_n[u];
      --in_n[v];
    }
    for (const auto& [u, v] : adds) {
      ++out_n[u];
      ++in_n[v];
    }
    for (std::size_t u = 0; u < nodes_.size(); ++u) {
      auto& out = nodes_[u].out;
      auto& in = nodes_[u].in;
      const std::size_t out_was = out.capacity(), in_was = in.capacity();
      if (out_n[u] > out_was) {
        out.reserve(out_n[u]);
        adjacency_.bytes += (out.capacity() - out_was) * sizeof(out_edge);
      }
      if (in_n[u] > in_was) {
        in.reserve(in_n[u]);
        adjacency_.bytes += (in.capacity() - in_was) * sizeof(std::uint32_t);
      }
    }
  }

  // The order the rebuild path commits when the old one no longer holds: pages by level, and
  // within a level in their old order. Levels are as late as possible: a page with children is
  // one level before its lowest child; a page without is one level after its highest parent
  // (0 without parents either). Every edge rises a level, so the order is topological.
  // Why not Kahn's order: it puts every source first, wherever its children are, and a later
  // insertion into such a source reorders most of the graph. Why not earliest levels: a page
  // whose parents are all early (a source, or one with a short chain of ancestors) lands far
  // before the pages it feeds. Late levels put each page next to the children it feeds, so the
  // insertions of a graph with locality mostly follow the order or reorder a few levels (on
  // W-local, DESIGN.md §3, a commit of 1k removals and 1k insertions went from seconds with
  // Kahn's order to milliseconds).
  std::vector<std::uint32_t> level_order(const csr_graph& g, const std::vector<std::uint32_t>& topo) const {
    const std::size_t n = g.nodes();
    std::vector<std::uint32_t> level(n, 0);  // earliest, then late
    for (const std::uint32_t x : topo)
      for (const std::uint32_t y : g.children(x)) level[y] = std::max(level[y], level[x] + 1);
    std::uint32_t top = 0;
    for (std::size_t i = topo.size(); i-- > 0;) {
      const std::uint32_t x = topo[i];
      std::uint32_t low = ~std::uint32_t{0};
      for (const std::uint32_t y : g.children(x)) low = std::min(low, level[y]);  // final: later in topo
      if (low != ~std::uint32_t{0}) level[x] = low - 1;  // low >= 1: a child has a parent
      top = std::max(top, level[x]);
    }
    // Counting sort by level, stable in the old order.
    std::vector<std::uint32_t> start(std::size_t{top} + 2, 0);
    for (std::uint32_t x = 0; x < n; ++x) ++start[level[x] + 1];
    for (std::size_t l = 1; l < start.size(); ++l) start[l] += start[l - 1];
    std::vector<std::uint32_t> order(n);
    for (std::uint32_t pos = 0; pos < n; ++pos) {
      const std::uint32_t x = node_at_[pos];
      order[start[level[x]]++] = x;
    }
    return order;
  }

  // page id -> node. Ids from a page_store have dense indices (the high 32 bits): those are
  // looked up in a vector by index; any other id goes to a hash map.
  class page_index {
   public:
    void prefetch(page_id p) const noexcept {
      const std::uint64_t i = p.value() >> 32;
      if (i < dense_.size()) __builtin_prefetch(&dense_[i], 0, 1);
    }
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
    // The dense part exactly; the hash map's nodes estimated as the pair and two pointers each.
    [[nodiscard]] std::size_t memory_bytes() const noexcept {
      return dense_.capacity() * sizeof(slot) + sparse_.bucket_count() * sizeof(void*) +
             sparse_.size() * (sizeof(std::pair<const std::uint64_t, std::uint32_t>) + 2 * sizeof(void*));
    }

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
  std::uint64_t numbering_ = 0;        // renumberings so far (see numbering())
  std::vector<std::pair<std::uint32_t, std::uint32_t>> moved_;  // see moved_positions()
  std::vector<std::uint32_t> free_nodes_;
  std::size_t live_ = 0, edges_ = 0;
  // Scratch of the incremental search.
  graph_scratch scratch_;
  std::vector<std::uint32_t> fwd_, bwd_, stack_, bstack_, slots_;
  // The adjacency lists' bytes (capacities), kept by link(); a copied graph's lists have other
  // capacities, so a copy recounts them once, when first asked (memory_bytes()).
  struct adjacency_meter {
    std::size_t bytes = 0;
    bool stale = false;
    adjacency_meter() = default;
    adjacency_meter(const adjacency_meter&) noexcept : stale(true) {}
    adjacency_meter& operator=(const adjacency_meter&) noexcept {
      bytes = 0;
      stale = true;
      return *this;
    }
    adjacency_meter(adjacency_meter&&) noexcept = default;
    adjacency_meter& operator=(adjacency_meter&&) noexcept = default;
  };
  mutable adjacency_meter adjacency_;
};

}  // namespace tickflow
