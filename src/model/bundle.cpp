#include "txguard/model/bundle.hpp"

#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "txguard/core/bytes.hpp"

namespace txguard {
namespace {

constexpr char kMagic[8] = {'T', 'X', 'G', 'M', 'O', 'D', 'E', 'L'};

std::uint32_t Crc32(std::string_view bytes) {
    uLong crc = crc32(0L, Z_NULL, 0);
    std::size_t off = 0;
    while (off < bytes.size()) {
        const auto n = static_cast<uInt>(std::min<std::size_t>(bytes.size() - off, 1u << 30));
        crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + off), n);
        off += n;
    }
    return static_cast<std::uint32_t>(crc);
}

}  // namespace

std::vector<std::string> ModelInputNames(const ModelBundle& b) {
    auto names = b.features.Names();
    for (const auto& h : b.hybrid) names.push_back("score_" + h.name);
    return names;
}

std::string SerializeModel(const ModelBundle& b) {
    nlohmann::json meta;
    meta["schema"] = nlohmann::json::parse(SchemaToJson(b.schema));
    meta["features"] = nlohmann::json::parse(FeatureSpecToJson(b.features));
    meta["feature_names"] = b.features.Names();
    meta["detector"] = b.detector_name;
    meta["detector_params"] = b.detector->Params();
    meta["threshold"] = b.threshold;
    if (std::isfinite(b.block_threshold)) meta["block_threshold"] = b.block_threshold;
    meta["txguard_version"] = b.meta.txguard_version;
    meta["created_at"] = b.meta.created_at;
    meta["data_path"] = b.meta.data_path;
    meta["data_fingerprint"] = b.meta.data_fingerprint;
    meta["train_rows"] = b.meta.train_rows;
    meta["train_from"] = b.meta.train_from;
    meta["train_to"] = b.meta.train_to;
    meta["alert_rate"] = b.meta.alert_rate;
    meta["valid_from"] = b.meta.valid_from;
    meta["valid_to"] = b.meta.valid_to;
    meta["genuine_only"] = b.meta.genuine_only;
    meta["input_names"] = ModelInputNames(b);
    meta["hybrid"] = nlohmann::json::array();
    for (const auto& h : b.hybrid)
        meta["hybrid"].push_back({{"name", h.name}, {"params", h.detector->Params()}});
    std::string out(kMagic, 8);
    ByteWriter body;
    body.Put(kBundleFormatVersion);
    body.PutString(meta.dump());
    body.PutString(b.detector->Save());
    for (const auto& h : b.hybrid) body.PutString(h.detector->Save());
    out += body.bytes();
    const std::uint32_t crc = Crc32(out);
    out.append(reinterpret_cast<const char*>(&crc), sizeof crc);
    return out;
}

