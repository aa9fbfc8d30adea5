// The one place where an exception nobody expected is caught.
//
// Modules return Status (core/status.h) and do not throw, but a library call
// (nlohmann::json, the standard library, bad_alloc) can still throw on a path
// nobody foresaw. An exception escaping a thread's entry function or main()
// ends the process with std::terminate and no useful message. So every
// thread entry runs through GuardedThread (or RunLogged for each unit of
// work of a long-lived loop), and every CLI command through RunCommand:
// the exception is reported, naming where it happened, and the process goes
// on (a thread's entry returns; a command exits 1).
//
// Thread-safety: the functions are reentrant; they share no state.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <thread>

#include "core/status.h"

namespace edgevision {

// Runs `fn`. An exception escaping it becomes Internal("<where>: unexpected
// error: <what()>"); OK otherwise.
Status CatchAll(std::string_view where, const std::function<void()>& fn);

// Runs `fn` under CatchAll and logs what it caught (spdlog error). Returns
// whether `fn` completed without an exception.
bool RunLogged(std::string_view where, const std::function<void()>& fn);

// A std::thread whose entry is `fn` run under RunLogged("<name> thread"):
// an exception ends the thread, logged, instead of the process.
std::thread GuardedThread(std::string name, std::function<void()> fn);

// Runs a CLI command. An exception escaping it is printed to stderr as
// "edgevision: <command>: unexpected error: ..." and the exit code is 1;
// otherwise the command's own exit code.
int RunCommand(std::string_view command, const std::function<int()>& run);

}  // namespace edgevision
