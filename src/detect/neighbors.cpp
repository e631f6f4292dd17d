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

// ---- NeighborHeap -------------------------------------------------------------------------------

void NeighborHeap::SimultaneousSort(double* v, std::uint32_t* idx, std::size_t size) {
    // scikit-learn's simultaneous_sort, statement for statement; its second recursive call is a
    // loop here (same order of operations, bounded stack when many distances are equal).
    auto swap = [&](std::size_t a, std::size_t b) {
        std::swap(v[a], v[b]);
        std::swap(idx[a], idx[b]);
    };
    while (true) {
        if (size <= 1) return;
        if (size == 2) {
            if (v[0] > v[1]) swap(0, 1);
            return;
        }
        if (size == 3) {
            if (v[0] > v[1]) swap(0, 1);
            if (v[1] > v[2]) {
                swap(1, 2);
                if (v[0] > v[1]) swap(0, 1);
            }
            return;
        }
        std::size_t pivot = size / 2;
        if (v[0] > v[size - 1]) swap(0, size - 1);
        if (v[size - 1] > v[pivot]) {
            swap(size - 1, pivot);
            if (v[0] > v[size - 1]) swap(0, size - 1);
        }
        const double pivot_val = v[size - 1];
        std::size_t store = 0;
        for (std::size_t i = 0; i + 1 < size; ++i) {
            if (v[i] < pivot_val) {
                swap(i, store);
                ++store;
            }
        }
        swap(store, size - 1);
        pivot = store;
        if (pivot > 1) SimultaneousSort(v, idx, pivot);
        if (!(pivot + 2 < size)) return;
        v += pivot + 1;
        idx += pivot + 1;
        size -= pivot + 1;
    }
}

// ---- KdTree -------------------------------------------------------------------------------------

void KdTree::Build(MatrixView x, std::size_t leaf_size) {
    d_ = x.cols;
    const std::size_t n = x.rows;
    std::vector<std::uint32_t> perm(n);
    for (std::size_t i = 0; i < n; ++i) perm[i] = static_cast<std::uint32_t>(i);
    nodes_.clear();
    lo_.clear();
    hi_.clear();
    // scikit-learn: n_levels = int(np.log2(fmax(1, (n_samples - 1) / leaf_size)) + 1); nodes on
    // the last level are leaves.
    const double ratio =
        std::max(1.0, static_cast<double>(n == 0 ? 0 : n - 1) / static_cast<double>(leaf_size));
    const auto levels = static_cast<std::size_t>(std::log2(ratio) + 1.0);
    struct Task {
        std::uint32_t node, begin, end, level;
    };
    std::vector<Task> stack;
    nodes_.push_back({0, static_cast<std::uint32_t>(n), 0, 0});
    stack.push_back({0, 0, static_cast<std::uint32_t>(n), 0});
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
        if (t.level + 1 >= levels || t.end - t.begin < 2) continue;  // leaf
        // find_node_split_dim: the first dimension of largest spread.
        std::size_t dim = 0;
        double spread = 0.0;
        for (std::size_t j = 0; j < d_; ++j) {
            if (hi[j] - lo[j] > spread) {
                spread = hi[j] - lo[j];
                dim = j;
            }
        }
        // partition_node_indices: std::nth_element at n_points / 2 ordered by (value, row).
        const std::uint32_t mid = t.begin + (t.end - t.begin) / 2;
        std::nth_element(perm.begin() + t.begin, perm.begin() + mid, perm.begin() + t.end,
                         [&](std::uint32_t a, std::uint32_t b) {
                             const double va = x.data[static_cast<std::size_t>(a) * d_ + dim];
                             const double vb = x.data[static_cast<std::size_t>(b) * d_ + dim];
                             return va == vb ? a < b : va < vb;
                         });
        const auto left = static_cast<std::uint32_t>(nodes_.size());
        nodes_[t.node].left = left;
        nodes_[t.node].right = left + 1;
        nodes_.push_back({t.begin, mid, 0, 0});
        nodes_.push_back({mid, t.end, 0, 0});
        stack.push_back({left + 1, mid, t.end, t.level + 1});
        stack.push_back({left, t.begin, mid, t.level + 1});
    }
    lo_.resize(nodes_.size() * d_);
    hi_.resize(nodes_.size() * d_);
    lo_.shrink_to_fit();
    hi_.shrink_to_fit();
    points_.resize(n * d_);
    columns_.resize(n * d_);
    for (std::size_t p = 0; p < n; ++p) {
        const double* row = x.data + static_cast<std::size_t>(perm[p]) * d_;
        std::copy_n(row, d_, points_.data() + p * d_);
        for (std::size_t j = 0; j < d_; ++j) columns_[j * n + p] = row[j];
    }
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

