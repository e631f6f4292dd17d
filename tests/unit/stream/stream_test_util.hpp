#pragma once
#include <memory>
#include <string>

#include "support/redis_server.hpp"
#include "txguard/stream/redis.hpp"

namespace txguard::testing {

// One real redis-server for the whole test binary; each test uses its own key names.
inline RedisServer& SharedRedis() {
    static RedisServer* server = new RedisServer();  // stopped at exit by the environment below
    return *server;
}

inline std::unique_ptr<RedisClient> Connect() {
    auto c = RedisClient::Connect(SharedRedis().Url());
    EXPECT_TRUE(c) << c.error().ToString();
    return c ? std::move(*c) : nullptr;
}

// A stream name unique to the running test.
inline std::string TestStream(const std::string& suffix = "") {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    return std::string(info->test_suite_name()) + "." + info->name() + suffix;
}

}  // namespace txguard::testing
