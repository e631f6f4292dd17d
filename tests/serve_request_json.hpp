#pragma once
// Request bodies of the scoring API built from table rows, shared by the service unit tests and
// the integration tests against the real binary.
#include <nlohmann/json.hpp>
#include <string>

#include "txguard/core/time.hpp"
#include "txguard/data/transaction_table.hpp"

namespace txguard::testing {

// POST /v1/score body of row r (handbook-like table: id, time, customer, terminal, amount).
inline std::string TxJson(const TransactionTable& t, std::size_t r) {
    nlohmann::json j;
    j["transaction_id"] = t.tx_id.Get(r);
    j["timestamp"] = FormatTimestamp(t.ts_ms[r]);
    j["customer_id"] = t.customer.pool.Get(t.customer.ids[r]);
    j["terminal_id"] = t.terminal.pool.Get(t.terminal.ids[r]);
    j["amount"] = t.amount[r];
    return j.dump();
}

}  // namespace txguard::testing
