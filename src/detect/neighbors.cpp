#include "neighbors.hpp"

#include <algorithm>
#include <array>

#include "txguard/core/parallel.hpp"
#include "txguard/detect/detector.hpp"

namespace txguard::detail {

// ---- Standardizer -------------------------------------------------------------------------------

void Standardizer::Fit(MatrixView x) {
    const std::size_t d = x.cols;
    mean_.assign(d, 0.0);
    scale_.assign(d, 0.0);
    std::vector<double> lo(d, std::numeric_limits<double>::infinity());
    std::vector<double> hi(d, -std::numeric_limits<double>::infinity());
    for (std::size_t i = 0; i < x.rows; ++i) {
        const double* row = x.data + i * d;
        for (std::size_t j = 0; j < d; ++j) {
            mean_[j] += row[j];
            lo[j] = std::min(lo[j], row[j]);
            hi[j] = std::max(hi[j], row[j]);
        }
    }
    const double n = static_cast<double>(x.rows);
    for (std::size_t j = 0; j < d; ++j) mean_[j] /= n;
    std::vector<double> ss(d, 0.0);
    for (std::size_t i = 0; i < x.rows; ++i) {
        const double* row = x.data + i * d;
        for (std::size_t j = 0; j < d; ++j) {
            const double t = row[j] - mean_[j];
            ss[j] += t * t;
        }
    }
    for (std::size_t j = 0; j < d; ++j) scale_[j] = hi[j] > lo[j] ? std::sqrt(ss[j] / n) : 0.0;
}

void Standardizer::Apply(MatrixView x, double* out) const {
    const std::size_t d = x.cols;
    for (std::size_t i = 0; i < x.rows; ++i) {
        const double* row = x.data + i * d;
        double* o = out + i * d;
        for (std::size_t j = 0; j < d; ++j)
            o[j] = scale_[j] > 0.0 ? (row[j] - mean_[j]) / scale_[j] : 0.0;
    }
}

Matrix Standardizer::Apply(MatrixView x) const {
    Matrix out(x.rows, x.cols);
    Apply(x, out.data());
    return out;
}

void Standardizer::Save(ByteWriter& w) const {
    w.PutVector(mean_);
    w.PutVector(scale_);
}

Result<void> Standardizer::Load(ByteReader& r, std::size_t cols) {
    auto mean = r.GetVector<double>(cols);
    if (!mean) return std::unexpected(mean.error());
    auto scale = r.GetVector<double>(cols);
    if (!scale) return std::unexpected(scale.error());
    if (mean->size() != cols || scale->size() != cols) return r.Corrupt("standardizer size");
    for (std::size_t j = 0; j < cols; ++j)
        if (!std::isfinite((*mean)[j]) || !std::isfinite((*scale)[j]) || (*scale)[j] < 0.0)
            return r.Corrupt("standardizer value");
    mean_ = std::move(*mean);
    scale_ = std::move(*scale);
    return Ok();
}

// ---- KdTree -------------------------------------------------------------------------------------

void KdTree::Build(MatrixView x) {
    d_ = x.cols;
    const std::size_t n = x.rows;
    std::vector<std::uint32_t> perm(n);
    for (std::size_t i = 0; i < n; ++i) perm[i] = static_cast<std::uint32_t>(i);
    nodes_.clear();
    lo_.clear();
    hi_.clear();
    struct Task {
        std::uint32_t node, begin, end;
    };
    std::vector<Task> stack;
    nodes_.push_back({0, static_cast<std::uint32_t>(n), 0, 0});
    stack.push_back({0, 0, static_cast<std::uint32_t>(n)});
    std::vector<double> lo(d_), hi(d_);
    while (!stack.empty()) {
        const Task t = stack.back();
        stack.pop_back();
        std::fill(lo.begin(), lo.end(), std::numeric_limits<double>::infinity());
        std::fill(hi.begin(), hi.end(), -std::numeric_limits<double>::infinity());
        for (std::uint32_t p = t.begin; p < t.end; ++p) {
            const double* row = x.data + static_cast<std::size_t>(perm[p]) * d_;
            for (std::size_t j = 0; j < d_; ++j) {
                lo[j] = std::min(lo[j], row[j]);
                hi[j] = std::max(hi[j], row[j]);
            }
        }
        if (lo_.size() < (t.node + 1) * d_) {
            const std::size_t size = std::max(lo_.size() * 2, (t.node + 1) * d_);
            lo_.resize(size);
            hi_.resize(size);
        }
        std::copy(lo.begin(), lo.end(), lo_.begin() + t.node * d_);
        std::copy(hi.begin(), hi.end(), hi_.begin() + t.node * d_);
        if (t.end - t.begin <= kLeafSize) continue;  // leaf
        std::size_t dim = 0;
        for (std::size_t j = 1; j < d_; ++j)
            if (hi[j] - lo[j] > hi[dim] - lo[dim]) dim = j;
        const std::uint32_t mid = t.begin + (t.end - t.begin) / 2;
        std::nth_element(perm.begin() + t.begin, perm.begin() + mid, perm.begin() + t.end,
                         [&](std::uint32_t a, std::uint32_t b) {
                             const double va = x.data[static_cast<std::size_t>(a) * d_ + dim];
                             const double vb = x.data[static_cast<std::size_t>(b) * d_ + dim];
                             return va < vb || (va == vb && a < b);
                         });
        const auto left = static_cast<std::uint32_t>(nodes_.size());
        nodes_[t.node].left = left;
        nodes_[t.node].right = left + 1;
        nodes_.push_back({t.begin, mid, 0, 0});
        nodes_.push_back({mid, t.end, 0, 0});
        stack.push_back({left + 1, mid, t.end});
        stack.push_back({left, t.begin, mid});
    }
    lo_.resize(nodes_.size() * d_);
    hi_.resize(nodes_.size() * d_);
    lo_.shrink_to_fit();
    hi_.shrink_to_fit();
    points_.resize(n * d_);
    for (std::size_t p = 0; p < n; ++p)
        std::copy_n(x.data + static_cast<std::size_t>(perm[p]) * d_, d_, points_.data() + p * d_);
    index_ = std::move(perm);
}

double KdTree::Diameter2(std::size_t i) const {
    const double* lo = lo_.data() + i * d_;
    const double* hi = hi_.data() + i * d_;
    double s = 0.0;
    for (std::size_t j = 0; j < d_; ++j) {
        const double t = hi[j] - lo[j];
        s += t * t;
    }
    return s;
}

void KdTree::KnnNode(std::uint32_t node, const double* q, TopK& top, std::uint32_t exclude) const {
    const Node& n = nodes_[node];
    if (n.left == 0) {
        for (std::uint32_t p = n.begin; p < n.end; ++p) {
            if (index_[p] == exclude) continue;
            top.Push(SquaredDistance(q, Point(p), d_), index_[p]);
        }
        return;
    }
    const double dl = MinDist2(n.left, q);
    const double dr = MinDist2(n.right, q);
    if (dl <= dr) {
        if (dl < top.Worst()) KnnNode(n.left, q, top, exclude);
        if (dr < top.Worst()) KnnNode(n.right, q, top, exclude);
    } else {
        if (dr < top.Worst()) KnnNode(n.right, q, top, exclude);
        if (dl < top.Worst()) KnnNode(n.left, q, top, exclude);
    }
}

void KdTree::CountNode(std::uint32_t node, const double* q, double r2, std::size_t cap,
                       std::size_t& count) const {
    const Node& n = nodes_[node];
    if (MaxDist2(node, q) <= r2) {
        count += n.end - n.begin;
        return;
    }
    if (n.left == 0) {
        for (std::uint32_t p = n.begin; p < n.end && count < cap; ++p)
            if (SquaredDistance(q, Point(p), d_) <= r2) ++count;
        return;
    }
    if (count < cap && MinDist2(n.left, q) <= r2) CountNode(n.left, q, r2, cap, count);
    if (count < cap && MinDist2(n.right, q) <= r2) CountNode(n.right, q, r2, cap, count);
}

// ---- NeighborIndex ------------------------------------------------------------------------------

void NeighborIndex::Build(MatrixView train) {
    train_ = train;
    use_tree_ = train.cols <= kMaxTreeDims;
    if (use_tree_) tree_.Build(train);
}

namespace {
void Emit(const TopK& top, std::size_t row, KnnResult& out, bool with_index) {
    const std::size_t k = out.k;
    for (std::size_t j = 0; j < k; ++j) {
        out.dist[row * k + j] = std::sqrt(top.dist2(j));
        if (with_index) out.index[row * k + j] = top.index(j);
    }
}
}  // namespace

KnnResult NeighborIndex::KnnTraining(std::size_t k, unsigned threads, bool with_index) const {
    KnnResult out;
    out.k = k;
    const std::size_t n = train_.rows;
    out.dist.resize(n * k);
    if (with_index) out.index.resize(n * k);
    if (!use_tree_) {
        BruteForce(train_, true, k, threads, out);
        return out;
    }
    // Queries in tree order: consecutive queries are close, so their searches share cache lines.
    // Rows with identical coordinates sit next to each other in tree order (median splits keep
    // equal values together only approximately, so runs are detected, not assumed): the first row
    // of a run (its leader) is searched; for a later row p the leader's list with p replaced by
    // the leader is an exact k-NN list of p (same distances). The leader of a run is found the
    // same way whatever the chunking, so results do not depend on the thread count.
    const std::size_t d = train_.cols;
    ParallelChunks(n, n < 4096 ? 1u : threads, [&](std::size_t b, std::size_t e, unsigned) {
        TopK top(k);
        std::size_t leader = n;  // position whose result `top` holds
        auto same = [&](std::size_t a, std::size_t c) {
            return std::equal(tree_.Point(a), tree_.Point(a) + d, tree_.Point(c));
        };
        for (std::size_t p = b; p < e; ++p) {
            const std::uint32_t row = tree_.Original(p);
            std::size_t lead = p;
            if (leader != n && p > 0 && same(p, p - 1)) {
                lead = leader;
            } else {
                while (lead > 0 && same(lead, lead - 1)) --lead;
            }
            if (lead != leader) {
                top.Reset();
                tree_.Knn(tree_.Point(lead), top, tree_.Original(lead));
                leader = lead;
            }
            if (lead == p) {
                Emit(top, row, out, with_index);
                continue;
            }
            const std::uint32_t lead_row = tree_.Original(lead);
            for (std::size_t j = 0; j < k; ++j) {
                out.dist[row * k + j] = std::sqrt(top.dist2(j));
                if (with_index) {
                    const std::uint32_t idx = top.index(j);
                    out.index[row * k + j] = idx == row ? lead_row : idx;
                }
            }
        }
    });
    return out;
}

KnnResult NeighborIndex::KnnQuery(MatrixView q, std::size_t k, unsigned threads,
                                  bool with_index) const {
    KnnResult out;
    out.k = k;
    out.dist.resize(q.rows * k);
    if (with_index) out.index.resize(q.rows * k);
    if (!use_tree_) {
        BruteForce(q, false, k, threads, out);
        return out;
    }
    ParallelChunks(q.rows, q.rows < 4096 ? 1u : threads,
                   [&](std::size_t b, std::size_t e, unsigned) {
                       TopK top(k);
                       for (std::size_t i = b; i < e; ++i) {
                           top.Reset();
                           tree_.Knn(q.data + i * q.cols, top, kNoIndex);
                           Emit(top, i, out, with_index);
                       }
                   });
    return out;
}

// Exact blocked brute force: a block of kBlock query rows is transposed so that one pass over a
// training row updates all kBlock squared distances with vector instructions; each distance is
// still summed over the features in index order (bit-identical to SquaredDistance).
void NeighborIndex::BruteForce(MatrixView q, bool training, std::size_t k, unsigned threads,
                               KnnResult& out) const {
    constexpr std::size_t kBlock = 32;
    const std::size_t d = q.cols;
    const std::size_t n = train_.rows;
    const std::size_t blocks = (q.rows + kBlock - 1) / kBlock;
    const bool with_index = !out.index.empty();
    ParallelChunks(blocks, q.rows < 512 ? 1u : threads,
                   [&](std::size_t bb, std::size_t be, unsigned) {
                       std::vector<double> qt(d * kBlock);
                       std::array<double, kBlock> acc;
                       std::vector<TopK> tops(kBlock, TopK(k));
                       for (std::size_t blk = bb; blk < be; ++blk) {
                           const std::size_t q0 = blk * kBlock;
                           const std::size_t m = std::min(kBlock, q.rows - q0);
                           for (std::size_t i = 0; i < kBlock; ++i) {
                               const double* row = q.data + (q0 + std::min(i, m - 1)) * d;
                               for (std::size_t j = 0; j < d; ++j) qt[j * kBlock + i] = row[j];
                               tops[i].Reset();
                           }
                           for (std::size_t r = 0; r < n; ++r) {
                               const double* ref = train_.data + r * d;
                               acc.fill(0.0);
                               for (std::size_t j = 0; j < d; ++j) {
                                   const double rj = ref[j];
                                   const double* col = qt.data() + j * kBlock;
                                   for (std::size_t i = 0; i < kBlock; ++i) {
                                       const double t = col[i] - rj;
                                       acc[i] += t * t;
                                   }
                               }
                               for (std::size_t i = 0; i < m; ++i) {
                                   if (acc[i] < tops[i].Worst() && !(training && q0 + i == r))
                                       tops[i].Push(acc[i], static_cast<std::uint32_t>(r));
                               }
                           }
                           for (std::size_t i = 0; i < m; ++i)
                               Emit(tops[i], q0 + i, out, with_index);
                       }
                   });
}

Result<void> NeighborModel::CheckTraining(MatrixView x, std::size_t k, std::string_view name) {
    TXG_RETURN_IF_ERROR(CheckFiniteMatrix(x, 0, std::string(name) + " fit"));
    if (k >= x.rows)
        return MakeError(ErrorCode::kInvalidArgument,
                         std::string(name) + ": parameter k=" + std::to_string(k) +
                             " must be less than the number of training rows (" +
                             std::to_string(x.rows) + ")",
                         "use a smaller k or more training rows");
    if (x.rows >= kNoIndex)
        return MakeError(ErrorCode::kInvalidArgument,
                         std::string(name) + ": too many training rows");
    return Ok();
}

void NeighborModel::Build(MatrixView x) {
    standardizer.Fit(x);
    train = standardizer.Apply(x);
    index.Build(train);
}

void NeighborModel::Save(ByteWriter& w) const {
    standardizer.Save(w);
    w.Put<std::uint64_t>(train.rows());
    w.PutVector(std::vector<double>(train.data(), train.data() + train.rows() * train.cols()));
}

Result<void> NeighborModel::Load(ByteReader& r, std::size_t cols, std::size_t k) {
    TXG_RETURN_IF_ERROR(standardizer.Load(r, cols));
    auto rows = r.Get<std::uint64_t>();
    if (!rows) return std::unexpected(rows.error());
    auto data = r.GetVector<double>();
    if (!data) return std::unexpected(data.error());
    if (*rows <= k || *rows >= kNoIndex || data->size() != *rows * cols)
        return r.Corrupt("inconsistent training data size");
    for (double v : *data)
        if (!std::isfinite(v)) return r.Corrupt("non-finite training value");
    train = Matrix(*rows, cols);
    std::copy(data->begin(), data->end(), train.data());
    index.Build(train);
    return Ok();
}

}  // namespace txguard::detail
