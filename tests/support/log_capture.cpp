#include "log_capture.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

#include "server/logging.hpp"

namespace tt {

log_capture::log_capture(std::size_t lines)
    : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(lines)) {
  tether::log_config c;
  c.level = "info";
  tether::setup_logging(c);  // makes the "tether" logger if it is not there yet
  spdlog::get("tether")->sinks().push_back(sink_);
  // tether_instance sets the level from this when tether starts.
  ::setenv("TETHER_TEST_LOG", "info", 1);
}

log_capture::~log_capture() {
  ::unsetenv("TETHER_TEST_LOG");
  auto& sinks = spdlog::get("tether")->sinks();
  sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
}

std::string log_capture::wait_line(const std::vector<std::string>& parts, ms timeout) const {
  std::string found;
  wait_until(
      [&] {
        for (const auto& line : sink_->last_formatted()) {
          if (std::all_of(parts.begin(), parts.end(),
                          [&](const std::string& p) { return line.find(p) != std::string::npos; })) {
            found = line;
            return true;
          }
        }
        return false;
      },
      timeout);
  return found;
}

}  // namespace tt
