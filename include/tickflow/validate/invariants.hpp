/// @file
/// tickflow/validate/invariants.hpp — named invariants, a registry, and the built-in ones.
///
/// Contract
///   * invariant<I, Ctx>: a type with name() (a string_view with static storage) and
///     check(const Ctx&, std::vector<invariant_violation>&) that appends one violation per
///     breach it finds (and nothing when the invariant holds). check may keep state between calls
///     (epoch monotonicity remembers the epochs it saw; log continuity where it stopped).
///   * invariant_registry<Ctx> holds any number of invariants (type-erased, owned) and
///     check_all(ctx) runs every one, in registration order, into one report: the violations
///     (each with its invariant's name), the count per invariant, and the checks run. No I/O.
///   * engine_context is the context of the built-ins; each built-in ignores what it does not
///     use (a null pointer or an empty span means "not present"):
///       epoch_monotonicity  no page's epoch is below the epoch it had at the previous check
///       page_consistency    the store holds exactly the pages the engine lists, each alive
///                           with the listed size (detail: the page id)
///       graph_acyclicity    the graph snapshot has no cycle (detail: the first node of the
///                           witness) and, for a page_graph, its internal invariants hold
///       queue_accounting    every queue's counters satisfy pushed == popped + size
///       log_continuity      delta ids are consecutive (no gap, no repeat), epochs never
///                           decrease and advance by at most max_epoch_step per record
///
/// Thread-safety: a registry (and the invariants in it) is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tickflow/core/ids.hpp"
#include "tickflow/graph/csr.hpp"
#include "tickflow/graph/page_graph.hpp"
#include "tickflow/page/delta.hpp"
#include "tickflow/page/page_store.hpp"

namespace tickflow {

/// One breach an invariant found.
struct invariant_violation {
  std::string_view invariant;  ///< the name of the invariant that found it
  std::uint64_t detail = 0;    ///< what it names (a page id, a queue index, a log position...)
  std::string_view message;    ///< static text
};

template <class I, class Ctx>
concept invariant = requires(I& inv, const Ctx& ctx, std::vector<invariant_violation>& out) {
  { inv.name() } -> std::convertible_to<std::string_view>;
  inv.check(ctx, out);
};

/// What one check_all found.
struct invariant_report {
  std::vector<invariant_violation> violations;  ///< every breach, in registration order
  std::vector<std::pair<std::string_view, std::uint64_t>> per_invariant;  ///< name, violations found
  std::uint64_t checks = 0;                                              ///< invariant evaluations run
  /// Whether no invariant found a breach.
  [[nodiscard]] bool ok() const noexcept { return violations.empty(); }
};

/// Holds invariants of any type over one context and runs them all in one report (see the file contract).
template <class Ctx>
class invariant_registry {
 public:
  /// Registers an invariant (kept, and run after those registered before it).
  template <class I>
    requires invariant<I, Ctx>
  void add(I inv) {
    entries_.push_back(std::make_unique<model<I>>(std::move(inv)));
  }
  /// Invariants registered.
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

  /// Runs every invariant once over `ctx`.
  [[nodiscard]] invariant_report check_all(const Ctx& ctx) {
    invariant_report rep;
    for (auto& e : entries_) {
      const std::size_t before = rep.violations.size();
      e->check(ctx, rep.violations);
      for (std::size_t i = before; i < rep.violations.size(); ++i) rep.violations[i].invariant = e->name();
      rep.per_invariant.emplace_back(e->name(), rep.violations.size() - before);
      ++rep.checks;
    }
    return rep;
  }

 private:
  struct concept_t {
    virtual ~concept_t() = default;
    virtual std::string_view name() const = 0;
    virtual void check(const Ctx& ctx, std::vector<invariant_violation>& out) = 0;
  };
  template <class I>
  struct model final : concept_t {
    explicit model(I i) : inv(std::move(i)) {}
    std::string_view name() const override { return inv.name(); }
    void check(const Ctx& ctx, std::vector<invariant_violation>& out) override { inv.check(ctx, out); }
    I inv;
  };
  std::vector<std::unique_ptr<concept_t>> entries_;
};

/// Queue counters as an engine keeps them (pushed and popped since start, size now).
struct queue_counters {
  std::uint64_t pushed = 0;  ///< items pushed since the start
  std::uint64_t popped = 0;  ///< items popped since the start
  std::uint64_t size = 0;    ///< items in the queue now
};

/// What the built-in invariants look at.
struct engine_context {
  const page_store* store = nullptr;  ///< the store the engine keeps its pages in (null: not checked)
  std::span<const page_id> pages;         ///< the pages the engine believes it has
  std::span<const std::uint32_t> sizes;   ///< their sizes, parallel to `pages` (may be empty)
  const page_graph<double>* graph = nullptr;  ///< the engine's page graph (null: none)
  const csr_graph* graph_snapshot = nullptr;  ///< checked instead of / besides `graph`
  std::span<const queue_counters> queues;  ///< the engine's queue counters
  std::span<const delta> log;             ///< the log so far, in order
};

/// Checks that no page's epoch went below the one it had at the previous check.
class epoch_monotonicity {
 public:
  /// "epoch_monotonicity"
  [[nodiscard]] std::string_view name() const noexcept { return "epoch_monotonicity"; }
  /// Appends one violation per page whose epoch went back (detail: the page id).
  void check(const engine_context& ctx, std::vector<invariant_violation>& out) {
    if (ctx.store == nullptr) return;
    ctx.store->for_each_page([&](page_id id, std::span<const std::byte>, epoch at) {
      auto [it, fresh] = seen_.try_emplace(id.value(), at.value());
      if (fresh) return;
      if (at.value() < it->second) out.push_back({{}, id.value(), "page epoch went backwards"});
      it->second = at.value();
    });
  }

