#include "html_page.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "chart_assets.hpp"
#include "txguard/core/check.hpp"
#include "txguard/version.hpp"

extern char** environ;

namespace txguard {
namespace {

constexpr const char* kCss = R"css(
:root { --fg: #1f2933; --muted: #616e7c; --line: #d9e2ec; --accent: #c2410c; --bg: #ffffff; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       background: var(--bg); margin: 0; }
header { padding: 20px 32px 12px; border-bottom: 1px solid var(--line); }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: var(--muted); }
nav { padding: 8px 32px; border-bottom: 1px solid var(--line); font-size: 13px; }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; white-space: nowrap; }
main { padding: 8px 32px 48px; max-width: 1400px; }
h2 { margin: 28px 0 8px; font-size: 18px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
p.note { color: var(--muted); margin: 4px 0 10px; max-width: 960px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f5f7fa; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.row { display: flex; flex-wrap: wrap; gap: 12px 28px; align-items: flex-start; }
figure { margin: 8px 0 16px; }
figcaption { color: var(--muted); font-size: 12px; max-width: 720px; }
.chart { min-height: 40px; }
footer { color: var(--muted); font-size: 12px; padding: 16px 32px; border-top: 1px solid var(--line); }
)css";

// Loads every chart with vega-embed; window.txguardReport.ready resolves to the number of charts
// that failed. In PNG mode each chart is then drawn to a PNG data URL appended to the DOM.
constexpr const char* kRunner = R"js(
(function () {
  "use strict";
  var charts = window.TXG_CHARTS, pngMode = window.TXG_PNG_MODE, views = {};
  var opts = { actions: false, renderer: "svg", mode: "vega-lite" };
  var jobs = charts.map(function (c) {
    var el = document.getElementById("chart-" + c.id);
    return vegaEmbed(el, c.spec, opts).then(function (r) {
      views[c.id] = r.view;
      return true;
    }, function (e) {
      console.error("txguard: chart " + c.id + " failed to render: " + e);
      el.textContent = "This chart failed to render: " + e;
      return false;
    });
  });
  var ready = Promise.all(jobs).then(function (ok) {
    return ok.filter(function (x) { return !x; }).length;
  });
  window.txguardReport = { charts: charts.map(function (c) { return c.id; }), views: views,
                           ready: ready };
  if (!pngMode) return;
  ready.then(function () {
    return Promise.all(charts.map(function (c) {
      if (!views[c.id]) return null;
      return views[c.id].toImageURL("png", 2).then(function (url) {
        var pre = document.createElement("pre");
        pre.className = "txg-png";
        pre.setAttribute("data-id", c.id);
        pre.textContent = url;
        document.body.appendChild(pre);
      });
    }));
  }).then(function () {
    var done = document.createElement("pre");
    done.id = "txg-png-done";
    document.body.appendChild(done);
  }, function (e) { console.error("txguard: PNG rendering failed: " + e); });
})();
)js";

bool ValidChartId(const std::string& id) {
    if (id.empty()) return false;
    for (char c : id)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    return true;
}

// Replaces NaN and infinities (which JSON cannot carry) by null, recursively.
void NullNonFinite(nlohmann::json& j) {
    if (j.is_number_float()) {
        if (!std::isfinite(j.get<double>())) j = nullptr;
    } else if (j.is_array() || j.is_object()) {
        for (auto& v : j) NullNonFinite(v);
    }
}

Result<void> WriteFile(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out)
        return MakeError(ErrorCode::kIo, "cannot write " + path, "check the directory exists");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) return MakeError(ErrorCode::kIo, "write failed for " + path);
    return Ok();
}

Result<std::string> FindChromium(const ReportOptions& options) {
    std::vector<std::string> candidates;
    if (!options.chromium.empty()) candidates.push_back(options.chromium);
    if (const char* env = std::getenv("TXGUARD_CHROMIUM"); env && *env) candidates.push_back(env);
    candidates.push_back("/usr/bin/chromium");
    if (const char* path = std::getenv("PATH")) {
        std::stringstream ss(path);
        std::string dir;
        while (std::getline(ss, dir, ':')) {
            for (const char* name : {"chromium", "chromium-browser", "google-chrome"})
                candidates.push_back(dir + "/" + name);
        }
    }
    for (const auto& c : candidates)
        if (::access(c.c_str(), X_OK) == 0) return c;
    return MakeError(ErrorCode::kNotFound, "no Chromium found for --png",
                     "install Debian's chromium package (scripts/setup.sh) or set "
                     "TXGUARD_CHROMIUM to a Chromium or Chrome executable");
}

int DecodeBase64Char(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

std::string DecodeBase64(std::string_view in) {
    std::string out;
    out.reserve(in.size() * 3 / 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        const int v = DecodeBase64Char(c);
        if (v < 0) continue;  // padding, whitespace
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xFF));
        }
    }
    return out;
}

}  // namespace

