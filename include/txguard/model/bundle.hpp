#pragma once
// The model bundle: one file holding everything needed to score new data — the schema, the
// feature spec, the fitted detector, the alert threshold and metadata.
//
// File layout (little endian):
//   8 bytes   magic "TXGMODEL"
//   u32       format version (kBundleFormatVersion)
//   u64 + N   metadata JSON (schema, feature spec, detector name and params, threshold,
//             txguard version, training data fingerprint, creation time, ...)
//   u64 + M   detector bytes (Detector::Save)
//   per hybrid part (count in the metadata): u64 + K its detector's bytes
//   u32       CRC-32 (zlib) of every byte before it
// A file with another magic, another format version, a checksum mismatch, a truncated body or a
// detector it cannot decode is refused with a reason; nothing is half-loaded.
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "txguard/core/result.hpp"
#include "txguard/data/schema.hpp"
#include "txguard/detect/detector.hpp"
#include "txguard/features/feature_engine.hpp"

namespace txguard {

inline constexpr std::uint32_t kBundleFormatVersion = 1;

struct ModelMetadata {
    std::string txguard_version;
    std::string created_at;  // "YYYY-MM-DDTHH:MM:SSZ"
    std::string data_path;   // the training file as given
    std::string
        data_fingerprint;  // 16 hex digits, TransactionTable::Fingerprint of the training rows
    std::uint64_t train_rows = 0;
    std::string train_from;  // inclusive dates, empty when not restricted
    std::string train_to;
    double alert_rate = 0.0;  // share of training rows at or above the threshold
    std::string valid_from;   // early-stopping window (supervised), empty when none
    std::string valid_to;
    bool genuine_only = false;  // unsupervised main detector fitted on label-0 rows only
};

// A hybrid part: an unsupervised detector fitted on the feature rows (known-genuine training rows
// only, semi-supervised), whose score becomes one more input column of the main detector.
struct HybridPart {
    std::string name;  // detector name, e.g. "iforest"
    std::unique_ptr<Detector> detector;
};

// Names of the main detector's input columns: the spec's features, then "score_<name>" per
// hybrid part.
struct ModelBundle;
std::vector<std::string> ModelInputNames(const ModelBundle& bundle);

struct ModelBundle {
    Schema schema;
    FeatureSpec features;
    std::vector<HybridPart> hybrid;  // their scores follow the spec's features, in this order
    std::string detector_name;
    std::unique_ptr<Detector> detector;
    double threshold = 0.0;  // score >= threshold raises an alert (served decision "review")
    // score >= block_threshold: served decision "block" (>= threshold). Trained as the top tenth
    // of the alert budget; bundles written before it existed read it as +infinity (never block).
    double block_threshold = std::numeric_limits<double>::infinity();
    ModelMetadata meta;
};

Result<void> SaveModel(const ModelBundle& bundle, const std::string& path);
Result<ModelBundle> LoadModel(const std::string& path);
// The same, on bytes (tests and fuzzing); `name` appears in error messages.
std::string SerializeModel(const ModelBundle& bundle);
Result<ModelBundle> DeserializeModel(std::string_view bytes, const std::string& name);

}  // namespace txguard
