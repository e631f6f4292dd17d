#pragma once
// Prefetch(p): starts loading the cache line at p (no fault if p is not mapped).
//
// Not __builtin_prefetch alone: GCC 12's IPA mod/ref analysis treats a function whose only effect
// is a prefetch as side-effect free and deletes the calls to it (seen on the feature engine's
// prefetch helpers: none of their prefetches reached the binary at -O2). A volatile asm is never
// deleted.

namespace txguard {

[[gnu::always_inline]] inline void Prefetch(const void* p) {
#if defined(__x86_64__) || defined(__i386__)
    asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#else
    __builtin_prefetch(p);
#endif
}

}  // namespace txguard
