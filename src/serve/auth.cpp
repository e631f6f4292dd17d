#include "txguard/serve/auth.hpp"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

namespace txguard {
namespace {

bool TokenChar(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '~' || c == '+' || c == '/' || c == '=' || c == '-';
}

bool Space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view Trim(std::string_view s) {
    while (!s.empty() && Space(s.front())) s.remove_prefix(1);
    while (!s.empty() && Space(s.back())) s.remove_suffix(1);
    return s;
}

// Role names are not secret, but may be anything: print them short and printable.
std::string Shown(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 32)) out += (c >= 0x20 && c < 0x7F) ? c : '?';
    if (s.size() > 32) out += "...";
    return out;
}

}  // namespace

const char* RoleName(Role role) { return role == Role::kAdmin ? "admin" : "scoring"; }

Result<TokenSet> TokenSet::Parse(std::string_view text, const std::string& source, bool by_line) {
    TokenSet set;
    std::vector<std::size_t> where;  // line or entry number of each token
    std::size_t line_no = 0;
    std::size_t entry_no = 0;
    while (!text.empty() || line_no == 0) {
        const std::size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        ++line_no;
        if (const std::size_t hash = line.find('#'); hash != std::string_view::npos)
            line = line.substr(0, hash);
        while (true) {
            const std::size_t comma = line.find(',');
            const std::string_view raw = Trim(line.substr(0, comma));
            line = comma == std::string_view::npos ? std::string_view() : line.substr(comma + 1);
            if (!raw.empty()) {
                ++entry_no;
                const std::size_t here = by_line ? line_no : entry_no;
                const std::string at = by_line
                                           ? source + ":" + std::to_string(line_no) + ": "
                                           : source + " entry " + std::to_string(entry_no) + ": ";
                const std::string_view hint = "entries are role:token (roles: scoring, admin)";
                const std::size_t colon = raw.find(':');
                if (colon == std::string_view::npos)
                    return MakeError(ErrorCode::kInvalidArgument, at + "expected role:token",
                                     std::string(hint));
                const std::string_view role_text = Trim(raw.substr(0, colon));
                const std::string_view token = Trim(raw.substr(colon + 1));
                Role role;
                if (role_text == "scoring") {
                    role = Role::kScoring;
                } else if (role_text == "admin") {
                    role = Role::kAdmin;
                } else {
                    return MakeError(ErrorCode::kInvalidArgument,
                                     at + "unknown role \"" + Shown(role_text) +
                                         "\" (expected scoring or admin)",
                                     std::string(hint));
                }
                if (token.size() < kMinTokenChars || token.size() > kMaxTokenChars)
                    return MakeError(ErrorCode::kInvalidArgument,
                                     at + "the token has " + std::to_string(token.size()) +
                                         " characters (expected " + std::to_string(kMinTokenChars) +
                                         ".." + std::to_string(kMaxTokenChars) + ")",
                                     "generate one with: openssl rand -hex 24");
                for (std::size_t i = 0; i < token.size(); ++i)
                    if (!TokenChar(token[i]))
                        return MakeError(ErrorCode::kInvalidArgument,
                                         at +
                                             "the token has a character outside "
                                             "[A-Za-z0-9._~+/=-] at position " +
                                             std::to_string(i + 1),
                                         "generate one with: openssl rand -hex 24");
                Entry e;
                std::memcpy(e.padded.data(), token.data(), token.size());
                e.size = token.size();
                e.role = role;
                for (std::size_t k = 0; k < set.entries_.size(); ++k)
                    if (set.entries_[k].size == e.size && set.entries_[k].padded == e.padded)
                        return MakeError(ErrorCode::kInvalidArgument,
                                         at + "the token is repeated (first " +
                                             (by_line ? "on line " : "in entry ") +
                                             std::to_string(where[k]) + ")",
                                         "every token appears once, with one role");
                set.entries_.push_back(e);
                where.push_back(here);
            }
            if (comma == std::string_view::npos) break;
        }
    }
    return set;
}

Result<TokenSet> TokenSet::FromFile(const std::string& path) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (ec || !std::filesystem::exists(status))
        return MakeError(ErrorCode::kNotFound, path + ": no such token file");
    if (std::filesystem::is_directory(status))
        return MakeError(ErrorCode::kIo, path + ": is a directory, not a token file");
    std::ifstream in(path, std::ios::binary);
    if (!in) return MakeError(ErrorCode::kIo, path + ": cannot open the token file");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) return MakeError(ErrorCode::kIo, path + ": cannot read the token file");
    auto set = Parse(text, path, /*by_line=*/true);
    if (!set) return set;
    using std::filesystem::perms;
    const perms p = status.permissions();
    if ((p & (perms::group_read | perms::others_read)) != perms::none) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(p) & 0777u);
        set->warnings_.push_back(path + ": the token file is readable by group/others (mode " +
                                 mode + "); restrict it with: chmod 600 " + path);
    }
    return set;
}

Result<TokenSet> TokenSet::FromEnv(std::string_view value) {
    return Parse(value, "tokens", /*by_line=*/false);
}

std::optional<Role> TokenSet::Check(std::string_view header) const {
    header = Trim(header);
    static constexpr std::string_view kScheme = "bearer";
    if (header.size() <= kScheme.size()) return std::nullopt;
    for (std::size_t i = 0; i < kScheme.size(); ++i) {
        char c = header[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != kScheme[i]) return std::nullopt;
    }
    if (header[kScheme.size()] != ' ' && header[kScheme.size()] != '\t') return std::nullopt;
    const std::string_view token = Trim(header.substr(kScheme.size() + 1));
    // The length and character set of the presented token are the caller's own business; only
    // the comparison with the secrets must not leak.
    if (token.empty() || token.size() > kMaxTokenChars) return std::nullopt;
    for (char c : token)
        if (!TokenChar(c)) return std::nullopt;
    std::array<unsigned char, kMaxTokenChars> presented{};
    std::memcpy(presented.data(), token.data(), token.size());
    // Every byte of every entry is compared: the time depends on the number of tokens only.
    std::optional<Role> found;
    for (const Entry& e : entries_) {
        std::size_t diff = e.size ^ token.size();
        unsigned acc = 0;
        for (std::size_t i = 0; i < kMaxTokenChars; ++i) acc |= e.padded[i] ^ presented[i];
        diff |= acc;
        // Keep the compiler from turning the loop into an early exit on diff.
        asm volatile("" : "+r"(diff));
        if (diff == 0) found = e.role;
    }
    return found;
}

}  // namespace txguard
