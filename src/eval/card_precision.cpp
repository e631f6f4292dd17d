#include "txguard/eval/card_precision.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "txguard/core/time.hpp"

namespace txguard {

Result<CardPrecisionResult> CardPrecisionAtK(std::span<const std::int64_t> ts_ms,
                                             std::span<const std::uint32_t> customer,
                                             std::span<const double> scores,
                                             std::span<const std::int8_t> labels, std::size_t k) {
    const std::size_t n = ts_ms.size();
    if (customer.size() != n || scores.size() != n || labels.size() != n)
        return MakeError(ErrorCode::kInvalidArgument, "card precision: column sizes differ");
    if (k == 0) return MakeError(ErrorCode::kInvalidArgument, "card precision: k must be >= 1");
    // Per day, per customer: max score and max label.
    struct Card {
        double score = -INFINITY;
        std::int8_t label = 0;
    };
    std::map<std::int64_t, std::unordered_map<std::uint32_t, Card>> days;
    for (std::size_t i = 0; i < n; ++i) {
        if (std::isnan(scores[i]))
            return MakeError(ErrorCode::kInvalidArgument,
                             "card precision: score of row " + std::to_string(i) + " is NaN");
        Card& c = days[DayIndex(ts_ms[i])][customer[i]];
        c.score = std::max(c.score, scores[i]);
        c.label = std::max(c.label, labels[i]);
    }
    CardPrecisionResult result;
    std::unordered_set<std::uint32_t> detected;
    std::vector<std::pair<std::uint32_t, Card>> ranked;
    for (const auto& [day, cards] : days) {
        ranked.clear();
        DailyCardPrecision d;
        d.day_ms = day * kMsPerDay;
        for (const auto& [cust, card] : cards) {
            if (detected.count(cust)) continue;
            ranked.emplace_back(cust, card);
            d.fraud_cards += card.label;
        }
        d.cards = ranked.size();
        const std::size_t top = std::min(k, ranked.size());
        std::partial_sort(ranked.begin(), ranked.begin() + top, ranked.end(),
                          [](const auto& a, const auto& b) {
                              if (a.second.score != b.second.score)
                                  return a.second.score > b.second.score;
                              return a.first < b.first;
                          });
        std::size_t hits = 0;
        for (std::size_t i = 0; i < top; ++i) {
            if (ranked[i].second.label) {
                ++hits;
                detected.insert(ranked[i].first);
            }
        }
        d.card_precision = static_cast<double>(hits) / static_cast<double>(k);
        result.days.push_back(d);
    }
    double sum = 0;
    for (const auto& d : result.days) sum += d.card_precision;
    result.mean = result.days.empty() ? 0.0 : sum / static_cast<double>(result.days.size());
    return result;
}

std::vector<std::size_t> RemoveKnownCompromised(std::span<const std::int64_t> ts_ms,
                                                std::span<const std::uint32_t> customer,
                                                std::span<const std::int8_t> labels,
                                                std::span<const std::size_t> test_rows,
                                                std::int64_t train_from_ms, int delay_days) {
    // First fraud day of each customer on or after the training start.
    const std::int64_t first_day = DayIndex(train_from_ms);
    std::unordered_map<std::uint32_t, std::int64_t> first_fraud_day;
    for (std::size_t i = 0; i < ts_ms.size(); ++i) {
        if (!labels[i]) continue;
        const std::int64_t day = DayIndex(ts_ms[i]);
        if (day < first_day) continue;
        auto [it, inserted] = first_fraud_day.emplace(customer[i], day);
        if (!inserted) it->second = std::min(it->second, day);
    }
    std::vector<std::size_t> kept;
    kept.reserve(test_rows.size());
    for (std::size_t r : test_rows) {
        const std::int64_t test_day = DayIndex(ts_ms[r]);
        auto it = first_fraud_day.find(customer[r]);
        // Known compromised when a fraud happened on a day <= test day - delay - 1.
        if (it != first_fraud_day.end() && it->second <= test_day - delay_days - 1) continue;
        kept.push_back(r);
    }
    return kept;
}

}  // namespace txguard
