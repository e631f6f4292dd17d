#pragma once
// Exact nearest-neighbour machinery shared by the KNN, LOF and DBSCAN detectors (private header).
//
// Distances are Euclidean. A squared distance is always summed over the features in index order,
// sum_j (a_j - b_j)^2, exactly as scikit-learn's KD-tree computes it, so the values are
// bit-identical to scikit-learn's for the same standardised inputs. Pruning bounds (box min/max
// distances) are computed with the same per-feature formula; floating-point subtraction, squaring
// and addition are monotone, so a bound never disagrees with the exact point distance it bounds
// and no neighbour at distance <= r is ever pruned or wrongly included.
//
//   Standardizer  z-scores with the population standard deviation (numpy's X.std(0)); a constant
//                 column maps to 0.
//   KdTree        k-d tree (Bentley 1975; Friedman, Bentley, Finkel 1977) with scikit-learn's
//                 KDTree layout (balanced, median splits on the widest dimension, leaves of
//                 leaf_size..2*leaf_size points), points copied into tree order. Build
//                 O(n log n); a k-NN query about O(log n + k) for low dimensions.
//   NeighborHeap  scikit-learn's fixed-size max-heap and its sort, so ties at the k-th distance
//                 are resolved as scikit-learn resolves them.
//   DistanceBlock the blocked brute-force distance kernel (32 query rows at a time).
//   NeighborIndex k nearest neighbours of every training row (as scikit-learn's kneighbors()
//                 without X: k + 1 searched with the row itself, then the row removed) or of new
//                 rows. Chooses the k-d tree for d <= 15 and blocked exact brute force above
//                 (scikit-learn's own rule for algorithm='auto'), on `threads` threads.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

#include "txguard/core/bytes.hpp"
#include "txguard/core/matrix.hpp"
#include "txguard/core/result.hpp"

namespace txguard::detail {

inline double SquaredDistance(const double* a, const double* b, std::size_t d) {
    double s = 0.0;
    for (std::size_t j = 0; j < d; ++j) {
        const double t = a[j] - b[j];
        s += t * t;
    }
    return s;
}

// numpy's sum of a contiguous array (pairwise summation, 8 partial sums per block of up to 128),
// so that means over neighbour lists round exactly as scikit-learn's np.mean(..., axis=1) does.
inline double NumpySum(const double* a, std::size_t n) {
    if (n < 8) {
        double s = -0.0;
        for (std::size_t i = 0; i < n; ++i) s += a[i];
        return s;
    }
    if (n <= 128) {
        double r[8];
        for (std::size_t j = 0; j < 8; ++j) r[j] = a[j];
        std::size_t i = 8;
        for (; i < n - (n % 8); i += 8)
            for (std::size_t j = 0; j < 8; ++j) r[j] += a[i + j];
        double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; ++i) s += a[i];
        return s;
    }
    std::size_t n2 = n / 2;
    n2 -= n2 % 8;
    return NumpySum(a, n2) + NumpySum(a + n2, n - n2);
}

// z = (x - mean) / std with numpy's population std (sequential sums, as numpy reduces axis 0);
// a column whose values are all equal gets scale 0 and maps to 0.
class Standardizer {
  public:
    void Fit(MatrixView x);
    void Apply(MatrixView x, double* out) const;  // out: x.rows * x.cols
    Matrix Apply(MatrixView x) const;
    std::size_t cols() const { return mean_.size(); }
    void Save(ByteWriter& w) const;
    Result<void> Load(ByteReader& r, std::size_t cols);

  private:
    std::vector<double> mean_;
    std::vector<double> scale_;  // population std; 0 marks a constant column
};

