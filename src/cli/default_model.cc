#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "cli/commands.h"

namespace edgevision::cli {

std::string DefaultModelPath() {
  if (const char* env = std::getenv("EDGEVISION_DEMO_MODEL")) return env;
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    std::filesystem::path installed =
        std::filesystem::path(exe).parent_path() / ".." / "share" / "edgevision" / "demo";
    std::error_code ec;
    if (std::filesystem::exists(installed, ec)) return installed.lexically_normal().string();
  }
  return EDGEVISION_SOURCE_DEMO_MODEL;
}

}  // namespace edgevision::cli
