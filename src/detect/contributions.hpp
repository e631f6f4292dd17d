#pragma once
// Shared pieces of Detector::Contributions (private header).
#include <cstddef>
#include <span>
#include <string_view>

#include "txguard/core/matrix.hpp"
#include "txguard/core/result.hpp"

namespace txguard::detail {

// Checks the arguments of a Contributions call: the detector is fitted (num_features > 0),
// row.size() == num_features, out.size() == num_features + 1 and the row's values are finite.
// Errors are kInvalidArgument and name the detector, the sizes or the offending feature.
Result<void> CheckContributionArgs(std::string_view name, std::size_t num_features,
                                   std::span<const double> row, std::span<const double> out);

// Detector::ScoreExplained's output: reshapes *contributions to rows x (num_features + 1) unless
// it has that shape already (its values are then left as they are).
void PrepareContributions(std::size_t rows, std::size_t num_features, Matrix* contributions);

}  // namespace txguard::detail