// The k best candidates so far: scikit-learn's NeighborsHeap, literally (a fixed-size max-heap of
// squared distances initialised to +inf; sklearn/utils/_heap.pyx heap_push). A candidate that is
// not strictly closer than the current worst is rejected; an accepted one replaces the root and
// sinks. Which of several candidates tied at the k-th distance survive therefore depends on the
// order of the pushes and on the heap's shape, exactly as in scikit-learn, so a search that pushes
// in scikit-learn's order keeps scikit-learn's neighbours (the indices, not only the distances).
class NeighborHeap {
  public:
    // The arrays hold 2k + 1 slots: slots k.. are -inf sentinels, so a sinking entry stops at the
    // bottom without bounds tests (a missing child never compares greater).
    explicit NeighborHeap(std::size_t k) : k_(k), dist2_(2 * k + 1), index_(k) { Reset(); }
    void Reset() {
        std::fill(dist2_.begin(), dist2_.begin() + k_, std::numeric_limits<double>::infinity());
        std::fill(dist2_.begin() + k_, dist2_.end(), -std::numeric_limits<double>::infinity());
        std::fill(index_.begin(), index_.end(), 0u);
    }
    std::size_t k() const { return k_; }
    // The k-th best squared distance so far (+inf until k candidates were accepted).
    double Worst() const { return dist2_[0]; }
    // heap_push: the same comparisons as scikit-learn's (the larger child, the left one when
    // equal, takes the place of an entry that is not strictly larger than it).
    void Push(double d2, std::uint32_t idx) {
        if (!(d2 < dist2_[0])) return;
        double* v = dist2_.data();
        std::size_t i = 0;
        while (true) {
            const std::size_t l = 2 * i + 1;
            const std::size_t c = l + static_cast<std::size_t>(v[l] < v[l + 1]);
            if (!(d2 < v[c])) break;
            v[i] = v[c];
            index_[i] = index_[c];
            i = c;
        }
        v[i] = d2;
        index_[i] = idx;
    }
    // Sorts the entries by distance with scikit-learn's simultaneous_sort (sklearn/utils/
    // _sorting.pyx: quicksort, median-of-three pivot, not stable), so that tied entries end up in
    // the same order as scikit-learn's. The heap property is gone afterwards: Reset() before the
    // next search.
    void Sort() { SimultaneousSort(dist2_.data(), index_.data(), k_); }
    double dist2(std::size_t i) const { return dist2_[i]; }
    std::uint32_t index(std::size_t i) const { return index_[i]; }

  private:
    static void SimultaneousSort(double* v, std::uint32_t* idx, std::size_t size);

    std::size_t k_;
    std::vector<double> dist2_;
    std::vector<std::uint32_t> index_;
};

inline constexpr std::uint32_t kNoIndex = std::numeric_limits<std::uint32_t>::max();

// scikit-learn's KDTree layout (sklearn/neighbors/_binary_tree.pxi): a balanced tree of
// n_levels = 1 + floor(log2(max(1, (n - 1) / leaf_size))) levels, so leaves hold leaf_size to
// 2 * leaf_size points; a node splits on the dimension of largest spread (first on ties) at
// position n / 2 with std::nth_element ordered by (value, row), as scikit-learn's
// partition_node_indices does, so the tree order of the points is scikit-learn's idx_array.
class KdTree {
  public:
    // scikit-learn's default leaf_size (NearestNeighbors, LocalOutlierFactor, DBSCAN).
    static constexpr std::size_t kSklearnLeafSize = 30;

    // Indexes the rows of x (copied). x.rows < 2^32 - 1, leaf_size >= 1.
    void Build(MatrixView x, std::size_t leaf_size = kSklearnLeafSize);
    std::size_t size() const { return index_.size(); }
    std::size_t dims() const { return d_; }
    // Point at tree position `pos` and its row in the original matrix.
    const double* Point(std::size_t pos) const { return points_.data() + pos * d_; }
    std::uint32_t Original(std::size_t pos) const { return index_[pos]; }

