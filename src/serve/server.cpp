#include <cstdio>
#include <thread>

#include "http_server.hpp"
#include "txguard/core/allocator.hpp"
#include "txguard/serve/service.hpp"

namespace txguard {

Result<void> RunServer(const ServeOptions& options,
                       const std::function<void(std::uint16_t port)>& on_listening) {
    TuneAllocatorForServing();
    auto service = ScoringService::Open(options);
    if (!service) return std::unexpected(service.error());
    ScoringService* svc = service->get();
    for (const auto& w : svc->Warnings()) std::fprintf(stderr, "warning: %s\n", w.c_str());

    HttpServerOptions http;
    http.port = options.port;
    http.threads =
        options.threads ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    http.max_connections = options.max_connections;
    http.max_body_bytes = options.max_body_bytes;
    http.idle_timeout_s = options.idle_timeout_s;
    if (!options.address.empty()) {
        http.address = options.address == "localhost" ? "127.0.0.1" : options.address;
        const bool loopback = http.address.starts_with("127.") || http.address == "::1";
        if (!svc->AuthConfigured() && !loopback)
            return MakeError(ErrorCode::kInvalidArgument,
                             "refusing to listen on " + http.address + " without authentication",
                             "configure bearer tokens (--tokens FILE or TXGUARD_TOKENS) or bind "
                             "127.0.0.1");
    } else {
        http.address = svc->AuthConfigured() ? "0.0.0.0" : "127.0.0.1";
    }
    if (!svc->AuthConfigured())
        std::fprintf(stderr,
                     "txguard serve: no tokens configured: listening on %s only, without "
                     "authentication\n",
                     http.address.c_str());

    HttpServer server(http, [svc](HttpRequest&& req, Responder respond) {
        svc->Handle(req.method, req.target, req.authorization, std::move(req.body),
                    [respond = std::move(respond)](ApiResponse r) { respond(std::move(r)); });
    });
    TXG_RETURN_IF_ERROR(server.Start());
    if (!svc->SnapshotSkipped().empty())
        std::fprintf(stderr, "txguard serve: warning: %s\n", svc->SnapshotSkipped().c_str());
    std::fprintf(stderr,
                 "txguard serve: model %s, store %s (%llu events replayed), listening on "
                 "http://%s:%u\n",
                 svc->ModelVersion().c_str(), options.db_url.c_str(),
                 static_cast<unsigned long long>(svc->RestoredEvents()), http.address.c_str(),
                 static_cast<unsigned>(server.Port()));
    if (on_listening) on_listening(server.Port());
    server.WaitForSignal();
    std::fprintf(stderr, "txguard serve: draining\n");
    // Close the service first so requests waiting for the store commit are answered, then let
    // the HTTP layer write those answers and close.
    std::thread closer([svc] { svc->Close(); });
    server.Stop(10000);
    closer.join();
    std::fprintf(stderr, "txguard serve: stopped, everything committed\n");
    return Ok();
}

}  // namespace txguard
