#pragma once
// The chart libraries written inline into every report: Vega, Vega-Lite and vega-embed, the
// minified UMD bundles that `npm ci` installs into web/node_modules from web/package-lock.json.
//
// Build time: web/embed_assets.cmake generates report_assets.cpp, which embeds the three files
// into the binary (assembler .incbin), so an installed or copied txguard needs nothing beside it.
// When they were missing at configure time the embedded copies are empty and the files are read
// at run time from $TXGUARD_WEB_DIR/node_modules, else from the source tree's web/node_modules.
#include <string>

#include "txguard/core/result.hpp"

namespace txguard {

struct ChartLibrary {
    std::string vega;
    std::string vega_lite;
    std::string vega_embed;
    std::string origin;  // "embedded" or the directory the files were read from
};

// Loaded once per process (thread-safe); source-map comments are stripped.
Result<const ChartLibrary*> LoadChartLibrary();

// Generated (report_assets.cpp): the embedded bundles, "" when not embedded.
const char* EmbeddedVega();
const char* EmbeddedVegaLite();
const char* EmbeddedVegaEmbed();
// The web/ directory of the source tree this binary was built from.
const char* WebSourceDir();

}  // namespace txguard
