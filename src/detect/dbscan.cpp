#include "txguard/detect/dbscan.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdio>

#include "neighbors.hpp"
#include "param_parse.hpp"
#include "txguard/core/bytes.hpp"
#include "txguard/core/parallel.hpp"

namespace txguard {

Result<void> DbscanParams::Validate() const {
    if (!(eps >= 0.0) || !std::isfinite(eps))
        return MakeError(ErrorCode::kInvalidArgument,
                         "dbscan: parameter eps must be > 0 (or 0 to choose it from the k-distance "
                         "curve)");
    if (min_samples < 1 || min_samples > 100000)
        return MakeError(ErrorCode::kInvalidArgument,
                         "dbscan: parameter min_samples must be in [1, 100000]");
    if (!(eps_quantile > 0.0 && eps_quantile <= 1.0))
        return MakeError(ErrorCode::kInvalidArgument,
                         "dbscan: parameter eps_quantile must be in (0, 1]");
    if (eps == 0.0 && min_samples < 2)
        return MakeError(ErrorCode::kInvalidArgument,
                         "dbscan: choosing eps from the k-distance curve needs min_samples >= 2",
                         "give --param eps=...");
    return Ok();
}

Result<DbscanParams> DbscanParams::FromMap(const ParamMap& params) {
    DbscanParams p;
    ParamParser parser("dbscan", params);
    std::string eps = "auto";
    parser.String("eps", &eps);
    parser.Uint32("min_samples", &p.min_samples);
    parser.Double("eps_quantile", &p.eps_quantile);
    parser.Unsigned("threads", &p.threads);
    TXG_RETURN_IF_ERROR(parser.Finish());
    if (eps != "auto") {
        auto [ptr, ec] = std::from_chars(eps.data(), eps.data() + eps.size(), p.eps);
        if (ec != std::errc() || ptr != eps.data() + eps.size() || !(p.eps > 0.0) ||
            !std::isfinite(p.eps))
            return MakeError(
                ErrorCode::kInvalidArgument,
                "dbscan: parameter eps must be a number > 0 or auto, got \"" + eps + "\"",
                "auto (the default) chooses eps from the k-distance curve");
    }
    TXG_RETURN_IF_ERROR(p.Validate());
    return p;
}

namespace {
std::string FormatDouble(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}
}  // namespace

ParamMap DbscanParams::ToMap() const {
    return {{"eps", eps > 0.0 ? FormatDouble(eps) : std::string("auto")},
            {"min_samples", std::to_string(min_samples)},
            {"eps_quantile", FormatDouble(eps_quantile)},
            {"threads", std::to_string(threads)}};
}

struct DbscanDetector::State {
    detail::Standardizer standardizer;
    Matrix cores;  // standardised core points
    detail::KdTree tree;
};

DbscanDetector::DbscanDetector(DbscanParams params) : params_(params) {}
DbscanDetector::~DbscanDetector() = default;

ParamMap DbscanDetector::Params() const {
    DbscanParams p = params_;
    if (eps_ > 0.0) p.eps = eps_;
    return p.ToMap();
}

std::size_t DbscanDetector::NumCorePoints() const { return state_ ? state_->cores.rows() : 0; }

namespace {

// numpy.quantile(values, q) with the default linear method, computed the way numpy computes it.
double NumpyQuantile(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    const double n = static_cast<double>(v.size());
    const double virtual_index = n * q + (1.0 + q * (1.0 - 1.0 - 1.0)) - 1.0;
    double prev = std::floor(virtual_index);
    prev = std::clamp(prev, 0.0, n - 1.0);
    const auto lo = static_cast<std::size_t>(prev);
    const std::size_t hi = std::min(lo + 1, v.size() - 1);
    double gamma = virtual_index - prev;
    const double a = v[lo], b = v[hi];
    const double diff = b - a;
    if (virtual_index < 0.0) return v.front();
    if (virtual_index > n - 1.0) return v.back();
    return gamma >= 0.5 ? b - diff * (1.0 - gamma) : a + diff * gamma;
}

// Concurrent union-find (Anderson & Woll 1991 style): roots are linked larger index -> smaller
// with compare-and-swap, so the final partition does not depend on the order of unions.
class UnionFind {
  public:
    explicit UnionFind(std::size_t n) : parent_(n) {
        for (std::size_t i = 0; i < n; ++i) parent_[i].store(static_cast<std::uint32_t>(i));
    }
    std::uint32_t Find(std::uint32_t x) {
        while (true) {
            const std::uint32_t p = parent_[x].load(std::memory_order_relaxed);
            if (p == x) return x;
            const std::uint32_t gp = parent_[p].load(std::memory_order_relaxed);
            if (gp != p) {
                std::uint32_t expected = p;  // path halving; losing the race is harmless
                parent_[x].compare_exchange_weak(expected, gp, std::memory_order_relaxed);
            }
            x = gp;
        }
    }
    void Union(std::uint32_t a, std::uint32_t b) {
        while (true) {
            a = Find(a);
            b = Find(b);
            if (a == b) return;
            if (a < b) std::swap(a, b);
            std::uint32_t expected = a;
            if (parent_[a].compare_exchange_strong(expected, b)) return;
        }
    }

