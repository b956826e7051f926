#pragma once
// A `match_regex` from the configuration, applied to messages that peers
// send. RE2, not std::regex: libstdc++'s matcher recurses once per character
// (a 40 KB message overflowed the stack) and backtracks exponentially on
// nested repetition (a 30-byte message stalled a worker for ever). RE2 runs
// in time linear in the message and in bounded memory.
#include <memory>
#include <string>
#include <string_view>

namespace re2 {
class RE2;
}

namespace tether {

class text_pattern {
 public:
  /// Compiles `pattern` (RE2 syntax); nullptr and `error` if RE2 refuses it.
  static std::unique_ptr<text_pattern> compile(std::string_view pattern, std::string& error);
  ~text_pattern();

  /// True when the pattern matches the whole of `text`.
  bool matches(std::string_view text) const;

 private:
  explicit text_pattern(std::unique_ptr<re2::RE2> re);
  std::unique_ptr<re2::RE2> re_;
};

}  // namespace tether
