// Replaces every global allocation and deallocation function of the binary that includes it
// (in exactly one translation unit). Allocations go through `tickflow_test_allocate(n, align)`,
// which that binary defines (to count, or to fail on demand) and which returns nullptr for a
// failure; deallocations free. The forms therefore never mismatch.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>

void* tickflow_test_allocate(std::size_t n, std::size_t align) noexcept;

namespace tickflow::test {
/// malloc, or aligned_alloc for over-aligned requests; nullptr on failure.
inline void* system_allocate(std::size_t n, std::size_t align) noexcept {
  if (n == 0) n = 1;
  if (align <= alignof(std::max_align_t)) return std::malloc(n);
  return std::aligned_alloc(align, (n + align - 1) / align * align);
}
inline void* allocate_or_throw(std::size_t n, std::size_t align) {
  if (void* p = tickflow_test_allocate(n, align)) return p;
  throw std::bad_alloc();
}
}  // namespace tickflow::test

void* operator new(std::size_t n) { return tickflow::test::allocate_or_throw(n, 0); }
void* operator new[](std::size_t n) { return tickflow::test::allocate_or_throw(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return tickflow::test::allocate_or_throw(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return tickflow::test::allocate_or_throw(n, static_cast<std::size_t>(a)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return tickflow_test_allocate(n, 0); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return tickflow_test_allocate(n, 0); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return tickflow_test_allocate(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return tickflow_test_allocate(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
