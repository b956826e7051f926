#include "config/config_yaml.hpp"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <sstream>

#include "config/text_pattern.hpp"

namespace tether::config_yaml {

namespace {

// yaml-cpp gives an empty value (`key:`) the position of the next token,
// often on a later line; the key itself is where the user has to look.
YAML::Mark value_mark(const YAML::Node& value, const YAML::Mark& fallback) {
  if (value.IsNull() || value.Mark().is_null()) {
    return fallback;
  }
  return value.Mark();
}

/// How a node looks to a user, for "expected X, got Y" messages.
std::string describe(const YAML::Node& node) {
  if (node.IsMap()) {
    return "a map";
  }
  if (node.IsSequence()) {
    return "a list";
  }
  if (node.IsScalar()) {
    return in_quotes(node.Scalar());
  }
  return "nothing";
}

bool expect(parse_context& ctx, const field& at, bool good, std::string_view what) {
  if (!good) {
    ctx.error(at, "expected " + std::string(what) + ", got " + describe(at.value));
  }
  return good;
}

std::string format_number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

std::string integer_wanted(std::uint64_t lo, std::uint64_t hi) {
  constexpr auto top = std::numeric_limits<std::uint64_t>::max();
  if (hi >= top || hi >= std::numeric_limits<std::size_t>::max()) {
    if (lo == 0) {
      return "a non-negative integer";
    }
    if (lo == 1) {
      return "a positive integer";
    }
    return "an integer >= " + std::to_string(lo);
  }
  return "an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
}

std::string number_wanted(double lo, double hi) {
  if (hi == std::numeric_limits<double>::max()) {
    return "a number >= " + format_number(lo);
  }
  return "a number from " + format_number(lo) + " to " + format_number(hi);
}

bool all_digits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// tether walks the document with every alias expanded, so a few lines of
/// anchors and aliases could make it read millions of values (the config fuzz
/// target's -timeout=1 caught it). Aliases may add this many values; a real
/// configuration uses a few, and a long one without aliases stays linear.
constexpr std::uint64_t max_alias_values = 5000;

/// Sees where each document starts, whether it holds anything, and how many
/// values its aliases add once expanded.
class document_probe : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    start_ = mark;
    empty_ = true;
    values_ = 0;
    own_ = 0;
    sizes_.clear();
    open_.clear();
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t anchor) override { leaf(anchor); }
  void OnAlias(const YAML::Mark&, YAML::anchor_t anchor) override {
    empty_ = false;
    values_ = std::min(values_ + (anchor < sizes_.size() ? sizes_[anchor] : 1), cap);
  }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t anchor, const std::string&) override {
    empty_ = false;
    leaf(anchor);
  }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    empty_ = false;
    open(anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    empty_ = false;
    open(anchor);
  }
  void OnMapEnd() override { close(); }

  const YAML::Mark& start() const { return start_; }
  bool empty() const { return empty_; }
  bool too_big() const { return values_ - own_ > max_alias_values; }

 private:
  // Nested aliases multiply; saturating here keeps the sum from wrapping.
  static constexpr std::uint64_t cap = std::uint64_t{1} << 48;
  void add_own() {
    ++own_;
    values_ = std::min(values_ + 1, cap);
  }
  void leaf(YAML::anchor_t anchor) {
    add_own();
    remember(anchor, 1);
  }
  void open(YAML::anchor_t anchor) {
    open_.emplace_back(anchor, values_);
    add_own();
  }
  void close() {
    if (open_.empty()) {
      return;
    }
    const auto [anchor, before] = open_.back();
    open_.pop_back();
    remember(anchor, values_ - before);
  }
  void remember(YAML::anchor_t anchor, std::uint64_t size) {
    if (anchor == YAML::NullAnchor) {
      return;
    }
    // yaml-cpp numbers a document's anchors 1, 2, 3...
    if (anchor >= sizes_.size()) {
      sizes_.resize(anchor + 1, 1);
    }
    sizes_[anchor] = size;
  }

  YAML::Mark start_;
  bool empty_ = true;
  std::uint64_t values_ = 0;  // with aliases expanded
  std::uint64_t own_ = 0;     // as written
  std::vector<std::uint64_t> sizes_;                            // by anchor
  std::vector<std::pair<YAML::anchor_t, std::uint64_t>> open_;  // anchor, values_ before it
};

