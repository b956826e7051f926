#pragma once
// tether's log lines at info, collected while the capture lives (tether runs
// in-process). Make it before tether starts and let it go after tether
// stops, so that no thread logs meanwhile.
#include <spdlog/sinks/ringbuffer_sink.h>

#include <memory>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace tt {

class log_capture {
 public:
  explicit log_capture(std::size_t lines = 4096);
  ~log_capture();
  log_capture(const log_capture&) = delete;
  log_capture& operator=(const log_capture&) = delete;

  /// Every line so far, formatted.
  std::vector<std::string> lines() const { return sink_->last_formatted(); }
  /// Waits for a line containing every one of `parts`; returns it, or "".
  std::string wait_line(const std::vector<std::string>& parts, ms timeout = 5000ms) const;
  spdlog::sinks::ringbuffer_sink_mt& sink() { return *sink_; }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

}  // namespace tt
