#pragma once
// Bearer-token authentication for the HTTP API (RFC 6750): each token carries a role; scoring
// endpoints need kScoring, administrative ones (model reload, labels import, ...) kAdmin, and an
// admin token grants scoring too.
//
// Token list format (a file, or the value of an environment variable):
//   # comment                      (from '#' to the end of the line; files and values alike)
//   scoring:3f9c2a7e51d84b0c9e6a   entries `role:token`, separated by newlines or commas;
//   admin:Qm9vdHN0cmFwLXRva2VuLTE=,scoring:another-token-value-42
// Roles: scoring, admin. A token is 16..256 characters of [A-Za-z0-9._~+/=-] (the b64token
// characters of RFC 6750) and appears once. Blank entries are skipped. Errors name the file and
// line ("tokens.txt:3: unknown role \"root\" ...") and never quote a token.
#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "txguard/core/result.hpp"

namespace txguard {

enum class Role { kScoring, kAdmin };

const char* RoleName(Role role);  // "scoring", "admin"

class TokenSet {
  public:
    static constexpr std::size_t kMinTokenChars = 16;
    static constexpr std::size_t kMaxTokenChars = 256;

    TokenSet() = default;

    // Reads a token file. Missing or unreadable: kNotFound / kIo; a bad entry: kInvalidArgument
    // naming path:line. A file that group or others may read loads, with a warning.
    static Result<TokenSet> FromFile(const std::string& path);
    // Parses a token list given inline (e.g. the TXGUARD_TOKENS environment variable); errors
    // name the entry ("tokens entry 2: ...").
    static Result<TokenSet> FromEnv(std::string_view value);

    bool empty() const { return entries_.empty(); }
    std::size_t size() const { return entries_.size(); }

    // The role of the token in an Authorization header value ("Bearer <token>"; the scheme is
    // case-insensitive, surrounding spaces are ignored), or nullopt when the header is malformed
    // or the token unknown. The presented token is compared with every known token in time that
    // does not depend on where (or whether) they differ.
    std::optional<Role> Check(std::string_view authorization_header) const;

    // Whether a token of role `have` may call an endpoint that needs `need`.
    static bool Allows(Role have, Role need) { return have == need || have == Role::kAdmin; }

    // Problems that do not stop loading (a token file readable by group/others); the caller logs
    // them.
    const std::vector<std::string>& warnings() const { return warnings_; }

  private:
    struct Entry {
        std::array<unsigned char, kMaxTokenChars> padded{};  // zero-padded token
        std::size_t size = 0;
        Role role = Role::kScoring;
    };
    static Result<TokenSet> Parse(std::string_view text, const std::string& source, bool by_line);

    std::vector<Entry> entries_;
    std::vector<std::string> warnings_;
};

}  // namespace txguard
