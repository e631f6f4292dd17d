#include "openapi.hpp"

#include <nlohmann/json.hpp>

namespace txguard {

namespace {

using nlohmann::json;

json Ref(const std::string& name) { return {{"$ref", "#/components/schemas/" + name}}; }

json JsonBody(const json& schema) {
    return {{"required", true}, {"content", {{"application/json", {{"schema", schema}}}}}};
}

json Answer(const std::string& description, const json& schema) {
    return {{"description", description},
            {"content", {{"application/json", {{"schema", schema}}}}}};
}

json Errors(std::initializer_list<int> codes) {
    json out = json::object();
    for (int c : codes) {
        std::string d;
        switch (c) {
            case 400:
                d = "Malformed body or a bad field (named in `field`)";
                break;
            case 401:
                d = "Missing or invalid bearer token";
                break;
            case 403:
                d = "The token's role may not use this route";
                break;
            case 404:
                d = "Not found";
                break;
            case 409:
                d = "Conflict (e.g. a label for a transaction still being stored)";
                break;
            case 413:
                d = "Body larger than the server's limit";
                break;
            case 422:
                d = "Refused (e.g. a model bundle that does not load)";
                break;
            case 503:
                d = "Overloaded or shutting down; retry after the Retry-After header";
                break;
            default:
                d = "Error";
        }
        out[std::to_string(c)] = Answer(d, Ref("Error"));
    }
    return out;
}

}  // namespace

std::string OpenApiDocument(const std::vector<std::string>& required_fields,
                            const std::vector<std::string>& extra_columns,
                            std::string_view txguard_version) {
    json tx = {
        {"type", "object"},
        {"additionalProperties", false},
        {"required", required_fields},
        {"properties",
         {{"transaction_id",
           {{"type", "string"}, {"maxLength", 128}, {"description", "Idempotency key"}}},
          {"timestamp",
           {{"oneOf", json::array({{{"type", "string"}, {"format", "date-time"}},
                                   {{"type", "number"}, {"description", "epoch seconds"}}})}}},
          {"customer_id", {{"type", "string"}}},
          {"terminal_id", {{"type", "string"}}},
          {"merchant_id", {{"type", "string"}, {"description", "alias of terminal_id"}}},
          {"amount", {{"type", "number"}}},
          {"category", {{"type", "string"}}},
          {"channel", {{"type", "string"}}},
          {"country", {{"type", "string"}}},
          {"lat", {{"type", "number"}}},
          {"lon", {{"type", "number"}}}}}};
    for (const auto& e : extra_columns) tx["properties"][e] = {{"type", "number"}};
    json reason = {{"type", "object"},
                   {"properties",
                    {{"feature", {{"type", "string"}}},
                     {"value", {{"type", "number"}}},
                     {"contribution", {{"type", "number"}}}}}};
    json score = {
        {"type", "object"},
        {"required", {"transaction_id", "score", "decision", "reasons", "model_version"}},
        {"properties",
         {{"transaction_id", {{"type", "string"}}},
          {"score", {{"type", "number"}}},
          {"decision", {{"type", "string"}, {"enum", {"allow", "review", "block"}}}},
          {"reasons", {{"type", "array"}, {"items", Ref("Reason")}}},
          {"model_version", {{"type", "string"}}},
          {"latency_us",
           {{"type", "integer"}, {"description", "single requests only (batches: per batch)"}}}}}};
    json label = {
        {"type", "object"},
        {"additionalProperties", false},
        {"required", {"transaction_id", "label"}},
        {"properties",
         {{"transaction_id", {{"type", "string"}}},
          {"label",
           {{"oneOf", json::array({{{"type", "integer"}, {"enum", {0, 1}}},
                                   {{"type", "boolean"}},
                                   {{"type", "string"}, {"enum", {"fraud", "genuine"}}}})}}},
          {"known_at", {{"type", "string"}, {"format", "date-time"}}}}}};
    json error = {
        {"type", "object"},
        {"properties",
         {{"error", {{"type", "string"}}},
          {"field", {{"type", "string"}, {"description", "JSON path of the bad field"}}}}}};
    json doc = {{"openapi", "3.0.3"},
                {"info",
                 {{"title", "txguard scoring API"},
                  {"version", std::string(txguard_version)},
                  {"description",
                   "Real-time fraud scoring with per-customer state. See docs/http-api.md."}}},
                {"components",
                 {{"securitySchemes", {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}}}},
                  {"schemas",
                   {{"Transaction", tx},
                    {"Reason", reason},
                    {"Score", score},
                    {"Label", label},
                    {"Error", error}}}}},
                {"security", json::array({{{"bearer", json::array()}}})},
                {"paths", json::object()}};
    auto& p = doc["paths"];
    p["/v1/score"]["post"] = {{"summary", "Score one transaction (idempotent on transaction_id)"},
                              {"requestBody", JsonBody(Ref("Transaction"))},
                              {"responses", Errors({400, 401, 403, 413, 422, 503})}};
    p["/v1/score"]["post"]["responses"]["200"] = Answer("The score, stored", Ref("Score"));
    p["/v1/score/batch"]["post"] = {
        {"summary", "Score transactions in order"},
        {"requestBody",
         JsonBody({{"type", "object"},
                   {"properties",
                    {{"transactions", {{"type", "array"}, {"items", Ref("Transaction")}}}}}})},
        {"responses", Errors({400, 401, 403, 413, 503})}};
    p["/v1/score/batch"]["post"]["responses"]["200"] =
        Answer("One result per transaction, in order",
               {{"type", "object"},
                {"properties",
                 {{"results", {{"type", "array"}, {"items", Ref("Score")}}},
                  {"model_version", {{"type", "string"}}},
                  {"latency_us", {{"type", "integer"}}}}}});
    p["/v1/labels"]["post"] = {
        {"summary", "Confirmed labels: feed the delayed-label features, stored for retraining"},
        {"requestBody",
         JsonBody(
             {{"oneOf",
               json::array({Ref("Label"),
                            {{"type", "object"},
                             {"properties",
                              {{"labels", {{"type", "array"}, {"items", Ref("Label")}}}}}}})}})},
        {"responses", Errors({400, 401, 403, 404, 409, 503})}};
    p["/v1/labels"]["post"]["responses"]["200"] = Answer(
        "Accepted", {{"type", "object"}, {"properties", {{"accepted", {{"type", "integer"}}}}}});
    p["/v1/alerts"]["get"] = {
        {"summary", "Transactions decided review or block, by time"},
        {"parameters",
         json::array(
             {{{"name", "since"},
               {"in", "query"},
               {"schema", {{"type", "string"}}},
               {"description", "ISO-8601 time or epoch seconds (transaction time, inclusive)"}},
              {{"name", "limit"},
               {"in", "query"},
               {"schema", {{"type", "integer"}, {"minimum", 1}, {"maximum", 10000}}}}})},
        {"responses", Errors({400, 401, 403})}};
    p["/v1/alerts"]["get"]["responses"]["200"] = {{"description", "Alerts"}};
    p["/v1/transactions/{id}"]["get"] = {
        {"summary", "A stored transaction with its score, decision, reasons and label"},
        {"parameters", json::array({{{"name", "id"},
                                     {"in", "path"},
                                     {"required", true},
                                     {"schema", {{"type", "string"}}}}})},
        {"responses", Errors({401, 403, 404})}};
    p["/v1/transactions/{id}"]["get"]["responses"]["200"] = {{"description", "The transaction"}};
    p["/v1/admin/reload"]["post"] = {
        {"summary", "Swap in a new model bundle atomically (admin token)"},
        {"requestBody",
         {{"required", false},
          {"content",
           {{"application/json",
             {{"schema",
               {{"type", "object"}, {"properties", {{"model", {{"type", "string"}}}}}}}}}}}}},
        {"responses", Errors({400, 401, 403, 422})}};
    p["/v1/admin/reload"]["post"]["responses"]["200"] = {{"description", "Reloaded"}};
    for (const char* path : {"/healthz", "/readyz"})
        p[path]["get"] = {{"summary", std::string(path) == "/healthz" ? "Liveness" : "Readiness"},
                          {"security", json::array()},
                          {"responses", {{"200", {{"description", "OK"}}}}}};
    p["/readyz"]["get"]["responses"]["503"] = Answer("Not ready", Ref("Error"));
    p["/metrics"]["get"] = {{"summary", "Prometheus metrics (text format 0.0.4)"},
                            {"security", json::array()},
                            {"responses", {{"200", {{"description", "Metrics"}}}}}};
    p["/openapi.json"]["get"] = {{"summary", "This document"},
                                 {"security", json::array()},
                                 {"responses", {{"200", {{"description", "OpenAPI 3.0"}}}}}};
    return doc.dump(2);
}

}  // namespace txguard
