#include "config/text_pattern.hpp"

#include <re2/re2.h>

namespace tether {

namespace {

/// Memory RE2 may use for one pattern's automata. Past it RE2 falls back to
/// a slower, still linear matcher instead of growing; 8 MiB is RE2's default,
/// named here so that the bound is a decision.
constexpr std::int64_t max_automaton_memory = 8 << 20;

}  // namespace

std::unique_ptr<text_pattern> text_pattern::compile(std::string_view pattern, std::string& error) {
  RE2::Options opts;
  opts.set_log_errors(false);
  opts.set_max_mem(max_automaton_memory);
  auto re = std::make_unique<re2::RE2>(re2::StringPiece(pattern.data(), pattern.size()), opts);
  if (!re->ok()) {
    error = re->error();
    return nullptr;
  }
  return std::unique_ptr<text_pattern>(new text_pattern(std::move(re)));
}

text_pattern::text_pattern(std::unique_ptr<re2::RE2> re) : re_(std::move(re)) {}

text_pattern::~text_pattern() = default;

bool text_pattern::matches(std::string_view text) const {
  return RE2::FullMatch(re2::StringPiece(text.data(), text.size()), *re_);
}

}  // namespace tether
