#pragma once
// Isolation Forest.
// Paper: F. T. Liu, K. M. Ting, Z.-H. Zhou, "Isolation Forest", ICDM 2008 (and "Isolation-based
// anomaly detection", TKDD 2012).
//
// Each of `trees` trees is grown on `sample` rows drawn without replacement (all rows if fewer):
// at each node a feature is chosen uniformly among those not constant in the node, and a split
// value uniformly in [min, max) of that feature in the node; rows with value <= split go left.
// Growth stops at depth ceil(log2(sample)), at one row, or when every feature is constant. A
// point's path length is the depth of the leaf it reaches plus c(size of that leaf), with
// c(n) = 2 H(n-1) - 2 (n-1)/n the average path length of an unsuccessful BST search. The score is
// 2^(-E[h(x)] / c(sample)): near 1 for anomalies, below 0.5 for normal points.
//
// Extended Isolation Forest (extension >= 0): S. Hariri, M. Carrasco Kind, R. J. Brunner,
// "Extended Isolation Forest", IEEE TKDE 2021 (arXiv 1811.02141, 2018). Each node splits on a
// random hyperplane: a normal vector n with N(0, 1) components of which d - 1 - extension (chosen
// at random) are zero, and an intercept p drawn uniformly in the node's bounding box; rows with
// n.x <= n.p go left (either side may be empty; an empty leaf has path length = its depth).
// extension = d - 1 is the fully extended forest; extension = 0 uses one coordinate per split but,
// unlike the standard forest, may pick a constant one. Same depth limit, path lengths and score.
//
// Nodes are stored in flat arrays (one contiguous vector for the whole forest). Trees are grown
// on `threads` threads; tree t uses the random stream (seed, t), so the model does not depend on
// the thread count. Scoring walks blocks of 256 rows through one tree at a time (the tree stays
// in L1), 8 rows in lock step with branch-free steps (leaves loop on themselves), rows blocks on
// all cores; a row's path lengths are summed in tree order, so a score does not depend on the
// batch, the block or the thread count. No allocation per row.
// Cost: fit O(trees * sample * log sample) (times d for the extended forest); score
// O(rows * trees * log sample) (times d extended); memory O(trees * sample) nodes.
//
// Contributions (reasons), path-based: in each tree t the row's path has D_t splits; each split
// gets the share 1 / D_t of that tree, credited to its feature (extended forest: spread over the
// features in proportion to |normal_f|, the hyperplane's weight on f). w_f = the mean of these
// credits over the trees with D_t > 0 (uniform if none), so sum_f w_f = 1, and
//   contribution_f = (score - 0.5) * w_f,   bias = 0.5,
// so contributions + bias = score (to rounding). 0.5 is the expected score: the score of a row
// whose mean path length equals c(sample), the average path length by which the paper normalises.
// Rows isolated quickly (score > 0.5) get positive contributions, mostly on the features that
// isolated them; normal rows negative ones. One walk per tree, no allocation. ScoreExplained
// (axis-parallel forests) takes them from the leaves its scoring walk reached: one walk for both.
#include <cstdint>
#include <vector>

#include "txguard/detect/detector.hpp"

namespace txguard {

struct IForestParams {
    std::uint32_t trees = 100;   // number of trees, >= 1
    std::uint32_t sample = 256;  // rows per tree (psi), >= 2
    std::uint64_t seed = 0;
    unsigned threads = 0;         // 0 = all cores
    std::int32_t extension = -1;  // -1: standard axis-parallel forest; >= 0: extended, < features

    Result<void> Validate() const;
    static Result<IForestParams> FromMap(const ParamMap& params);
    ParamMap ToMap() const;
};

class IsolationForest final : public Detector {
  public:
    explicit IsolationForest(IForestParams params = {}) : params_(params) {}

    std::string_view Name() const override { return "iforest"; }
    Result<void> Fit(MatrixView x) override;
    Result<void> Score(MatrixView x, std::span<double> out) const override;
    std::size_t NumFeatures() const override { return num_features_; }
    ParamMap Params() const override { return params_.ToMap(); }
    std::string Save() const override;
    Result<void> Load(std::string_view bytes) override;
    // See above: out.size() == NumFeatures() + 1, last = bias 0.5. Thread-safe.
    Result<void> Contributions(std::span<const double> row, std::span<double> out) const override;
    Result<void> ScoreExplained(MatrixView x, std::span<double> scores,
                                const ExplainFilter& explain, Matrix* contributions) const override;

    // Average path length of an unsuccessful search in a BST of n nodes, c(n).
    static double AveragePathLength(double n);

  private:
    // Model (saved) representation.
    struct Node {
        double split;          // internal: split value (axis) or offset n.p (extended);
                               // leaf: depth + c(leaf size)
        std::int32_t feature;  // internal: feature (axis) or hyperplane index (extended); -1 leaf
        std::int32_t left;     // index of the left child within the forest; right = left + 1
    };
    // Scoring representation of the axis-parallel forest: next = left child (x > split adds 1);
    // a leaf has split = +inf, feature 0 and next = itself, so a fixed number of steps is safe.
    struct WalkNode {
        double split;
        std::uint32_t feature;
        std::uint32_t next;
    };
    Result<void> BuildWalk();
    Result<void> ScoreRows(MatrixView x, std::span<double> out, const ExplainFilter* explain,
                           Matrix* contributions) const;
    void WalkBlockAxis(const double* rows, std::size_t count, std::size_t stride, double* sums,
                       std::uint32_t* leaves) const;
    double ScoreOfPathSum(double sum) const;
    void ExplainLeaves(const std::uint32_t* leaves, double score, std::span<double> out) const;
    void FinishContributions(double score, std::size_t used, std::span<double> out) const;
    double PathLengthExtended(const double* row, std::size_t tree) const;

    IForestParams params_;
    std::size_t num_features_ = 0;
    std::uint32_t sample_used_ = 0;         // min(sample, rows at fit)
    std::vector<Node> nodes_;               // all trees' nodes
    std::vector<std::uint32_t> roots_;      // root index of each tree
    std::vector<double> normals_;           // extended: d coefficients per hyperplane
    std::vector<WalkNode> walk_;            // derived from nodes_ (axis-parallel only)
    std::vector<double> leaf_value_;        // derived: path length at each leaf
    std::vector<std::uint32_t> depth_;      // derived (axis-parallel): splits from the root
    std::vector<std::uint32_t> path_off_;   // derived (axis-parallel): a leaf's path in path_feat_
    std::vector<std::uint32_t> path_feat_;  // derived: the split features of each leaf's path
    std::uint32_t walk_depth_ = 0;          // derived: longest root-to-leaf path
    double path_norm_ = 1.0;                // derived: c(sample used), the score's normaliser
};

}  // namespace txguard
