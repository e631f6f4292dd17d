#include "txguard/detect/iforest.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

#include "contributions.hpp"
#include "param_parse.hpp"
#include "txguard/core/bytes.hpp"
#include "txguard/core/parallel.hpp"
#include "txguard/core/progress.hpp"
#include "txguard/core/rng.hpp"

namespace txguard {

Result<void> IForestParams::Validate() const {
    if (trees < 1 || trees > 100000)
        return MakeError(ErrorCode::kInvalidArgument, "iforest: trees must be in [1, 100000]");
    if (sample < 2)
        return MakeError(ErrorCode::kInvalidArgument, "iforest: sample must be at least 2");
    if (extension < -1 || extension >= (1 << 20))
        return MakeError(ErrorCode::kInvalidArgument,
                         "iforest: parameter extension must be none or in [0, features - 1]");
    return Ok();
}

Result<IForestParams> IForestParams::FromMap(const ParamMap& params) {
    IForestParams p;
    ParamParser parser("iforest", params);
    parser.Uint32("trees", &p.trees);
    parser.Uint32("sample", &p.sample);
    parser.Uint64("seed", &p.seed);
    parser.Unsigned("threads", &p.threads);
    std::string ext = "none";
    parser.String("extension", &ext);
    TXG_RETURN_IF_ERROR(parser.Finish());
    if (ext != "none") {
        std::uint32_t level = 0;
        auto [ptr, ec] = std::from_chars(ext.data(), ext.data() + ext.size(), level);
        if (ec != std::errc() || ptr != ext.data() + ext.size() || level >= (1u << 20))
            return MakeError(ErrorCode::kInvalidArgument,
                             "iforest: parameter extension must be none or a non-negative integer "
                             "below the number of features, got \"" +
                                 ext + "\"");
        p.extension = static_cast<std::int32_t>(level);
    }
    TXG_RETURN_IF_ERROR(p.Validate());
    return p;
}

ParamMap IForestParams::ToMap() const {
    return {{"trees", std::to_string(trees)},
            {"sample", std::to_string(sample)},
            {"seed", std::to_string(seed)},
            {"threads", std::to_string(threads)},
            {"extension", extension < 0 ? std::string("none") : std::to_string(extension)}};
}

double IsolationForest::AveragePathLength(double n) {
    if (n <= 1.0) return 0.0;
    if (n <= 2.0) return 1.0;
    constexpr double kEulerGamma = 0.5772156649015329;
    return 2.0 * (std::log(n - 1.0) + kEulerGamma) - 2.0 * (n - 1.0) / n;
}

namespace {

// Draws k distinct row indices from [0, n) (Floyd's algorithm), in draw order.
std::vector<std::uint32_t> SampleRows(std::size_t n, std::size_t k, Rng& rng) {
    std::vector<std::uint32_t> out;
    if (k >= n) {
        out.resize(n);
        for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint32_t>(i);
        return out;
    }
    out.reserve(k);
    for (std::size_t j = n - k; j < n; ++j) {
        const auto t = static_cast<std::uint32_t>(rng.Below(j + 1));
        if (std::find(out.begin(), out.end(), t) == out.end()) {
            out.push_back(t);
        } else {
            out.push_back(static_cast<std::uint32_t>(j));
        }
    }
    return out;
}

}  // namespace

Result<void> IsolationForest::Fit(MatrixView x) {
    TXG_RETURN_IF_ERROR(params_.Validate());
    TXG_RETURN_IF_ERROR(CheckFiniteMatrix(x, 0, "iforest fit"));
    if (x.rows > std::numeric_limits<std::uint32_t>::max())
        return MakeError(ErrorCode::kInvalidArgument, "iforest: too many rows");
    const std::size_t d = x.cols;
    const bool extended = params_.extension >= 0;
    if (extended && static_cast<std::size_t>(params_.extension) >= d)
        return MakeError(ErrorCode::kInvalidArgument,
                         "iforest: parameter extension=" + std::to_string(params_.extension) +
                             " must be below the number of features (" + std::to_string(d) + ")",
                         "extension = features - 1 is the fully extended forest");
    const std::size_t psi = std::min<std::size_t>(params_.sample, x.rows);
    const int max_depth =
        static_cast<int>(std::ceil(std::log2(static_cast<double>(std::max<std::size_t>(psi, 2)))));

    std::vector<std::vector<Node>> trees(params_.trees);
    std::vector<std::vector<double>> tree_normals(extended ? params_.trees : 0);
    const unsigned threads = std::min<unsigned>(ResolveThreads(params_.threads), params_.trees);
    ParallelChunks(params_.trees, threads, [&](std::size_t tb, std::size_t te, unsigned) {
        std::vector<double> data;         // the tree's sample, row-major
        std::vector<std::uint32_t> rows;  // permutation of sample rows, partitioned in place
        std::vector<std::size_t> features(d);
        std::vector<double> normal(d), lo_box(d), hi_box(d), proj;
        struct Task {
            std::int32_t node;
            std::uint32_t begin, end;
            int depth;
        };
        std::vector<Task> stack;
        for (std::size_t t = tb; t < te; ++t) {
            Rng rng(params_.seed, t);
            const auto sample = SampleRows(x.rows, psi, rng);
            data.resize(psi * d);
            for (std::size_t i = 0; i < psi; ++i)
                std::copy_n(x.data + static_cast<std::size_t>(sample[i]) * d, d,
                            data.data() + i * d);
            rows.resize(psi);
            for (std::uint32_t i = 0; i < psi; ++i) rows[i] = i;
            auto& nodes = trees[t];
            nodes.clear();
            nodes.push_back({});
            stack.clear();
            stack.push_back({0, 0, static_cast<std::uint32_t>(psi), 0});
            while (!stack.empty()) {
                const Task task = stack.back();
                stack.pop_back();
                const std::uint32_t size = task.end - task.begin;
                auto make_leaf = [&] {
                    nodes[task.node] = {task.depth + AveragePathLength(size), -1, -1};
                };
                if (task.depth >= max_depth || size <= 1) {
                    make_leaf();
                    continue;
                }
                std::uint32_t m = 0;
                std::int32_t feature_or_plane = 0;
                double split = 0;
                if (extended) {
                    // Random hyperplane through a random point of the node's bounding box.
                    std::fill(lo_box.begin(), lo_box.end(),
                              std::numeric_limits<double>::infinity());
                    std::fill(hi_box.begin(), hi_box.end(),
                              -std::numeric_limits<double>::infinity());
                    for (std::uint32_t i = task.begin; i < task.end; ++i)
                        for (std::size_t f = 0; f < d; ++f) {
                            lo_box[f] = std::min(lo_box[f], data[rows[i] * d + f]);
                            hi_box[f] = std::max(hi_box[f], data[rows[i] * d + f]);
                        }
                    for (std::size_t f = 0; f < d; ++f) normal[f] = rng.Normal(0.0, 1.0);
                    for (std::size_t f = 0; f < d; ++f) features[f] = f;
                    std::size_t remaining = d;
                    for (std::size_t z = 0; z + 1 + params_.extension < d; ++z) {
                        const std::size_t pick = rng.Below(remaining);
                        normal[features[pick]] = 0.0;
                        features[pick] = features[--remaining];
                    }
                    double offset = 0.0;
                    for (std::size_t f = 0; f < d; ++f)
                        offset += normal[f] * rng.Uniform(lo_box[f], hi_box[f]);
                    auto& nv = tree_normals[t];
                    feature_or_plane = static_cast<std::int32_t>(nv.size() / d);
                    nv.insert(nv.end(), normal.begin(), normal.end());
                    split = offset;
                    auto mid = std::partition(rows.begin() + task.begin, rows.begin() + task.end,
                                              [&](std::uint32_t r) {
                                                  double s = 0.0;
                                                  for (std::size_t f = 0; f < d; ++f)
                                                      s += normal[f] * data[r * d + f];
                                                  return s <= offset;
                                              });
                    m = static_cast<std::uint32_t>(mid - rows.begin());
                } else {
                    // Choose a feature uniformly among the non-constant ones: draw without
                    // replacement until one varies in this node.
                    for (std::size_t f = 0; f < d; ++f) features[f] = f;
                    std::size_t remaining = d;
                    std::size_t feature = d;
                    double lo = 0, hi = 0;
                    while (remaining > 0) {
                        const std::size_t pick = rng.Below(remaining);
                        const std::size_t f = features[pick];
                        features[pick] = features[--remaining];
                        lo = std::numeric_limits<double>::infinity();
                        hi = -lo;
                        for (std::uint32_t i = task.begin; i < task.end; ++i) {
                            const double v = data[rows[i] * d + f];
                            lo = std::min(lo, v);
                            hi = std::max(hi, v);
                        }
                        if (hi > lo) {
                            feature = f;
                            break;
                        }
                    }
                    if (feature == d) {
                        make_leaf();
                        continue;
                    }
                    split = lo + (hi - lo) * rng.Uniform();
                    if (split >= hi) split = lo;  // rounding: keep at least one row on each side
                    auto mid = std::partition(
                        rows.begin() + task.begin, rows.begin() + task.end,
                        [&](std::uint32_t r) { return data[r * d + feature] <= split; });
                    m = static_cast<std::uint32_t>(mid - rows.begin());
                    feature_or_plane = static_cast<std::int32_t>(feature);
                }
                const auto left = static_cast<std::int32_t>(nodes.size());
                nodes[task.node] = {split, feature_or_plane, left};
                nodes.push_back({});
                nodes.push_back({});
                stack.push_back({left + 1, m, task.end, task.depth + 1});
                stack.push_back({left, task.begin, m, task.depth + 1});
            }
        }
    });

    nodes_.clear();
    roots_.clear();
    normals_.clear();
    for (std::size_t t = 0; t < trees.size(); ++t) {
        const auto offset = static_cast<std::int32_t>(nodes_.size());
        const auto plane_offset =
            static_cast<std::int32_t>(normals_.size() / std::max<std::size_t>(d, 1));
        roots_.push_back(static_cast<std::uint32_t>(offset));
        for (Node n : trees[t]) {
            if (n.feature >= 0) {
                n.left += offset;
                if (extended) n.feature += plane_offset;
            }
            nodes_.push_back(n);
        }
        if (extended)
            normals_.insert(normals_.end(), tree_normals[t].begin(), tree_normals[t].end());
    }
    num_features_ = d;
    sample_used_ = static_cast<std::uint32_t>(psi);
    return BuildWalk();
}

Result<void> IsolationForest::BuildWalk() {
    // Longest path below each node (children always have larger indices than their parent).
    const std::size_t n = nodes_.size();
    std::vector<std::uint32_t> height(n, 0);
    for (std::size_t i = n; i-- > 0;) {
        const Node& node = nodes_[i];
        if (node.feature >= 0) height[i] = 1 + std::max(height[node.left], height[node.left + 1]);
    }
    walk_depth_ = 0;
    for (auto r : roots_) walk_depth_ = std::max(walk_depth_, height[r]);
    path_norm_ = AveragePathLength(std::max<std::uint32_t>(sample_used_, 2));
    walk_.clear();
    leaf_value_.assign(n, 0.0);
    if (params_.extension >= 0) return Ok();
    walk_.resize(n);
    std::vector<std::uint32_t> parent(n);
    depth_.assign(n, 0);
    for (auto r : roots_) parent[r] = r;
    for (std::size_t i = 0; i < n; ++i) {
        const Node& node = nodes_[i];
        if (node.feature >= 0) {
            walk_[i] = {node.split, static_cast<std::uint32_t>(node.feature),
                        static_cast<std::uint32_t>(node.left)};
            for (std::size_t c = 0; c < 2; ++c) {  // parents come before their children
                const auto child = static_cast<std::size_t>(node.left) + c;
                parent[child] = static_cast<std::uint32_t>(i);
                depth_[child] = depth_[i] + 1;
            }
        } else {
            walk_[i] = {std::numeric_limits<double>::infinity(), 0, static_cast<std::uint32_t>(i)};
            leaf_value_[i] = node.split;
        }
    }
    // Each leaf's split features, for Contributions (at most trees * sample * depth entries).
    path_off_.assign(n, 0);
    path_feat_.clear();
    for (std::size_t i = 0; i < n; ++i) {
        if (nodes_[i].feature >= 0) continue;
        path_off_[i] = static_cast<std::uint32_t>(path_feat_.size());
        for (std::size_t j = i; parent[j] != j; j = parent[j])
            path_feat_.push_back(walk_[parent[j]].feature);
    }
    return Ok();
}

double IsolationForest::PathLengthExtended(const double* row, std::size_t tree) const {
    const std::size_t d = num_features_;
    const Node* node = &nodes_[roots_[tree]];
    while (node->feature >= 0) {
        const double* nv = normals_.data() + static_cast<std::size_t>(node->feature) * d;
        double s = 0.0;
        for (std::size_t f = 0; f < d; ++f) s += nv[f] * row[f];
        node = &nodes_[node->left + (s <= node->split ? 0 : 1)];
    }
    return node->split;
}

// Adds each of `count` rows' path lengths over all trees to sums[]: trees outer (one tree stays in
// L1 for the whole block), 8 rows walking in lock step for instruction-level parallelism. With
// leaves != nullptr, the leaf each row reaches in tree t goes to leaves[row * trees + t].
void IsolationForest::WalkBlockAxis(const double* rows, std::size_t count, std::size_t stride,
                                    double* sums, std::uint32_t* leaves) const {
    constexpr std::size_t kLanes = 8;
    const WalkNode* walk = walk_.data();
    const double* leaf = leaf_value_.data();
    const std::uint32_t depth = walk_depth_;
    const std::size_t trees = roots_.size();
    const std::size_t full = count - count % kLanes;  // rows walked 8 at a time
    for (std::size_t t = 0; t < trees; ++t) {
        const std::uint32_t root = roots_[t];
        std::size_t r = 0;
        for (; r < full; r += kLanes) {
            std::uint32_t idx[kLanes];
            const double* row[kLanes];
            for (std::size_t u = 0; u < kLanes; ++u) {
                idx[u] = root;
                row[u] = rows + (r + u) * stride;
            }
            for (std::uint32_t step = 0; step < depth; ++step) {
                for (std::size_t u = 0; u < kLanes; ++u) {
                    const WalkNode& nd = walk[idx[u]];
                    idx[u] = nd.next + (row[u][nd.feature] > nd.split ? 1u : 0u);
                }
            }
            for (std::size_t u = 0; u < kLanes; ++u) sums[r + u] += leaf[idx[u]];
            if (leaves)
                for (std::size_t u = 0; u < kLanes; ++u) leaves[(r + u) * trees + t] = idx[u];
        }
    }
    // The other rows (a single live transaction is one): 8 trees in lock step instead, adding
    // their leaves in tree order as above. The last group walks all 8 lanes too (the spare ones
    // repeat its last tree and are ignored): a constant lane count lets the compiler unroll the
    // walk (bench_detect's BM_ScoreExplained/one_call/1, medians of 10, two runs each: 2.05 / 2.17
    // -> 1.93 / 2.02 us a row).
    for (std::size_t r = full; r < count; ++r) {
        const double* row1 = rows + r * stride;
        for (std::size_t t0 = 0; t0 < trees; t0 += kLanes) {
            const std::size_t lanes = std::min(kLanes, trees - t0);
            std::uint32_t idx[kLanes];
            for (std::size_t u = 0; u < kLanes; ++u) idx[u] = roots_[t0 + std::min(u, lanes - 1)];
            for (std::uint32_t step = 0; step < depth; ++step) {
                for (std::size_t u = 0; u < kLanes; ++u) {
                    const WalkNode& nd = walk[idx[u]];
                    idx[u] = nd.next + (row1[nd.feature] > nd.split ? 1u : 0u);
                }
            }
            for (std::size_t u = 0; u < lanes; ++u) sums[r] += leaf[idx[u]];
            if (leaves)
                for (std::size_t u = 0; u < lanes; ++u) leaves[r * trees + t0 + u] = idx[u];
        }
    }
}

double IsolationForest::ScoreOfPathSum(double sum) const {
    return std::exp2(-(sum / static_cast<double>(roots_.size())) / path_norm_);
}

// contribution_f = (score - bias) * w_f from out[f] = the row's credits summed over the `used`
// trees whose path has a split (header comment); out[d] = the bias.
void IsolationForest::FinishContributions(double score, std::size_t used,
                                          std::span<double> out) const {
    const std::size_t d = num_features_;
    constexpr double kBias = 0.5;
    for (std::size_t f = 0; f < d; ++f) {
        const double w =
            used > 0 ? out[f] / static_cast<double>(used) : 1.0 / static_cast<double>(d);
        out[f] = (score - kBias) * w;
    }
    out[d] = kBias;
}

// Axis-parallel forests: each tree's share to the split features of the path to its leaf, in tree
// order. Every split on a path gets the same share, so the order within a path does not change out.
void IsolationForest::ExplainLeaves(const std::uint32_t* leaves, double score,
                                    std::span<double> out) const {
    std::fill(out.begin(), out.end(), 0.0);
    std::size_t used = 0;  // trees whose path has a split
    for (std::size_t t = 0; t < roots_.size(); ++t) {
        const std::uint32_t i = leaves[t];
        const std::uint32_t depth = depth_[i];
        if (depth == 0) continue;
        ++used;
        const double share = 1.0 / static_cast<double>(depth);
        const std::uint32_t* feats = path_feat_.data() + path_off_[i];
        for (std::uint32_t k = 0; k < depth; ++k) out[feats[k]] += share;
    }
    FinishContributions(score, used, out);
}

Result<void> IsolationForest::Score(MatrixView x, std::span<double> out) const {
    return ScoreRows(x, out, nullptr, nullptr);
}

Result<void> IsolationForest::ScoreExplained(MatrixView x, std::span<double> scores,
                                             const ExplainFilter& explain,
                                             Matrix* contributions) const {
    return ScoreRows(x, scores, explain ? &explain : nullptr, contributions);
}

Result<void> IsolationForest::ScoreRows(MatrixView x, std::span<double> out,
                                        const ExplainFilter* explain, Matrix* contributions) const {
    if (roots_.empty()) return MakeError(ErrorCode::kInvalidArgument, "iforest: not fitted");
    if (out.size() != x.rows)
        return MakeError(ErrorCode::kInvalidArgument, "iforest: output size != rows");
    if (explain) detail::PrepareContributions(x.rows, num_features_, contributions);
    if (x.rows == 0) return Ok();
    TXG_RETURN_IF_ERROR(CheckFiniteMatrix(x, num_features_, "iforest score"));
    const std::size_t trees = roots_.size();
    const bool extended = params_.extension >= 0;
    constexpr std::size_t kBlock = 256;
    const std::size_t blocks = (x.rows + kBlock - 1) / kBlock;
    const unsigned threads = x.rows < 2048 ? 1u : ResolveThreads(params_.threads);
    Progress progress("iforest score", x.rows);
    ParallelChunks(blocks, threads, [&](std::size_t bb, std::size_t be, unsigned) {
        double sums[kBlock];
        // The leaves of the block's rows, for the axis-parallel contributions.
        std::vector<std::uint32_t> leaves(explain && !extended ? std::min(kBlock, x.rows) * trees
                                                               : 0);
        for (std::size_t blk = bb; blk < be; ++blk) {
            const std::size_t r0 = blk * kBlock;
            const std::size_t count = std::min(kBlock, x.rows - r0);
            const double* rows = x.data + r0 * x.cols;
            std::fill_n(sums, count, 0.0);
            if (extended) {
                for (std::size_t r = 0; r < count; ++r)
                    for (std::size_t t = 0; t < trees; ++t)
                        sums[r] += PathLengthExtended(rows + r * x.cols, t);
            } else {
                WalkBlockAxis(rows, count, x.cols, sums, leaves.empty() ? nullptr : leaves.data());
            }
            for (std::size_t r = 0; r < count; ++r) {
                const double score = ScoreOfPathSum(sums[r]);
                out[r0 + r] = score;
                if (!explain || !(*explain)(r0 + r, score)) continue;
                if (extended)  // walks the row again (the hyperplane walk keeps no leaves); it
                               // cannot fail: the row passed CheckFiniteMatrix above
                    (void)Contributions(x.Row(r0 + r), contributions->Row(r0 + r));
                else
                    ExplainLeaves(leaves.data() + r * trees, score, contributions->Row(r0 + r));
            }
            if (blk % 32 == 31) progress.Add(32 * kBlock);
        }
    });
    progress.Add(x.rows - std::min<std::uint64_t>(progress.done(), x.rows));
    progress.Finish();
    return Ok();
}

Result<void> IsolationForest::Contributions(std::span<const double> row,
                                            std::span<double> out) const {
    if (roots_.empty()) return MakeError(ErrorCode::kInvalidArgument, "iforest: not fitted");
    TXG_RETURN_IF_ERROR(detail::CheckContributionArgs("iforest", num_features_, row, out));
    const std::size_t d = num_features_;
    if (params_.extension < 0) {  // the scoring walk, keeping the leaves
        constexpr std::size_t kStackTrees = 512;
        std::uint32_t stack[kStackTrees];
        std::vector<std::uint32_t> heap;
        std::uint32_t* leaves = stack;
        if (roots_.size() > kStackTrees) {
            heap.resize(roots_.size());
            leaves = heap.data();
        }
        double sum = 0.0;
        WalkBlockAxis(row.data(), 1, d, &sum, leaves);
        ExplainLeaves(leaves, ScoreOfPathSum(sum), out);
        return Ok();
    }
    std::fill(out.begin(), out.end(), 0.0);
    // Extended forests: the child taken at split node i, exactly as Score routes the row.
    auto next = [&](std::int32_t i) {
        const Node& node = nodes_[static_cast<std::size_t>(i)];
        const double* nv = normals_.data() + static_cast<std::size_t>(node.feature) * d;
        double s = 0.0;
        for (std::size_t f = 0; f < d; ++f) s += nv[f] * row[f];
        return node.left + (s <= node.split ? 0 : 1);
    };
    // Extended forests: adds `share` to the features of split node i's hyperplane.
    auto credit = [&](std::int32_t i, double share) {
        const Node& node = nodes_[static_cast<std::size_t>(i)];
        const double* nv = normals_.data() + static_cast<std::size_t>(node.feature) * d;
        double total = 0.0;
        for (std::size_t f = 0; f < d; ++f) total += std::fabs(nv[f]);
        for (std::size_t f = 0; f < d; ++f)
            out[f] +=
                total > 0.0 ? share * std::fabs(nv[f]) / total : share / static_cast<double>(d);
    };
    constexpr std::size_t kMaxPath = 64;
    std::int32_t path[kMaxPath];
    double sum = 0.0;                          // path lengths in tree order, as Score sums them
    std::size_t used = 0;                      // trees whose path has a split
    for (const std::uint32_t root : roots_) {  // walk the hyperplanes
        auto i = static_cast<std::int32_t>(root);
        std::size_t depth = 0;
        while (nodes_[static_cast<std::size_t>(i)].feature >= 0) {
            if (depth < kMaxPath) path[depth] = i;
            ++depth;
            i = next(i);
        }
        sum += nodes_[static_cast<std::size_t>(i)].split;
        if (depth == 0) continue;
        ++used;
        const double share = 1.0 / static_cast<double>(depth);
        if (depth <= kMaxPath) {
            for (std::size_t k = 0; k < depth; ++k) credit(path[k], share);
        } else {  // deeper than the buffer (only a loaded, unusual model): walk again
            for (auto j = static_cast<std::int32_t>(root);
                 nodes_[static_cast<std::size_t>(j)].feature >= 0; j = next(j))
                credit(j, share);
        }
    }
    FinishContributions(ScoreOfPathSum(sum), used, out);
    return Ok();
}

namespace {
constexpr std::uint32_t kIForestFormat = 2;
}

std::string IsolationForest::Save() const {
    ByteWriter w;
    w.Put(kIForestFormat);
    w.Put(params_.trees);
    w.Put(params_.sample);
    w.Put(params_.seed);
    w.Put(params_.extension);
    w.Put<std::uint64_t>(num_features_);
    w.Put(sample_used_);
    w.PutVector(nodes_);
    w.PutVector(roots_);
    w.PutVector(normals_);
    return w.Take();
}

Result<void> IsolationForest::Load(std::string_view bytes) {
    ByteReader r(bytes, "iforest model");
    auto format = r.Get<std::uint32_t>();
    if (!format) return std::unexpected(format.error());
    if (*format != kIForestFormat)
        return MakeError(ErrorCode::kIncompatible,
                         "iforest model format " + std::to_string(*format) +
                             ", this txguard reads format " + std::to_string(kIForestFormat));
    IForestParams p = params_;
    auto trees = r.Get<std::uint32_t>();
    auto sample = r.Get<std::uint32_t>();
    auto seed = r.Get<std::uint64_t>();
    auto extension = r.Get<std::int32_t>();
    auto nf = r.Get<std::uint64_t>();
    auto used = r.Get<std::uint32_t>();
    if (!trees || !sample || !seed || !extension || !nf || !used)
        return r.Corrupt("truncated header");
    p.trees = *trees;
    p.sample = *sample;
    p.seed = *seed;
    p.extension = *extension;
    auto nodes = r.GetVector<Node>();
    if (!nodes) return std::unexpected(nodes.error());
    auto roots = r.GetVector<std::uint32_t>();
    if (!roots) return std::unexpected(roots.error());
    auto normals = r.GetVector<double>();
    if (!normals) return std::unexpected(normals.error());
    if (!r.AtEnd()) return r.Corrupt("trailing bytes");
    const bool extended = p.extension >= 0;
    if (!p.Validate() || roots->size() != p.trees || *nf == 0 || *nf > (1u << 24) || *used == 0 ||
        *used > p.sample || nodes->size() >= (1ull << 31) ||
        (extended && static_cast<std::uint64_t>(p.extension) >= *nf) ||
        (!extended && !normals->empty()) || normals->size() % *nf != 0)
        return r.Corrupt("inconsistent header");
    const std::uint64_t planes = normals->size() / *nf;
    for (double v : *normals)
        if (!std::isfinite(v)) return r.Corrupt("non-finite hyperplane coefficient");
    // Structural validation so that scoring can never walk out of bounds or loop.
    const auto n = static_cast<std::int64_t>(nodes->size());
    const std::uint64_t feature_limit = extended ? planes : *nf;
    for (std::int64_t i = 0; i < n; ++i) {
        const Node& node = (*nodes)[i];
        if (node.feature >= 0) {
            if (static_cast<std::uint64_t>(node.feature) >= feature_limit || node.left <= i ||
                node.left + 1 >= n || std::isnan(node.split))
                return r.Corrupt("node " + std::to_string(i) + " is malformed");
        } else if (node.feature != -1 || !std::isfinite(node.split)) {
            return r.Corrupt("leaf " + std::to_string(i) + " is malformed");
        }
    }
    for (auto root : *roots)
        if (root >= nodes->size()) return r.Corrupt("tree root out of range");
    params_ = p;
    num_features_ = *nf;
    sample_used_ = *used;
    nodes_ = std::move(*nodes);
    roots_ = std::move(*roots);
    normals_ = std::move(*normals);
    return BuildWalk();
}

}  // namespace txguard
