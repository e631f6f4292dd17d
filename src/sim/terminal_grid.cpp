#include "terminal_grid.hpp"

#include <algorithm>

namespace txguard::sim {
namespace {
constexpr double kGridSize = 100.0;
constexpr int kMaxCellsPerAxis = 256;
}  // namespace

TerminalGrid::TerminalGrid(const std::vector<SimTerminalProfile>& terminals, double radius) {
    cells_ = static_cast<int>(
        std::clamp(std::floor(kGridSize / radius), 1.0, static_cast<double>(kMaxCellsPerAxis)));
    cell_size_ = kGridSize / cells_;
    const std::size_t n_cells = static_cast<std::size_t>(cells_) * cells_;
    start_.assign(n_cells + 1, 0);
    std::vector<std::uint32_t> cell_of(terminals.size());
    for (std::size_t t = 0; t < terminals.size(); ++t) {
        cell_of[t] =
            static_cast<std::uint32_t>(Cell(terminals[t].y) * cells_ + Cell(terminals[t].x));
        ++start_[cell_of[t] + 1];
    }
    for (std::size_t c = 0; c < n_cells; ++c) start_[c + 1] += start_[c];
    ids_.resize(terminals.size());
    xs_.resize(terminals.size());
    ys_.resize(terminals.size());
    std::vector<std::uint32_t> fill(start_.begin(), start_.end() - 1);
    for (std::size_t t = 0; t < terminals.size(); ++t) {
        const std::uint32_t pos = fill[cell_of[t]]++;
        ids_[pos] = static_cast<std::uint32_t>(t);
        xs_[pos] = terminals[t].x;
        ys_[pos] = terminals[t].y;
    }
}

int TerminalGrid::Cell(double v) const {
    const double c = std::floor(v / cell_size_);
    return static_cast<int>(std::clamp(c, 0.0, static_cast<double>(cells_ - 1)));
}

void TerminalGrid::Within(double x, double y, double radius,
                          std::vector<std::uint32_t>* out) const {
    out->clear();
    const int x0 = Cell(x - radius), x1 = Cell(x + radius);
    const int y0 = Cell(y - radius), y1 = Cell(y + radius);
    for (int cy = y0; cy <= y1; ++cy) {
        for (int cx = x0; cx <= x1; ++cx) {
            const std::size_t cell = static_cast<std::size_t>(cy) * cells_ + cx;
            for (std::uint32_t i = start_[cell]; i < start_[cell + 1]; ++i) {
                if (InRadius(x, y, xs_[i], ys_[i], radius)) out->push_back(ids_[i]);
            }
        }
    }
    std::sort(out->begin(), out->end());
}

}  // namespace txguard::sim
