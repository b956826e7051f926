#pragma once
// stderr logging in `text` (human) or `json` (one object per line) format,
// and the access log's lines (log.access) in either.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>

#include <fmt/format.h>
#include <spdlog/formatter.h>

#include "config/config.hpp"

namespace tether {

/// Applies log.level and log.format; safe to call again on reload.
void setup_logging(const log_config& cfg);

/// The formatter setup_logging gives every sink for `cfg.format` (tests
/// give it to the sinks they capture with).
std::unique_ptr<spdlog::formatter> make_log_formatter(const log_config& cfg);

/// At most `per_second` lines a second for one kind of line on one thread
/// (a worker), so that a flood (garbage handshakes) cannot flood the log;
/// the lines held back are counted, and the count is handed back once, with
/// the first line of a later second, for a summary line.
class log_limiter {
 public:
  explicit log_limiter(std::uint32_t per_second) : per_second_(per_second) {}
  struct verdict {
    bool log;                  // write this line
    std::uint64_t suppressed;  // lines held back since the last summary (0: no summary due)
  };
  verdict check(std::chrono::steady_clock::time_point now);

 private:
  std::uint32_t per_second_;
  std::uint32_t in_window_ = 0;
  std::uint64_t suppressed_ = 0;
  std::chrono::steady_clock::time_point window_end_{};
};

/// One access-log line: "access" and its fields, in the order added. Text:
/// `access key=value ...`, a value quoted when it holds a space, a quote or
/// an `=`, or is empty. JSON: the fields are members of the line's object
/// (`{"ts":..,"level":"info","msg":"access","key":value,...}`), numbers as
/// numbers. Built once per finished session or exchange, never per message.
class access_line {
 public:
  explicit access_line(bool json);
  access_line& field(std::string_view key, std::string_view value);
  access_line& field(std::string_view key, const char* value) { return field(key, std::string_view(value)); }
  access_line& field(std::string_view key, std::uint64_t value);
  /// Logs the line at info.
  void write();

 private:
  void key(std::string_view k);
  fmt::memory_buffer buf_;
  bool json_;
};

}  // namespace tether
