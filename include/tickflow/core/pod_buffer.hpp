/// @file
/// tickflow/core/pod_buffer.hpp — a growable array of trivially copyable values, for columns.
///
/// Contract
///   * pod_buffer<T> (T trivially copyable) is a value type like std::vector<T> restricted to
///     what columnar code needs: size, capacity, data, indexing, clear, reserve, resize (new
///     elements value-initialised), push_back, append(range), and spans over it.
///   * reserve() is the only operation that allocates (through huge_page_allocator, growing
///     geometrically from push_back/append/resize); it gives the strong guarantee. The
///     *_unchecked operations require capacity the caller has reserved: they never allocate or
///     throw, which lets a caller reserve once for a whole row and then append to every column
///     without a check per column.
///
/// Thread-safety: a value.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <span>
#include <type_traits>
#include <utility>

#include "tickflow/core/huge_alloc.hpp"

namespace tickflow {

/// A growable array of trivially copyable values for columns, allocated in huge pages (see the file contract).
template <class T>
class pod_buffer {
  static_assert(std::is_trivially_copyable_v<T>, "pod_buffer holds trivially copyable values");

 public:
  pod_buffer() = default;
  /// `n` copies of `value`.
  pod_buffer(std::size_t n, const T& value) { assign(n, value); }
  /// A copy of the elements (capacity: just enough).
  pod_buffer(const pod_buffer& o) {
    reserve(o.size_);
    if (o.size_ != 0) std::memcpy(data_, o.data_, o.size_ * sizeof(T));
    size_ = o.size_;
  }
  /// Takes the other's storage; the other is left empty.
  pod_buffer(pod_buffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)), cap_(std::exchange(o.cap_, 0)) {}
  /// Copies the elements; strong guarantee.
  pod_buffer& operator=(const pod_buffer& o) {
    if (this != &o) {
      pod_buffer copy(o);
      swap(copy);
    }
    return *this;
  }
  /// Takes the other's storage; the other is left empty.
  pod_buffer& operator=(pod_buffer&& o) noexcept {
    pod_buffer moved(std::move(o));
    swap(moved);
    return *this;
  }
  ~pod_buffer() {
    if (data_ != nullptr) huge_page_allocator<T>{}.deallocate(data_, cap_);
  }
  /// Exchanges the storage of the two buffers.
  void swap(pod_buffer& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(cap_, o.cap_);
  }

  /// Elements held.
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  /// Elements the storage has room for without allocating.
  [[nodiscard]] std::size_t capacity() const noexcept { return cap_; }
  /// Whether it holds no element.
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  /// The first element (null before the first allocation).
  [[nodiscard]] T* data() noexcept { return data_; }
  /// The first element (null before the first allocation).
  [[nodiscard]] const T* data() const noexcept { return data_; }
  /// Element `i`; unchecked (i < size()).
  [[nodiscard]] T& operator[](std::size_t i) noexcept { return data_[i]; }
  /// Element `i`; unchecked (i < size()).
  [[nodiscard]] const T& operator[](std::size_t i) const noexcept { return data_[i]; }
  /// The last element; unchecked (!empty()).
  [[nodiscard]] T& back() noexcept { return data_[size_ - 1]; }
  /// Iteration over the elements.
  [[nodiscard]] const T* begin() const noexcept { return data_; }
  /// Iteration over the elements: past the last.
  [[nodiscard]] const T* end() const noexcept { return data_ + size_; }
  operator std::span<const T>() const noexcept { return {data_, size_}; }  // NOLINT(google-explicit-constructor)

  /// Drops the elements; keeps the storage.
  void clear() noexcept { size_ = 0; }
  /// Room for at least `n` elements (the only call that allocates); strong guarantee.
  void reserve(std::size_t n) {
    if (n <= cap_) return;
    T* fresh = huge_page_allocator<T>{}.allocate(n);
    if (size_ != 0) std::memcpy(fresh, data_, size_ * sizeof(T));
    if (data_ != nullptr) huge_page_allocator<T>{}.deallocate(data_, cap_);
    data_ = fresh;
    cap_ = n;
  }
  /// Room for `extra` more elements, growing geometrically.
  void reserve_more(std::size_t extra) {
    if (extra > cap_ - size_) reserve(std::max(size_ + extra, 2 * cap_ + 16));
  }
  /// Grows (new elements value-initialised) or shrinks to `n` elements.
  void resize(std::size_t n) {
    reserve(n);
    if (n > size_) std::fill(data_ + size_, data_ + n, T{});
    size_ = n;
  }
  /// `n` copies of `value`, replacing the contents.
  void assign(std::size_t n, const T& value) {
    reserve(n);
    std::fill(data_, data_ + n, value);
    size_ = n;
  }
  /// Appends one element, growing geometrically when full.
  void push_back(const T& v) {
    reserve_more(1);
    data_[size_++] = v;
  }
  /// Appends `n` elements from `p`, growing geometrically when full.
  void append(const T* p, std::size_t n) {
    reserve_more(n);
    append_unchecked(p, n);
  }
  /// Appends one element into reserved room (size() < capacity()): never allocates.
  void push_back_unchecked(const T& v) noexcept { data_[size_++] = v; }
  /// Appends n elements copied from raw bytes (n * sizeof(T) of them, any alignment).
  void append_raw_unchecked(const std::byte* p, std::size_t n) noexcept {
    if (n != 0) std::memcpy(static_cast<void*>(data_ + size_), p, n * sizeof(T));
    size_ += n;
  }
  /// Grows to n <= capacity() elements without writing them: the caller has already written
  /// elements [size(), n) through data().
  void resize_written(std::size_t n) noexcept { size_ = n; }
  /// Shrinks to n <= size() elements.
  void resize_down(std::size_t n) noexcept { size_ = n < size_ ? n : size_; }
  /// Appends `n` elements into reserved room: never allocates.
  void append_unchecked(const T* p, std::size_t n) noexcept {
    if (n != 0) std::memcpy(data_ + size_, p, n * sizeof(T));
    size_ += n;
  }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0, cap_ = 0;
};

}  // namespace tickflow
