#include "stream/ffmpeg_module.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <optional>
#include <string_view>

#include <spdlog/spdlog.h>

#include "stream/ffmpeg/module_abi.h"

// Set by src/stream/CMakeLists.txt: the module's file name, its folder
// relative to the binary's once installed, and the packages of the FFmpeg
// libraries it links.
#ifndef EDGEVISION_FFMPEG_MODULE_NAME
#error "EDGEVISION_FFMPEG_MODULE_NAME is set by src/stream/CMakeLists.txt"
#endif

namespace edgevision::stream {

namespace {

constexpr const char* kModuleEnv = "EDGEVISION_FFMPEG_MODULE";
// Set to "slim" by the Dockerfile's slim stage (and to "full" by the full
// one): inside that image `apt install` is no remedy, the full image is.
constexpr const char* kContainerImageEnv = "EDGEVISION_CONTAINER_IMAGE";

std::string DlError() {
  const char* e = dlerror();
  return e ? e : "unknown dlopen error";
}

// The binary's folder, from /proc/self/exe; empty when it cannot be read.
std::filesystem::path BinaryFolder() {
  std::error_code ec;
  std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path() : exe.parent_path();
}

// A source whose code lives in the module: keeps the module loaded for as
// long as it exists (the inner source is destroyed first).
class ModuleSource final : public FrameSource {
 public:
  ModuleSource(std::shared_ptr<FfmpegModule> module, std::unique_ptr<FrameSource> inner)
      : module_(std::move(module)), inner_(std::move(inner)) {}
  Result<Frame> Read() override { return inner_->Read(); }
  void Interrupt() override { inner_->Interrupt(); }
  DecoderInfo decoder() const override { return inner_->decoder(); }

 private:
  std::shared_ptr<FfmpegModule> module_;  // declared first: destroyed last
  std::unique_ptr<FrameSource> inner_;
};

}  // namespace

const char* FfmpegPackages() { return EDGEVISION_FFMPEG_PACKAGES; }

std::string FfmpegRemedy() {
  const char* image = std::getenv(kContainerImageEnv);
  if (image && std::string_view(image) == "slim") {
    return std::string("this is the slim container image, which leaves them out (") + FfmpegPackages() +
           "): use the full image";
  }
  return std::string("apt install ") + FfmpegPackages();
}

void FfmpegModule::DlCloser::operator()(void* handle) const {
  if (handle) dlclose(handle);
}

FfmpegModule::~FfmpegModule() = default;

Result<std::shared_ptr<FfmpegModule>> FfmpegModule::Load(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return Unsupported("the FFmpeg module " + path.string() +
                       " is not installed (it ships with the edgevision package: reinstall it)");
  }
  dlerror();
  Handle handle(dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL));
  if (!handle) {
    const std::string why = DlError();
    // The module is there but the loader cannot find a library it links:
    // FFmpeg's libraries are the package's Recommends, so they may be absent.
    if (why.find("cannot open shared object file") != std::string::npos) {
      return Unsupported(std::string("FFmpeg's libraries are not installed (") + why +
                         "); cameras, streams and video files need them: " + FfmpegRemedy());
    }
    return Corrupt("cannot load the FFmpeg module: " + why);
  }
  using Entry = const FfmpegModuleApi* (*)();
  auto entry = reinterpret_cast<Entry>(dlsym(handle.get(), kFfmpegModuleEntry));
  if (!entry) return Corrupt(path.string() + " is not an edgevision FFmpeg module (no " + kFfmpegModuleEntry + ")");
  const FfmpegModuleApi* api = entry();
  if (!api || api->abi != kFfmpegModuleAbi || api->layout != FfmpegModuleLayout()) {
    return Corrupt(path.string() + " was built for another edgevision (module ABI " +
                   (api ? std::to_string(api->abi) + "/" + std::to_string(api->layout) : std::string("?")) +
                   ", this binary " + std::to_string(kFfmpegModuleAbi) + "/" +
                   std::to_string(FfmpegModuleLayout()) + "): reinstall edgevision");
  }
  if (!api->open || !api->versions) return Corrupt(path.string() + ": the module's entry table is incomplete");
  return std::shared_ptr<FfmpegModule>(new FfmpegModule(path, std::move(handle), api));
}

std::vector<std::filesystem::path> FfmpegModule::SearchPath() {
  if (const char* forced = std::getenv(kModuleEnv); forced && *forced) return {forced};
  const std::filesystem::path folder = BinaryFolder();
  if (folder.empty()) return {};
  return {folder / EDGEVISION_FFMPEG_MODULE_NAME,
          (folder / EDGEVISION_FFMPEG_MODULE_RELATIVE_DIR / EDGEVISION_FFMPEG_MODULE_NAME).lexically_normal()};
}

Result<std::shared_ptr<FfmpegModule>> FfmpegModule::Default() {
  static std::mutex mu;
  static std::optional<Result<std::shared_ptr<FfmpegModule>>> loaded;
  std::lock_guard<std::mutex> lock(mu);
  if (loaded) return *loaded;
  const std::vector<std::filesystem::path> candidates = SearchPath();
  std::filesystem::path chosen = candidates.empty() ? std::filesystem::path(EDGEVISION_FFMPEG_MODULE_NAME)
                                                    : candidates.back();
  for (const auto& candidate : candidates) {
    std::error_code ec;
    if (std::filesystem::exists(candidate, ec)) {
      chosen = candidate;
      break;
    }
  }
  loaded = Load(chosen);
  if (loaded->ok()) {
    spdlog::info("FFmpeg module {}: {}", chosen.string(), loaded->value()->Versions());
  } else {
    spdlog::error("FFmpeg sources cannot run: {}", loaded->status().message());
  }
  return *loaded;
}

Result<std::unique_ptr<FrameSource>> FfmpegModule::Open(const SourceSpec& spec,
                                                        const std::function<bool()>& cancelled) {
  EV_ASSIGN_OR_RETURN(std::unique_ptr<FrameSource> inner, api_->open(spec, cancelled));
  return std::unique_ptr<FrameSource>(std::make_unique<ModuleSource>(shared_from_this(), std::move(inner)));
}

std::string FfmpegModule::Versions() const { return api_->versions(); }

}  // namespace edgevision::stream
