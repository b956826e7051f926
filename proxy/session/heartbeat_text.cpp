#include "session/heartbeat_text.hpp"

#include <chrono>

namespace tether {

std::string expand_now_ms(std::string_view templ) {
  constexpr std::string_view placeholder = "{{now_ms}}";
  auto pos = templ.find(placeholder);
  if (pos == std::string_view::npos) {
    return std::string(templ);
  }
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const auto stamp = std::to_string(now_ms);
  std::string out;
  out.reserve(templ.size() + stamp.size());
  while (pos != std::string_view::npos) {
    out.append(templ.substr(0, pos));
    out.append(stamp);
    templ.remove_prefix(pos + placeholder.size());
    pos = templ.find(placeholder);
  }
  out.append(templ);
  return out;
}

}  // namespace tether
