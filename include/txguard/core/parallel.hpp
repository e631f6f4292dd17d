#pragma once
// Minimal structured parallelism: split [0, n) into contiguous ranges and run them on threads.
// Deterministic partitioning (range boundaries depend only on n and the thread count), so callers
// that write to disjoint outputs get identical results whatever the scheduling.
#include <cstddef>
#include <functional>

namespace txguard {

// Number of threads to use when the user asks for `requested` (0 = all hardware threads).
unsigned ResolveThreads(unsigned requested);

// Calls fn(begin, end, chunk_index) for `chunks` contiguous ranges covering [0, n), one thread per
// chunk (the calling thread runs the first). chunks is clamped to [1, max(n, 1)].
void ParallelChunks(std::size_t n, unsigned chunks,
                    const std::function<void(std::size_t, std::size_t, unsigned)>& fn);

}  // namespace txguard
