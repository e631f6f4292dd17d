#pragma once
// A progress bar on stderr for long work. Silent when stderr is not a terminal unless forced, so
// logs and tests stay clean, and for short work (a known total below kMinTotal items); Add() is
// thread-safe.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace txguard {

class Progress {
  public:
    static constexpr std::uint64_t kMinTotal = 100000;
    // total = 0 means unknown (shows a running count).
    Progress(std::string label, std::uint64_t total);
    ~Progress();
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;

    void Add(std::uint64_t n);
    std::uint64_t done() const { return done_.load(std::memory_order_relaxed); }
    void Finish();

    // Global switch (CLI --quiet / --progress); default: on when stderr is a TTY.
    static void SetEnabled(bool enabled);
    static bool Enabled();

  private:
    void Draw(bool final);

    std::string label_;
    std::uint64_t total_;
    std::atomic<std::uint64_t> done_{0};
    std::atomic<std::int64_t> last_draw_ns_{0};
    std::chrono::steady_clock::time_point start_;
    bool finished_ = false;
};

}  // namespace txguard
