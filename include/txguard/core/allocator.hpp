#pragma once
// Allocator settings for long-running services (txguard serve, txguard stream).

namespace txguard {

// Makes glibc's malloc keep freed memory instead of returning it to the kernel after each burst:
// no trimming of the heaps' tops below 256 MiB free, 16 MiB of padding when a heap grows, and
// blocks up to 32 MiB served from the heaps rather than from fresh mmaps. Profiled on the scoring
// service (2026-12-05): with glibc's defaults its threads' arenas were shrunk and grown again
// continually, and sysmalloc's page faults took 4-5% of the server's time. Safe to call more than
// once; the cost is up to 256 MiB of freed memory kept per arena. Only glibc's malloc reads these:
// the release binary runs on jemalloc (CMakeLists.txt), so this matters for builds without it (the
// sanitizer builds) and for programs embedding the library.
void TuneAllocatorForServing();

}  // namespace txguard
