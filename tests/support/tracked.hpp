// Element types for ring tests: a lifetime tracker, a move-only type and an over-sized type.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_set>

namespace tickflow::test {

/// Records every live object's address. Constructing over a live address (constructed twice) or
/// destroying an address that is not live (destroyed unconstructed, or twice) counts an error.
/// Thread-safe; errors are counted, never asserted from worker threads (Catch2 v2 assertions
/// are not thread-safe).
struct lifetime_registry {
  std::mutex mu;
  std::unordered_set<const void*> live;
  std::atomic<long> errors{0};
  std::atomic<long> constructions{0};
  std::atomic<long> destructions{0};

  void born(const void* p) {
    constructions.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(mu);
    if (!live.insert(p).second) errors.fetch_add(1, std::memory_order_relaxed);
  }
  void died(const void* p) {
    destructions.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(mu);
    if (live.erase(p) != 1) errors.fetch_add(1, std::memory_order_relaxed);
  }
  long live_count() {
    std::lock_guard lock(mu);
    return static_cast<long>(live.size());
  }
  static lifetime_registry& instance() {
    static lifetime_registry r;
    return r;
  }
};

/// The registry's counts when created; a test checks what changed since.
struct lifetime_baseline {
  lifetime_registry& reg = lifetime_registry::instance();
  const long errors0 = reg.errors.load();
  const long live0 = reg.live_count();
  /// Tracked objects alive now that were not alive at the baseline.
  long extra_live() { return reg.live_count() - live0; }
  /// Double constructions or destructions since the baseline.
  long new_errors() const { return reg.errors.load() - errors0; }
};

/// Non-trivial element: every construction and destruction is checked by the registry; a
/// moved-from object keeps a poison value so a double pop is visible in the data.
struct tracked {
  static constexpr std::uint64_t moved_from = 0xDEADDEADDEADDEADULL;
  std::uint64_t value = 0;

  tracked() noexcept { lifetime_registry::instance().born(this); }
  explicit tracked(std::uint64_t v) noexcept : value(v) { lifetime_registry::instance().born(this); }
  tracked(const tracked& o) noexcept : value(o.value) { lifetime_registry::instance().born(this); }
  tracked(tracked&& o) noexcept : value(o.value) {
    o.value = moved_from;
    lifetime_registry::instance().born(this);
  }
  tracked& operator=(const tracked& o) noexcept = default;
  tracked& operator=(tracked&& o) noexcept {
    value = o.value;
    o.value = moved_from;
    return *this;
  }
  ~tracked() { lifetime_registry::instance().died(this); }
  friend bool operator==(const tracked& a, const tracked& b) noexcept { return a.value == b.value; }
};

/// Move-only element.
struct move_only {
  std::unique_ptr<std::uint64_t> p;
  move_only() = default;
  explicit move_only(std::uint64_t v) : p(std::make_unique<std::uint64_t>(v)) {}
  move_only(move_only&&) noexcept = default;
  move_only& operator=(move_only&&) noexcept = default;
  std::uint64_t value() const { return p ? *p : ~0ULL; }
};

/// An element larger than a cache line, with its sequence number at both ends so a torn copy
/// is detected.
struct big {
  std::uint64_t head = 0;
  std::uint8_t body[96] = {};
  std::uint64_t tail = 0;
  big() = default;
  explicit big(std::uint64_t v) noexcept : head(v), tail(v) { std::memset(body, static_cast<int>(v & 0xFF), sizeof body); }
  bool intact() const noexcept {
    if (head != tail) return false;
    for (auto b : body)
      if (b != static_cast<std::uint8_t>(head & 0xFF)) return false;
    return true;
  }
};

inline std::uint64_t value_of(std::uint64_t v) { return v; }
inline std::uint64_t value_of(const tracked& t) { return t.value; }
inline std::uint64_t value_of(const move_only& m) { return m.value(); }
inline std::uint64_t value_of(const big& b) { return b.intact() ? b.head : ~0ULL; }

template <class T>
T make_item(std::uint64_t v) {
  if constexpr (std::is_same_v<T, std::uint64_t>) return v;
  else return T(v);
}

}  // namespace tickflow::test
