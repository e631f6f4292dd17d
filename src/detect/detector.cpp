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

namespace detail {

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
