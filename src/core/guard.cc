#include "core/guard.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>
#include <utility>

namespace edgevision {

Status CatchAll(std::string_view where, const std::function<void()>& fn) {
  try {
    fn();
    return Status::Ok();
  } catch (const std::exception& e) {
    return Internal(std::string(where) + ": unexpected error: " + e.what());
  } catch (...) {
    return Internal(std::string(where) + ": unexpected error (not a std::exception)");
  }
}

bool RunLogged(std::string_view where, const std::function<void()>& fn) {
  const Status s = CatchAll(where, fn);
  if (!s.ok()) spdlog::error("{}", s.message());
  return s.ok();
}

std::thread GuardedThread(std::string name, std::function<void()> fn) {
  return std::thread([name = std::move(name), fn = std::move(fn)] { RunLogged(name + " thread", fn); });
}

int RunCommand(std::string_view command, const std::function<int()>& run) {
  int code = 1;
  const Status s = CatchAll(command, [&] { code = run(); });
  if (!s.ok()) {
    std::fprintf(stderr, "edgevision: %s\n", s.message().c_str());
    return 1;
  }
  return code;
}

}  // namespace edgevision
