#include "txguard/detect/lof.hpp"

#include "contributions.hpp"
#include "neighbors.hpp"
#include "param_parse.hpp"
#include "txguard/core/bytes.hpp"
#include "txguard/core/parallel.hpp"

namespace txguard {

Result<void> LofParams::Validate() const {
    if (k < 1 || k > 100000)
        return MakeError(ErrorCode::kInvalidArgument, "lof: parameter k must be in [1, 100000]");
    return Ok();
}

Result<LofParams> LofParams::FromMap(const ParamMap& params) {
    LofParams p;
    ParamParser parser("lof", params);
    parser.Uint32("k", &p.k);
    parser.Unsigned("threads", &p.threads);
    TXG_RETURN_IF_ERROR(parser.Finish());
    TXG_RETURN_IF_ERROR(p.Validate());
    return p;
}

ParamMap LofParams::ToMap() const {
    return {{"k", std::to_string(k)}, {"threads", std::to_string(threads)}};
}

struct LofDetector::State : detail::NeighborModel {
    std::vector<double> kdist;  // k-distance of each training row
    std::vector<double> lrd;    // local reachability density of each training row
};

LofDetector::LofDetector(LofParams params) : params_(params) {}
LofDetector::~LofDetector() = default;

namespace {
constexpr double kLrdEpsilon = 1e-10;  // scikit-learn's guard against duplicates

// lrd of a point from its neighbours' distances and indices (k of each).
double Lrd(const double* dist, const std::uint32_t* nb, std::size_t k,
           const std::vector<double>& kdist, double* scratch) {
    for (std::size_t j = 0; j < k; ++j) scratch[j] = std::max(dist[j], kdist[nb[j]]);
    return 1.0 / (detail::NumpySum(scratch, k) / static_cast<double>(k) + kLrdEpsilon);
}
double Ratio(const std::uint32_t* nb, std::size_t k, const std::vector<double>& lrd, double own,
             double* scratch) {
    for (std::size_t j = 0; j < k; ++j) scratch[j] = lrd[nb[j]] / own;
    return detail::NumpySum(scratch, k) / static_cast<double>(k);
}
}  // namespace

Result<void> LofDetector::FitImpl(MatrixView x, std::span<double> train_scores) {
    TXG_RETURN_IF_ERROR(params_.Validate());
    TXG_RETURN_IF_ERROR(detail::NeighborModel::CheckTraining(x, params_.k, "lof"));
    auto s = std::make_unique<State>();
    s->Build(x);
    const std::size_t n = x.rows;
    const std::size_t k = params_.k;
    const unsigned threads = ResolveThreads(params_.threads);
    const auto nn = s->index.KnnTraining(k, threads, true);
    s->kdist.resize(n);
    for (std::size_t i = 0; i < n; ++i) s->kdist[i] = nn.dist[i * k + k - 1];
    s->lrd.resize(n);
    const unsigned chunks = n < 4096 ? 1u : threads;
    ParallelChunks(n, chunks, [&](std::size_t b, std::size_t e, unsigned) {
        std::vector<double> scratch(k);
        for (std::size_t i = b; i < e; ++i)
            s->lrd[i] = Lrd(&nn.dist[i * k], &nn.index[i * k], k, s->kdist, scratch.data());
    });
    if (!train_scores.empty()) {
        ParallelChunks(n, chunks, [&](std::size_t b, std::size_t e, unsigned) {
            std::vector<double> scratch(k);
            for (std::size_t i = b; i < e; ++i)
                train_scores[i] = Ratio(&nn.index[i * k], k, s->lrd, s->lrd[i], scratch.data());
        });
    }
    state_ = std::move(s);
    num_features_ = x.cols;
    return Ok();
}

Result<void> LofDetector::Fit(MatrixView x) { return FitImpl(x, {}); }

Result<void> LofDetector::FitScore(MatrixView x, std::span<double> out) {
    if (out.size() != x.rows)
        return MakeError(ErrorCode::kInvalidArgument, "lof: output size != rows");
    if (x.rows == 0) return CheckFiniteMatrix(x, 0, "lof fit");
    return FitImpl(x, out);
}

Result<void> LofDetector::Score(MatrixView x, std::span<double> out) const {
    if (!state_) return MakeError(ErrorCode::kInvalidArgument, "lof: not fitted");
    if (out.size() != x.rows)
        return MakeError(ErrorCode::kInvalidArgument, "lof: output size != rows");
    if (x.rows == 0) return Ok();
    TXG_RETURN_IF_ERROR(CheckFiniteMatrix(x, num_features_, "lof score"));
    const Matrix z = state_->standardizer.Apply(x);
    const std::size_t k = params_.k;
    const unsigned threads = ResolveThreads(params_.threads);
    const auto nn = state_->index.KnnQuery(z, k, threads, true);
    ParallelChunks(
        x.rows, x.rows < 4096 ? 1u : threads, [&](std::size_t b, std::size_t e, unsigned) {
            std::vector<double> scratch(k);
            for (std::size_t i = b; i < e; ++i) {
                const double own =
                    Lrd(&nn.dist[i * k], &nn.index[i * k], k, state_->kdist, scratch.data());
                out[i] = Ratio(&nn.index[i * k], k, state_->lrd, own, scratch.data());
            }
        });
    return Ok();
}

Result<void> LofDetector::Contributions(std::span<const double> row, std::span<double> out) const {
    if (!state_) return MakeError(ErrorCode::kInvalidArgument, "lof: not fitted");
    TXG_RETURN_IF_ERROR(detail::CheckContributionArgs("lof", num_features_, row, out));
    const std::size_t d = num_features_, k = params_.k;
    const Matrix z = state_->standardizer.Apply(MatrixView{row.data(), 1, d});
    const auto nn = state_->index.KnnQuery(z, k, 1, true);
    std::vector<double> scratch(k);
    const double own = Lrd(nn.dist.data(), nn.index.data(), k, state_->kdist, scratch.data());
    const double score = Ratio(nn.index.data(), k, state_->lrd, own, scratch.data());
    detail::SquaredDistanceShares(z.data(), state_->train, nn.index, out.first(d));
    constexpr double kBias = 1.0;  // the LOF of a point as dense as its neighbours
    for (std::size_t f = 0; f < d; ++f) out[f] *= score - kBias;
    out[d] = kBias;
    return Ok();
}

namespace {
constexpr std::uint32_t kLofFormat = 1;
}

std::string LofDetector::Save() const {
    ByteWriter w;
    w.Put(kLofFormat);
    w.Put(params_.k);
    w.Put<std::uint64_t>(num_features_);
    if (state_) {
        state_->Save(w);
        w.PutVector(state_->kdist);
        w.PutVector(state_->lrd);
    }
    return w.Take();
}

Result<void> LofDetector::Load(std::string_view bytes) {
    ByteReader r(bytes, "lof model");
    auto format = r.Get<std::uint32_t>();
    if (!format) return std::unexpected(format.error());
    if (*format != kLofFormat)
        return MakeError(ErrorCode::kIncompatible, "lof model format " + std::to_string(*format) +
                                                       ", this txguard reads format " +
                                                       std::to_string(kLofFormat));
    auto k = r.Get<std::uint32_t>();
    auto nf = r.Get<std::uint64_t>();
    if (!k || !nf) return r.Corrupt("truncated header");
    LofParams p = params_;
    p.k = *k;
    if (!p.Validate() || *nf == 0 || *nf > (1u << 20)) return r.Corrupt("inconsistent header");
    auto s = std::make_unique<State>();
    TXG_RETURN_IF_ERROR(s->Load(r, *nf, p.k));
    const std::size_t rows = s->train.rows();
    auto kdist = r.GetVector<double>();
    if (!kdist) return std::unexpected(kdist.error());
    auto lrd = r.GetVector<double>();
    if (!lrd) return std::unexpected(lrd.error());
    if (!r.AtEnd()) return r.Corrupt("trailing bytes");
    if (kdist->size() != rows || lrd->size() != rows)
        return r.Corrupt("inconsistent training data size");
    for (std::size_t i = 0; i < rows; ++i)
        if (!std::isfinite((*kdist)[i]) || (*kdist)[i] < 0 || !std::isfinite((*lrd)[i]) ||
            !((*lrd)[i] > 0))
            return r.Corrupt("bad k-distance or lrd at training row " + std::to_string(i));
    s->kdist = std::move(*kdist);
    s->lrd = std::move(*lrd);
    params_ = p;
    num_features_ = *nf;
    state_ = std::move(s);
    return Ok();
}

}  // namespace txguard
