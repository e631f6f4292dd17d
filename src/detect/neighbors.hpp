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
//   KdTree        k-d tree (Bentley 1975; Friedman, Bentley, Finkel 1977): median splits on the
//                 widest dimension, leaves of <= 16 points, points copied into tree order.
//                 Build O(n log n); a k-NN query about O(log n + k) for low dimensions.
//   KnnAll        k nearest neighbours of every training row, the row itself excluded (it is not
//                 its own neighbour, as scikit-learn's kneighbors() without X), or of new rows.
//                 Chooses the KD-tree for d <= 15 and blocked exact brute force above
//                 (scikit-learn's own rule), on `threads` threads.
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

// The k best neighbours so far, sorted by squared distance. A candidate equal to the current
// k-th distance does not replace it (ties keep the first found).
class TopK {
  public:
    explicit TopK(std::size_t k) : k_(k), dist2_(k), index_(k) {}
    void Reset() { size_ = 0; }
    std::size_t size() const { return size_; }
    std::size_t k() const { return k_; }
    double Worst() const {
        return size_ < k_ ? std::numeric_limits<double>::infinity() : dist2_[k_ - 1];
    }
    void Push(double d2, std::uint32_t idx) {
        if (size_ == k_) {
            if (!(d2 < dist2_[k_ - 1])) return;
        } else {
            ++size_;
        }
        std::size_t i = size_ - 1;
        while (i > 0 && dist2_[i - 1] > d2) {
            dist2_[i] = dist2_[i - 1];
            index_[i] = index_[i - 1];
            --i;
        }
        dist2_[i] = d2;
        index_[i] = idx;
    }
    double dist2(std::size_t i) const { return dist2_[i]; }
    std::uint32_t index(std::size_t i) const { return index_[i]; }

  private:
    std::size_t k_;
    std::size_t size_ = 0;
    std::vector<double> dist2_;
    std::vector<std::uint32_t> index_;
};

inline constexpr std::uint32_t kNoIndex = std::numeric_limits<std::uint32_t>::max();

class KdTree {
  public:
    static constexpr std::size_t kLeafSize = 16;

    // Indexes the rows of x (copied). x.rows < 2^32 - 1.
    void Build(MatrixView x);
    std::size_t size() const { return index_.size(); }
    std::size_t dims() const { return d_; }
    // Point at tree position `pos` and its row in the original matrix.
    const double* Point(std::size_t pos) const { return points_.data() + pos * d_; }
    std::uint32_t Original(std::size_t pos) const { return index_[pos]; }

    // Adds the nearest points to `top` (indices are original rows), skipping row `exclude`.
    void Knn(const double* q, TopK& top, std::uint32_t exclude) const {
        KnnNode(0, q, top, exclude);
    }
    // Number of points with squared distance <= r2, counting stops once it reaches `cap`.
    std::size_t CountWithin(const double* q, double r2, std::size_t cap) const {
        std::size_t count = 0;
        CountNode(0, q, r2, cap, count);
        return count;
    }
    // Calls on_point(pos) for every point with squared distance <= r2. When a whole node lies
    // within r2, on_node(node) is asked first and may return true to take the node at once.
    template <class OnPoint, class OnNode>
    void VisitWithin(const double* q, double r2, OnPoint&& on_point, OnNode&& on_node) const {
        VisitNode(0, q, r2, on_point, on_node);
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
        double s = 0.0;
        for (std::size_t j = 0; j < d_; ++j) {
            double t = 0.0;
            if (q[j] < lo[j]) {
                t = lo[j] - q[j];
            } else if (q[j] > hi[j]) {
                t = q[j] - hi[j];
            }
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
    void KnnNode(std::uint32_t node, const double* q, TopK& top, std::uint32_t exclude) const;
    void CountNode(std::uint32_t node, const double* q, double r2, std::size_t cap,
                   std::size_t& count) const;
    template <class OnPoint, class OnNode>
    void VisitNode(std::uint32_t node, const double* q, double r2, OnPoint& on_point,
                   OnNode& on_node) const {
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
        if (MinDist2(n.left, q) <= r2) VisitNode(n.left, q, r2, on_point, on_node);
        if (MinDist2(n.right, q) <= r2) VisitNode(n.right, q, r2, on_point, on_node);
    }

    std::size_t d_ = 0;
    std::vector<Node> nodes_;
    std::vector<double> lo_, hi_;  // bounding box per node, nodes * d
    std::vector<double> points_;   // tree order
    std::vector<std::uint32_t> index_;
};

// k nearest neighbours: dist[i*k + j], index[i*k + j] for query i, j-th nearest (ascending).
struct KnnResult {
    std::size_t k = 0;
    std::vector<double> dist;  // Euclidean distances (sqrt of the squared sums)
    std::vector<std::uint32_t> index;
};

// Search structure over a fixed, already standardised training matrix.
class NeighborIndex {
  public:
    static constexpr std::size_t kMaxTreeDims = 15;

    // Keeps a view of `train` (the caller owns it and keeps it alive and unchanged).
    void Build(MatrixView train);
    bool uses_tree() const { return use_tree_; }
    // Neighbours of every training row, the row itself excluded. k < rows.
    // with_index = false skips storing indices.
    KnnResult KnnTraining(std::size_t k, unsigned threads, bool with_index = true) const;
    // Neighbours of new (standardised) rows among the training rows.
    KnnResult KnnQuery(MatrixView q, std::size_t k, unsigned threads, bool with_index = true) const;
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
