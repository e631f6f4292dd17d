#include "txguard/core/bytes.hpp"

#include <gtest/gtest.h>

namespace txguard {
namespace {

TEST(Bytes, ReserveFaultedInLeavesAnEmptyBufferWithTheCapacity) {
    std::string buf = "previous snapshot";
    ReserveFaultedIn(buf, 1 << 20);
    EXPECT_TRUE(buf.empty());
    EXPECT_GE(buf.capacity(), std::size_t{1} << 20);
    // Big enough already: the same memory, only cleared.
    buf.append("abc");
    const char* at = buf.data();
    ReserveFaultedIn(buf, 1000);
    EXPECT_TRUE(buf.empty());
    EXPECT_EQ(buf.data(), at);
    // A writer filling it up to the capacity does not move it.
    ReserveFaultedIn(buf, 1 << 20);
    ByteWriter w(std::move(buf));
    const char* before = w.bytes().data();
    for (int i = 0; i < (1 << 20) / 8; ++i) w.Put<std::uint64_t>(i);
    EXPECT_EQ(w.bytes().data(), before);
    EXPECT_EQ(w.bytes().size(), std::size_t{1} << 20);
}

}  // namespace
}  // namespace txguard
