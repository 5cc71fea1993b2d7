// A user's queue (std::mutex + std::deque, bounded) written against tickflow's ring concepts,
// to show the concepts are satisfiable from outside and to run the generic tests on it.
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <span>

namespace tickflow::test {

template <class T>
class locked_queue {
 public:
  using value_type = T;
  explicit locked_queue(std::size_t capacity) : cap_(capacity) {}

  bool try_push(T&& v) {
    std::lock_guard lock(mu_);
    if (q_.size() >= cap_) return false;
    q_.push_back(std::move(v));
    return true;
  }
  std::optional<T> try_pop() {
    std::lock_guard lock(mu_);
    if (q_.empty()) return std::nullopt;
    std::optional<T> v(std::move(q_.front()));
    q_.pop_front();
    return v;
  }
  std::size_t capacity() const { return cap_; }
  std::size_t was_size() const {
    std::lock_guard lock(mu_);
    return q_.size();
  }
  bool was_empty() const { return was_size() == 0; }

 private:
  mutable std::mutex mu_;
  std::deque<T> q_;
  std::size_t cap_;
};

}  // namespace tickflow::test