 private:
  std::unordered_map<std::uint64_t, std::uint32_t> seen_;
};

/// Checks that the store holds exactly the listed pages, each alive with its listed size.
class page_consistency {
 public:
  /// "page_consistency"
  [[nodiscard]] std::string_view name() const noexcept { return "page_consistency"; }
  /// Appends one violation per listed page that is missing or has another size (detail: the page id).
  void check(const engine_context& ctx, std::vector<invariant_violation>& out) const {
    if (ctx.store == nullptr) return;
    std::size_t missing = 0;
    for (std::size_t i = 0; i < ctx.pages.size(); ++i) {
      const auto size = ctx.store->page_size(ctx.pages[i]);
      if (!size) {
        ++missing;
        out.push_back({{}, ctx.pages[i].value(), "listed page is not in the store"});
      } else if (i < ctx.sizes.size() && *size != ctx.sizes[i]) {
        out.push_back({{}, ctx.pages[i].value(), "page size differs from the listed one"});
      }
    }
    if (missing != 0 || ctx.store->size() != ctx.pages.size()) {
      // Name the pages the list lacks (found only by a scan of the store).
      std::unordered_map<std::uint64_t, bool> listed;
      for (const page_id p : ctx.pages) listed.emplace(p.value(), true);
      ctx.store->for_each_page([&](page_id id, std::span<const std::byte>, epoch) {
        if (listed.count(id.value()) == 0) out.push_back({{}, id.value(), "store holds a page the engine does not list"});
      });
    }
  }
};

/// Checks that the graph (and the snapshot, if given) has no cycle, and the page graph's own invariants.
class graph_acyclicity {
 public:
  /// "graph_acyclicity"
  [[nodiscard]] std::string_view name() const noexcept { return "graph_acyclicity"; }
  /// Appends a violation for a cycle (detail: the witness's first node) or a broken page-graph invariant.
  void check(const engine_context& ctx, std::vector<invariant_violation>& out) {
    if (ctx.graph != nullptr) {
      if (auto ok = ctx.graph->check_invariants(); !ok) out.push_back({{}, ok.error().detail, ok.error().message});
      const auto rep = ctx.graph->validate();
      if (!rep.acyclic) out.push_back({{}, rep.witness.empty() ? 0 : rep.witness[0].value(), "page graph has a cycle"});
    }
    if (ctx.graph_snapshot != nullptr) {
      const auto rep = check_acyclic(*ctx.graph_snapshot, acyclic_options{}, scratch_);
      if (!rep.acyclic) out.push_back({{}, rep.witness.empty() ? 0 : rep.witness[0], "graph snapshot has a cycle"});
    }
  }

 private:
  graph_scratch scratch_;
};

/// Checks pushed == popped + size for every queue.
class queue_accounting {
 public:
  /// "queue_accounting"
  [[nodiscard]] std::string_view name() const noexcept { return "queue_accounting"; }
  /// Appends one violation per queue whose counters do not add up (detail: the queue's index).
  void check(const engine_context& ctx, std::vector<invariant_violation>& out) const {
    for (std::size_t q = 0; q < ctx.queues.size(); ++q) {
      const queue_counters& c = ctx.queues[q];
      if (c.pushed != c.popped + c.size) out.push_back({{}, q, "queue counters: pushed != popped + size"});
    }
  }
};

/// Checks that delta ids are consecutive and epochs never decrease nor jump by more than max_epoch_step, over the records appended since the last check.
class log_continuity {
 public:
  std::uint32_t max_epoch_step = 1;  ///< the largest epoch step allowed between consecutive records

  /// "log_continuity"
  [[nodiscard]] std::string_view name() const noexcept { return "log_continuity"; }
  /// Checks the records appended since the previous check (a log that got shorter is checked
  /// again from its start).
  void check(const engine_context& ctx, std::vector<invariant_violation>& out) {
    if (ctx.log.size() < done_) done_ = 0, have_last_ = false;
    for (std::size_t i = done_; i < ctx.log.size(); ++i) {
      const delta& d = ctx.log[i];
      if (have_last_) {
        if (d.id.value() == last_id_) {
          out.push_back({{}, i, "repeated delta id"});
        } else if (d.id.value() != last_id_ + 1) {
          out.push_back({{}, i, "gap in delta ids"});
        }
        if (d.at.value() < last_epoch_) {
          out.push_back({{}, i, "epoch went backwards in the log"});
        } else if (d.at.value() - last_epoch_ > max_epoch_step) {
          out.push_back({{}, i, "gap in epochs"});
        }
      }
      last_id_ = d.id.value();
      last_epoch_ = d.at.value();
      have_last_ = true;
    }
    done_ = ctx.log.size();
  }

 private:
  std::size_t done_ = 0;
  bool have_last_ = false;
  std::uint64_t last_id_ = 0;
  std::uint32_t last_epoch_ = 0;
};

/// A registry holding the five built-ins.
[[nodiscard]] inline invariant_registry<engine_context> builtin_invariants() {
  invariant_registry<engine_context> r;
  r.add(epoch_monotonicity{});
  r.add(page_consistency{});
  r.add(graph_acyclicity{});
  r.add(queue_accounting{});
  r.add(log_continuity{});
  return r;
}

}  // namespace tickflow
