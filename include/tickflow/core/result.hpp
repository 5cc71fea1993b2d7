/// @file
/// tickflow/core/result.hpp — the error codes and the result<T> type every fallible tickflow
/// operation returns.
///
/// Contract
///   * `errc` enumerates every way a tickflow operation can fail. Codes are stable: new codes are
///     appended, existing values never change (they appear in reports and logs).
///   * `error` is a code plus a 64-bit detail (an index, an offset, an id: what it means is stated
///     by the operation that returns it) and a static message. It never owns memory.
///   * `result<T>` holds either a T or an error (std::expected is C++23; this is the C++20
///     subset tickflow needs). Accessing value() of an error result throws bad_result_access
///     when exceptions are enabled and aborts otherwise; error() of a value result results in
///     undefined behavior and is checked by TICKFLOW_ASSERT.
///   * result<void> carries success or an error.
///   * Nothing here allocates. result<T> is as noexcept as T's special members.
///
/// Thread-safety: values; no shared state.
#pragma once

#include <cstdint>
#include <exception>
#include <new>
#include <string_view>
#include <type_traits>
#include <utility>

#include "tickflow/core/config.hpp"

namespace tickflow {

/// Every failure kind of the library. Values are stable.
enum class errc : std::uint16_t {
  ok = 0,
  invalid_argument = 1,   ///< a parameter is outside its documented domain
  capacity_exceeded = 2,  ///< a fixed-capacity structure cannot take more
  would_block = 3,        ///< the operation cannot complete without waiting
  out_of_range = 4,       ///< an index or window lies outside its container
  not_found = 5,          ///< an id names nothing alive
  epoch_regression = 6,   ///< a delta's epoch is lower than its page's epoch
  stray_mask_bits = 7,    ///< a delta mask has bits set past its window
  payload_mismatch = 8,   ///< a delta payload length does not match its kind
  duplicate_id = 9,       ///< an id that must be unique is repeated
  derived_target = 10,    ///< a delta targets a derived (non-source) page
  cycle = 11,             ///< a graph edit would create a cycle
  corrupt_data = 12,      ///< a checksum or structural check on stored data failed
  io_error = 13,          ///< the operating system reported an I/O failure
  mask_length = 14,       ///< a delta mask has the wrong number of words for its window
  page_mismatch = 15,     ///< an operation on two deltas needs them to target one page
  has_dependents = 16,    ///< a page other pages are linked to cannot be released
};

/// Human-readable name of a code; a static string, never null.
[[nodiscard]] constexpr std::string_view to_string(errc c) noexcept {
  switch (c) {
    case errc::ok: return "ok";
    case errc::invalid_argument: return "invalid_argument";
    case errc::capacity_exceeded: return "capacity_exceeded";
    case errc::would_block: return "would_block";
    case errc::out_of_range: return "out_of_range";
    case errc::not_found: return "not_found";
    case errc::epoch_regression: return "epoch_regression";
    case errc::stray_mask_bits: return "stray_mask_bits";
    case errc::payload_mismatch: return "payload_mismatch";
    case errc::duplicate_id: return "duplicate_id";
    case errc::derived_target: return "derived_target";
    case errc::cycle: return "cycle";
    case errc::corrupt_data: return "corrupt_data";
    case errc::io_error: return "io_error";
    case errc::mask_length: return "mask_length";
    case errc::page_mismatch: return "page_mismatch";
    case errc::has_dependents: return "has_dependents";
  }
  return "unknown";
}

/// A failure: code, operation-defined detail, static message.
struct error {
  errc code = errc::ok;       ///< what went wrong (errc::ok: nothing)
  std::uint64_t detail = 0;   ///< what the operation names: an index, a page id, an offset (see each call)
  const char* message = "";  ///< static storage duration; never freed

  /// Equal code and detail (the message is not compared).
  friend constexpr bool operator==(const error& a, const error& b) noexcept {
    return a.code == b.code && a.detail == b.detail;
  }
};

/// Thrown by result<T>::value() on an error result (when exceptions are enabled).
class bad_result_access : public std::exception {
 public:
  /// Carries the result's error.
  explicit bad_result_access(error e) noexcept : error_(e) {}
  /// A fixed message; the error itself is get().
  [[nodiscard]] const char* what() const noexcept override { return "tickflow: value() of an error result"; }
  /// The error the result held.
  [[nodiscard]] error get() const noexcept { return error_; }

 private:
  error error_;
};

namespace detail {
[[noreturn]] inline void throw_bad_result_access(error e) {
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
  throw bad_result_access(e);
#else
  (void)e;
  assert_fail("has_value()", "value() of an error result", __FILE__, __LINE__);
#endif
}
}  // namespace detail

/// Tag-constructs the error alternative: `return tickflow::unexpected(errc::cycle, index);`.
struct unexpected {
  error err;  ///< the error the result will hold
  /// From an error.
  constexpr explicit unexpected(error e) noexcept : err(e) {}
  /// From its parts; `msg` must have static storage duration.
  constexpr explicit unexpected(errc c, std::uint64_t detail = 0, const char* msg = "") noexcept
      : err{c, detail, msg} {}
};

/// Either a T or an error.
template <class T>
class [[nodiscard]] result {
  static_assert(!std::is_reference_v<T> && !std::is_array_v<T>, "result<T> holds an object type");
  static_assert(!std::is_same_v<std::remove_cv_t<T>, tickflow::error>, "result<error> is ambiguous");

