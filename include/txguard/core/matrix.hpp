#pragma once
// Row-major dense matrices of doubles. MatrixView does not own its data; Matrix does.
// Shapes are (rows, cols); element (r, c) is data[r * cols + c].
#include <cstddef>
#include <span>
#include <vector>

#include "txguard/core/check.hpp"

namespace txguard {

// Memory for large buffers (a feature matrix of a whole file): from 8 MiB on, aligned to 2 MiB
// and marked for transparent huge pages (madvise), which this kernel grants only on request.
// Measured on ComputeFeatures over the handbook's 1.75M rows (2026-12-05): with 4 KiB pages the
// first touch of the 546 MB matrix was ~30% of the single-threaded time (page faults).
void* AllocateLarge(std::size_t bytes);
void FreeLarge(void* p, std::size_t bytes) noexcept;

template <class T>
struct LargeBufferAllocator {
    using value_type = T;
    LargeBufferAllocator() = default;
    template <class U>
    LargeBufferAllocator(const LargeBufferAllocator<U>&) noexcept {}
    T* allocate(std::size_t n) { return static_cast<T*>(AllocateLarge(n * sizeof(T))); }
    void deallocate(T* p, std::size_t n) noexcept { FreeLarge(p, n * sizeof(T)); }
    friend bool operator==(const LargeBufferAllocator&, const LargeBufferAllocator&) {
        return true;
    }
};

struct MatrixView {
    const double* data = nullptr;
    std::size_t rows = 0;
    std::size_t cols = 0;

    std::span<const double> Row(std::size_t r) const {
        TXG_CHECK(r < rows);
        return {data + r * cols, cols};
    }
    double operator()(std::size_t r, std::size_t c) const { return data[r * cols + c]; }
    // Rows [begin, end) as a view.
    MatrixView Slice(std::size_t begin, std::size_t end) const {
        TXG_CHECK(begin <= end && end <= rows);
        return {data + begin * cols, end - begin, cols};
    }
};

class Matrix {
  public:
    Matrix() = default;
    Matrix(std::size_t rows, std::size_t cols, double fill = 0.0)
        : rows_(rows), cols_(cols), data_(rows * cols, fill) {}

    std::size_t rows() const { return rows_; }
    std::size_t cols() const { return cols_; }
    double* data() { return data_.data(); }
    const double* data() const { return data_.data(); }
    double& operator()(std::size_t r, std::size_t c) { return data_[r * cols_ + c]; }
    double operator()(std::size_t r, std::size_t c) const { return data_[r * cols_ + c]; }
    std::span<double> Row(std::size_t r) {
        TXG_CHECK(r < rows_);
        return {data_.data() + r * cols_, cols_};
    }
    MatrixView View() const { return {data_.data(), rows_, cols_}; }
    operator MatrixView() const { return View(); }

  private:
    std::size_t rows_ = 0;
    std::size_t cols_ = 0;
    std::vector<double, LargeBufferAllocator<double>> data_;
};

}  // namespace txguard
