// The configuration loader on arbitrary bytes: parse_config, the text entry
// point, which (unlike load_config) opens no file, so the outcome depends on
// the input alone.
//
// Invariants: a config or errors, never both and never neither; every error
// names the source and a line:col within the input; no crash and nothing
// slower than scripts/fuzz.sh's -timeout=1.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "../fuzz_check.hpp"
#include "config/config.hpp"

namespace {

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto result = tether::parse_config(text, "fuzz.yaml");
  FUZZ_CHECK((result.value != nullptr) != !result.errors.empty());
  if (result.value) {
    FUZZ_CHECK(result.value->source == "fuzz.yaml");
    FUZZ_CHECK(!result.value->routes.empty());
  }
  for (const auto& e : result.errors) {
    // "fuzz.yaml:LINE:COL: path: message"
    constexpr std::string_view prefix = "fuzz.yaml:";
    FUZZ_CHECK(e.starts_with(prefix));
    const std::string_view rest = std::string_view(e).substr(prefix.size());
    const auto c1 = rest.find(':');
    const auto c2 = rest.find(':', c1 + 1);
    FUZZ_CHECK(c1 != std::string_view::npos && c2 != std::string_view::npos);
    const auto line = rest.substr(0, c1);
    const auto col = rest.substr(c1 + 1, c2 - c1 - 1);
    FUZZ_CHECK(is_digits(line) && is_digits(col));
    // Within the input (YAML breaks lines at CR, LF and more, so no finer
    // bound than its size), and one past its end at most.
    FUZZ_CHECK(line.size() < 12 && std::stoull(std::string(line)) <= size + 2);
    FUZZ_CHECK(rest.substr(c2).starts_with(": "));
  }
  return 0;
}
