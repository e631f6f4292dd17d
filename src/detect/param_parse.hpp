#pragma once
// Parses a detector's string parameters (`--param key=value`) into typed fields, collecting the
// first error and rejecting unknown keys with the list of valid ones.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <set>
#include <string>

#include "txguard/detect/detector.hpp"

namespace txguard {

class ParamParser {
  public:
    ParamParser(std::string detector, const ParamMap& params)
        : detector_(std::move(detector)), params_(params) {}

    template <class T>
    void Integer(const std::string& key, T* out) {
        known_.insert(key);
        auto it = params_.find(key);
        if (it == params_.end() || !error_.empty()) return;
        const std::string& v = it->second;
        T x{};
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
        if (ec != std::errc() || p != v.data() + v.size()) {
            error_ = detector_ + ": parameter " + key + " must be a non-negative integer, got \"" +
                     v + "\"";
            return;
        }
        *out = x;
    }
    void Uint32(const std::string& key, std::uint32_t* out) { Integer(key, out); }
    void Uint64(const std::string& key, std::uint64_t* out) { Integer(key, out); }
    void Unsigned(const std::string& key, unsigned* out) { Integer(key, out); }
    void Double(const std::string& key, double* out) {
        known_.insert(key);
        auto it = params_.find(key);
        if (it == params_.end() || !error_.empty()) return;
        const std::string& v = it->second;
        double x = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
        if (ec != std::errc() || p != v.data() + v.size() || !std::isfinite(x)) {
            error_ =
                detector_ + ": parameter " + key + " must be a finite number, got \"" + v + "\"";
            return;
        }
        *out = x;
    }

    // A string that must be one of `allowed` (empty = any).
    void String(const std::string& key, std::string* out,
                std::initializer_list<const char*> allowed = {}) {
        known_.insert(key);
        auto it = params_.find(key);
        if (it == params_.end() || !error_.empty()) return;
        if (allowed.size() != 0) {
            std::string list;
            bool ok = false;
            for (const char* a : allowed) {
                ok = ok || it->second == a;
                list += (list.empty() ? "" : ", ") + std::string(a);
            }
            if (!ok) {
                error_ = detector_ + ": parameter " + key + " must be one of " + list + ", got \"" +
                         it->second + "\"";
                return;
            }
        }
        *out = it->second;
    }

    Result<void> Finish() const {
        if (!error_.empty()) return MakeError(ErrorCode::kInvalidArgument, error_);
        for (const auto& [k, v] : params_) {
            if (!known_.count(k)) {
                std::string valid;
                for (const auto& n : known_) valid += (valid.empty() ? "" : ", ") + n;
                return MakeError(ErrorCode::kInvalidArgument,
                                 detector_ + ": unknown parameter \"" + k + "\"",
                                 "valid parameters: " + valid);
            }
        }
        return Ok();
    }

  private:
    std::string detector_;
    const ParamMap& params_;
    std::set<std::string> known_;
    std::string error_;
};

}  // namespace txguard
