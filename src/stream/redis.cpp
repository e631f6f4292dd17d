#include "txguard/stream/redis.hpp"

#include <hiredis/hiredis.h>

#include <charconv>

namespace txguard {

namespace {

RedisReply Convert(const redisReply* r) {
    RedisReply out;
    if (!r) return out;
    switch (r->type) {
        case REDIS_REPLY_STRING:
            out.type = RedisReply::Type::kString;
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_STATUS:
            out.type = RedisReply::Type::kStatus;
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_ERROR:
            out.type = RedisReply::Type::kError;
            out.str.assign(r->str, r->len);
            break;
        case REDIS_REPLY_INTEGER:
            out.type = RedisReply::Type::kInteger;
            out.integer = r->integer;
            break;
        case REDIS_REPLY_ARRAY:
            out.type = RedisReply::Type::kArray;
            out.elements.reserve(r->elements);
            for (std::size_t i = 0; i < r->elements; ++i)
                out.elements.push_back(Convert(r->element[i]));
            break;
        default:
            break;
    }
    return out;
}

bool ParseInt(std::string_view s, int& v) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::string RedisUrl::ToString() const {
    std::string s = "redis://";
    if (!user.empty() || !password.empty()) s += user + (password.empty() ? "@" : ":***@");
    s += host + ":" + std::to_string(port);
    if (db != 0) s += "/" + std::to_string(db);
    return s;
}

Result<RedisUrl> ParseRedisUrl(std::string_view url) {
    const std::string_view scheme = "redis://";
    auto bad = [&](std::string why) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "bad Redis URL \"" + std::string(url.substr(0, 200)) + "\": " + why,
                         "expected redis://[[user]:password@]host[:port][/db]");
    };
    if (!url.starts_with(scheme)) return bad("it must start with redis://");
    std::string_view rest = url.substr(scheme.size());
    RedisUrl u;
    if (auto at = rest.rfind('@'); at != std::string_view::npos) {
        std::string_view cred = rest.substr(0, at);
        rest.remove_prefix(at + 1);
        auto colon = cred.find(':');
        if (colon == std::string_view::npos) {
            u.password = std::string(cred);
        } else {
            u.user = std::string(cred.substr(0, colon));
            u.password = std::string(cred.substr(colon + 1));
        }
    }
    std::string_view hostport = rest.substr(0, rest.find('/'));
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
        std::string_view db = rest.substr(slash + 1);
        if (!db.empty() && (!ParseInt(db, u.db) || u.db < 0)) return bad("db must be a number");
    }
    auto colon = hostport.rfind(':');
    if (colon != std::string_view::npos) {
        if (!ParseInt(hostport.substr(colon + 1), u.port) || u.port <= 0 || u.port > 65535)
            return bad("port must be 1..65535");
        hostport = hostport.substr(0, colon);
    }
    if (!hostport.empty()) u.host = std::string(hostport);
    return u;
}

struct RedisClient::Ctx {
    redisContext* c = nullptr;
    ~Ctx() {
        if (c) redisFree(c);
    }
};

RedisClient::~RedisClient() = default;

Result<std::unique_ptr<RedisClient>> RedisClient::Connect(std::string_view url_text,
                                                          int timeout_ms) {
    auto url = ParseRedisUrl(url_text);
    if (!url) return std::unexpected(url.error());
    std::unique_ptr<RedisClient> client(new RedisClient());
    client->url_ = *url;
    client->ctx_ = std::make_unique<Ctx>();
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    client->ctx_->c = timeout_ms > 0 ? redisConnectWithTimeout(url->host.c_str(), url->port, tv)
                                     : redisConnect(url->host.c_str(), url->port);
    redisContext* c = client->ctx_->c;
    if (!c || c->err)
        return MakeError(ErrorCode::kIo,
                         "cannot connect to Redis at " + url->ToString() + ": " +
                             (c ? std::string(c->errstr) : std::string("out of memory")),
                         "is redis-server running there? (scripts/setup.sh installs it)");
    if (timeout_ms > 0) redisSetTimeout(c, tv);
    if (!url->password.empty()) {
        std::vector<std::string_view> auth = {"AUTH"};
        if (!url->user.empty()) auth.push_back(url->user);
        auth.push_back(url->password);
        auto r = client->Command(auth);
        if (!r) return std::unexpected(r.error());
        if (r->IsError())
            return MakeError(ErrorCode::kIo,
                             "Redis at " + url->ToString() + " refused AUTH: " + r->str);
    }
    if (url->db != 0) {
        const std::string db = std::to_string(url->db);
        auto r = client->Command({"SELECT", db});
        if (!r) return std::unexpected(r.error());
        if (r->IsError())
            return MakeError(ErrorCode::kIo,
                             "Redis at " + url->ToString() + " refused SELECT: " + r->str);
    }
    return client;
}

void RedisClient::Append(const std::vector<std::string_view>& args) {
    argv_.clear();
    argl_.clear();
    for (auto a : args) {
        argv_.push_back(a.data());
        argl_.push_back(a.size());
    }
    redisAppendCommandArgv(ctx_->c, static_cast<int>(args.size()), argv_.data(), argl_.data());
    ++queued_;
}

Result<std::vector<RedisReply>> RedisClient::Flush() {
    std::vector<RedisReply> out;
    out.reserve(queued_);
    const std::size_t n = queued_;
    queued_ = 0;
    for (std::size_t i = 0; i < n; ++i) {
        void* raw = nullptr;
        if (redisGetReply(ctx_->c, &raw) != REDIS_OK || !raw) {
            std::string why = ctx_->c->err ? ctx_->c->errstr : "no reply";
            return MakeError(ErrorCode::kIo,
                             "Redis at " + url_.ToString() + ": connection failed: " + why);
        }
        out.push_back(Convert(static_cast<redisReply*>(raw)));
        freeReplyObject(raw);
    }
    return out;
}

Result<RedisReply> RedisClient::Command(const std::vector<std::string_view>& args) {
    Append(args);
    auto r = Flush();
    if (!r) return std::unexpected(r.error());
    return std::move(r->front());
}

Result<void> CheckRedisReplies(const std::vector<RedisReply>& replies, std::string_view what) {
    for (const auto& r : replies)
        if (r.IsError())
            return MakeError(ErrorCode::kIo, std::string(what) + ": Redis error: " + r.str);
    return Ok();
}

}  // namespace txguard
