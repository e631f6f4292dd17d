#include "http_server.hpp"

#include <array>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

namespace txguard {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// One io_context per I/O thread, each connection owned by one of them: a connection's handlers
// all run on its context's single thread, so no strand is needed (strand dispatch and the
// type-erased strand executor's copies cost ~16 allocations a request; profiled 2026-12-05).
struct HttpServer::Impl {
    HttpServerOptions options;
    HttpHandler handler;
    std::vector<std::unique_ptr<net::io_context>> iocs;
    std::vector<net::executor_work_guard<net::io_context::executor_type>> work;
    std::size_t next_ioc = 0;  // round-robin owner of the next connection (acceptor's thread)
    std::optional<tcp::acceptor> acceptor;
    std::vector<std::thread> threads;
    std::atomic<std::size_t> connections{0};
    std::atomic<std::uint64_t> rejected{0};
    std::atomic<std::size_t> in_flight{0};  // requests read and not yet answered
    std::atomic<bool> stopping{false};
    bool stopped = false;
    std::mutex stop_mu;
    net::io_context signal_ioc;
    std::uint16_t port = 0;

    void Accept();
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
  public:
    Session(tcp::socket&& socket, HttpServer::Impl* server)
        : stream_(std::move(socket)), server_(server) {
        server_->connections.fetch_add(1, std::memory_order_relaxed);
    }
    ~Session() { server_->connections.fetch_sub(1, std::memory_order_relaxed); }

    void Run() {
        net::dispatch(stream_.get_executor(),
                      beast::bind_front_handler(&Session::Read, shared_from_this()));
    }

    // Over the connection limit: answer 503 at once and close.
    void Reject() {
        net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
            self->keep_alive_ = false;
            ApiResponse r;
            r.status = 503;
            r.body = R"({"error":"too many connections","retry_after_s":1})";
            r.headers.emplace_back("Retry-After", "1");
            self->Write(std::move(r), /*counted=*/false);
        });
    }

  private:
    void Read() {
        if (server_->stopping.load()) return Close();
        parser_.emplace();
        parser_->body_limit(server_->options.max_body_bytes);
        parser_->header_limit(64 * 1024);
        stream_.expires_after(std::chrono::seconds(server_->options.idle_timeout_s));
        http::async_read(stream_, buffer_, *parser_,
                         beast::bind_front_handler(&Session::OnRead, shared_from_this()));
    }

    void OnRead(beast::error_code ec, std::size_t) {
        if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
            ec == net::error::operation_aborted || ec == net::error::connection_reset ||
            ec == net::error::eof)
            return Close();
        if (ec) {
            keep_alive_ = false;
            ApiResponse r;
            if (ec == http::error::body_limit) {
                r.status = 413;
                r.body = R"({"error":"request body larger than )" +
                         std::to_string(server_->options.max_body_bytes) + R"( bytes","field":""})";
            } else if (ec.category() == http::make_error_code(http::error::bad_target).category() ||
                       ec == http::error::header_limit) {
                r.status = ec == http::error::header_limit ? 431 : 400;
                r.body =
                    R"({"error":"malformed HTTP request: )" + ec.message() + R"(","field":""})";
            } else {
                return Close();
            }
            return Write(std::move(r), /*counted=*/false);
        }
        auto& req = parser_->get();
        keep_alive_ = req.keep_alive();
        HttpRequest request;
        request.method = std::string(req.method_string());
        request.target = std::string(req.target());
        if (auto it = req.find(http::field::authorization); it != req.end())
            request.authorization = std::string(it->value());
        request.body = std::move(req.body());
        server_->in_flight.fetch_add(1);
        // No read timeout while the handler works (the answer may wait for a commit).
        stream_.expires_never();
        server_->handler(std::move(request), [self = shared_from_this()](ApiResponse r) {
            net::post(self->stream_.get_executor(),
                      [self, r = std::move(r)]() mutable { self->Write(std::move(r), true); });
        });
    }

    // The answer as one gathered write: a status line and headers formatted here (Beast's
    // serializer cost ~19k instructions an answer, as much as scoring; profiled 2026-12-05), then
    // the body as it is.
    void Write(ApiResponse r, bool counted) {
        const bool keep_alive = keep_alive_ && !server_->stopping.load();
        head_.clear();
        head_ += "HTTP/1.1 ";
        head_ += std::to_string(r.status);
        head_ += ' ';
        const auto reason = http::obsolete_reason(static_cast<http::status>(r.status));
        head_.append(reason.data(), reason.size());
        head_ += "\r\nServer: txguard\r\nContent-Type: ";
        head_ += r.content_type;
        head_ += "\r\nContent-Length: ";
        head_ += std::to_string(r.body.size());
        head_ += "\r\n";
        for (const auto& [k, v] : r.headers) {
            head_ += k;
            head_ += ": ";
            head_ += v;
            head_ += "\r\n";
        }
        if (!keep_alive) head_ += "Connection: close\r\n";
        head_ += "\r\n";
        body_ = std::move(r.body);
        stream_.expires_after(std::chrono::seconds(30));
        const std::array<net::const_buffer, 2> buffers = {net::buffer(head_), net::buffer(body_)};
        net::async_write(
            stream_, buffers,
            [self = shared_from_this(), counted, keep_alive](beast::error_code ec, std::size_t) {
                if (counted) self->server_->in_flight.fetch_sub(1);
                if (ec || !keep_alive) return self->Close();
                self->Read();
            });
    }

    void Close() {
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        stream_.close();
    }

    beast::tcp_stream stream_;
    HttpServer::Impl* server_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    std::string head_;  // the answer being written: status line and headers,
    std::string body_;  // and its body
    bool keep_alive_ = true;
};

}  // namespace