 public:
  using value_type = T;  ///< the value alternative

  /// A value result, from anything T is constructible from (implicit, so that `return v;` works).
  template <class U = T>
    requires std::is_constructible_v<T, U&&> && (!std::is_same_v<std::remove_cvref_t<U>, unexpected>) &&
             (!std::is_same_v<std::remove_cvref_t<U>, result>)
  constexpr result(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>)  // NOLINT: implicit by design
      : has_(true) {
    ::new (static_cast<void*>(&storage_.value)) T(std::forward<U>(v));
  }
  /// An error result (implicit: `return unexpected(...);`).
  constexpr result(unexpected u) noexcept : has_(false) { storage_.err = u.err; }  // NOLINT

  ///@{
  /// Copy and move: the same alternative, copied or moved.
  result(const result& o) noexcept(std::is_nothrow_copy_constructible_v<T>) : has_(o.has_) {
    if (has_) ::new (static_cast<void*>(&storage_.value)) T(o.storage_.value);
    else storage_.err = o.storage_.err;
  }
  result(result&& o) noexcept(std::is_nothrow_move_constructible_v<T>) : has_(o.has_) {
    if (has_) ::new (static_cast<void*>(&storage_.value)) T(std::move(o.storage_.value));
    else storage_.err = o.storage_.err;
  }
  result& operator=(const result& o) {
    if (this != &o) { reset(); construct_from(o); }
    return *this;
  }
  result& operator=(result&& o) noexcept(std::is_nothrow_move_constructible_v<T>) {
    if (this != &o) { reset(); construct_from(std::move(o)); }
    return *this;
  }
  ///@}
  ~result() { reset(); }

  ///@{
  /// Whether it holds a value (not an error).
  [[nodiscard]] constexpr bool has_value() const noexcept { return has_; }
  constexpr explicit operator bool() const noexcept { return has_; }
  ///@}

  ///@{
  /// The value; bad_result_access (or an assertion without exceptions) on an error result.
  [[nodiscard]] T& value() & { if (!has_) detail::throw_bad_result_access(storage_.err); return storage_.value; }
  [[nodiscard]] const T& value() const& { if (!has_) detail::throw_bad_result_access(storage_.err); return storage_.value; }
  /// On an rvalue result, value() and * return the value itself (moved out), not a reference
  /// into the dying result: `for (auto x : *store.bytes(id))` is then safe.
  [[nodiscard]] T value() && { if (!has_) detail::throw_bad_result_access(storage_.err); return std::move(storage_.value); }
  ///@}

  ///@{
  /// The value, unchecked. Precondition: has_value(); otherwise undefined behavior.
  [[nodiscard]] T& operator*() & noexcept { TICKFLOW_ASSERT(has_, "dereferenced an error result"); return storage_.value; }
  [[nodiscard]] const T& operator*() const& noexcept { TICKFLOW_ASSERT(has_, "dereferenced an error result"); return storage_.value; }
  [[nodiscard]] T operator*() && noexcept(std::is_nothrow_move_constructible_v<T>) {
    TICKFLOW_ASSERT(has_, "dereferenced an error result");
    return std::move(storage_.value);
  }
  [[nodiscard]] T* operator->() noexcept { return &**this; }
  [[nodiscard]] const T* operator->() const noexcept { return &**this; }
  ///@}

  /// Precondition: !has_value(); otherwise undefined behavior.
  [[nodiscard]] const tickflow::error& error() const noexcept { TICKFLOW_ASSERT(!has_, "error() of a value result"); return storage_.err; }

  /// The value, or `fallback` converted to T on an error result.
  template <class U>
  [[nodiscard]] T value_or(U&& fallback) const& { return has_ ? storage_.value : static_cast<T>(std::forward<U>(fallback)); }

 private:
  void reset() noexcept {
    if (has_) storage_.value.~T();
    has_ = false;
    storage_.err = {};
  }
  template <class R>
  void construct_from(R&& o) {
    if (o.has_) {
      ::new (static_cast<void*>(&storage_.value)) T(std::forward<R>(o).storage_.value);
      has_ = true;
    } else {
      storage_.err = o.storage_.err;
    }
  }

  union storage {
    storage() noexcept : err{} {}
    ~storage() {}
    T value;
    tickflow::error err;
  } storage_;
  bool has_;
};

/// Success, or an error.
template <>
class [[nodiscard]] result<void> {
 public:
  using value_type = void;  ///< no value alternative
  /// Success.
  constexpr result() noexcept = default;
  /// An error result (implicit: `return unexpected(...);`).
  constexpr result(unexpected u) noexcept : err_(u.err) {}  // NOLINT: implicit by design

  ///@{
  /// Whether it is a success.
  [[nodiscard]] constexpr bool has_value() const noexcept { return err_.code == errc::ok; }
  constexpr explicit operator bool() const noexcept { return has_value(); }
  ///@}
  /// Nothing on success; bad_result_access (or an assertion without exceptions) on an error.
  void value() const { if (!has_value()) detail::throw_bad_result_access(err_); }
  /// Precondition: !has_value(); otherwise undefined behavior.
  [[nodiscard]] constexpr const tickflow::error& error() const noexcept { TICKFLOW_ASSERT(!has_value(), "error() of a value result"); return err_; }

 private:
  tickflow::error err_{};
};

}  // namespace tickflow
