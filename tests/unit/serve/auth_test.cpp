#include "txguard/serve/auth.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace txguard {
namespace {

namespace fs = std::filesystem;

constexpr char kScoringToken[] = "scoring-token-0123456789";
constexpr char kAdminToken[] = "QWRtaW4tdG9rZW4tMDEyMzQ1Njc4OQ==";

class TokenFile {
  public:
    explicit TokenFile(const std::string& text,
                       fs::perms perms = fs::perms::owner_read | fs::perms::owner_write) {
        static int n = 0;
        path_ = (fs::temp_directory_path() /
                 ("txguard_auth_test_" + std::to_string(::getpid()) + "_" + std::to_string(n++)))
                    .string();
        std::ofstream(path_) << text;
        fs::permissions(path_, perms);
    }
    ~TokenFile() {
        std::error_code ec;
        fs::remove(path_, ec);
    }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

TEST(TokenSet, LoadsAFileWithCommentsAndBlankLines) {
    TokenFile f(std::string("# txguard tokens\n\n  scoring:") + kScoringToken +
                "   # the scoring client\r\nadmin : " + kAdminToken + "\n\n# end\n");
    auto set = TokenSet::FromFile(f.path());
    ASSERT_TRUE(set) << set.error().message;
    EXPECT_EQ(set->size(), 2u);
    EXPECT_FALSE(set->empty());
    EXPECT_TRUE(set->warnings().empty());
    EXPECT_EQ(set->Check(std::string("Bearer ") + kScoringToken), Role::kScoring);
    EXPECT_EQ(set->Check(std::string("Bearer ") + kAdminToken), Role::kAdmin);
}

TEST(TokenSet, ParsesEnvironmentValues) {
    auto set = TokenSet::FromEnv(std::string("scoring:") + kScoringToken +
                                 ", admin:" + kAdminToken + ",,");
    ASSERT_TRUE(set) << set.error().message;
    EXPECT_EQ(set->size(), 2u);
    EXPECT_EQ(set->Check(std::string("Bearer ") + kAdminToken), Role::kAdmin);
    auto lines = TokenSet::FromEnv(std::string("scoring:") + kScoringToken +
                                   "\nadmin:" + kAdminToken + "\n");
    ASSERT_TRUE(lines) << lines.error().message;
    EXPECT_EQ(lines->size(), 2u);
    auto none = TokenSet::FromEnv("");
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty());
    EXPECT_FALSE(none->Check(std::string("Bearer ") + kScoringToken));
}

TEST(TokenSet, ErrorsNameTheLineAndNeverQuoteTheToken) {
    const auto file_error = [](const std::string& text) {
        TokenFile f(text);
        auto set = TokenSet::FromFile(f.path());
        EXPECT_FALSE(set) << text;
        if (set) return std::string();
        EXPECT_EQ(set.error().code, ErrorCode::kInvalidArgument);
        EXPECT_EQ(set.error().message.rfind(f.path() + ":", 0), 0u) << set.error().message;
        return set.error().message.substr(f.path().size());
    };
    const std::string good = std::string("scoring:") + kScoringToken + "\n";
    EXPECT_EQ(file_error(good + "# ok\nroot:" + kAdminToken + "\n"),
              ":3: unknown role \"root\" (expected scoring or admin)");
    EXPECT_EQ(file_error(good + kAdminToken + "\n"), ":2: expected role:token");
    EXPECT_EQ(file_error(good + "admin:short-token\n"),
              ":2: the token has 11 characters (expected 16..256)");
    EXPECT_EQ(file_error(good + "admin:" + std::string(257, 'a') + "\n"),
              ":2: the token has 257 characters (expected 16..256)");
    EXPECT_EQ(file_error(good + "admin:bad-token-with space-in\n"),
              ":2: the token has a character outside [A-Za-z0-9._~+/=-] at position 15");
    EXPECT_EQ(file_error(good + "admin:bad-token-with;semicolon\n"),
              ":2: the token has a character outside [A-Za-z0-9._~+/=-] at position 15");
    EXPECT_EQ(file_error(good + "\n\nadmin:" + kScoringToken + "\n"),
              ":4: the token is repeated (first on line 1)");
    EXPECT_EQ(file_error(good + "admin:" + kAdminToken + ",scoring:x\n"),
              ":2: the token has 1 characters (expected 16..256)");

    auto env =
        TokenSet::FromEnv(std::string("scoring:") + kScoringToken + ",admin:" + kScoringToken);
    ASSERT_FALSE(env);
    EXPECT_EQ(env.error().message, "tokens entry 2: the token is repeated (first in entry 1)");
    EXPECT_EQ(env.error().message.find(kScoringToken), std::string::npos);
    env = TokenSet::FromEnv("guest:0123456789abcdefghij");
    ASSERT_FALSE(env);
    EXPECT_EQ(env.error().message,
              "tokens entry 1: unknown role \"guest\" (expected scoring or admin)");
}

TEST(TokenSet, MissingFilesAndLooseModes) {
    auto missing = TokenSet::FromFile("/nonexistent/txguard/tokens");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
    EXPECT_NE(missing.error().message.find("/nonexistent/txguard/tokens"), std::string::npos);
    auto dir = TokenSet::FromFile(fs::temp_directory_path().string());
    ASSERT_FALSE(dir);
    EXPECT_EQ(dir.error().code, ErrorCode::kIo);

    TokenFile loose(std::string("admin:") + kAdminToken + "\n",
                    fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                        fs::perms::others_read);
    auto set = TokenSet::FromFile(loose.path());
    ASSERT_TRUE(set) << set.error().message;
    ASSERT_EQ(set->warnings().size(), 1u);
    EXPECT_NE(set->warnings()[0].find("readable by group/others (mode 0644)"), std::string::npos)
        << set->warnings()[0];
    EXPECT_NE(set->warnings()[0].find(loose.path()), std::string::npos);
    EXPECT_EQ(set->warnings()[0].find(kAdminToken), std::string::npos);

    TokenFile group(std::string("admin:") + kAdminToken + "\n",
                    fs::perms::owner_read | fs::perms::group_read);
    set = TokenSet::FromFile(group.path());
    ASSERT_TRUE(set);
    EXPECT_EQ(set->warnings().size(), 1u);
}

TEST(TokenSet, ChecksAuthorizationHeaders) {
    auto set = TokenSet::FromEnv(std::string("scoring:") + kScoringToken + ",admin:" + kAdminToken);
    ASSERT_TRUE(set);
    const std::string s = kScoringToken;
    EXPECT_EQ(set->Check("Bearer " + s), Role::kScoring);
    EXPECT_EQ(set->Check("bearer " + s), Role::kScoring);
    EXPECT_EQ(set->Check("BEARER   " + s + "  "), Role::kScoring);
    EXPECT_EQ(set->Check(" Bearer\t" + s), Role::kScoring);
    for (const std::string& bad : std::vector<std::string>{
             std::string(), "Bearer", "Bearer ", s, "Basic " + s, "Bearer" + s, "Bearer " + s + "x",
             "Bearer " + s.substr(0, s.size() - 1), "Bearer " + s + " " + s, "Bearer x" + s,
             "Bearer " + std::string(kAdminToken) + "=", "Bearer " + std::string(300, 'a'),
             "Bearer " + s + std::string(1, '\0'), "Bearerr " + s, "Token " + s}) {
        EXPECT_FALSE(set->Check(bad)) << bad;
    }
    // The padding of stored tokens must not match a presented token with trailing NULs.
    std::string padded = "Bearer " + s;
    padded.append(3, '\0');
    EXPECT_FALSE(set->Check(padded));
}

TEST(TokenSet, AdminGrantsScoring) {
    EXPECT_TRUE(TokenSet::Allows(Role::kScoring, Role::kScoring));
    EXPECT_TRUE(TokenSet::Allows(Role::kAdmin, Role::kScoring));
    EXPECT_TRUE(TokenSet::Allows(Role::kAdmin, Role::kAdmin));
    EXPECT_FALSE(TokenSet::Allows(Role::kScoring, Role::kAdmin));
    EXPECT_STREQ(RoleName(Role::kAdmin), "admin");
    EXPECT_STREQ(RoleName(Role::kScoring), "scoring");
}

}  // namespace
}  // namespace txguard
