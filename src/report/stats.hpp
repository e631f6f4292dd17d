#pragma once
// Column statistics behind the EDA report (private to the report module; tests include it).
// Missing values are NaN throughout.
#include <cstdint>
#include <span>
#include <vector>

namespace txguard {

// Average ranks (1-based; ties get the mean of their positions, as scipy.stats.rankdata), NaN
// where the value is NaN, plus the present values in ascending order. Integer-valued columns
// with a range below 2^16 are ranked by counting (O(n)), others by one sort (O(n log n)).
struct RankedColumn {
    std::vector<double> ranks;
    std::vector<double> sorted;
    std::uint64_t missing = 0;
};
RankedColumn RankColumn(std::span<const double> values);

// The q-quantile of ascending values with linear interpolation (numpy's default); NaN if empty.
double QuantileSorted(std::span<const double> sorted, double q);

// Pearson correlation over the rows where both are present; NaN with fewer than 2 such rows or a
// constant column. Two passes (means, then centred sums) for accuracy.
double Pearson(std::span<const double> x, std::span<const double> y);
// The second pass alone, given the means of x and y over the rows where both are present (when
// neither column has a missing value: each column's own mean).
double PearsonCentred(std::span<const double> x, std::span<const double> y, double mx, double my);

// ROC AUC of a column used as a score against 0/1 labels, from its average ranks (Mann-Whitney U;
// ties count half); rows with a NaN rank are left out. NaN when a class is missing.
double AucFromRanks(std::span<const double> ranks, std::span<const std::int8_t> labels);

// Mean and sample standard deviation (ddof = 1) of the present values.
struct MeanStd {
    double mean = 0;
    double stddev = 0;
};
MeanStd MeanAndStd(std::span<const double> values);

}  // namespace txguard
