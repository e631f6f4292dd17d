#include "txguard/detect/dbscan.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstdio>

#include "contributions.hpp"
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
    Matrix cores;                 // standardised core points
    detail::NeighborIndex index;  // over `cores` (a k-d tree, or brute force above 15 features)
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

namespace {

// Leaf size of DBSCAN's k-d trees (any size gives the same clustering). 30, scikit-learn's: of 4,
// 8, 16, 30 and 60 the fastest on thyroid, annthyroid and mammography, within 8% of 16 on shuttle
// and smtp.
constexpr std::size_t kTreeLeafSize = detail::KdTree::kSklearnLeafSize;

// Core flags and cluster labels of the training rows (both by row).
struct Clustering {
    std::vector<std::uint8_t> core;
    std::vector<std::int32_t> labels;
    std::vector<double> nearest_d2;  // brute force only: squared distance to the nearest core point
};

// Labels of core rows: clusters numbered in order of their lowest row (scikit-learn's order).
// root(row) is the union-find root of a core row.
template <class Root>
void NumberClusters(Clustering& c, Root&& root) {
    const std::size_t n = c.core.size();
    std::vector<std::int32_t> root_label(n, -1);
    c.labels.assign(n, -1);
    std::int32_t next = 0;
    for (std::size_t row = 0; row < n; ++row) {
        if (!c.core[row]) continue;
        const std::uint32_t r = root(row);
        if (root_label[r] < 0) root_label[r] = next++;
        c.labels[row] = root_label[r];
    }
}

// Low dimensions: a k-d tree. Core flags by counting neighbours and stopping at min_samples (a box
// wholly inside the ball counts at once); joins by range queries in which a box of diameter <= eps
// holding core points is one pre-joined clique; rows with identical coordinates share a query.
Clustering ClusterWithTree(const detail::KdTree& tree_ref, double eps2, std::uint32_t min_samples,
                           const std::vector<std::uint8_t>& core_by_row, unsigned threads) {
    const detail::KdTree* tree = &tree_ref;
    const std::size_t n = tree->size(), d = tree->dims();
    const auto& nodes = tree->nodes();
    // 1. Core flags, by tree position (given, or by counting).
    std::vector<std::uint8_t> core(n, 0);
    ParallelChunks(n, n < 4096 ? 1u : threads, [&](std::size_t b, std::size_t e, unsigned) {
        for (std::size_t p = b; p < e; ++p) {
            if (!core_by_row.empty()) {
                core[p] = core_by_row[tree->Original(p)];
                continue;
            }
            if (p > b && std::equal(tree->Point(p), tree->Point(p) + d, tree->Point(p - 1))) {
                core[p] = core[p - 1];
                continue;
            }
            core[p] = tree->CountWithin(tree->Point(p), eps2, min_samples) >= min_samples;
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
    // joined[node] = 1 once all core points of the node are known to be in one component (set
    // after the unions that make it so; components only grow, so it stays true).
    std::vector<std::atomic<std::uint8_t>> joined(nodes.size());
    for (std::size_t i = 0; i < nodes.size(); ++i)
        joined[i].store(first_core[i] == detail::kNoIndex || clique[i], std::memory_order_relaxed);
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
    // Whether all core points of `node` are in one component, learning it from the children (an
    // internal node) or from the points' roots (a leaf).
    auto is_joined = [&](std::uint32_t node) {
        if (joined[node].load(std::memory_order_acquire)) return true;
        const auto& nd = nodes[node];
        if (nd.left == 0) {
            const std::uint32_t root = uf.Find(first_core[node]);
            for (std::uint32_t q = nd.begin; q < nd.end; ++q)
                if (core[q] && uf.Find(q) != root) return false;
        } else {
            if (!joined[nd.left].load(std::memory_order_acquire) ||
                !joined[nd.right].load(std::memory_order_acquire))
                return false;
            const std::uint32_t a = first_core[nd.left], b = first_core[nd.right];
            if (a != detail::kNoIndex && b != detail::kNoIndex && uf.Find(a) != uf.Find(b))
                return false;
        }
        joined[node].store(1, std::memory_order_release);
        return true;
    };
    // 3. Join core points within eps of each other (concurrently; the partition is unique). A
    // node whose core points are all in p's component already (or that has none) is skipped; a
    // node wholly within eps of p joins all its core points to p and is then one component.
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
                    const std::uint32_t fc = first_core[node];
                    if (joined[node].load(std::memory_order_acquire)) {
                        uf.Union(p, fc);
                        return true;
                    }
                    for (std::uint32_t q = nodes[node].begin; q < nodes[node].end; ++q)
                        if (core[q]) uf.Union(p, q);
                    joined[node].store(1, std::memory_order_release);
                    return true;
                },
                [&](std::uint32_t node) {
                    const std::uint32_t fc = first_core[node];
                    return fc == detail::kNoIndex || (is_joined(node) && uf.Find(fc) == uf.Find(p));
                });
        }
    });
    // 4. Cluster numbers by row.
    std::vector<std::uint32_t> pos_of(n);
    for (std::uint32_t p = 0; p < n; ++p) pos_of[tree->Original(p)] = p;
    Clustering c;
    c.core.resize(n);
    for (std::size_t row = 0; row < n; ++row) c.core[row] = core[pos_of[row]];
    NumberClusters(c, [&](std::size_t row) { return uf.Find(pos_of[row]); });
    // 5. Border points: the lowest cluster number among core points within eps.
    ParallelChunks(n, n < 4096 ? 1u : threads, [&](std::size_t b, std::size_t e, unsigned) {
        for (std::size_t p = b; p < e; ++p) {
            if (core[p]) continue;
            std::int32_t best = -1;
            auto take = [&](std::uint32_t q) {
                if (!core[q]) return;
                const std::int32_t l = c.labels[tree->Original(q)];
                if (best < 0 || l < best) best = l;
            };
            tree->VisitWithin(
                tree->Point(p), eps2, take,
                [&](std::uint32_t node) {
                    if (!clique[node]) return false;
                    take(first_core[node]);
                    return true;
                },
                [&](std::uint32_t node) { return first_core[node] == detail::kNoIndex; });
            c.labels[tree->Original(p)] = best;
        }
    });
    return c;
}

