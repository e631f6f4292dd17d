#pragma once
// A report page under construction: sections, tables, notes and Vega-Lite charts, rendered to one
// self-contained HTML file (chart libraries inline, see chart_assets.hpp) and optionally to PNGs.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "txguard/core/result.hpp"
#include "txguard/report/report_options.hpp"

namespace txguard {

// &, <, >, " and ' as entities.
std::string HtmlEscape(std::string_view text);
// JSON text safe inside <script>: "</" is written "<\/" (NaN and infinities become null).
std::string JsonForScript(const nlohmann::json& value);
// A number for a table cell: integers with thousands separators, others with `digits`
// significant digits; "-" for NaN.
std::string FormatNumber(double v, int digits = 4);
std::string FormatCount(std::uint64_t v);
std::string FormatPercent(double fraction, int decimals = 3);

class HtmlPage {
  public:
    HtmlPage(std::string title, std::string subtitle);

    // Starts a section (a heading with an anchor, listed in the page's contents).
    void Section(const std::string& id, const std::string& title);
    void Note(const std::string& text);     // a paragraph of plain text
    void RawHtml(const std::string& html);  // trusted markup
    // A table; cells are plain text. numeric_from: columns from this index on are right-aligned.
    void Table(const std::vector<std::string>& headers,
               const std::vector<std::vector<std::string>>& rows, std::size_t numeric_from = 1);
    // A chart: a Vega-Lite spec (data inline). id: [a-z0-9_-] (a taken id gets a suffix "_2",
    // "_3"...); also the PNG's name.
    void Chart(const std::string& wanted_id, nlohmann::json spec, const std::string& caption = {});
    // Charts side by side until EndRow().
    void BeginRow();
    void EndRow();

    std::size_t chart_count() const { return charts_.size(); }
    const std::vector<std::pair<std::string, nlohmann::json>>& charts() const { return charts_; }

    // The page. png_mode: the page renders every chart to a PNG data URL into the DOM (for
    // RenderPngs); reports written for people have it off.
    Result<std::string> Render(bool png_mode = false) const;

  private:
    std::string title_, subtitle_;
    std::string body_;
    std::vector<std::pair<std::string, std::string>> toc_;
    std::vector<std::pair<std::string, nlohmann::json>> charts_;
};

// Writes the page to `path` and, when options.png_dir is set, every chart to png_dir/<id>.png.
Result<void> WritePage(const HtmlPage& page, const std::string& path, const ReportOptions& options);

// Renders every chart of the page to PNG through headless Chromium (see report_options.hpp).
Result<void> RenderPngs(const HtmlPage& page, const std::string& dir, const ReportOptions& options);

// The Vega-Lite encoding of a day axis (UTC dates, "Aug 08" labels), shared by every report.
nlohmann::json DayAxisEncoding(const std::string& field, nlohmann::json title);

}  // namespace txguard
