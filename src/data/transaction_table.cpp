#include "txguard/data/transaction_table.hpp"

#include <cstring>

#include "txguard/core/check.hpp"

namespace txguard {

std::uint32_t StringPool::Intern(std::string_view s) {
    auto it = index_.find(s);
    if (it != index_.end()) return it->second;
    const auto id = static_cast<std::uint32_t>(strings_.size());
    strings_.emplace_back(s);
    index_.emplace(strings_.back(), id);
    return id;
}

std::optional<std::uint32_t> StringPool::Find(std::string_view s) const {
    auto it = index_.find(s);
    if (it == index_.end()) return std::nullopt;
    return it->second;
}

void StringPool::Reserve(std::size_t n) {
    strings_.reserve(n);
    index_.reserve(n);
}

std::string TransactionTable::IdOf(std::size_t row) const {
    if (tx_id.empty()) return std::to_string(row);
    return std::string(tx_id.Get(row));
}

bool TransactionTable::IsTimeOrdered() const {
    for (std::size_t i = 1; i < ts_ms.size(); ++i)
        if (ts_ms[i] < ts_ms[i - 1]) return false;
    return true;
}

namespace {
struct Fnv {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    void Bytes(const void* p, std::size_t n) {
        const auto* b = static_cast<const unsigned char*>(p);
        for (std::size_t i = 0; i < n; ++i) {
            h ^= b[i];
            h *= 0x100000001b3ULL;
        }
    }
    template <class T>
    void Vec(const std::vector<T>& v) {
        const std::uint64_t n = v.size();
        Bytes(&n, sizeof n);
        if (!v.empty()) Bytes(v.data(), v.size() * sizeof(T));
    }
    void Pool(const StringPool& p) {
        for (const auto& s : p.strings()) {
            Bytes(s.data(), s.size());
            Bytes("\0", 1);
        }
    }
};
}  // namespace

std::uint64_t TransactionTable::Fingerprint() const {
    Fnv f;
    const std::uint64_t n = rows;
    f.Bytes(&n, sizeof n);
    for (std::size_t i = 0; i < tx_id.size(); ++i) {
        auto s = tx_id.Get(i);
        f.Bytes(s.data(), s.size());
        f.Bytes("\0", 1);
    }
    f.Vec(ts_ms);
    for (const CategoricalColumn* c : {&customer, &terminal, &category, &channel, &country}) {
        f.Vec(c->ids);
        f.Pool(c->pool);
    }
    f.Vec(amount);
    f.Vec(lat);
    f.Vec(lon);
    for (const auto& name : extra_names) f.Bytes(name.data(), name.size());
    for (const auto& col : extra) f.Vec(col);
    f.Vec(label);
    f.Vec(fraud_scenario);
    return f.h;
}

void TransactionTable::CheckConsistent() const {
    auto ok = [&](std::size_t n) { return n == 0 || n == rows; };
    TXG_CHECK(ok(tx_id.size()));
    TXG_CHECK(ok(ts_ms.size()));
    TXG_CHECK(ok(customer.ids.size()));
    TXG_CHECK(ok(terminal.ids.size()));
    TXG_CHECK(ok(amount.size()));
    TXG_CHECK(ok(category.ids.size()));
    TXG_CHECK(ok(channel.ids.size()));
    TXG_CHECK(ok(country.ids.size()));
    TXG_CHECK(ok(lat.size()));
    TXG_CHECK(ok(lon.size()));
    TXG_CHECK(extra.size() == extra_names.size());
    for (const auto& col : extra) TXG_CHECK(col.size() == rows);
    TXG_CHECK(ok(label.size()));
    TXG_CHECK(ok(fraud_scenario.size()));
}

TransactionTable TransactionTable::Select(const std::vector<std::size_t>& idx) const {
    TransactionTable t;
    t.rows = idx.size();
    auto pick = [&](const auto& src, auto& dst) {
        if (src.empty()) return;
        dst.resize(idx.size());
        for (std::size_t i = 0; i < idx.size(); ++i) dst[i] = src[idx[i]];
    };
    if (!tx_id.empty()) {
        for (std::size_t i : idx) t.tx_id.Append(tx_id.Get(i));
    } else if (!idx.empty()) {
        // Keep the original row numbers as ids so scores still name their source rows.
        for (std::size_t i : idx) t.tx_id.Append(std::to_string(i));
    }
    pick(ts_ms, t.ts_ms);
    for (auto [src, dst] : {std::pair{&customer, &t.customer}, std::pair{&terminal, &t.terminal},
                            std::pair{&category, &t.category}, std::pair{&channel, &t.channel},
                            std::pair{&country, &t.country}}) {
        dst->pool = src->pool;
        pick(src->ids, dst->ids);
    }
    pick(amount, t.amount);
    pick(lat, t.lat);
    pick(lon, t.lon);
    t.extra_names = extra_names;
    t.extra.resize(extra.size());
    for (std::size_t j = 0; j < extra.size(); ++j) pick(extra[j], t.extra[j]);
    pick(label, t.label);
    pick(fraud_scenario, t.fraud_scenario);
    return t;
}

}  // namespace txguard
