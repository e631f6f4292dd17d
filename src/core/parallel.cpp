#include "txguard/core/parallel.hpp"

#include <algorithm>
#include <thread>
#include <vector>

namespace txguard {

unsigned ResolveThreads(unsigned requested) {
    if (requested > 0) return requested;
    unsigned hw = std::thread::hardware_concurrency();
    return hw == 0 ? 1 : hw;
}

void ParallelChunks(std::size_t n, unsigned chunks,
                    const std::function<void(std::size_t, std::size_t, unsigned)>& fn) {
    std::size_t c = std::clamp<std::size_t>(chunks, 1, std::max<std::size_t>(n, 1));
    if (c == 1) {
        fn(0, n, 0);
        return;
    }
    std::vector<std::thread> threads;
    threads.reserve(c - 1);
    auto begin_of = [&](std::size_t i) { return n * i / c; };
    for (std::size_t i = 1; i < c; ++i) {
        threads.emplace_back(
            [&, i] { fn(begin_of(i), begin_of(i + 1), static_cast<unsigned>(i)); });
    }
    fn(begin_of(0), begin_of(1), 0);
    for (auto& t : threads) t.join();
}

}  // namespace txguard
