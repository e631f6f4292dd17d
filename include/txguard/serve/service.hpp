#pragma once
// The scoring service: the model, the live feature engine, the store and the API routes, without
// the network (the HTTP server in server.hpp feeds it requests; tests call Handle directly).
//
// Every scoring request runs, under one lock and in arrival order: idempotency check, sequence
// number, feature engine update, model score, decision and reasons, then the record is queued for
// the store's group commit. The reply is sent once that commit is done, so a client never gets a
// score for a transaction the store does not hold (see docs/http-api.md, "Durability").
// After a restart the engine is rebuilt from the latest snapshot plus a replay of the stored
// events after it, through the same code path as live requests, so scores continue exactly.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "txguard/core/result.hpp"
#include "txguard/serve/request.hpp"
#include "txguard/store/store.hpp"

namespace txguard {

struct ServeOptions {
    std::string model_path;
    std::string db_url = "sqlite://txguard.db";
    std::string address;  // empty: 0.0.0.0 with tokens configured, 127.0.0.1 without
    std::uint16_t port = 8080;
    unsigned threads = 0;                    // HTTP I/O threads; 0 = cores
    std::size_t max_connections = 4096;      // beyond: 503 and close
    std::size_t max_body_bytes = 16u << 20;  // beyond: 413
    std::size_t max_inflight = 65536;        // records scored but not yet committed; beyond: 503
    int idle_timeout_s = 60;
    std::optional<double> review_threshold;  // default: the model's alert threshold
    std::optional<double> block_threshold;   // default: the model's block threshold
    std::size_t reasons = 3;                 // top features per decision
    bool reasons_for_all = false;            // false: reasons for review/block decisions only
    std::uint64_t snapshot_every = 1000000;  // events between engine snapshots (0 = only at exit)
    std::size_t max_ids_in_memory =
        5000000;              // idempotency index; older ids are looked up in the store
    std::string tokens_file;  // "role:token" lines
    std::string tokens_env;   // the same, comma separated (TXGUARD_TOKENS)
    RequestLimits limits;
    StoreWriterOptions writer;
};

struct ApiResponse {
    int status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
};

class ScoringService {
  public:
    using Reply = std::function<void(ApiResponse)>;

    // Loads the model, opens the store, restores the state. Errors name what failed.
    static Result<std::unique_ptr<ScoringService>> Open(const ServeOptions& options);
    ~ScoringService();

    // Routes one request; `reply` is called exactly once, possibly later and on another thread
    // (after the store commit). `target` is the request target (path and query).
    void Handle(std::string_view method, std::string_view target, std::string_view authorization,
                std::string body, const Reply& reply);

    // Stops accepting scoring requests (503), commits everything queued, answers every waiting
    // request, writes a final snapshot. Idempotent.
    void Close();

    bool AuthConfigured() const;
    std::vector<std::string> Warnings() const;
    std::string ModelVersion() const;
    std::uint64_t RestoredEvents() const;  // events replayed at Open
    // Why the stored snapshot could not be used at Open (every event was replayed instead), or "".
    const std::string& SnapshotSkipped() const;

    struct Impl;

  private:
    explicit ScoringService(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Runs the HTTP server until SIGINT/SIGTERM, then drains (finishes in-flight requests, commits,
// snapshots) and returns. `on_listening` gets the bound port (useful with port 0).
Result<void> RunServer(const ServeOptions& options,
                       const std::function<void(std::uint16_t port)>& on_listening = {});

}  // namespace txguard
