#include "sim/terminal_grid.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "txguard/core/rng.hpp"

namespace txguard::sim {
namespace {

// The grid finds exactly the terminals a scan of all of them finds, in ascending order.
TEST(TerminalGridTest, MatchesABruteForceScan) {
    Rng rng(11);
    std::vector<SimTerminalProfile> terminals(3000);
    for (auto& t : terminals) t = {rng.Uniform(0, 100), rng.Uniform(0, 100)};
    terminals[0] = {0.0, 0.0};
    terminals[1] = {99.999999, 99.999999};
    for (double radius : {1e-6, 0.3, 1.0, 5.0, 7.3, 33.0, 100.0, 500.0}) {
        const TerminalGrid grid(terminals, radius);
        std::vector<std::uint32_t> got;
        for (int q = 0; q < 200; ++q) {
            const double x = q == 0 ? 0.0 : rng.Uniform(-10, 110);
            const double y = q == 0 ? 0.0 : rng.Uniform(-10, 110);
            grid.Within(x, y, radius, &got);
            std::vector<std::uint32_t> want;
            for (std::uint32_t t = 0; t < terminals.size(); ++t)
                if (InRadius(x, y, terminals[t].x, terminals[t].y, radius)) want.push_back(t);
            ASSERT_EQ(got, want) << "radius " << radius << " at (" << x << ", " << y << ")";
        }
    }
}

TEST(TerminalGridTest, NoTerminalsNoMatches) {
    const TerminalGrid grid({}, 5.0);
    std::vector<std::uint32_t> got = {7};
    grid.Within(50, 50, 5.0, &got);
    EXPECT_TRUE(got.empty());
}

}  // namespace
}  // namespace txguard::sim