// Rows [rows[b], ...) gathered into a matrix.
Matrix Gather(MatrixView z, const std::vector<std::uint32_t>& rows) {
    Matrix m(rows.size(), z.cols);
    for (std::size_t i = 0; i < rows.size(); ++i)
        std::copy_n(z.data + static_cast<std::size_t>(rows[i]) * z.cols, z.cols,
                    m.data() + i * z.cols);
    return m;
}

// High dimensions (more than NeighborIndex::kMaxTreeDims features), where a k-d tree prunes
// little: exact blocked brute force (detail::DistanceBlock, 32 rows at a time against every
// reference row; the same squared distances as the tree's), O(n) memory. Core flags are given
// (from the k-distances). Then
//   joins: every pair of core points once (the upper triangle of the core-by-core distances),
//     except that a reference core already in the same component as all 32 rows of a block is
//     skipped (joining it could not change anything; components only grow, so the test is safe
//     under concurrency);
//   border labels and nearest core points: each non-core row against every core point.
Clustering ClusterBrute(MatrixView z, double eps2, std::vector<std::uint8_t> core,
                        unsigned threads) {
    constexpr std::size_t kBlock = detail::DistanceBlock::kBlock;
    const std::size_t n = z.rows, d = z.cols;
    Clustering c;
    c.core = std::move(core);
    std::vector<std::uint32_t> core_rows, other_rows;
    for (std::size_t row = 0; row < n; ++row)
        (c.core[row] ? core_rows : other_rows).push_back(static_cast<std::uint32_t>(row));
    const std::size_t nc = core_rows.size();
    const Matrix zc = Gather(z, core_rows);
    // Joins, in core numbering. Block b scans cores after its own first row; blocks are dealt in
    // pairs (b, last - b) so that both halves of the triangle weigh the same per thread.
    UnionFind uf(nc);
    const std::size_t core_blocks = (nc + kBlock - 1) / kBlock;
    auto join_block = [&](std::size_t blk, detail::DistanceBlock& block,
                          detail::DistanceBlock::Acc& acc) {
        const std::size_t q0 = blk * kBlock;
        block.Load(zc, q0);
        const std::size_t m = block.size();
        // The block's common root, or kNoIndex; refreshed every 64 reference rows.
        auto common_root = [&] {
            const std::uint32_t root = uf.Find(static_cast<std::uint32_t>(q0));
            for (std::size_t i = 1; i < m; ++i)
                if (uf.Find(static_cast<std::uint32_t>(q0 + i)) != root) return detail::kNoIndex;
            return root;
        };
        std::uint32_t root = common_root();
        for (std::size_t r = q0 + 1; r < nc; ++r) {
            if ((r & 63) == 0) root = common_root();
            if (root != detail::kNoIndex && uf.Find(static_cast<std::uint32_t>(r)) == root)
                continue;
            block.Distances(zc.data() + r * d, acc);
            for (std::size_t i = 0; i < m && q0 + i < r; ++i)
                if (acc[i] <= eps2)
                    uf.Union(static_cast<std::uint32_t>(q0 + i), static_cast<std::uint32_t>(r));
        }
    };
    ParallelChunks((core_blocks + 1) / 2, nc < 512 ? 1u : threads,
                   [&](std::size_t b, std::size_t e, unsigned) {
                       detail::DistanceBlock block;
                       detail::DistanceBlock::Acc acc;
                       for (std::size_t i = b; i < e; ++i) {
                           join_block(i, block, acc);
                           if (core_blocks - 1 - i != i)
                               join_block(core_blocks - 1 - i, block, acc);
                       }
                   });
    std::vector<std::uint32_t> core_index(n, detail::kNoIndex);
    for (std::size_t i = 0; i < nc; ++i) core_index[core_rows[i]] = static_cast<std::uint32_t>(i);
    NumberClusters(c, [&](std::size_t row) { return uf.Find(core_index[row]); });
    // Border labels (the lowest cluster number among core points within eps) and the squared
    // distance to the nearest core point.
    c.nearest_d2.assign(n, 0.0);
    const Matrix zo = Gather(z, other_rows);
    const std::size_t other_blocks = (other_rows.size() + kBlock - 1) / kBlock;
    ParallelChunks(other_blocks, other_rows.size() < 512 ? 1u : threads,
                   [&](std::size_t bb, std::size_t be, unsigned) {
                       detail::DistanceBlock block;
                       detail::DistanceBlock::Acc acc, nearest;
                       std::array<std::int32_t, kBlock> best;
                       for (std::size_t blk = bb; blk < be; ++blk) {
                           block.Load(zo, blk * kBlock);
                           const std::size_t m = block.size();
                           best.fill(-1);
                           nearest.fill(std::numeric_limits<double>::infinity());
                           for (std::size_t r = 0; r < nc; ++r) {
                               block.Distances(zc.data() + r * d, acc);
                               const std::int32_t l = c.labels[core_rows[r]];
                               for (std::size_t i = 0; i < m; ++i) {
                                   nearest[i] = acc[i] < nearest[i] ? acc[i] : nearest[i];
                                   if (acc[i] <= eps2 && (best[i] < 0 || l < best[i])) best[i] = l;
                               }
                           }
                           for (std::size_t i = 0; i < m; ++i) {
                               const std::uint32_t row = other_rows[blk * kBlock + i];
                               c.labels[row] = best[i];
                               c.nearest_d2[row] = nearest[i];
                           }
                       }
                   });
    return c;
}

}  // namespace