/// Walks every document without building it. YAML::LoadAll is not used:
/// yaml-cpp 0.7 leaves a stray "," at document level unconsumed and then
/// reports the same empty document forever (jbeder/yaml-cpp#1040), which
/// would hang --check and reloads. A document that does not move the
/// parser on is reported as a syntax error instead.
bool check_documents(parse_context& ctx, const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  document_probe probe;
  int last_start = -1;
  for (bool first = true; parser.HandleNextDocument(probe); first = false) {
    const YAML::Mark& mark = probe.start();
    if (mark.pos <= last_start) {
      const std::size_t at = static_cast<std::size_t>(std::max(mark.pos, 0));
      const std::string_view token = at < text.size() ? std::string_view(text).substr(at, 1) : "";
      ctx.error(mark, "", "YAML syntax error: unexpected " + in_quotes(token));
      return false;
    }
    last_start = mark.pos;
    if (!first && !probe.empty()) {
      ctx.error(mark, "", "only one YAML document is allowed");
      return false;
    }
    if (probe.too_big()) {
      ctx.error(mark, "", "aliases expand the document by more than " +
                              std::to_string(max_alias_values) + " values");
      return false;
    }
  }
  return true;
}

}  // namespace

std::optional<YAML::Node> load_document(parse_context& ctx, const std::string& text) {
  YAML::Node root;
  try {
    if (!check_documents(ctx, text)) {
      return std::nullopt;
    }
    root = YAML::Load(text);
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's own text for this one is "bad file".
    ctx.error(e.mark, "", "YAML syntax error: nesting is too deep");
    return std::nullopt;
  } catch (const YAML::ParserException& e) {
    ctx.error(e.mark, "", "YAML syntax error: " + e.msg);
    return std::nullopt;
  }
  if (root.IsNull()) {
    ctx.error(YAML::Mark::null_mark(), "", "the configuration is empty");
    return std::nullopt;
  }
  return root;
}

std::string in_quotes(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  out += text;
  out += '"';
  return out;
}

std::string join_path(std::string_view parent, std::string_view key) {
  if (parent.empty()) {
    return std::string(key);
  }
  std::string out(parent);
  out += '.';
  out += key;
  return out;
}

parse_context::parse_context(std::string source) : source_(std::move(source)) {}

void parse_context::error(const YAML::Mark& mark, std::string_view path, std::string_view message) {
  // yaml-cpp counts from 0; editors and compilers count from 1.
  const int line = std::max(mark.line, 0) + 1;
  const int column = std::max(mark.column, 0) + 1;
  std::string text = source_ + ':' + std::to_string(line) + ':' + std::to_string(column) + ": ";
  text += path.empty() ? std::string_view("(root)") : path;
  text += ": ";
  text += message;
  errors_.push_back({line, column, std::move(text)});
}

std::vector<std::string> parse_context::sorted_errors() const {
  auto sorted = errors_;
  std::stable_sort(sorted.begin(), sorted.end(), [](const entry& a, const entry& b) {
    return a.line != b.line ? a.line < b.line : a.column < b.column;
  });
  std::vector<std::string> out;
  out.reserve(sorted.size());
  for (auto& e : sorted) {
    out.push_back(std::move(e.text));
  }
  return out;
}

void parse_context::add_cert_pair(const field& cert, const field& key) {
  cert_pairs_.push_back({{cert.path, cert.mark, cert.value.Scalar()},
                         {key.path, key.mark, key.value.Scalar()}});
}

void parse_context::add_ca_file(const field& ca) {
  ca_files_.push_back({ca.path, ca.mark, ca.value.Scalar()});
}

bool read_string(parse_context& ctx, const field& at, std::string& out) {
  if (!expect(ctx, at, at.value.IsScalar(), "a string")) {
    return false;
  }
  out = at.value.Scalar();
  return true;
}

