/// @file
/// tickflow/core/huge_alloc.hpp — an allocator that asks for transparent huge pages for big arrays.
///
/// Contract
///   * huge_page_allocator<T> is a standard allocator. A request of at least huge_page_bytes
///     (2 MiB) is served 2 MiB-aligned, rounded up to whole 2 MiB, and on Linux advised with
///     madvise(MADV_HUGEPAGE), so that the kernel may back it with huge pages when transparent
///     huge pages are in "madvise" or "always" mode. Smaller requests go to operator new.
///   * Why: batch kernels sweep arrays of hundreds of MiB; with 4 KiB pages every 4 KiB of a
///     sweep, and every random access, costs a TLB miss (docs/decisions.md has the measurements).
///   * The advice is only advice: where it is refused or unsupported the memory is ordinary, and
///     nothing else changes. Allocation failure throws std::bad_alloc.
///   * Stateless: all instances compare equal.
///
/// Thread-safety: as operator new.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>

#if defined(__linux__)
#  include <sys/mman.h>
#endif

namespace tickflow {

/// The huge page size this allocator aligns to (2 MiB, x86-64 and AArch64 with 4 KiB base pages).
inline constexpr std::size_t huge_page_bytes = std::size_t{2} << 20;

/// An allocator that gives blocks of 2 MiB or more aligned to 2 MiB and advised as transparent huge pages, and smaller ones from operator new.
template <class T>
struct huge_page_allocator {
  /// The allocated type.
  using value_type = T;

  huge_page_allocator() noexcept = default;
  /// Rebinding copy: the allocator has no state.
  template <class U>
  constexpr huge_page_allocator(const huge_page_allocator<U>&) noexcept {}  // NOLINT(google-explicit-constructor)

  /// Room for `n` objects (std::bad_alloc on failure or overflow).
  [[nodiscard]] T* allocate(std::size_t n) {
    if (n > SIZE_MAX / sizeof(T)) throw std::bad_alloc();
    const std::size_t bytes = n * sizeof(T);
    if (bytes < huge_page_bytes) return static_cast<T*>(::operator new(bytes, std::align_val_t{alignof(T)}));
    const std::size_t rounded = (bytes + huge_page_bytes - 1) / huge_page_bytes * huge_page_bytes;
    void* p = ::operator new(rounded, std::align_val_t{huge_page_bytes});
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    (void)::madvise(p, rounded, MADV_HUGEPAGE);
#endif
    return static_cast<T*>(p);
  }

  /// Gives back what allocate(n) returned.
  void deallocate(T* p, std::size_t n) noexcept {
    const std::size_t bytes = n * sizeof(T);
    if (bytes < huge_page_bytes) {
      ::operator delete(p, std::align_val_t{alignof(T)});
      return;
    }
    ::operator delete(p, std::align_val_t{huge_page_bytes});
  }

  /// Every huge_page_allocator equals every other (no state).
  template <class U>
  friend constexpr bool operator==(const huge_page_allocator&, const huge_page_allocator<U>&) noexcept {
    return true;
  }
};

}  // namespace tickflow