namespace {
// out[p] = squared distance from q to points [0, count) of a column-major block (column j of the
// block starts at cols + j * stride), summed over the features in index order (bit-identical to
// SquaredDistance); vectorised across the points.
__attribute__((target_clones("avx2", "default"))) void ColumnDistances(
    const double* q, const double* cols, std::size_t stride, std::size_t d, std::size_t count,
    double* out) {
    for (std::size_t p = 0; p < count; ++p) out[p] = 0.0;
    for (std::size_t j = 0; j < d; ++j) {
        const double qj = q[j];
        const double* c = cols + j * stride;
        for (std::size_t p = 0; p < count; ++p) {
            const double t = qj - c[p];
            out[p] += t * t;
        }
    }
}
}  // namespace

void KdTree::KnnNode(std::uint32_t node, const double* q, NeighborHeap& heap) const {
    const Node& n = nodes_[node];
    if (n.left == 0) {
        constexpr std::size_t kChunk = 128;
        double d2[kChunk];
        const std::size_t size = index_.size();
        for (std::uint32_t b = n.begin; b < n.end; b += kChunk) {
            const std::size_t count = std::min<std::size_t>(kChunk, n.end - b);
            ColumnDistances(q, columns_.data() + b, size, d_, count, d2);
            for (std::size_t i = 0; i < count; ++i)
                if (d2[i] < heap.Worst()) heap.Push(d2[i], index_[b + i]);
        }
        return;
    }
    // _query_single_depthfirst: a child is trimmed when its bound exceeds the worst (strictly).
    const double dl = MinDist2(n.left, q);
    const double dr = MinDist2(n.right, q);
    if (dl <= dr) {
        if (!(dl > heap.Worst())) KnnNode(n.left, q, heap);
        if (!(dr > heap.Worst())) KnnNode(n.right, q, heap);
    } else {
        if (!(dr > heap.Worst())) KnnNode(n.right, q, heap);
        if (!(dl > heap.Worst())) KnnNode(n.left, q, heap);
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

// ---- DistanceBlock ------------------------------------------------------------------------------

namespace {
// Compiled for AVX2 as well as the baseline (the CPU picks at load time). No FMA: each squared
// difference is rounded before it is added, in feature order, in every version. (File-local: a
// multiversioned function must not be called from other translation units, where GCC would emit
// a resolver without the clones.)
__attribute__((target_clones("avx2", "default"))) void BlockDistances(const double* qt,
                                                                      std::size_t d,
                                                                      const double* ref,
                                                                      DistanceBlock::Acc& acc) {
    constexpr std::size_t kBlock = DistanceBlock::kBlock;
    double a[kBlock] = {};
    for (std::size_t j = 0; j < d; ++j) {
        const double rj = ref[j];
        const double* col = qt + j * kBlock;
        for (std::size_t i = 0; i < kBlock; ++i) {
            const double t = col[i] - rj;
            a[i] += t * t;
        }
    }
    for (std::size_t i = 0; i < kBlock; ++i) acc[i] = a[i];
}
}  // namespace

void DistanceBlock::Distances(const double* ref, Acc& acc) const {
    BlockDistances(qt_.data(), d_, ref, acc);
}

// ---- NeighborIndex ------------------------------------------------------------------------------

void NeighborIndex::Build(MatrixView train, std::size_t leaf_size) {
    train_ = train;
    use_tree_ = train.cols <= kMaxTreeDims;
    if (use_tree_) tree_.Build(train, leaf_size);
}

namespace {
// Writes a sorted heap as row `row` of `out`. training: the heap holds k + 1 entries searched with
// the query row `self` among the candidates; scikit-learn's kneighbors() then drops `self`, or the
// first entry when `self` is not among them (more than k + 1 rows at distance 0).
void Emit(const NeighborHeap& heap, std::size_t row, bool training, std::uint32_t self,
          KnnResult& out) {
    const std::size_t k = out.k;
    const bool with_index = !out.index.empty();
    std::size_t skip = k + 1;  // nothing skipped
    if (training) {
        skip = 0;
        for (std::size_t j = 0; j <= k; ++j)
            if (heap.index(j) == self) {
                skip = j;
                break;
            }
    }
    std::size_t o = row * k;
    for (std::size_t j = 0; j < heap.k(); ++j) {
        if (j == skip) continue;
        out.dist[o] = out.squared ? heap.dist2(j) : std::sqrt(heap.dist2(j));
        if (with_index) out.index[o] = heap.index(j);
        ++o;
    }
}
}  // namespace

KnnResult NeighborIndex::KnnTraining(std::size_t k, unsigned threads, bool with_index,
                                     bool squared) const {
    KnnResult out;
    out.k = k;
    out.squared = squared;
    const std::size_t n = train_.rows;
    out.dist.resize(n * k);
    if (with_index) out.index.resize(n * k);
    if (!use_tree_) {
        BruteForce(train_, true, k, threads, out);
        return out;
    }
    // Queries in tree order: consecutive queries are close, so their searches share cache lines.
    // Rows with identical coordinates give identical searches (the query point is the same and
    // the row itself is only removed afterwards); they sit next to each other in tree order
    // (detected, not assumed), and the first of a run (its leader) is searched once for all.
    const std::size_t d = train_.cols;
    ParallelChunks(n, n < 1024 ? 1u : threads, [&](std::size_t b, std::size_t e, unsigned) {
        NeighborHeap heap(k + 1);
        std::size_t leader = n;  // position whose search `heap` holds
        auto same = [&](std::size_t a, std::size_t c) {
            return std::equal(tree_.Point(a), tree_.Point(a) + d, tree_.Point(c));
        };
        for (std::size_t p = b; p < e; ++p) {
            const bool same_as_prev = p > b && same(p, p - 1);
            if (!(same_as_prev && leader != n)) {
                heap.Reset();
                tree_.Knn(tree_.Point(p), heap);
                heap.Sort();
                leader = p;
            }
            const std::uint32_t row = tree_.Original(p);
            Emit(heap, row, true, row, out);
        }
    });
    return out;
}

KnnResult NeighborIndex::KnnQuery(MatrixView q, std::size_t k, unsigned threads, bool with_index,
                                  bool squared) const {
    KnnResult out;
    out.k = k;
    out.squared = squared;
    out.dist.resize(q.rows * k);
    if (with_index) out.index.resize(q.rows * k);
    if (!use_tree_) {
        BruteForce(q, false, k, threads, out);
        return out;
    }
    ParallelChunks(q.rows, q.rows < 1024 ? 1u : threads,
                   [&](std::size_t b, std::size_t e, unsigned) {
                       NeighborHeap heap(k);
                       for (std::size_t i = b; i < e; ++i) {
                           heap.Reset();
                           tree_.Knn(q.data + i * q.cols, heap);
                           heap.Sort();
                           Emit(heap, i, false, kNoIndex, out);
                       }
                   });
    return out;
}

void NeighborIndex::NearestDist2(MatrixView q, unsigned threads, std::span<double> out) const {
    if (use_tree_) {
        ParallelChunks(q.rows, q.rows < 1024 ? 1u : threads,
                       [&](std::size_t b, std::size_t e, unsigned) {
                           NeighborHeap heap(1);
                           for (std::size_t i = b; i < e; ++i) {
                               heap.Reset();
                               tree_.Knn(q.data + i * q.cols, heap);
                               out[i] = heap.dist2(0);
                           }
                       });
        return;
    }
    const std::size_t blocks = (q.rows + DistanceBlock::kBlock - 1) / DistanceBlock::kBlock;
    ParallelChunks(blocks, q.rows < 512 ? 1u : threads,
                   [&](std::size_t bb, std::size_t be, unsigned) {
                       DistanceBlock block;
                       DistanceBlock::Acc acc, best;
                       for (std::size_t blk = bb; blk < be; ++blk) {
                           block.Load(q, blk * DistanceBlock::kBlock);
                           best.fill(std::numeric_limits<double>::infinity());
                           for (std::size_t r = 0; r < train_.rows; ++r) {
                               block.Distances(train_.data + r * train_.cols, acc);
                               for (std::size_t i = 0; i < DistanceBlock::kBlock; ++i)
                                   best[i] = acc[i] < best[i] ? acc[i] : best[i];
                           }
                           for (std::size_t i = 0; i < block.size(); ++i)
                               out[blk * DistanceBlock::kBlock + i] = best[i];
                       }
                   });
}

// Exact blocked brute force. Candidates are pushed in row order, as scikit-learn's brute-force
// ArgKmin pushes them (its distances come from the |x|^2 - 2 x.y + |y|^2 expansion, so they may
// differ from these exact ones in the last bits).
void NeighborIndex::BruteForce(MatrixView q, bool training, std::size_t k, unsigned threads,
                               KnnResult& out) const {
    constexpr std::size_t kBlock = DistanceBlock::kBlock;
    const std::size_t n = train_.rows;
    const std::size_t blocks = (q.rows + kBlock - 1) / kBlock;
    const std::size_t heap_k = training ? k + 1 : k;
    ParallelChunks(
        blocks, q.rows < 512 ? 1u : threads, [&](std::size_t bb, std::size_t be, unsigned) {
            DistanceBlock block;
            DistanceBlock::Acc acc;
            std::vector<NeighborHeap> heaps(kBlock, NeighborHeap(heap_k));
            for (std::size_t blk = bb; blk < be; ++blk) {
                const std::size_t q0 = blk * kBlock;
                block.Load(q, q0);
                const std::size_t m = block.size();
                for (std::size_t i = 0; i < m; ++i) heaps[i].Reset();
                for (std::size_t r = 0; r < n; ++r) {
                    block.Distances(train_.data + r * train_.cols, acc);
                    for (std::size_t i = 0; i < m; ++i)
                        if (acc[i] < heaps[i].Worst())
                            heaps[i].Push(acc[i], static_cast<std::uint32_t>(r));
                }
                for (std::size_t i = 0; i < m; ++i) {
                    heaps[i].Sort();
                    Emit(heaps[i], q0 + i, training, static_cast<std::uint32_t>(q0 + i), out);
                }
            }
        });
}

void SquaredDistanceShares(const double* z, MatrixView train, std::span<const std::uint32_t> rows,
                           std::span<double> w) {
    const std::size_t d = train.cols;
    std::fill(w.begin(), w.end(), 0.0);
    double total = 0.0;
    for (const std::uint32_t r : rows) {
        const double* t = train.data + static_cast<std::size_t>(r) * d;
        for (std::size_t f = 0; f < d; ++f) {
            const double diff = z[f] - t[f];
            w[f] += diff * diff;
            total += diff * diff;
        }
    }
    if (total > 0.0)
        for (double& v : w) v /= total;
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