bool read_bool(parse_context& ctx, const field& at, bool& out) {
  const bool scalar = at.value.IsScalar();
  const std::string text = scalar ? at.value.Scalar() : std::string();
  if (!expect(ctx, at, text == "true" || text == "false", "true or false")) {
    return false;
  }
  out = text == "true";
  return true;
}

bool read_integer(parse_context& ctx, const field& at, std::uint64_t lo, std::uint64_t hi,
                  std::uint64_t& out) {
  std::uint64_t value = 0;
  bool good = at.value.IsScalar() && all_digits(at.value.Scalar());
  if (good) {
    const std::string& text = at.value.Scalar();
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    good = ec == std::errc() && end == text.data() + text.size() && value >= lo && value <= hi;
  }
  if (!expect(ctx, at, good, integer_wanted(lo, hi))) {
    return false;
  }
  out = value;
  return true;
}

bool read_number(parse_context& ctx, const field& at, double lo, double hi, double& out) {
  double value = 0;
  bool good = at.value.IsScalar();
  if (good) {
    const std::string& text = at.value.Scalar();
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    good = !text.empty() && ec == std::errc() && end == text.data() + text.size() &&
           std::isfinite(value) && value >= lo && value <= hi;
  }
  if (!expect(ctx, at, good, number_wanted(lo, hi))) {
    return false;
  }
  out = value;
  return true;
}

bool read_duration(parse_context& ctx, const field& at, duration& out) {
  if (!expect(ctx, at, at.value.IsScalar(), "a duration")) {
    return false;
  }
  const auto value = parse_duration(at.value.Scalar());
  if (!value) {
    ctx.error(at, "invalid duration " + in_quotes(at.value.Scalar()) +
                      " (want a number and a unit: 250ms, 20s, 5m, 1h)");
    return false;
  }
  out = *value;
  return true;
}

bool read_size(parse_context& ctx, const field& at, std::size_t& out) {
  if (!expect(ctx, at, at.value.IsScalar(), "a size")) {
    return false;
  }
  const auto value = parse_size(at.value.Scalar());
  if (!value) {
    ctx.error(at, "invalid size " + in_quotes(at.value.Scalar()) +
                      " (want bytes or a number and a unit: 512, 64KiB, 1MiB)");
    return false;
  }
  out = *value;
  return true;
}

bool read_regex(parse_context& ctx, const field& at, std::string& out) {
  std::string text;
  if (!read_string(ctx, at, text)) {
    return false;
  }
  // An alias repeats a regex many times; compiling it once is enough.
  auto [known, added] = ctx.regex_verdicts().try_emplace(text);
  if (added) {
    std::string why;
    if (!text_pattern::compile(text, why)) {
      known->second = "invalid regex: " + why + " (RE2 syntax)";
    }
  }
  if (!known->second.empty()) {
    ctx.error(at, known->second);
    return false;
  }
  out = std::move(text);
  return true;
}

std::optional<std::vector<field>> read_list(parse_context& ctx, const field& at) {
  if (!expect(ctx, at, at.value.IsSequence(), "a list")) {
    return std::nullopt;
  }
  std::vector<field> items;
  std::size_t index = 0;
  for (const auto& item : at.value) {
    items.push_back({item, at.path + '[' + std::to_string(index) + ']', value_mark(item, at.mark)});
    ++index;
  }
  return items;
}

bool read_string_list(parse_context& ctx, const field& at, std::vector<std::string>& out) {
  const auto items = read_list(ctx, at);
  if (!items) {
    return false;
  }
  std::vector<std::string> values;
  bool good = true;
  for (const auto& item : *items) {
    std::string value;
    good = read_string(ctx, item, value) && good;
    values.push_back(std::move(value));
  }
  if (good) {
    out = std::move(values);
  }
  return good;
}