    // Pushes the points near q into `heap` (indices are original rows) in scikit-learn's order:
    // depth first, the child with the smaller box distance first (the left one on ties), a node
    // skipped when its box distance exceeds the heap's worst, a leaf's points in tree order. With
    // the same tree this is scikit-learn's KDTree.query (dualtree=False, breadth_first=False), so
    // the heap ends with scikit-learn's neighbours, ties included.
    void Knn(const double* q, NeighborHeap& heap) const { KnnNode(0, q, heap); }
    // Number of points with squared distance <= r2, counting stops once it reaches `cap`.
    std::size_t CountWithin(const double* q, double r2, std::size_t cap) const {
        std::size_t count = 0;
        CountNode(0, q, r2, cap, count);
        return count;
    }
    // Calls on_point(pos) for every point with squared distance <= r2. When a whole node lies
    // within r2, on_node(node) is asked first and may return true to take the node at once.
    // prune(node), asked before a node is examined, may return true to skip it and its subtree.
    template <class OnPoint, class OnNode, class Prune>
    void VisitWithin(const double* q, double r2, OnPoint&& on_point, OnNode&& on_node,
                     Prune&& prune) const {
        VisitNode(0, q, r2, on_point, on_node, prune);
    }

    // Node structure, for algorithms that precompute per-node facts (DBSCAN).
    struct Node {
        std::uint32_t begin, end;   // tree positions [begin, end)
        std::uint32_t left, right;  // children; left == 0 for a leaf (the root is node 0)
    };
    const std::vector<Node>& nodes() const { return nodes_; }
    // Squared length of node i's bounding-box diagonal (>= any computed pair distance inside).
    double Diameter2(std::size_t i) const;

  private:
    double MinDist2(std::size_t node, const double* q) const {
        const double* lo = lo_.data() + node * d_;
        const double* hi = hi_.data() + node * d_;
        // scikit-learn's min_rdist: per feature max(lo - q, 0) + max(q - hi, 0) (one of them is
        // 0), squared, summed in feature order; written without branches.
        double s = 0.0;
        for (std::size_t j = 0; j < d_; ++j) {
            const double a = lo[j] - q[j];
            const double b = q[j] - hi[j];
            const double t = (a > 0.0 ? a : 0.0) + (b > 0.0 ? b : 0.0);
            s += t * t;
        }
        return s;
    }
    double MaxDist2(std::size_t node, const double* q) const {
        const double* lo = lo_.data() + node * d_;
        const double* hi = hi_.data() + node * d_;
        double s = 0.0;
        for (std::size_t j = 0; j < d_; ++j) {
            const double a = std::fabs(q[j] - lo[j]);
            const double b = std::fabs(q[j] - hi[j]);
            const double t = a > b ? a : b;
            s += t * t;
        }
        return s;
    }
    void KnnNode(std::uint32_t node, const double* q, NeighborHeap& heap) const;
    void CountNode(std::uint32_t node, const double* q, double r2, std::size_t cap,
                   std::size_t& count) const;
    template <class OnPoint, class OnNode, class Prune>
    void VisitNode(std::uint32_t node, const double* q, double r2, OnPoint& on_point,
                   OnNode& on_node, Prune& prune) const {
        if (prune(node)) return;
        const Node& n = nodes_[node];
        if (MaxDist2(node, q) <= r2) {
            if (on_node(node)) return;
            for (std::uint32_t p = n.begin; p < n.end; ++p) on_point(p);
            return;
        }
        if (n.left == 0) {
            for (std::uint32_t p = n.begin; p < n.end; ++p)
                if (SquaredDistance(q, Point(p), d_) <= r2) on_point(p);
            return;
        }
        if (MinDist2(n.left, q) <= r2) VisitNode(n.left, q, r2, on_point, on_node, prune);
        if (MinDist2(n.right, q) <= r2) VisitNode(n.right, q, r2, on_point, on_node, prune);
    }

    std::size_t d_ = 0;
    std::vector<Node> nodes_;
    std::vector<double> lo_, hi_;  // bounding box per node, nodes * d
    std::vector<double> points_;   // tree order, row-major (n * d)
    std::vector<double> columns_;  // the same, column-major (d * n): leaf scans in vector registers
    std::vector<std::uint32_t> index_;
};

// k nearest neighbours: dist[i*k + j], index[i*k + j] for query i, j-th nearest (ascending).
struct KnnResult {
    std::size_t k = 0;
    bool squared = false;      // dist holds squared distances
    std::vector<double> dist;  // Euclidean distances (sqrt of the squared sums), or their squares
    std::vector<std::uint32_t> index;
};

