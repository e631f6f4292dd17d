#pragma once
// A small synchronous Redis client over hiredis (Debian libhiredis-dev): one connection, one
// command or a pipeline of commands at a time. Replies are copied into RedisReply trees, so they
// outlive the connection's buffers. Used by the Redis Streams transport and `txguard replay`.
//
// URL: redis://[[user]:password@]host[:port][/db] (default port 6379, db 0).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "txguard/core/result.hpp"

namespace txguard {

struct RedisReply {
    enum class Type { kNil, kString, kStatus, kInteger, kArray, kError };
    Type type = Type::kNil;
    std::string str;  // string, status or error text
    long long integer = 0;
    std::vector<RedisReply> elements;

    bool IsError() const { return type == Type::kError; }
    bool IsNil() const { return type == Type::kNil; }
};

struct RedisUrl {
    std::string host = "127.0.0.1";
    int port = 6379;
    int db = 0;
    std::string user;
    std::string password;
    std::string ToString() const;  // password masked
};
Result<RedisUrl> ParseRedisUrl(std::string_view url);

class RedisClient {
  public:
    // Connects (and AUTH / SELECT as the URL asks). `timeout_ms` bounds connect and every reply
    // wait (0 = none: a blocking XREADGROUP must then carry its own BLOCK bound).
    static Result<std::unique_ptr<RedisClient>> Connect(std::string_view url,
                                                        int timeout_ms = 5000);
    ~RedisClient();
    RedisClient(const RedisClient&) = delete;
    RedisClient& operator=(const RedisClient&) = delete;

    // One command. A Redis error reply is returned as a reply of type kError (not a failure);
    // failures are connection or protocol errors.
    Result<RedisReply> Command(const std::vector<std::string_view>& args);
    // Pipelining: Append queues commands, Flush sends them all and returns their replies in order.
    void Append(const std::vector<std::string_view>& args);
    Result<std::vector<RedisReply>> Flush();
    std::size_t Queued() const { return queued_; }

    const RedisUrl& url() const { return url_; }

  private:
    RedisClient() = default;
    struct Ctx;
    std::unique_ptr<Ctx> ctx_;
    RedisUrl url_;
    std::size_t queued_ = 0;
    std::vector<const char*> argv_;
    std::vector<std::size_t> argl_;
};

// The first error reply among `replies` as an error naming `what`, else Ok.
Result<void> CheckRedisReplies(const std::vector<RedisReply>& replies, std::string_view what);

}  // namespace txguard