  private:
    std::vector<std::atomic<std::uint32_t>> parent_;
};

// Score from the squared distance to the nearest core point: noise (> eps) exactly when > 1.
double ScoreFromDist2(double d2, double eps, double eps2) {
    const double s = std::sqrt(d2) / eps;
    if (d2 <= eps2) return std::min(s, 1.0);
    return std::max(s, std::nextafter(1.0, 2.0));
}

}  // namespace

Result<void> DbscanDetector::Fit(MatrixView x) {
    TXG_RETURN_IF_ERROR(params_.Validate());
    TXG_RETURN_IF_ERROR(CheckFiniteMatrix(x, 0, "dbscan fit"));
    if (x.rows >= detail::kNoIndex)
        return MakeError(ErrorCode::kInvalidArgument, "dbscan: too many training rows");
    const std::size_t n = x.rows, d = x.cols;
    const unsigned threads = ResolveThreads(params_.threads);
    auto s = std::make_unique<State>();
    s->standardizer.Fit(x);
    const Matrix z = s->standardizer.Apply(x);
    detail::NeighborIndex index;
    index.Build(z);
    double eps = params_.eps;
    if (eps == 0.0) {
        const std::size_t k = params_.min_samples - 1;
        if (k >= n)
            return MakeError(
                ErrorCode::kInvalidArgument,
                "dbscan: parameter min_samples=" + std::to_string(params_.min_samples) +
                    " needs more than " + std::to_string(k) + " training rows to choose eps (got " +
                    std::to_string(n) + ")",
                "give --param eps=... or a smaller min_samples");
        const auto nn = index.KnnTraining(k, threads, false);
        std::vector<double> kd(n);
        for (std::size_t i = 0; i < n; ++i) kd[i] = nn.dist[i * k + k - 1];
        eps = std::max(NumpyQuantile(std::move(kd), params_.eps_quantile), 1e-6);
    }
    const double eps2 = eps * eps;
    // The clustering always uses a k-d tree (it stays exact in any dimension).
    detail::KdTree own_tree;
    const detail::KdTree* tree = &index.tree();
    if (!index.uses_tree()) {
        own_tree.Build(z);
        tree = &own_tree;
    }
    const auto& nodes = tree->nodes();
    // 1. Core flags, by tree position.
    std::vector<std::uint8_t> core(n, 0);
    ParallelChunks(n, n < 4096 ? 1u : threads, [&](std::size_t b, std::size_t e, unsigned) {
        for (std::size_t p = b; p < e; ++p) {
            if (p > b && std::equal(tree->Point(p), tree->Point(p) + d, tree->Point(p - 1))) {
                core[p] = core[p - 1];
                continue;
            }
            core[p] =
                tree->CountWithin(tree->Point(p), eps2, params_.min_samples) >= params_.min_samples;
        }
    });
    // 2. Per node: first core position inside, and whether the box is a clique (diameter <= eps).
    std::vector<std::uint32_t> first_core(nodes.size(), detail::kNoIndex);
    std::vector<std::uint8_t> clique(nodes.size(), 0);
    for (std::size_t i = nodes.size(); i-- > 0;) {
        const auto& nd = nodes[i];
        if (nd.left == 0) {
            for (std::uint32_t p = nd.begin; p < nd.end; ++p)
                if (core[p]) {
                    first_core[i] = p;
                    break;
                }
        } else {
            first_core[i] = first_core[nd.left] != detail::kNoIndex ? first_core[nd.left]
                                                                    : first_core[nd.right];
        }
        clique[i] = tree->Diameter2(i) <= eps2;
    }
    UnionFind uf(n);
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        // Topmost clique nodes: join all their core points (every pair is within eps).
        if (clique[i] != 1 || first_core[i] == detail::kNoIndex) continue;
        const auto& nd = nodes[i];
        for (std::uint32_t p = nd.begin; p < nd.end; ++p)
            if (core[p]) uf.Union(first_core[i], p);
        // Descendants are cliques too (smaller boxes) and now already joined: mark them 2.
        std::vector<std::uint32_t> st{nd.left, nd.right};
        if (nd.left == 0) st.clear();
        while (!st.empty()) {
            const std::uint32_t c = st.back();
            st.pop_back();
            clique[c] = 2;  // clique, already joined
            if (nodes[c].left != 0) {
                st.push_back(nodes[c].left);
                st.push_back(nodes[c].right);
            }
        }
    }
    // 3. Join core points within eps of each other (concurrently; the partition is unique).
    ParallelChunks(n, n < 4096 ? 1u : threads, [&](std::size_t b, std::size_t e, unsigned) {
        for (auto p = static_cast<std::uint32_t>(b); p < e; ++p) {
            if (!core[p]) continue;
            if (p > 0 && core[p - 1] &&
                std::equal(tree->Point(p), tree->Point(p) + d, tree->Point(p - 1))) {
                uf.Union(p, p - 1);  // same coordinates, same neighbourhood
                continue;
            }
            tree->VisitWithin(
                tree->Point(p), eps2,
                [&](std::uint32_t q) {
                    if (core[q]) uf.Union(p, q);
                },
                [&](std::uint32_t node) {
                    if (!clique[node]) return false;
                    if (first_core[node] != detail::kNoIndex) uf.Union(p, first_core[node]);
                    return true;
                });
        }
    });
    // 4. Cluster numbers in order of each cluster's lowest original row (scikit-learn's order).
    std::vector<std::int32_t> root_label(n, -1);
    std::vector<std::uint32_t> pos_of(n);
    for (std::uint32_t p = 0; p < n; ++p) pos_of[tree->Original(p)] = p;
    labels_.assign(n, -1);
    std::int32_t next = 0;
    for (std::size_t row = 0; row < n; ++row) {
        const std::uint32_t p = pos_of[row];
        if (!core[p]) continue;
        const std::uint32_t r = uf.Find(p);
        if (root_label[r] < 0) root_label[r] = next++;
        labels_[row] = root_label[r];
    }
    // 5. Border points: the lowest cluster number among core points within eps.
    ParallelChunks(n, n < 4096 ? 1u : threads, [&](std::size_t b, std::size_t e, unsigned) {
        for (std::size_t p = b; p < e; ++p) {
            if (core[p]) continue;
            std::int32_t best = -1;
            auto take = [&](std::uint32_t q) {
                if (!core[q]) return;
                const std::int32_t l = labels_[tree->Original(q)];
                if (best < 0 || l < best) best = l;
            };
            tree->VisitWithin(tree->Point(p), eps2, take, [&](std::uint32_t node) {
                if (!clique[node]) return false;
                if (first_core[node] != detail::kNoIndex) take(first_core[node]);
                return true;
            });
            labels_[tree->Original(p)] = best;
        }
    });
    std::size_t num_cores = 0;
    for (auto c : core) num_cores += c;
    if (num_cores == 0)
        return MakeError(ErrorCode::kInvalidArgument,
                         "dbscan: no core points with eps=" + FormatDouble(eps) +
                             " and min_samples=" + std::to_string(params_.min_samples),
                         "increase eps or decrease min_samples");
    s->cores = Matrix(num_cores, d);
    train_core_.assign(n, 0);
    std::size_t c = 0;
    for (std::size_t row = 0; row < n; ++row) {
        const std::uint32_t p = pos_of[row];
        if (!core[p]) continue;
        train_core_[row] = 1;
        std::copy_n(tree->Point(p), d, s->cores.data() + c * d);
        ++c;
    }
    s->tree.Build(s->cores);
    state_ = std::move(s);
    eps_ = eps;
    num_features_ = d;
    return Ok();
}

