#pragma once
// A uniform grid over the simulator's 100 x 100 map that finds the terminals within a radius of a
// point without scanning every terminal: cells about one radius wide, so a query visits the 3 x 3
// (or so) cells around the point. Build O(terminals), query O(terminals in those cells).
#include <cmath>
#include <cstdint>
#include <vector>

#include "txguard/sim/simulator.hpp"

namespace txguard::sim {

// Euclidean distance on the map, computed as the handbook does (sqrt of the summed squares).
inline double Distance(double cx, double cy, double tx, double ty) {
    const double dx = cx - tx, dy = cy - ty;
    return std::sqrt(dx * dx + dy * dy);
}

// The simulator's rule for "a terminal the customer uses": distance strictly below the radius
// (the handbook's np.where(dist < r)).
inline bool InRadius(double cx, double cy, double tx, double ty, double radius) {
    return Distance(cx, cy, tx, ty) < radius;
}

class TerminalGrid {
  public:
    TerminalGrid(const std::vector<SimTerminalProfile>& terminals, double radius);

    // Replaces *out with the terminals within `radius` of (x, y), in ascending id order.
    void Within(double x, double y, double radius, std::vector<std::uint32_t>* out) const;

  private:
    int Cell(double v) const;

    int cells_ = 1;  // per axis
    double cell_size_ = 100.0;
    std::vector<std::uint32_t> start_;  // cells_^2 + 1 offsets into the arrays below
    std::vector<std::uint32_t> ids_;    // terminal ids, by cell, ascending within a cell
    std::vector<double> xs_, ys_;       // their coordinates, same order
};

}  // namespace txguard::sim
