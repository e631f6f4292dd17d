// Default implementations of the Detector interface's optional (supervised / explanation) part.
#include "txguard/detect/detector.hpp"

#include <string>

namespace txguard {

Result<void> Detector::FitSupervised(const SupervisedData& data) { return Fit(data.x); }

Result<void> Detector::Contributions(std::span<const double> /*row*/,
                                     std::span<double> /*out*/) const {
    return MakeError(ErrorCode::kInvalidArgument,
                     "feature contributions are not supported by " + std::string(Name()));
}

}  // namespace txguard