Result<void> DbscanDetector::FitScore(MatrixView x, std::span<double> out) {
    if (out.size() != x.rows)
        return MakeError(ErrorCode::kInvalidArgument, "dbscan: output size != rows");
    TXG_RETURN_IF_ERROR(Fit(x));
    // Core rows score 0 (their own copy is a core point); the others as new points.
    const Matrix z = state_->standardizer.Apply(x);
    const double eps2 = eps_ * eps_;
    const unsigned threads = ResolveThreads(params_.threads);
    ParallelChunks(x.rows, x.rows < 4096 ? 1u : threads,
                   [&](std::size_t b, std::size_t e, unsigned) {
                       detail::TopK top(1);
                       for (std::size_t i = b; i < e; ++i) {
                           if (train_core_[i]) {
                               out[i] = 0.0;
                               continue;
                           }
                           top.Reset();
                           state_->tree.Knn(z.data() + i * x.cols, top, detail::kNoIndex);
                           out[i] = ScoreFromDist2(top.dist2(0), eps_, eps2);
                       }
                   });
    return Ok();
}

Result<void> DbscanDetector::Score(MatrixView x, std::span<double> out) const {
    if (!state_) return MakeError(ErrorCode::kInvalidArgument, "dbscan: not fitted");
    if (out.size() != x.rows)
        return MakeError(ErrorCode::kInvalidArgument, "dbscan: output size != rows");
    if (x.rows == 0) return Ok();
    TXG_RETURN_IF_ERROR(CheckFiniteMatrix(x, num_features_, "dbscan score"));
    const Matrix z = state_->standardizer.Apply(x);
    const double eps2 = eps_ * eps_;
    const unsigned threads = ResolveThreads(params_.threads);
    ParallelChunks(x.rows, x.rows < 4096 ? 1u : threads,
                   [&](std::size_t b, std::size_t e, unsigned) {
                       detail::TopK top(1);
                       for (std::size_t i = b; i < e; ++i) {
                           top.Reset();
                           state_->tree.Knn(z.data() + i * x.cols, top, detail::kNoIndex);
                           out[i] = ScoreFromDist2(top.dist2(0), eps_, eps2);
                       }
                   });
    return Ok();
}

