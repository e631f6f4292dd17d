#include "txguard/detect/knn.hpp"

#include "contributions.hpp"
#include "neighbors.hpp"
#include "param_parse.hpp"
#include "txguard/core/bytes.hpp"
#include "txguard/core/parallel.hpp"

namespace txguard {

Result<void> KnnParams::Validate() const {
    if (k < 1 || k > 100000)
        return MakeError(ErrorCode::kInvalidArgument, "knn: parameter k must be in [1, 100000]");
    if (aggregate != "largest" && aggregate != "mean")
        return MakeError(ErrorCode::kInvalidArgument,
                         "knn: parameter aggregate must be largest or mean");
    return Ok();
}

Result<KnnParams> KnnParams::FromMap(const ParamMap& params) {
    KnnParams p;
    ParamParser parser("knn", params);
    parser.Uint32("k", &p.k);
    parser.String("aggregate", &p.aggregate, {"largest", "mean"});
    parser.Unsigned("threads", &p.threads);
    TXG_RETURN_IF_ERROR(parser.Finish());
    TXG_RETURN_IF_ERROR(p.Validate());
    return p;
}

ParamMap KnnParams::ToMap() const {
    return {
        {"k", std::to_string(k)}, {"aggregate", aggregate}, {"threads", std::to_string(threads)}};
}

struct KnnDetector::State : detail::NeighborModel {};

KnnDetector::KnnDetector(KnnParams params) : params_(std::move(params)) {}
KnnDetector::~KnnDetector() = default;

Result<void> KnnDetector::Fit(MatrixView x) {
    TXG_RETURN_IF_ERROR(params_.Validate());
    TXG_RETURN_IF_ERROR(detail::NeighborModel::CheckTraining(x, params_.k, "knn"));
    auto s = std::make_unique<State>();
    s->Build(x);
    state_ = std::move(s);
    num_features_ = x.cols;
    return Ok();
}

namespace {
void Aggregate(const detail::KnnResult& r, bool mean, std::span<double> out) {
    const std::size_t k = r.k;
    for (std::size_t i = 0; i < out.size(); ++i) {
        const double* d = r.dist.data() + i * k;
        if (mean) {
            double s = 0.0;
            for (std::size_t j = 0; j < k; ++j) s += d[j];
            out[i] = s / static_cast<double>(k);
        } else {
            out[i] = d[k - 1];
        }
    }
}
}  // namespace

Result<void> KnnDetector::FitScore(MatrixView x, std::span<double> out) {
    if (out.size() != x.rows)
        return MakeError(ErrorCode::kInvalidArgument, "knn: output size != rows");
    TXG_RETURN_IF_ERROR(Fit(x));
    const auto r = state_->index.KnnTraining(params_.k, ResolveThreads(params_.threads), false);
    Aggregate(r, params_.aggregate == "mean", out);
    return Ok();
}

Result<void> KnnDetector::Score(MatrixView x, std::span<double> out) const {
    if (!state_) return MakeError(ErrorCode::kInvalidArgument, "knn: not fitted");
    if (out.size() != x.rows)
        return MakeError(ErrorCode::kInvalidArgument, "knn: output size != rows");
    if (x.rows == 0) return Ok();
    TXG_RETURN_IF_ERROR(CheckFiniteMatrix(x, num_features_, "knn score"));
    const Matrix z = state_->standardizer.Apply(x);
    const auto r = state_->index.KnnQuery(z, params_.k, ResolveThreads(params_.threads), false);
    Aggregate(r, params_.aggregate == "mean", out);
    return Ok();
}

Result<void> KnnDetector::Contributions(std::span<const double> row, std::span<double> out) const {
    if (!state_) return MakeError(ErrorCode::kInvalidArgument, "knn: not fitted");
    TXG_RETURN_IF_ERROR(detail::CheckContributionArgs("knn", num_features_, row, out));
    const std::size_t d = num_features_;
    const Matrix z = state_->standardizer.Apply(MatrixView{row.data(), 1, d});
    const auto r = state_->index.KnnQuery(z, params_.k, 1, true);
    double score = 0.0;
    Aggregate(r, params_.aggregate == "mean", std::span<double>(&score, 1));
    detail::SquaredDistanceShares(z.data(), state_->train, r.index, out.first(d));
    for (std::size_t f = 0; f < d; ++f) out[f] *= score;
    out[d] = 0.0;
    return Ok();
}

namespace {
constexpr std::uint32_t kKnnFormat = 1;
}

std::string KnnDetector::Save() const {
    ByteWriter w;
    w.Put(kKnnFormat);
    w.Put(params_.k);
    w.Put<std::uint8_t>(params_.aggregate == "mean" ? 1 : 0);
    w.Put<std::uint64_t>(num_features_);
    if (state_) state_->Save(w);
    return w.Take();
}

Result<void> KnnDetector::Load(std::string_view bytes) {
    ByteReader r(bytes, "knn model");
    auto format = r.Get<std::uint32_t>();
    if (!format) return std::unexpected(format.error());
    if (*format != kKnnFormat)
        return MakeError(ErrorCode::kIncompatible, "knn model format " + std::to_string(*format) +
                                                       ", this txguard reads format " +
                                                       std::to_string(kKnnFormat));
    auto k = r.Get<std::uint32_t>();
    auto agg = r.Get<std::uint8_t>();
    auto nf = r.Get<std::uint64_t>();
    if (!k || !agg || !nf) return r.Corrupt("truncated header");
    KnnParams p = params_;
    p.k = *k;
    if (*agg > 1) return r.Corrupt("bad aggregate");
    p.aggregate = *agg ? "mean" : "largest";
    if (!p.Validate() || *nf == 0 || *nf > (1u << 20)) return r.Corrupt("inconsistent header");
    auto s = std::make_unique<State>();
    TXG_RETURN_IF_ERROR(s->Load(r, *nf, p.k));
    if (!r.AtEnd()) return r.Corrupt("trailing bytes");
    params_ = p;
    num_features_ = *nf;
    state_ = std::move(s);
    return Ok();
}

}  // namespace txguard
