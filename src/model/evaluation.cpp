#include "txguard/model/evaluation.hpp"

#include "txguard/core/time.hpp"

namespace txguard {

Result<Evaluation> EvaluateModel(const ModelBundle& bundle, const TransactionTable& table,
                                 const EvalOptions& options) {
    if (!table.has_label())
        return MakeError(ErrorCode::kInvalidArgument,
                         "the data has no label column to evaluate against",
                         "map a label column in the schema");
    if (options.top_k == 0) return MakeError(ErrorCode::kInvalidArgument, "top k must be >= 1");
    Evaluation ev;
    ev.top_k = options.top_k;
    auto rows = RowsInRange(table, options.range);
    if (!rows) return std::unexpected(rows.error());
    ev.rows = std::move(*rows);
    if (options.delay_days) {
        if (*options.delay_days < 0)
            return MakeError(ErrorCode::kInvalidArgument, "--delay-days must be >= 0");
        if (!table.has_customer() || !table.has_time())
            return MakeError(ErrorCode::kInvalidArgument,
                             "removing known-compromised cards needs customer and time columns");
        std::int64_t train_from = table.ts_ms.empty() ? 0 : table.ts_ms.front();
        if (!bundle.meta.train_from.empty()) {
            auto d = ParseDate(bundle.meta.train_from);
            if (!d) return std::unexpected(d.error());
            train_from = *d;
        }
        const std::size_t before = ev.rows.size();
        ev.rows = RemoveKnownCompromised(table.ts_ms, table.customer.ids, table.label, ev.rows,
                                         train_from, *options.delay_days);
        ev.removed_known_compromised = before - ev.rows.size();
        if (ev.rows.empty())
            return MakeError(ErrorCode::kInvalidArgument,
                             "every test transaction belongs to a known-compromised card");
    }
    auto inputs = ModelInputs(bundle, table, ev.rows, options.threads);
    if (!inputs) return std::unexpected(inputs.error());
    ev.scores.resize(ev.rows.size());
    TXG_RETURN_IF_ERROR(bundle.detector->Score(*inputs, ev.scores));
    ev.inputs = std::move(*inputs);
    ev.labels.reserve(ev.rows.size());
    for (std::size_t r : ev.rows) {
        ev.labels.push_back(table.label[r]);
        ev.n_positive += table.label[r];
    }
    auto auc = RocAuc(ev.scores, ev.labels);
    if (!auc) return std::unexpected(auc.error());
    ev.roc_auc = *auc;
    auto ap = AveragePrecision(ev.scores, ev.labels);
    if (!ap) return std::unexpected(ap.error());
    ev.average_precision = *ap;
    auto at = AtThreshold(ev.scores, ev.labels, options.threshold.value_or(bundle.threshold));
    if (!at) return std::unexpected(at.error());
    ev.at_threshold = *at;
    if (table.has_customer() && table.has_time()) {
        std::vector<std::int64_t> ts(ev.rows.size());
        std::vector<std::uint32_t> cust(ev.rows.size());
        for (std::size_t i = 0; i < ev.rows.size(); ++i) {
            ts[i] = table.ts_ms[ev.rows[i]];
            cust[i] = table.customer.ids[ev.rows[i]];
        }
        auto cp = CardPrecisionAtK(ts, cust, ev.scores, ev.labels, options.top_k);
        if (!cp) return std::unexpected(cp.error());
        ev.card_precision = std::move(*cp);
    }
    return ev;
}

}  // namespace txguard
