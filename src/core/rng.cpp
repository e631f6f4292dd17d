#include "txguard/core/rng.hpp"

#include <cmath>

#include "txguard/core/bytes.hpp"

namespace txguard {
namespace {
__extension__ typedef unsigned __int128 u128;
std::uint64_t SplitMix64(std::uint64_t& x) { return MixBits64(x += 0x9e3779b97f4a7c15ULL); }
inline std::uint64_t Rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Rng::Rng(std::uint64_t seed) : Rng(seed, 0) {}

Rng::Rng(std::uint64_t seed, std::uint64_t stream) {
    std::uint64_t x = seed ^ (stream * 0xd1342543de82ef95ULL + 0x2545f4914f6cdd1dULL);
    std::uint64_t mix = SplitMix64(x) ^ stream;
    x = mix;
    for (auto& s : s_) s = SplitMix64(x);
}

std::uint64_t Rng::NextU64() {
    const std::uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
}

double Rng::Uniform() { return static_cast<double>(NextU64() >> 11) * 0x1.0p-53; }

std::uint64_t Rng::Below(std::uint64_t n) {
    // Lemire's nearly divisionless method.
    u128 m = static_cast<u128>(NextU64()) * n;
    std::uint64_t low = static_cast<std::uint64_t>(m);
    if (low < n) {
        const std::uint64_t threshold = (0 - n) % n;
        while (low < threshold) {
            m = static_cast<u128>(NextU64()) * n;
            low = static_cast<std::uint64_t>(m);
        }
    }
    return static_cast<std::uint64_t>(m >> 64);
}

double Rng::Normal(double mean, double stddev) {
    if (has_spare_) {
        has_spare_ = false;
        return mean + stddev * spare_;
    }
    // Marsaglia polar method.
    double u, v, s;
    do {
        u = 2.0 * Uniform() - 1.0;
        v = 2.0 * Uniform() - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    const double f = std::sqrt(-2.0 * std::log(s) / s);
    spare_ = v * f;
    has_spare_ = true;
    return mean + stddev * u * f;
}

std::uint32_t Rng::Poisson(double lambda) {
    if (!(lambda > 0.0)) return 0;
    if (lambda < 30.0) {
        // Knuth: multiply uniforms until below e^-lambda.
        const double limit = std::exp(-lambda);
        double p = Uniform();
        std::uint32_t k = 0;
        while (p > limit) {
            ++k;
            p *= Uniform();
        }
        return k;
    }
    // Normal approximation with continuity correction for large lambda.
    double x = std::floor(Normal(lambda, std::sqrt(lambda)) + 0.5);
    return x < 0 ? 0u : static_cast<std::uint32_t>(x);
}

double Rng::Exponential(double rate) { return -std::log1p(-Uniform()) / rate; }

}  // namespace txguard
