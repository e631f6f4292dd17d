#pragma once
// A small HTTP/1.1 server on Boost.Asio/Beast: N event loops, one thread each, connections spread
// over them (no per-connection thread, so keep-alive connections are not capped by a pool; a
// connection's handlers all run on its loop's thread), TCP_NODELAY, bounded request bodies (413)
// and a connection limit (503 + Retry-After, then close).
// Handlers answer asynchronously: the Responder may be called later from any thread.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "txguard/core/result.hpp"
#include "txguard/serve/service.hpp"

namespace txguard {

struct HttpRequest {
    std::string method;
    std::string target;
    std::string authorization;
    std::string body;
};

using Responder = std::function<void(ApiResponse)>;
using HttpHandler = std::function<void(HttpRequest&&, Responder)>;

struct HttpServerOptions {
    std::string address = "127.0.0.1";
    std::uint16_t port = 8080;
    unsigned threads = 2;
    std::size_t max_connections = 4096;
    std::size_t max_body_bytes = 16u << 20;
    int idle_timeout_s = 60;
};

class HttpServer {
  public:
    HttpServer(HttpServerOptions options, HttpHandler handler);
    ~HttpServer();
    // Binds and starts the I/O threads. Errors name the address and port.
    Result<void> Start();
    std::uint16_t Port() const;
    // Blocks until SIGINT or SIGTERM arrives (or Stop is called from elsewhere).
    void WaitForSignal();
    // Stops accepting, waits up to `grace_ms` for requests in flight to be answered, then closes
    // every connection and joins the threads. Idempotent.
    void Stop(int grace_ms = 10000);
    std::size_t ActiveConnections() const;
    std::uint64_t RejectedConnections() const;

    struct Impl;

  private:
    std::unique_ptr<Impl> impl_;
};

}  // namespace txguard
