#pragma once
// Options shared by the HTML reports (EDA and evaluation).
//
// Every report is one self-contained HTML file: the chart libraries (Vega, Vega-Lite and
// vega-embed, minified bundles pinned by web/package-lock.json) are embedded into the txguard
// binary at build time and written inline into each file, with the chart specs and their
// aggregated data; the file loads nothing from the network and works offline. Charts are
// Vega-Lite specs rendered by the browser.
//
// PNG output (png_dir) runs headless Chromium once over a page holding every chart, has Vega draw
// each chart to a PNG (2x scale) and writes DIR/<chart id>.png. Chromium is found through
// $TXGUARD_CHROMIUM, then /usr/bin/chromium, chromium-browser, google-chrome on PATH.
#include <string>

namespace txguard {

struct ReportOptions {
    std::string title;        // page title; empty: a default per report
    std::string png_dir;      // non-empty: also render every chart to DIR/<chart id>.png
    std::string chromium;     // Chromium executable for png_dir; empty: search (see above)
    int png_timeout_s = 120;  // limit for the Chromium run
};

}  // namespace txguard
