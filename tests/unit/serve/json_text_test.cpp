// The hand-written JSON text of the answers reads back as what was written.
#include "serve/json_text.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

namespace txguard {
namespace {

TEST(JsonText, StringsReadBackExactlyWhateverTheyHoldAndWhereverTheEscapesAre) {
    std::string all;  // every ASCII character, control characters and quotes included
    for (int c = 0; c < 128; ++c) all += static_cast<char>(c);
    const std::string cases[] = {"",
                                 "plain-id-123",
                                 "\"",
                                 "\\",
                                 "a\"b\\c\nd\re\tf",
                                 "\x01start",
                                 "end\x1f",
                                 all,
                                 "caf\xc3\xa9 \xe2\x82\xac"};
    for (const std::string& s : cases) {
        std::string out = "x";  // appended to, not overwritten
        AppendJsonString(out, s);
        ASSERT_EQ(out[0], 'x');
        EXPECT_EQ(nlohmann::json::parse(out.substr(1)).get<std::string>(), s) << out;
    }
    std::string out;
    AppendJsonString(out, "tab\there");
    EXPECT_EQ(out, "\"tab\\there\"");
}

TEST(JsonText, NumbersAreShortestRoundTripAndNonFiniteIsNull) {
    for (double v : {0.0, -0.0, 0.1, 1.0 / 3.0, 1e300, -2.5e-310, 123456789.125}) {
        std::string out;
        AppendJsonNumber(out, v);
        EXPECT_EQ(nlohmann::json::parse(out).get<double>(), v) << out;
    }
    std::string out;
    AppendJsonNumber(out, 0.1);
    EXPECT_EQ(out, "0.1");
    out.clear();
    AppendJsonNumber(out, std::numeric_limits<double>::quiet_NaN());
    AppendJsonNumber(out, -std::numeric_limits<double>::infinity());
    EXPECT_EQ(out, "nullnull");
}

}  // namespace
}  // namespace txguard
