#pragma once
// Internal to the configuration parser: walks yaml-cpp nodes and reports
// every problem with its position and key path instead of stopping at the
// first, so `tether --check` can list them all in one run.
#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"

namespace tether::config_yaml {

/// One value of the document, its key path ("routes[0].upstream.url") and
/// the position that errors about it point at.
struct field {
  YAML::Node value;
  std::string path;
  YAML::Mark mark;
};

/// `parent.key`, or `key` at the top level.
std::string join_path(std::string_view parent, std::string_view key);
/// `"text"`, for messages that show what the user wrote.
std::string in_quotes(std::string_view text);

/// A file the configuration names; load_config checks it after parsing.
struct file_ref {
  std::string path;  // key path
  YAML::Mark mark;
  std::string file;
};

/// A certificate chain and its private key, which must load and match.
struct cert_pair_ref {
  file_ref cert;
  file_ref key;
};

class parse_context {
 public:
  explicit parse_context(std::string source);

  void error(const YAML::Mark& mark, std::string_view path, std::string_view message);
  void error(const field& at, std::string_view message) { error(at.mark, at.path, message); }
  bool has_errors() const { return !errors_.empty(); }
  /// Errors in document order, each "file:line:col: key.path: message".
  std::vector<std::string> sorted_errors() const;

  void add_cert_pair(const field& cert, const field& key);
  void add_ca_file(const field& ca);
  const std::vector<cert_pair_ref>& cert_pairs() const { return cert_pairs_; }
  const std::vector<file_ref>& ca_files() const { return ca_files_; }

  /// Regexes already compiled: "" when valid, else the error (read_regex).
  std::map<std::string, std::string, std::less<>>& regex_verdicts() { return regex_verdicts_; }

 private:
  struct entry {
    int line;
    int column;
    std::string text;
  };
  std::string source_;
  std::vector<entry> errors_;
  std::vector<cert_pair_ref> cert_pairs_;
  std::vector<file_ref> ca_files_;
  std::map<std::string, std::string, std::less<>> regex_verdicts_;
};

/// The single document in `text`. Reports a YAML syntax error, an empty
/// configuration or a second document, and then returns nullopt.
std::optional<YAML::Node> load_document(parse_context& ctx, const std::string& text);

// Typed readers: each reports a wrong type or value at `at` and returns
// false, leaving `out` untouched so that defaults survive bad input.
bool read_string(parse_context& ctx, const field& at, std::string& out);
bool read_bool(parse_context& ctx, const field& at, bool& out);
bool read_integer(parse_context& ctx, const field& at, std::uint64_t lo, std::uint64_t hi,
                  std::uint64_t& out);
bool read_number(parse_context& ctx, const field& at, double lo, double hi, double& out);
bool read_duration(parse_context& ctx, const field& at, duration& out);
bool read_size(parse_context& ctx, const field& at, std::size_t& out);
/// A string that must compile as an RE2 pattern ("" is allowed).
bool read_regex(parse_context& ctx, const field& at, std::string& out);
/// The elements of a sequence, each with its own path ("x[2]").
std::optional<std::vector<field>> read_list(parse_context& ctx, const field& at);
bool read_string_list(parse_context& ctx, const field& at, std::vector<std::string>& out);

/// A YAML map whose keys are checked against the ones a section knows.
class map_reader {
 public:
  /// Reports `at` when it is not a map, and every unknown or repeated key
  /// at the key's own position.
  map_reader(parse_context& ctx, const field& at, std::initializer_list<std::string_view> known);

  bool ok() const { return ok_; }
  const field& self() const { return self_; }
  parse_context& context() const { return ctx_; }

  /// The value under `key`; nullptr when absent.
  const field* find(std::string_view key) const;
  /// Like find, and reports `missing key "key"` at this map when absent.
  const field* require(std::string_view key);
  /// Exactly one of two alternative keys; reports both or neither.
  const field* require_one_of(std::string_view a, std::string_view b);

  // Each getter leaves `out` alone when the key is absent or invalid, so
  // a section read on top of inherited values only changes what it names.
  void get_string(std::string_view key, std::string& out);
  void get_bool(std::string_view key, bool& out);
  void get_count(std::string_view key, std::size_t& out, std::size_t min = 0);
  void get_number(std::string_view key, double& out, double lo, double hi);
  void get_duration(std::string_view key, duration& out, bool positive = false);
  void get_size(std::string_view key, std::size_t& out, bool positive = false);
  void get_regex(std::string_view key, std::string& out);
  void get_enum(std::string_view key, std::string& out,
                std::initializer_list<std::string_view> allowed);

 private:
  parse_context& ctx_;
  field self_;
  bool ok_ = false;
  std::vector<std::pair<std::string, field>> entries_;
};

// Text values (config_values.cpp), besides the public ones in config.hpp.

/// A `bind:` value, "host:port" or "[v6]:port"; port 0 asks the kernel
/// for a free port.
std::optional<endpoint_config> parse_endpoint(std::string_view text, std::string& error);
/// A `match.host` or SNI name, lower-cased: an exact name, "*.suffix", or
/// an IPv6 literal "[::1]" (returned without brackets).
std::optional<std::string> normalize_host_pattern(std::string_view text, std::string& error);

/// Checks every file recorded while parsing (config_files.cpp).
void check_files(parse_context& ctx);

}  // namespace tether::config_yaml