void HttpServer::Impl::Accept() {
    net::io_context& owner = *iocs[next_ioc];
    next_ioc = (next_ioc + 1) % iocs.size();
    acceptor->async_accept(owner, [this](beast::error_code ec, tcp::socket socket) {
        if (ec) {
            if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
            // Out of descriptors and the like: keep accepting after a short pause.
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
            return Accept();
        }
        beast::error_code opt_ec;
        socket.set_option(tcp::no_delay(true), opt_ec);
        auto session = std::make_shared<Session>(std::move(socket), this);
        if (connections.load(std::memory_order_relaxed) > options.max_connections ||
            stopping.load()) {
            rejected.fetch_add(1, std::memory_order_relaxed);
            session->Reject();
        } else {
            session->Run();
        }
        Accept();
    });
}

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler)
    : impl_(std::make_unique<Impl>()) {
    impl_->options = std::move(options);
    impl_->handler = std::move(handler);
}

HttpServer::~HttpServer() { Stop(0); }

Result<void> HttpServer::Start() {
    auto& s = *impl_;
    const std::string where = s.options.address + ":" + std::to_string(s.options.port);
    beast::error_code ec;
    const auto address = net::ip::make_address(s.options.address, ec);
    if (ec)
        return MakeError(ErrorCode::kInvalidArgument,
                         "bad listen address '" + s.options.address + "': " + ec.message());
    tcp::endpoint endpoint(address, s.options.port);
    const unsigned n = std::max(1u, s.options.threads);
    for (unsigned i = 0; i < n; ++i) {
        s.iocs.push_back(std::make_unique<net::io_context>(1));
        s.work.push_back(net::make_work_guard(*s.iocs.back()));
    }
    s.acceptor.emplace(*s.iocs[0]);
    if (s.acceptor->open(endpoint.protocol(), ec); ec)
        return MakeError(ErrorCode::kIo, "cannot open a socket for " + where + ": " + ec.message());
    s.acceptor->set_option(net::socket_base::reuse_address(true), ec);
    if (s.acceptor->bind(endpoint, ec); ec)
        return MakeError(ErrorCode::kIo, "cannot listen on " + where + ": " + ec.message(),
                         "is another server using the port? choose one with --port");
    if (s.acceptor->listen(net::socket_base::max_listen_connections, ec); ec)
        return MakeError(ErrorCode::kIo, "cannot listen on " + where + ": " + ec.message());
    s.port = s.acceptor->local_endpoint().port();
    s.Accept();
    for (auto& ioc : s.iocs) s.threads.emplace_back([ctx = ioc.get()] { ctx->run(); });
    return Ok();
}

std::uint16_t HttpServer::Port() const { return impl_->port; }
std::size_t HttpServer::ActiveConnections() const { return impl_->connections.load(); }
std::uint64_t HttpServer::RejectedConnections() const { return impl_->rejected.load(); }

void HttpServer::WaitForSignal() {
    net::signal_set signals(impl_->signal_ioc, SIGINT, SIGTERM);
    signals.async_wait([](beast::error_code, int) {});
    impl_->signal_ioc.run();
}

void HttpServer::Stop(int grace_ms) {
    auto& s = *impl_;
    std::lock_guard lock(s.stop_mu);
    if (s.stopped) return;
    s.stopped = true;
    s.stopping.store(true);
    s.signal_ioc.stop();
    if (s.acceptor) {
        net::post(*s.iocs[0], [&s] {
            beast::error_code ec;
            s.acceptor->close(ec);
        });
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(grace_ms);
    while (s.in_flight.load() > 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    s.work.clear();
    for (auto& ioc : s.iocs) ioc->stop();
    for (auto& t : s.threads) t.join();
    s.threads.clear();
}

}  // namespace txguard
