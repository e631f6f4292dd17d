#pragma once
// Test helper: true when a page loads nothing from elsewhere — no <script src>, no <link href>,
// and no src/href attribute pointing at http(s):// or a protocol-relative //host.
#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

namespace txguard {

inline std::string ToLower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

inline bool IsSelfContained(const std::string& page) {
    const std::string html = ToLower(page);
    // Tags that would load something: <script ... src=...>, <link ... href=...>.
    for (const auto& [tag, attr] : {std::pair{"<script", " src="}, std::pair{"<link", " href="}}) {
        for (auto pos = html.find(tag); pos != std::string::npos; pos = html.find(tag, pos + 1)) {
            const auto end = html.find('>', pos);
            const std::string_view t(html.data() + pos,
                                     (end == std::string::npos ? html.size() : end) - pos);
            if (t.find(attr) != std::string_view::npos) return false;
        }
    }
    for (const char* ref : {"src=\"http", "src='http", "src=http", "href=\"http", "href='http",
                            "href=http", "src=\"//", "href=\"//"}) {
        if (html.find(ref) != std::string::npos) return false;
    }
    return true;
}

}  // namespace txguard