Result<void> DbscanDetector::Fit(MatrixView x) { return FitImpl(x, {}); }

Result<void> DbscanDetector::FitScore(MatrixView x, std::span<double> out) {
    if (out.size() != x.rows)
        return MakeError(ErrorCode::kInvalidArgument, "dbscan: output size != rows");
    if (x.rows == 0) return CheckFiniteMatrix(x, 0, "dbscan fit");
    return FitImpl(x, out);
}

Result<void> DbscanDetector::FitImpl(MatrixView x, std::span<double> train_scores) {
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
    index.Build(z, kTreeLeafSize);
    double eps = params_.eps;
    // Distance of every row to its (min_samples - 1)-th neighbour, itself excluded: eps = auto
    // takes a quantile of it, and it gives the core flags at once: p is core exactly when
    // min_samples - 1 other rows lie within eps, i.e. when that squared distance is <= eps^2.
    // Computed when eps is auto, or above 15 features (where counting costs as much); otherwise
    // the tree counts neighbours.
    const std::size_t k = params_.min_samples - 1;
    std::vector<std::uint8_t> core;
    if (eps == 0.0 || !index.uses_tree()) {
        if (eps == 0.0 && k >= n)
            return MakeError(
                ErrorCode::kInvalidArgument,
                "dbscan: parameter min_samples=" + std::to_string(params_.min_samples) +
                    " needs more than " + std::to_string(k) + " training rows to choose eps (got " +
                    std::to_string(n) + ")",
                "give --param eps=... or a smaller min_samples");
        std::vector<double> kd2(n, k == 0 ? 0.0 : std::numeric_limits<double>::infinity());
        if (k > 0 && k < n) {
            const auto nn = index.KnnTraining(k, threads, false, true);
            for (std::size_t i = 0; i < n; ++i) kd2[i] = nn.dist[i * k + k - 1];
        }
        if (eps == 0.0) {
            std::vector<double> kd(n);
            for (std::size_t i = 0; i < n; ++i) kd[i] = std::sqrt(kd2[i]);
            eps = std::max(NumpyQuantile(std::move(kd), params_.eps_quantile), 1e-6);
        }
        core.resize(n);
        for (std::size_t i = 0; i < n; ++i) core[i] = kd2[i] <= eps * eps;
    }
    const double eps2 = eps * eps;
    Clustering c = index.uses_tree()
                       ? ClusterWithTree(index.tree(), eps2, params_.min_samples, core, threads)
                       : ClusterBrute(z, eps2, std::move(core), threads);
    std::size_t num_cores = 0;
    for (auto f : c.core) num_cores += f;
    if (num_cores == 0)
        return MakeError(ErrorCode::kInvalidArgument,
                         "dbscan: no core points with eps=" + FormatDouble(eps) +
                             " and min_samples=" + std::to_string(params_.min_samples),
                         "increase eps or decrease min_samples");
    s->cores = Matrix(num_cores, d);
    std::vector<std::uint32_t> others;
    for (std::size_t row = 0, j = 0; row < n; ++row) {
        if (!c.core[row]) {
            others.push_back(static_cast<std::uint32_t>(row));
            continue;
        }
        std::copy_n(z.data() + row * d, d, s->cores.data() + j * d);
        ++j;
    }
    s->index.Build(s->cores, kTreeLeafSize);
    if (!train_scores.empty()) {
        // Core rows score 0 (their own copy is a core point); the others as new points.
        std::vector<double> d2(others.size());
        if (!c.nearest_d2.empty()) {
            for (std::size_t i = 0; i < others.size(); ++i) d2[i] = c.nearest_d2[others[i]];
        } else if (!others.empty()) {
            s->index.NearestDist2(Gather(z, others), threads, d2);
        }
        std::fill(train_scores.begin(), train_scores.end(), 0.0);
        for (std::size_t i = 0; i < others.size(); ++i)
            train_scores[others[i]] = ScoreFromDist2(d2[i], eps, eps2);
    }
    labels_ = std::move(c.labels);
    train_core_ = std::move(c.core);
    state_ = std::move(s);
    eps_ = eps;
    num_features_ = d;
    return Ok();
}

