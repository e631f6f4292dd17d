// Default implementations of the Detector interface's optional (supervised / explanation) part.
#include "txguard/detect/detector.hpp"

#include <cmath>
#include <string>

#include "contributions.hpp"

namespace txguard {

Result<void> Detector::FitSupervised(const SupervisedData& data) { return Fit(data.x); }

Result<void> Detector::Contributions(std::span<const double> /*row*/,
                                     std::span<double> /*out*/) const {
    return MakeError(ErrorCode::kInvalidArgument,
                     "feature contributions are not supported by " + std::string(Name()));
}

Result<void> Detector::ScoreExplained(MatrixView x, std::span<double> scores,
                                      const ExplainFilter& explain, Matrix* contributions) const {
    TXG_RETURN_IF_ERROR(Score(x, scores));
    if (!explain) return Ok();
    detail::PrepareContributions(x.rows, NumFeatures(), contributions);
    for (std::size_t r = 0; r < x.rows; ++r)
        if (explain(r, scores[r]))
            TXG_RETURN_IF_ERROR(Contributions(x.Row(r), contributions->Row(r)));
    return Ok();
}

namespace detail {

void PrepareContributions(std::size_t rows, std::size_t num_features, Matrix* contributions) {
    TXG_CHECK(contributions != nullptr);
    if (contributions->rows() != rows || contributions->cols() != num_features + 1)
        *contributions = Matrix(rows, num_features + 1);
}

Result<void> CheckContributionArgs(std::string_view name, std::size_t num_features,
                                   std::span<const double> row, std::span<const double> out) {
    const std::string who(name);
    if (num_features == 0) return MakeError(ErrorCode::kInvalidArgument, who + ": not fitted");
    if (row.size() != num_features || out.size() != num_features + 1)
        return MakeError(ErrorCode::kInvalidArgument,
                         who + " contributions: row has " + std::to_string(row.size()) +
                             " values and out " + std::to_string(out.size()) + ", expected " +
                             std::to_string(num_features) + " and " +
                             std::to_string(num_features + 1));
    for (std::size_t j = 0; j < row.size(); ++j)
        if (!std::isfinite(row[j]))
            return MakeError(
                ErrorCode::kInvalidArgument,
                who + " contributions: feature " + std::to_string(j) + " is not a finite number");
    return Ok();
}

}  // namespace detail
}  // namespace txguard
