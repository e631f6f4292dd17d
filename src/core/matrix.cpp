#include "txguard/core/matrix.hpp"

#include <sys/mman.h>

#include <cstdlib>
#include <new>

namespace txguard {
namespace {
constexpr std::size_t kLarge = std::size_t{8} << 20;
constexpr std::size_t kHugePage = std::size_t{2} << 20;
}  // namespace

void* AllocateLarge(std::size_t bytes) {
    if (bytes < kLarge) return ::operator new(bytes);
    const std::size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    void* p = std::aligned_alloc(kHugePage, rounded);
    if (!p) throw std::bad_alloc();
    // Advice only: where huge pages are off or unavailable this fails and nothing changes.
    (void)::madvise(p, rounded, MADV_HUGEPAGE);
    return p;
}

void FreeLarge(void* p, std::size_t bytes) noexcept {
    if (bytes < kLarge)
        ::operator delete(p);
    else
        std::free(p);
}

}  // namespace txguard