Result<void> DbscanDetector::Score(MatrixView x, std::span<double> out) const {
    if (!state_) return MakeError(ErrorCode::kInvalidArgument, "dbscan: not fitted");
    if (out.size() != x.rows)
        return MakeError(ErrorCode::kInvalidArgument, "dbscan: output size != rows");
    if (x.rows == 0) return Ok();
    TXG_RETURN_IF_ERROR(CheckFiniteMatrix(x, num_features_, "dbscan score"));
    const Matrix z = state_->standardizer.Apply(x);
    std::vector<double> d2(x.rows);
    state_->index.NearestDist2(z, ResolveThreads(params_.threads), d2);
    for (std::size_t i = 0; i < x.rows; ++i) out[i] = ScoreFromDist2(d2[i], eps_, eps_ * eps_);
    return Ok();
}

Result<void> DbscanDetector::Contributions(std::span<const double> row,
                                           std::span<double> out) const {
    if (!state_) return MakeError(ErrorCode::kInvalidArgument, "dbscan: not fitted");
    TXG_RETURN_IF_ERROR(detail::CheckContributionArgs("dbscan", num_features_, row, out));
    const std::size_t d = num_features_;
    const Matrix z = state_->standardizer.Apply(MatrixView{row.data(), 1, d});
    const auto nn = state_->index.KnnQuery(z, 1, 1, true, true);
    const double score = ScoreFromDist2(nn.dist[0], eps_, eps_ * eps_);
    detail::SquaredDistanceShares(z.data(), state_->cores, nn.index, out.first(d));
    for (std::size_t f = 0; f < d; ++f) out[f] *= score;
    out[d] = 0.0;
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
    s->index.Build(s->cores, kTreeLeafSize);
    params_ = p;
    eps_ = *eps;
    num_features_ = *nf;
    labels_.clear();
    train_core_.clear();
    state_ = std::move(s);
    return Ok();
}

}  // namespace txguard