std::string HtmlEscape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::string JsonForScript(const nlohmann::json& value) {
    nlohmann::json copy = value;
    NullNonFinite(copy);
    std::string s = copy.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '<' && i + 1 < s.size() && (s[i + 1] == '/' || s[i + 1] == '!')) {
            out += "\\u003c";
        } else {
            out += s[i];
        }
    }
    return out;
}

std::string FormatCount(std::uint64_t v) {
    std::string digits = std::to_string(v);
    std::string out;
    const std::size_t n = digits.size();
    for (std::size_t i = 0; i < n; ++i) {
        out += digits[i];
        if ((n - i - 1) % 3 == 0 && i + 1 < n) out += ',';
    }
    return out;
}

std::string FormatNumber(double v, int digits) {
    if (std::isnan(v)) return "-";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    if (v == std::floor(v) && std::fabs(v) < 1e15) {
        const std::string s = FormatCount(static_cast<std::uint64_t>(std::fabs(v)));
        return v < 0 ? "-" + s : s;
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    return buf;
}

std::string FormatPercent(double fraction, int decimals) {
    if (std::isnan(fraction)) return "-";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f%%", decimals, 100.0 * fraction);
    return buf;
}

HtmlPage::HtmlPage(std::string title, std::string subtitle)
    : title_(std::move(title)), subtitle_(std::move(subtitle)) {}

void HtmlPage::Section(const std::string& id, const std::string& title) {
    body_ += "<h2 id=\"" + HtmlEscape(id) + "\">" + HtmlEscape(title) + "</h2>\n";
    toc_.emplace_back(id, title);
}

void HtmlPage::Note(const std::string& text) {
    body_ += "<p class=\"note\">" + HtmlEscape(text) + "</p>\n";
}

void HtmlPage::RawHtml(const std::string& html) { body_ += html; }

void HtmlPage::Table(const std::vector<std::string>& headers,
                     const std::vector<std::vector<std::string>>& rows, std::size_t numeric_from) {
    body_ += "<table><thead><tr>";
    for (const auto& h : headers) body_ += "<th>" + HtmlEscape(h) + "</th>";
    body_ += "</tr></thead><tbody>\n";
    for (const auto& row : rows) {
        body_ += "<tr>";
        for (std::size_t i = 0; i < row.size(); ++i) {
            body_ += i >= numeric_from ? "<td class=\"num\">" : "<td>";
            body_ += HtmlEscape(row[i]) + "</td>";
        }
        body_ += "</tr>\n";
    }
    body_ += "</tbody></table>\n";
}

void HtmlPage::Chart(const std::string& wanted_id, nlohmann::json spec,
                     const std::string& caption) {
    TXG_CHECK_MSG(ValidChartId(wanted_id), "chart ids are [a-z0-9_-]");
    std::string id = wanted_id;
    auto taken = [&](const std::string& candidate) {
        for (const auto& c : charts_)
            if (c.first == candidate) return true;
        return false;
    };
    for (int k = 2; taken(id); ++k) id = wanted_id + "_" + std::to_string(k);
    body_ +=
        "<figure><div class=\"chart\" id=\"chart-" + id + "\" data-chart=\"" + id + "\"></div>";
    if (!caption.empty()) body_ += "<figcaption>" + HtmlEscape(caption) + "</figcaption>";
    body_ += "</figure>\n";
    charts_.emplace_back(id, std::move(spec));
}

void HtmlPage::BeginRow() { body_ += "<div class=\"row\">\n"; }
void HtmlPage::EndRow() { body_ += "</div>\n"; }

Result<std::string> HtmlPage::Render(bool png_mode) const {
    auto lib = LoadChartLibrary();
    if (!lib) return std::unexpected(lib.error());
    std::string html;
    html.reserve((*lib)->vega.size() + (*lib)->vega_lite.size() + (*lib)->vega_embed.size() +
                 body_.size() + (1 << 16));
    html += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    html += "<meta name=\"generator\" content=\"txguard " + std::string(kVersion) + "\">\n";
    html += "<title>" + HtmlEscape(title_) + "</title>\n<style>" + std::string(kCss) + "</style>\n";
    // The chart libraries, inline (no network): Vega, Vega-Lite, vega-embed.
    html += "<script>" + (*lib)->vega + "\n</script>\n";
    html += "<script>" + (*lib)->vega_lite + "\n</script>\n";
    html += "<script>" + (*lib)->vega_embed + "\n</script>\n";
    html += "</head>\n<body>\n<header><h1>" + HtmlEscape(title_) + "</h1><p>" +
            HtmlEscape(subtitle_) + "</p></header>\n<nav>";
    for (const auto& [id, title] : toc_)
        html += "<a href=\"#" + HtmlEscape(id) + "\">" + HtmlEscape(title) + "</a>";
    html += "</nav>\n<main>\n" + body_ + "</main>\n";
    html += "<footer>Generated by txguard " + std::string(kVersion) +
            ". Charts: Vega-Lite (embedded; this file needs no network).</footer>\n";
    nlohmann::json charts = nlohmann::json::array();
    for (const auto& [id, spec] : charts_) charts.push_back({{"id", id}, {"spec", spec}});
    html += "<script>\nwindow.TXG_PNG_MODE = " + std::string(png_mode ? "true" : "false") +
            ";\nwindow.TXG_CHARTS = " + JsonForScript(charts) + ";\n</script>\n";
    html += "<script>" + std::string(kRunner) + "</script>\n</body>\n</html>\n";
    return html;
}

Result<void> RenderPngs(const HtmlPage& page, const std::string& dir,
                        const ReportOptions& options) {
    namespace fs = std::filesystem;
    auto chromium = FindChromium(options);
    if (!chromium) return std::unexpected(chromium.error());
    auto html = page.Render(true);
    if (!html) return std::unexpected(html.error());
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return MakeError(ErrorCode::kIo, "cannot create " + dir + ": " + ec.message());
    std::string tmpl = (fs::temp_directory_path(ec) / "txguard-png-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr)
        return MakeError(ErrorCode::kIo, "cannot create a temporary directory for Chromium");
    const fs::path tmp = tmpl;
    struct Cleanup {
        fs::path p;
        ~Cleanup() {
            std::error_code e;
            fs::remove_all(p, e);
        }
    } cleanup{tmp};
    const std::string page_path = (tmp / "charts.html").string();
    const std::string dom_path = (tmp / "dom.html").string();
    TXG_RETURN_IF_ERROR(WriteFile(page_path, *html));

    std::vector<std::string> args = {*chromium,
                                     "--headless",
                                     "--no-sandbox",
                                     "--disable-gpu",
                                     "--disable-quic",
                                     "--no-first-run",
                                     "--disable-background-networking",
                                     "--disable-component-update",
                                     "--disable-sync",
                                     "--disable-dev-shm-usage",
                                     "--user-data-dir=" + (tmp / "profile").string(),
                                     "--virtual-time-budget=600000",
                                     "--dump-dom",
                                     "file://" + page_path};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, dom_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0)
        return MakeError(ErrorCode::kIo, "cannot start " + *chromium + ": " + std::strerror(rc));
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(options.png_timeout_s);
    int status = 0;
    for (;;) {
        const pid_t w = ::waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (w < 0) return MakeError(ErrorCode::kIo, "waiting for Chromium failed");
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            return MakeError(ErrorCode::kIo,
                             "Chromium did not finish rendering the charts within " +
                                 std::to_string(options.png_timeout_s) + " s");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::ifstream in(dom_path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    const std::string dom = ss.str();
    if (dom.find("id=\"txg-png-done\"") == std::string::npos) {
        return MakeError(
            ErrorCode::kIo,
            "Chromium (" + *chromium + ") exited without rendering the charts" +
                (WIFEXITED(status) ? " (exit status " + std::to_string(WEXITSTATUS(status)) + ")"
                                   : std::string(" (killed by a signal)")),
            "run the same Chromium by hand with --headless --dump-dom to see why");
    }
    const std::string open = "<pre class=\"txg-png\" data-id=\"";
    const std::string prefix = "data:image/png;base64,";
    std::size_t written = 0;
    for (auto pos = dom.find(open); pos != std::string::npos; pos = dom.find(open, pos)) {
        pos += open.size();
        const auto id_end = dom.find('"', pos);
        const auto body = dom.find('>', id_end);
        const auto end = dom.find("</pre>", body);
        if (id_end == std::string::npos || body == std::string::npos || end == std::string::npos)
            break;
        const std::string id = dom.substr(pos, id_end - pos);
        std::string_view data(dom.data() + body + 1, end - body - 1);
        if (!ValidChartId(id) || !data.starts_with(prefix)) continue;
        data.remove_prefix(prefix.size());
        TXG_RETURN_IF_ERROR(
            WriteFile((fs::path(dir) / (id + ".png")).string(), DecodeBase64(data)));
        ++written;
        pos = end;
    }
    if (written != page.chart_count()) {
        return MakeError(ErrorCode::kIo, "Chromium rendered " + std::to_string(written) + " of " +
                                             std::to_string(page.chart_count()) + " charts");
    }
    return Ok();
}

Result<void> WritePage(const HtmlPage& page, const std::string& path,
                       const ReportOptions& options) {
    auto html = page.Render(false);
    if (!html) return std::unexpected(html.error());
    TXG_RETURN_IF_ERROR(WriteFile(path, *html));
    if (!options.png_dir.empty()) TXG_RETURN_IF_ERROR(RenderPngs(page, options.png_dir, options));
    return Ok();
}

nlohmann::json DayAxisEncoding(const std::string& field, nlohmann::json title) {
    return {{"field", field},
            {"type", "temporal"},
            {"title", std::move(title)},
            {"scale", {{"type", "utc"}}},
            {"axis", {{"format", "%b %d"}}}};
}

}  // namespace txguard