// Per-feature shares of the squared distances from the point z to the training rows `rows`:
// w[f] = sum_j (z_f - t_jf)^2 / sum_j |z - t_j|^2 (w.size() == train.cols); all 0 when every
// distance is 0. The reasons (Contributions) of knn, lof and dbscan scale these to the score.
void SquaredDistanceShares(const double* z, MatrixView train, std::span<const std::uint32_t> rows,
                           std::span<double> w);

// Exact blocked brute force, the one kernel behind every brute-force search here (k-NN above 15
// features, DBSCAN's range counts and joins above 15 features): kBlock query rows are transposed
// so that one pass over a reference row computes all kBlock squared distances in vector
// registers. Each distance is still summed over the features in index order, so it is
// bit-identical to SquaredDistance (and to the k-d tree's distances).
class DistanceBlock {
  public:
    static constexpr std::size_t kBlock = 32;
    using Acc = std::array<double, kBlock>;

    // Loads rows [q0, q0 + size()) of q, size() = min(kBlock, q.rows - q0); slots past size()
    // repeat the last row.
    void Load(MatrixView q, std::size_t q0) {
        d_ = q.cols;
        m_ = std::min(kBlock, q.rows - q0);
        qt_.resize(d_ * kBlock);
        for (std::size_t i = 0; i < kBlock; ++i) {
            const double* row = q.data + (q0 + std::min(i, m_ - 1)) * d_;
            for (std::size_t j = 0; j < d_; ++j) qt_[j * kBlock + i] = row[j];
        }
    }
    std::size_t size() const { return m_; }
    // acc[i] = squared distance from block row i to the point `ref` (d values). The kernel is
    // compiled for AVX2 and for the baseline; the CPU picks at load time (see neighbors.cpp).
    void Distances(const double* ref, Acc& acc) const;

  private:
    std::size_t d_ = 0, m_ = 0;
    std::vector<double> qt_;
};

// Search structure over a fixed, already standardised training matrix.
class NeighborIndex {
  public:
    static constexpr std::size_t kMaxTreeDims = 15;

    // Keeps a view of `train` (the caller owns it and keeps it alive and unchanged). Uses a k-d
    // tree with `leaf_size` for up to kMaxTreeDims features, blocked brute force above.
    void Build(MatrixView train, std::size_t leaf_size = KdTree::kSklearnLeafSize);
    bool uses_tree() const { return use_tree_; }
    // Neighbours of every training row, as scikit-learn's kneighbors() without X: k + 1
    // neighbours are searched with the row itself among the candidates, then the row is removed
    // (or, when more than k + 1 rows share its coordinates and it was not kept, the first of the
    // sorted list, all at distance 0). k < rows. with_index = false skips storing indices.
    // squared = true stores squared distances in `dist`.
    KnnResult KnnTraining(std::size_t k, unsigned threads, bool with_index = true,
                          bool squared = false) const;
    // Neighbours of new (standardised) rows among the training rows.
    KnnResult KnnQuery(MatrixView q, std::size_t k, unsigned threads, bool with_index = true,
                       bool squared = false) const;
    // Squared distance from each new row to its nearest training row (out.size() == q.rows).
    void NearestDist2(MatrixView q, unsigned threads, std::span<double> out) const;
    const KdTree& tree() const { return tree_; }

  private:
    void BruteForce(MatrixView q, bool training, std::size_t k, unsigned threads,
                    KnnResult& out) const;

    MatrixView train_;
    bool use_tree_ = true;
    KdTree tree_;
};

// The standardised training set and its neighbour index: what knn and lof keep after Fit.
struct NeighborModel {
    Standardizer standardizer;
    Matrix train;  // standardised
    NeighborIndex index;

    // Checks the training matrix for a k-neighbour detector called `name` (finite values, more
    // rows than k, row ids that fit the index).
    static Result<void> CheckTraining(MatrixView x, std::size_t k, std::string_view name);
    // Standardises x and indexes it.
    void Build(MatrixView x);
    // Standardizer, row count and standardised rows.
    void Save(ByteWriter& w) const;
    // The inverse of Save, validated (more rows than k, finite values); rebuilds the index.
    Result<void> Load(ByteReader& r, std::size_t cols, std::size_t k);
};

}  // namespace txguard::detail
