#include "server/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <utility>

namespace tether {
namespace {

/// Starts a message whose payload is already JSON object members (an
/// access line): the JSON formatter writes them as they are.
constexpr char json_members = '\x1e';

template <class Buffer>
void append_json_escaped(std::string_view s, Buffer& dest) {
  for (char c : s) {
    switch (c) {
      case '"': dest.append(std::string_view("\\\"")); break;
      case '\\': dest.append(std::string_view("\\\\")); break;
      case '\n': dest.append(std::string_view("\\n")); break;
      case '\r': dest.append(std::string_view("\\r")); break;
      case '\t': dest.append(std::string_view("\\t")); break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          dest.append(std::string_view(buf));
        } else {
          dest.push_back(c);
        }
    }
  }
}

/// `"msg":"%v"` with %v escaped, or an access line's members as they are.
class json_message_flag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    if (!payload.empty() && payload.front() == json_members) {
      dest.append(payload.substr(1));
      return;
    }
    dest.append(std::string_view("\"msg\":\""));
    append_json_escaped(payload, dest);
    dest.push_back('"');
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<json_message_flag>();
  }
};

bool needs_quotes(std::string_view v) {
  if (v.empty()) {
    return true;
  }
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::unique_ptr<spdlog::formatter> make_log_formatter(const log_config& cfg) {
  if (cfg.format == "json") {
    auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    f->add_flag<json_message_flag>('*').set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l",%*})");
    return f;
  }
  return std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
}

void setup_logging(const log_config& cfg) {
  auto logger = spdlog::get("tether");
  if (!logger) {
    logger = spdlog::stderr_logger_mt("tether");
    spdlog::set_default_logger(logger);
  }
  spdlog::set_level(spdlog::level::from_str(cfg.level == "warn" ? "warning" : cfg.level));
  spdlog::set_formatter(make_log_formatter(cfg));
}

log_limiter::verdict log_limiter::check(std::chrono::steady_clock::time_point now) {
  if (now >= window_end_) {
    window_end_ = now + std::chrono::seconds(1);
    in_window_ = 0;
  }
  if (in_window_ >= per_second_) {
    ++suppressed_;
    return {false, 0};
  }
  ++in_window_;
  return {true, std::exchange(suppressed_, 0)};
}

access_line::access_line(bool json) : json_(json) {
  if (json_) {
    buf_.push_back(json_members);
    buf_.append(std::string_view(R"("msg":"access")"));
  } else {
    buf_.append(std::string_view("access"));
  }
}

void access_line::key(std::string_view k) {
  if (json_) {
    buf_.append(std::string_view(",\""));
    buf_.append(k);
    buf_.append(std::string_view("\":"));
  } else {
    buf_.push_back(' ');
    buf_.append(k);
    buf_.push_back('=');
  }
}

access_line& access_line::field(std::string_view k, std::string_view value) {
  key(k);
  if (json_) {
    buf_.push_back('"');
    append_json_escaped(value, buf_);
    buf_.push_back('"');
  } else if (needs_quotes(value)) {
    buf_.push_back('"');
    for (char c : value) {
      if (c == '"' || c == '\\') {
        buf_.push_back('\\');
        buf_.push_back(c);
      } else if (static_cast<unsigned char>(c) < 0x20) {
        buf_.push_back(' ');  // one line per entry, whatever a peer sent
      } else {
        buf_.push_back(c);
      }
    }
    buf_.push_back('"');
  } else {
    buf_.append(value);
  }
  return *this;
}

access_line& access_line::field(std::string_view k, std::uint64_t value) {
  key(k);
  fmt::format_to(std::back_inserter(buf_), "{}", value);
  return *this;
}

void access_line::write() { spdlog::info(std::string_view(buf_.data(), buf_.size())); }

}  // namespace tether
