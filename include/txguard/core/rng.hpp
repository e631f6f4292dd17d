#pragma once
// Deterministic random numbers, identical on every platform and standard library (std::
// distributions are not): xoshiro256** seeded through splitmix64, with the distributions txguard
// needs implemented here.
#include <cstdint>

namespace txguard {

class Rng {
  public:
    explicit Rng(std::uint64_t seed);
    // An independent stream derived from (seed, stream): same inputs, same sequence.
    Rng(std::uint64_t seed, std::uint64_t stream);

    std::uint64_t NextU64();
    // Uniform in [0, 1) with 53 bits.
    double Uniform();
    double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
    // Uniform integer in [0, n), n > 0, without modulo bias.
    std::uint64_t Below(std::uint64_t n);
    double Normal(double mean, double stddev);
    std::uint32_t Poisson(double lambda);
    double Exponential(double rate);

  private:
    std::uint64_t s_[4];
    bool has_spare_ = false;
    double spare_ = 0.0;
};

}  // namespace txguard
