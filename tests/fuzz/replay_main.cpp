// Replays a fuzz target without libFuzzer: every file of the kept corpus, then `mutations` seeded
// mutations of them (byte flips, CSV/JSON-significant byte insertions, deletions, truncations,
// splices). Deterministic: the same corpus and count give the same inputs. A crash, sanitizer
// report or abort fails the CTest test that runs this.
//   replay_<name> CORPUS_DIR [MUTATIONS] [SEED]
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "txguard/core/rng.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s CORPUS_DIR [MUTATIONS] [SEED]\n", argv[0]);
        return 2;
    }
    const std::size_t mutations = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 10000;
    const std::uint64_t seed = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1;
    std::vector<std::string> corpus;
    std::vector<std::filesystem::path> paths;
    for (const auto& e : std::filesystem::directory_iterator(argv[1]))
        if (e.is_regular_file()) paths.push_back(e.path());
    std::sort(paths.begin(), paths.end());
    for (const auto& p : paths) {
        std::ifstream in(p, std::ios::binary);
        corpus.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    if (corpus.empty()) {
        std::fprintf(stderr, "no corpus files in %s\n", argv[1]);
        return 1;
    }
    for (const auto& c : corpus)
        LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(c.data()), c.size());

    static const char kSpecial[] = {',', '"', '\n', '\r', '\0', '-', '.', ':', 'e',    'T',
                                    'Z', '+', ' ',  '{',  '}',  '[', ']', '9', '\xff', '\\'};
    txguard::Rng rng(seed);
    for (std::size_t i = 0; i < mutations; ++i) {
        std::string s = corpus[rng.Below(corpus.size())];
        const int edits = 1 + static_cast<int>(rng.Below(8));
        for (int e = 0; e < edits; ++e) {
            const std::size_t pos = s.empty() ? 0 : rng.Below(s.size() + 1);
            switch (rng.Below(6)) {
                case 0:
                    if (!s.empty() && pos < s.size()) s[pos] = static_cast<char>(rng.Below(256));
                    break;
                case 1:
                    s.insert(pos, 1, kSpecial[rng.Below(sizeof(kSpecial))]);
                    break;
                case 2:
                    if (pos < s.size()) s.erase(pos, 1 + rng.Below(8));
                    break;
                case 3:
                    s.resize(pos);
                    break;
                case 4: {
                    const std::string& o = corpus[rng.Below(corpus.size())];
                    const std::size_t from = o.empty() ? 0 : rng.Below(o.size());
                    s.insert(pos, o.substr(from, rng.Below(64)));
                    break;
                }
                case 5:
                    if (pos < s.size()) s.insert(pos, s.substr(pos, rng.Below(32)));
                    break;
            }
        }
        LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
    }
    std::printf("replayed %zu corpus files and %zu mutations\n", corpus.size(), mutations);
    return 0;
}
