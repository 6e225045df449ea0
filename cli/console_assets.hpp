// The audit console's web assets (cli/console/), embedded into hsk at build time by
// cmake/EmbedConsole.cmake, so the binary serves the page with nothing fetched from elsewhere.
#pragma once

#include <string_view>
#include <vector>

namespace hsk::cli {

struct ConsoleAsset {
  std::string_view path;          // "index.html", "app.js", ...
  std::string_view content_type;  // with charset
  std::string_view body;
};

// Every file of cli/console/, sorted by name.
const std::vector<ConsoleAsset>& console_assets();

}  // namespace hsk::cli
