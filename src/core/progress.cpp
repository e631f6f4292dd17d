#include "txguard/core/progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace txguard {
namespace {
std::atomic<int> g_enabled{-1};  // -1: decide by isatty
}

void Progress::SetEnabled(bool enabled) { g_enabled = enabled ? 1 : 0; }
bool Progress::Enabled() {
    const int e = g_enabled.load(std::memory_order_relaxed);
    if (e >= 0) return e == 1;
    // Asked once: isatty is a system call, and short work (a served request's score) constructs
    // a Progress per call.
    static const bool tty = isatty(STDERR_FILENO) != 0;
    return tty;
}

Progress::Progress(std::string label, std::uint64_t total)
    : label_(std::move(label)), total_(total), start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() { Finish(); }

void Progress::Add(std::uint64_t n) {
    done_.fetch_add(n, std::memory_order_relaxed);
    if ((total_ > 0 && total_ < kMinTotal) || !Enabled()) return;
    const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    auto last = last_draw_ns_.load(std::memory_order_relaxed);
    if (now - last < 100'000'000) return;  // redraw at most 10 times a second
    if (last_draw_ns_.compare_exchange_strong(last, now)) Draw(false);
}

void Progress::Finish() {
    if (finished_) return;
    finished_ = true;
    if (!(total_ > 0 && total_ < kMinTotal) && Enabled()) Draw(true);
}

void Progress::Draw(bool final) {
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const std::uint64_t done = done_.load(std::memory_order_relaxed);
    if (total_ > 0) {
        const double frac = done >= total_ ? 1.0 : static_cast<double>(done) / total_;
        const int width = 30;
        const int filled = static_cast<int>(frac * width);
        char bar[width + 1];
        for (int i = 0; i < width; ++i) bar[i] = i < filled ? '#' : '.';
        bar[width] = 0;
        std::fprintf(stderr, "\r%s [%s] %3d%% %llu/%llu %.1fs%s", label_.c_str(), bar,
                     static_cast<int>(frac * 100), static_cast<unsigned long long>(done),
                     static_cast<unsigned long long>(total_), secs, final ? "\n" : "");
    } else {
        std::fprintf(stderr, "\r%s %llu %.1fs%s", label_.c_str(),
                     static_cast<unsigned long long>(done), secs, final ? "\n" : "");
    }
    std::fflush(stderr);
}

}  // namespace txguard
