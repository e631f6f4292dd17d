#include "txguard/core/matrix.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <utility>

namespace txguard {
namespace {

// Large matrices (a whole file's features) sit on 2 MiB boundaries, where the kernel can back
// them with huge pages; small ones come from the ordinary heap. Both behave as before.
TEST(Matrix, LargeMatricesAreHugePageAlignedAndFilled) {
    Matrix big(4096, 300, 1.5);  // 9.4 MiB
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(big.data()) % (std::uintptr_t{2} << 20), 0u);
    for (std::size_t r = 0; r < big.rows(); r += 97)
        for (std::size_t c = 0; c < big.cols(); ++c) ASSERT_EQ(big(r, c), 1.5);
    big(4095, 299) = -2.0;
    Matrix copy = big;
    EXPECT_NE(copy.data(), big.data());
    EXPECT_EQ(copy(4095, 299), -2.0);
    EXPECT_EQ(copy(0, 0), 1.5);
    Matrix moved = std::move(copy);
    EXPECT_EQ(moved(4095, 299), -2.0);

    Matrix small(3, 4);
    for (std::size_t r = 0; r < 3; ++r)
        for (std::size_t c = 0; c < 4; ++c) EXPECT_EQ(small(r, c), 0.0);
    small = std::move(big);
    EXPECT_EQ(small.rows(), 4096u);
    EXPECT_EQ(small(4095, 299), -2.0);
}

}  // namespace
}  // namespace txguard
