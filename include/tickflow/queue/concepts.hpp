/// @file
/// tickflow/queue/concepts.hpp — what a ring element is, and what producer and consumer
/// endpoints provide.
///
/// Contract
///   * ring_element<T>: a non-cv, non-array object type that is move-constructible and
///     destructible without throwing. References, arrays, const types, non-movable types and types
///     whose destructor may throw are rejected. A move constructor may throw: the SPSC ring is
///     exception-neutral (an item whose move throws stays where it was). The MPMC ring claims a slot
///     before constructing into it, so its calls additionally require the construction they use to
///     be noexcept (their requires-clauses say which). tickflow rings never steal a value of T as an
///     "empty" marker: every value is legal.
///   * producer_endpoint<Q> / consumer_endpoint<Q>: the non-blocking single-item calls.
///   * batch_producer<Q> / batch_consumer<Q>: span-based calls returning how many moved.
///   * ring<Q>: both endpoints plus the observers capacity(), was_size(), was_empty().
///   Both tickflow rings satisfy all of them; a user's queue can too (an adaptor that exposes
///   these members), and the generic tests and benchmarks then run on it.
///
/// Thread-safety: concepts only.
#pragma once

#include <concepts>
#include <cstddef>
#include <optional>
#include <span>
#include <type_traits>

namespace tickflow {

/// An element type a tickflow ring can hold (see the file contract: the move may throw).
template <class T>
concept ring_element = std::is_object_v<T> && !std::is_array_v<T> && !std::is_const_v<T> &&
                       !std::is_volatile_v<T> && std::is_nothrow_destructible_v<T> &&
                       std::is_move_constructible_v<T>;

/// A queue end that accepts single items without blocking.
template <class Q>
concept producer_endpoint = ring_element<typename Q::value_type> &&
    requires(Q& q, typename Q::value_type&& v) {
      { q.try_push(std::move(v)) } -> std::same_as<bool>;
    };

/// A queue end that yields single items without blocking.
template <class Q>
concept consumer_endpoint = ring_element<typename Q::value_type> &&
    requires(Q& q) {
      { q.try_pop() } -> std::same_as<std::optional<typename Q::value_type>>;
    };

/// A producer that can push a span of items at once; returns how many were pushed (a prefix).
template <class Q>
concept batch_producer = producer_endpoint<Q> &&
    requires(Q& q, std::span<const typename Q::value_type> items) {
      { q.try_push_n(items) } -> std::same_as<std::size_t>;
    };

/// A consumer that can pop into a span at once; returns how many were popped.
template <class Q>
concept batch_consumer = consumer_endpoint<Q> &&
    requires(Q& q, std::span<typename Q::value_type> out) {
      { q.try_pop_n(out) } -> std::same_as<std::size_t>;
    };

/// A bounded queue with both endpoints and snapshot observers.
template <class Q>
concept ring = producer_endpoint<Q> && consumer_endpoint<Q> &&
    requires(const Q& q) {
      { q.capacity() } -> std::convertible_to<std::size_t>;
      { q.was_size() } -> std::convertible_to<std::size_t>;
      { q.was_empty() } -> std::convertible_to<bool>;
    };

}  // namespace tickflow