namespace {
constexpr std::uint32_t kDbscanFormat = 1;
}

std::string DbscanDetector::Save() const {
    ByteWriter w;
    w.Put(kDbscanFormat);
    w.Put(params_.eps);
    w.Put(params_.min_samples);
    w.Put(params_.eps_quantile);
    w.Put(eps_);
    w.Put<std::uint64_t>(num_features_);
    if (state_) {
        state_->standardizer.Save(w);
        const std::vector<double> cores(
            state_->cores.data(), state_->cores.data() + state_->cores.rows() * num_features_);
        w.PutVector(cores);
    }
    return w.Take();
}

Result<void> DbscanDetector::Load(std::string_view bytes) {
    ByteReader r(bytes, "dbscan model");
    auto format = r.Get<std::uint32_t>();
    if (!format) return std::unexpected(format.error());
    if (*format != kDbscanFormat)
        return MakeError(ErrorCode::kIncompatible,
                         "dbscan model format " + std::to_string(*format) +
                             ", this txguard reads format " + std::to_string(kDbscanFormat));
    auto eps_param = r.Get<double>();
    auto min_samples = r.Get<std::uint32_t>();
    auto quantile = r.Get<double>();
    auto eps = r.Get<double>();
    auto nf = r.Get<std::uint64_t>();
    if (!eps_param || !min_samples || !quantile || !eps || !nf)
        return r.Corrupt("truncated header");
    DbscanParams p = params_;
    p.eps = *eps_param;
    p.min_samples = *min_samples;
    p.eps_quantile = *quantile;
    if (!p.Validate() || !(*eps > 0.0) || !std::isfinite(*eps) || *nf == 0 || *nf > (1u << 20))
        return r.Corrupt("inconsistent header");
    auto s = std::make_unique<State>();
    TXG_RETURN_IF_ERROR(s->standardizer.Load(r, *nf));
    auto cores = r.GetVector<double>();
    if (!cores) return std::unexpected(cores.error());
    if (!r.AtEnd()) return r.Corrupt("trailing bytes");
    if (cores->empty() || cores->size() % *nf != 0 || cores->size() / *nf >= detail::kNoIndex)
        return r.Corrupt("inconsistent core point data");
    for (double v : *cores)
        if (!std::isfinite(v)) return r.Corrupt("non-finite core point value");
    s->cores = Matrix(cores->size() / *nf, *nf);
    std::copy(cores->begin(), cores->end(), s->cores.data());
    s->tree.Build(s->cores);
    params_ = p;
    eps_ = *eps;
    num_features_ = *nf;
    labels_.clear();
    train_core_.clear();
    state_ = std::move(s);
    return Ok();
}

}  // namespace txguard
