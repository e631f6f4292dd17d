#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace txguard {

// The OpenAPI 3.0 document of the HTTP API (GET /openapi.json), with the served model's required
// transaction fields and extra numeric columns filled in.
std::string OpenApiDocument(const std::vector<std::string>& required_fields,
                            const std::vector<std::string>& extra_columns,
                            std::string_view txguard_version);

}  // namespace txguard
