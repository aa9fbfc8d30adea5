// Status and Result<T>: the error values that cross every module border.
//
// A Status is either OK or a code from a small fixed set plus a message meant
// for a human (it names the file, node, field or limit involved). Modules never
// throw across their public functions; they return Status or Result<T>.
// The HTTP layer maps codes to HTTP statuses in exactly one place
// (ToApiError in http/api_error.h), the CLI maps any non-OK status to a
// non-zero exit. An exception that escapes anyway is caught at a thread's
// entry or a command's (core/guard.h).
//
// Thread-safety: values; no shared state.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace edgevision {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,    // the caller's input is wrong (bad image, bad JSON, bad flag)
  kNotFound,           // a file, route, capture or value does not exist
  kUnsupported,        // valid input we do not handle (an op, a format, a scheme)
  kCorrupt,            // a file that should be well-formed is not (truncated model)
  kResourceExhausted,  // a named limit was hit (body size, pixels, queue depth, disk)
  kUnavailable,        // temporarily cannot serve (model loading, broker down)
  kDeadlineExceeded,   // a timeout expired
  kPermissionDenied,   // missing or wrong credentials
  kIOError,            // the OS said no (open, read, write, fsync)
  kInternal,           // a bug: an invariant did not hold
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "InvalidArgument: <message>", or "OK".
  std::string ToString() const;

  // Returns a copy whose message is "<context>: <message>"; keeps the code.
  Status WithContext(std::string_view context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status Unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
inline Status Corrupt(std::string m) { return {StatusCode::kCorrupt, std::move(m)}; }
inline Status ResourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status DeadlineExceeded(std::string m) { return {StatusCode::kDeadlineExceeded, std::move(m)}; }
inline Status PermissionDenied(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }
inline Status IOError(std::string m) { return {StatusCode::kIOError, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// Result<T> holds either a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    assert(!status_.ok() && "Result constructed from an OK status without a value");
    if (status_.ok()) status_ = Internal("Result constructed from OK status without a value");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace edgevision

// Propagate a non-OK Status from an expression returning Status.
#define EV_RETURN_IF_ERROR(expr)                    \
  do {                                              \
    ::edgevision::Status ev_status_ = (expr);       \
    if (!ev_status_.ok()) return ev_status_;        \
  } while (0)

#define EV_CONCAT_INNER_(a, b) a##b
#define EV_CONCAT_(a, b) EV_CONCAT_INNER_(a, b)

// EV_ASSIGN_OR_RETURN(auto x, MakeX()); declares x or returns the error.
#define EV_ASSIGN_OR_RETURN(lhs, expr) \
  EV_ASSIGN_OR_RETURN_IMPL_(EV_CONCAT_(ev_result_, __LINE__), lhs, expr)
#define EV_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
