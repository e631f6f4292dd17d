#include "txguard/core/time.hpp"

#include <gtest/gtest.h>

namespace txguard {
namespace {

TEST(Time, IsoVariants) {
    const std::int64_t base = 1522540800000;  // 2018-04-01 00:00:00 UTC
    EXPECT_EQ(*ParseTimestamp("2018-04-01"), base);
    EXPECT_EQ(*ParseTimestamp("2018-04-01 00:00:31"), base + 31000);
    EXPECT_EQ(*ParseTimestamp("2018-04-01T00:00:31"), base + 31000);
    EXPECT_EQ(*ParseTimestamp("2018-04-01T00:00:31Z"), base + 31000);
    EXPECT_EQ(*ParseTimestamp("2018-04-01T02:00:31+02:00"), base + 31000);
    EXPECT_EQ(*ParseTimestamp("2018-03-31T19:00:31-0500"), base + 31000);
    EXPECT_EQ(*ParseTimestamp("2018-04-01 00:00:31.250"), base + 31250);
    EXPECT_EQ(*ParseTimestamp("2018-04-01 00:01"), base + 60000);
}

TEST(Time, Epochs) {
    EXPECT_EQ(*ParseTimestamp("1522540831"), 1522540831000);
    EXPECT_EQ(*ParseTimestamp("1522540831.5"), 1522540831500);
    EXPECT_EQ(*ParseTimestamp("1522540831000"), 1522540831000);  // auto: milliseconds
    EXPECT_EQ(*ParseTimestamp("1522540831000", TimeFormat::kEpochMillis), 1522540831000);
    EXPECT_EQ(*ParseTimestamp("12", TimeFormat::kEpochSeconds), 12000);
}

TEST(Time, BadTimestampsAreErrors) {
    for (const char* bad : {"", "2018-13-01", "2018-02-30", "2018-04-01 25:00:00", "yesterday",
                            "2018-04-01X", "2018-04-01 00:00:00+", "nan", "1e400"}) {
        auto r = ParseTimestamp(bad);
        EXPECT_FALSE(r) << bad;
        if (!r) {
            EXPECT_EQ(r.error().code, ErrorCode::kParse);
        }
    }
    EXPECT_FALSE(ParseDate("2018-4-1"));
}

TEST(Time, FormatRoundTrip) {
    for (std::int64_t ts : {0LL, 1522540831000LL, 951782400000LL /* 2000-02-29 */, -86400000LL}) {
        EXPECT_EQ(*ParseTimestamp(FormatTimestamp(ts)), ts);
    }
    EXPECT_EQ(FormatTimestamp(1522540831000), "2018-04-01 00:00:31");
    EXPECT_EQ(FormatDate(1522540831000), "2018-04-01");
}

TEST(Time, CalendarHelpers) {
    const std::int64_t sunday = *ParseTimestamp("2018-04-01 07:30:00");
    EXPECT_EQ(DayOfWeek(sunday), 6);
    EXPECT_EQ(HourOfDay(sunday), 7);
    EXPECT_EQ(DayOfWeek(*ParseTimestamp("2018-04-02 00:00:00")), 0);
    EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
    int y;
    unsigned m, d;
    CivilFromDays(DaysFromCivil(2024, 2, 29), &y, &m, &d);
    EXPECT_EQ(y, 2024);
    EXPECT_EQ(m, 2u);
    EXPECT_EQ(d, 29u);
}

}  // namespace
}  // namespace txguard
