#pragma once
// The canonical transaction table: columnar, typed, string ids interned. Every reader (CSV, the
// simulator, later SQL and HTTP) produces it; every consumer (features, EDA, scoring) reads it.
// Optional columns are empty vectors when the source has no such field. Rows are in input order.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace txguard {

// Maps strings to dense uint32 ids in first-seen order. Get(Intern(s)) == s.
class StringPool {
  public:
    std::uint32_t Intern(std::string_view s);
    std::optional<std::uint32_t> Find(std::string_view s) const;
    std::string_view Get(std::uint32_t id) const { return strings_[id]; }
    std::size_t size() const { return strings_.size(); }
    bool empty() const { return strings_.empty(); }
    const std::vector<std::string>& strings() const { return strings_; }
    void Reserve(std::size_t n);

  private:
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const {
            return std::hash<std::string_view>{}(s);
        }
    };
    std::vector<std::string> strings_;
    std::unordered_map<std::string, std::uint32_t, Hash, std::equal_to<>> index_;
};

// Non-interned strings stored back to back (transaction ids are unique: interning buys nothing).
class StringColumn {
  public:
    void Append(std::string_view s) {
        chars_.append(s);
        offsets_.push_back(static_cast<std::uint64_t>(chars_.size()));
    }
    std::string_view Get(std::size_t i) const {
        const std::uint64_t b = i == 0 ? 0 : offsets_[i - 1];
        return std::string_view(chars_).substr(b, offsets_[i] - b);
    }
    std::size_t size() const { return offsets_.size(); }
    bool empty() const { return offsets_.empty(); }
    void Reserve(std::size_t rows, std::size_t chars) {
        offsets_.reserve(rows);
        chars_.reserve(chars);
    }
    void Clear() {
        offsets_.clear();
        chars_.clear();
    }

  private:
    std::vector<std::uint64_t> offsets_;  // end offset of each string
    std::string chars_;
};

// An interned categorical column: per-row ids into `pool`.
struct CategoricalColumn {
    std::vector<std::uint32_t> ids;
    StringPool pool;
    bool present() const { return !ids.empty() || !pool.empty(); }
};

struct TransactionTable {
    std::size_t rows = 0;

    StringColumn tx_id;                        // empty: ids are 0-based row numbers (adbench)
    std::vector<std::int64_t> ts_ms;           // epoch milliseconds, UTC; empty: no time
    CategoricalColumn customer;                // account / card id
    CategoricalColumn terminal;                // terminal / merchant id
    std::vector<double> amount;                // empty: no amount
    CategoricalColumn category;                // optional: merchant category, transaction type
    CategoricalColumn channel;                 // optional: pos / ecom / atm ...
    CategoricalColumn country;                 // optional
    std::vector<double> lat, lon;              // optional, NaN when missing
    std::vector<std::string> extra_names;      // extra numeric columns, in schema order
    std::vector<std::vector<double>> extra;    // extra[j][row]; NaN when missing
    std::vector<std::int8_t> label;            // 0 genuine, 1 fraud; empty: unlabelled
    std::vector<std::int32_t> fraud_scenario;  // optional (simulated data): 0 = genuine

    bool has_time() const { return !ts_ms.empty(); }
    bool has_customer() const { return !customer.ids.empty(); }
    bool has_terminal() const { return !terminal.ids.empty(); }
    bool has_amount() const { return !amount.empty(); }
    bool has_label() const { return !label.empty(); }

    // The transaction id of a row as text (the row number when the table has no id column).
    std::string IdOf(std::size_t row) const;
    // True when ts_ms is non-decreasing (rows in event-time order).
    bool IsTimeOrdered() const;
    // A 64-bit content hash of every column (FNV-1a based): identical tables give identical
    // fingerprints; used in model metadata to name the training data.
    std::uint64_t Fingerprint() const;
    // Checks that every present column has `rows` entries (TXG_CHECK: a bug otherwise).
    void CheckConsistent() const;
    // Rows whose indices are listed, in that order, as a new table (pools are shared copies).
    TransactionTable Select(const std::vector<std::size_t>& row_indices) const;
};

}  // namespace txguard