map_reader::map_reader(parse_context& ctx, const field& at,
                       std::initializer_list<std::string_view> known)
    : ctx_(ctx), self_(at) {
  ok_ = expect(ctx, at, at.value.IsMap(), "a map");
  if (!ok_) {
    return;
  }
  for (auto it = at.value.begin(); it != at.value.end(); ++it) {
    // Copies: yaml-cpp's operator-> hands out a temporary pair.
    const YAML::Node key = it->first;
    const YAML::Node node = it->second;
    if (!key.IsScalar()) {
      ctx.error(key.Mark(), at.path, "keys must be plain strings");
      continue;
    }
    std::string name = key.Scalar();
    std::string path = join_path(at.path, name);
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      ctx.error(key.Mark(), path, "unknown key");
      continue;
    }
    if (find(name) != nullptr) {
      ctx.error(key.Mark(), path, "duplicate key");
      continue;
    }
    field value{node, std::move(path), value_mark(node, key.Mark())};
    entries_.emplace_back(std::move(name), std::move(value));
  }
}

const field* map_reader::find(std::string_view key) const {
  for (const auto& [name, value] : entries_) {
    if (name == key) {
      return &value;
    }
  }
  return nullptr;
}

const field* map_reader::require(std::string_view key) {
  const field* found = find(key);
  if (found == nullptr) {
    ctx_.error(self_, "missing key " + in_quotes(key));
  }
  return found;
}

const field* map_reader::require_one_of(std::string_view a, std::string_view b) {
  const field* first = find(a);
  const field* second = find(b);
  if (first != nullptr && second != nullptr) {
    ctx_.error(self_, "use either " + in_quotes(a) + " or " + in_quotes(b) + ", not both");
    return nullptr;
  }
  if (first == nullptr && second == nullptr) {
    ctx_.error(self_, "missing key " + in_quotes(a) + " or " + in_quotes(b));
    return nullptr;
  }
  return first != nullptr ? first : second;
}

void map_reader::get_string(std::string_view key, std::string& out) {
  if (const field* f = find(key)) {
    read_string(ctx_, *f, out);
  }
}

void map_reader::get_bool(std::string_view key, bool& out) {
  if (const field* f = find(key)) {
    read_bool(ctx_, *f, out);
  }
}

void map_reader::get_count(std::string_view key, std::size_t& out, std::size_t min) {
  std::uint64_t value = 0;
  const field* f = find(key);
  if (f != nullptr && read_integer(ctx_, *f, min, std::numeric_limits<std::size_t>::max(), value)) {
    out = static_cast<std::size_t>(value);
  }
}

void map_reader::get_number(std::string_view key, double& out, double lo, double hi) {
  if (const field* f = find(key)) {
    read_number(ctx_, *f, lo, hi, out);
  }
}

void map_reader::get_duration(std::string_view key, duration& out, bool positive) {
  duration value{};
  const field* f = find(key);
  if (f == nullptr || !read_duration(ctx_, *f, value)) {
    return;
  }
  if (positive && value.count() <= 0) {
    ctx_.error(*f, "must be greater than 0");
    return;
  }
  out = value;
}

void map_reader::get_size(std::string_view key, std::size_t& out, bool positive) {
  std::size_t value = 0;
  const field* f = find(key);
  if (f == nullptr || !read_size(ctx_, *f, value)) {
    return;
  }
  if (positive && value == 0) {
    ctx_.error(*f, "must be greater than 0");
    return;
  }
  out = value;
}

void map_reader::get_regex(std::string_view key, std::string& out) {
  if (const field* f = find(key)) {
    read_regex(ctx_, *f, out);
  }
}

void map_reader::get_enum(std::string_view key, std::string& out,
                          std::initializer_list<std::string_view> allowed) {
  std::string value;
  const field* f = find(key);
  if (f == nullptr || !read_string(ctx_, *f, value)) {
    return;
  }
  if (std::find(allowed.begin(), allowed.end(), value) == allowed.end()) {
    std::string wanted;
    for (const auto& a : allowed) {
      wanted += wanted.empty() ? "" : ", ";
      wanted += a;
    }
    ctx_.error(*f, "expected one of " + wanted + ", got " + in_quotes(value));
    return;
  }
  out = std::move(value);
}

}  // namespace tether::config_yaml
