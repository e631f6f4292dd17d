#include "chart_assets.hpp"

#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>

namespace txguard {
namespace {

// Drops "//# sourceMappingURL=..." lines so that no browser ever asks for a .map file.
std::string StripSourceMap(std::string js) {
    const std::string marker = "//# sourceMappingURL=";
    for (auto pos = js.find(marker); pos != std::string::npos; pos = js.find(marker, pos)) {
        auto end = js.find('\n', pos);
        js.erase(pos, end == std::string::npos ? std::string::npos : end - pos);
    }
    return js;
}

Result<std::string> ReadAll(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return MakeError(ErrorCode::kNotFound, "cannot read " + path);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

Result<ChartLibrary> Load() {
    ChartLibrary lib;
    if (*EmbeddedVega() && *EmbeddedVegaLite() && *EmbeddedVegaEmbed()) {
        lib.vega = StripSourceMap(EmbeddedVega());
        lib.vega_lite = StripSourceMap(EmbeddedVegaLite());
        lib.vega_embed = StripSourceMap(EmbeddedVegaEmbed());
        lib.origin = "embedded";
        return lib;
    }
    std::string dir;
    if (const char* env = std::getenv("TXGUARD_WEB_DIR"); env && *env)
        dir = env;
    else
        dir = WebSourceDir();
    const std::string nm = dir + "/node_modules/";
    auto vega = ReadAll(nm + "vega/build/vega.min.js");
    auto vl = ReadAll(nm + "vega-lite/build/vega-lite.min.js");
    auto embed = ReadAll(nm + "vega-embed/build/vega-embed.min.js");
    if (!vega || !vl || !embed) {
        return MakeError(ErrorCode::kNotFound,
                         "the chart libraries (Vega, Vega-Lite, vega-embed) are neither embedded "
                         "in this binary nor found under " +
                             nm,
                         "run scripts/setup.sh (npm ci in web/) and rebuild, or set "
                         "TXGUARD_WEB_DIR to a web/ directory with node_modules");
    }
    lib.vega = StripSourceMap(std::move(*vega));
    lib.vega_lite = StripSourceMap(std::move(*vl));
    lib.vega_embed = StripSourceMap(std::move(*embed));
    lib.origin = dir;
    return lib;
}

}  // namespace

Result<const ChartLibrary*> LoadChartLibrary() {
    static std::once_flag once;
    static Result<ChartLibrary> lib = MakeError(ErrorCode::kInternal, "not loaded");
    std::call_once(once, [] { lib = Load(); });
    if (!lib) return std::unexpected(lib.error());
    return &*lib;
}

}  // namespace txguard