Result<ModelBundle> DeserializeModel(std::string_view bytes, const std::string& name) {
    auto refuse = [&](ErrorCode code, const std::string& why) {
        return MakeError(code, name + ": " + why);
    };
    if (bytes.size() < 8 || std::memcmp(bytes.data(), kMagic, 8) != 0)
        return refuse(ErrorCode::kIncompatible, "not a txguard model file (bad magic bytes)");
    if (bytes.size() < 8 + 4 + 4) return refuse(ErrorCode::kCorrupt, "file is truncated");
    std::uint32_t version;
    std::memcpy(&version, bytes.data() + 8, 4);
    if (version != kBundleFormatVersion)
        return refuse(ErrorCode::kIncompatible, "model format version " + std::to_string(version) +
                                                    ", this txguard reads version " +
                                                    std::to_string(kBundleFormatVersion) +
                                                    "; retrain the model with this txguard");
    std::uint32_t stored_crc;
    std::memcpy(&stored_crc, bytes.data() + bytes.size() - 4, 4);
    if (Crc32(bytes.substr(0, bytes.size() - 4)) != stored_crc)
        return refuse(ErrorCode::kCorrupt, "checksum mismatch: the file is corrupt or truncated");
    ByteReader r(bytes.substr(12, bytes.size() - 16), name);
    auto meta_text = r.GetString();
    if (!meta_text) return std::unexpected(meta_text.error());
    auto det_bytes = r.GetString();
    if (!det_bytes) return std::unexpected(det_bytes.error());

    ModelBundle b;
    try {
        auto meta = nlohmann::json::parse(*meta_text);
        auto schema = SchemaFromJson(meta.at("schema").dump());
        if (!schema) return refuse(schema.error().code, "schema: " + schema.error().message);
        b.schema = std::move(*schema);
        auto spec = FeatureSpecFromJson(meta.at("features").dump());
        if (!spec) return refuse(spec.error().code, spec.error().message);
        b.features = std::move(*spec);
        b.detector_name = meta.at("detector").get<std::string>();
        const auto params = meta.at("detector_params").get<ParamMap>();
        auto det = CreateDetector(b.detector_name, params);
        if (!det) return refuse(ErrorCode::kIncompatible, det.error().message);
        b.detector = std::move(*det);
        b.threshold = meta.at("threshold").get<double>();
        if (meta.contains("block_threshold"))
            b.block_threshold = meta.at("block_threshold").get<double>();
        b.meta.txguard_version = meta.at("txguard_version").get<std::string>();
        b.meta.created_at = meta.at("created_at").get<std::string>();
        b.meta.data_path = meta.at("data_path").get<std::string>();
        b.meta.data_fingerprint = meta.at("data_fingerprint").get<std::string>();
        b.meta.train_rows = meta.at("train_rows").get<std::uint64_t>();
        b.meta.train_from = meta.at("train_from").get<std::string>();
        b.meta.train_to = meta.at("train_to").get<std::string>();
        b.meta.alert_rate = meta.at("alert_rate").get<double>();
        b.meta.valid_from = meta.at("valid_from").get<std::string>();
        b.meta.valid_to = meta.at("valid_to").get<std::string>();
        b.meta.genuine_only = meta.at("genuine_only").get<bool>();
        for (const auto& h : meta.at("hybrid")) {
            auto part =
                CreateDetector(h.at("name").get<std::string>(), h.at("params").get<ParamMap>());
            if (!part) return refuse(ErrorCode::kIncompatible, part.error().message);
            auto bytes_h = r.GetString();
            if (!bytes_h) return std::unexpected(bytes_h.error());
            auto loaded_h = (*part)->Load(*bytes_h);
            if (!loaded_h) return refuse(loaded_h.error().code, loaded_h.error().message);
            if ((*part)->NumFeatures() != b.features.Size())
                return refuse(ErrorCode::kCorrupt,
                              "a hybrid detector expects another feature count");
            b.hybrid.push_back({h.at("name").get<std::string>(), std::move(*part)});
        }
    } catch (const nlohmann::json::exception& e) {
        return refuse(ErrorCode::kCorrupt, std::string("metadata: ") + e.what());
    }
    if (!r.AtEnd()) return refuse(ErrorCode::kCorrupt, "trailing bytes after the detectors");
    auto loaded = b.detector->Load(*det_bytes);
    if (!loaded) return refuse(loaded.error().code, loaded.error().message);
    const std::size_t inputs = b.features.Size() + b.hybrid.size();
    if (b.detector->NumFeatures() != inputs)
        return refuse(ErrorCode::kCorrupt,
                      "the detector expects " + std::to_string(b.detector->NumFeatures()) +
                          " inputs but the feature spec and hybrid parts give " +
                          std::to_string(inputs));
    return b;
}

Result<void> SaveModel(const ModelBundle& bundle, const std::string& path) {
    const std::string bytes = SerializeModel(bundle);
    const std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) return MakeError(ErrorCode::kIo, "cannot write " + tmp);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        out.flush();
        if (!out) return MakeError(ErrorCode::kIo, "write failed for " + tmp);
    }
    // Atomic replace: a reader sees the old file or the new one, never half of one.
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        std::remove(tmp.c_str());
        return MakeError(ErrorCode::kIo, "cannot rename " + tmp + " to " + path);
    }
    return Ok();
}

Result<ModelBundle> LoadModel(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return MakeError(ErrorCode::kNotFound, "cannot open model file " + path);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return DeserializeModel(bytes, path);
}

}  // namespace txguard
