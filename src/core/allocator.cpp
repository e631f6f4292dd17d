#include "txguard/core/allocator.hpp"

#include <malloc.h>

namespace txguard {

void TuneAllocatorForServing() {
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    mallopt(M_TOP_PAD, 16 << 20);
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
}

}  // namespace txguard
