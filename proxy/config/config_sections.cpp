#include "config/config_sections.hpp"

#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace tether::config_yaml {

namespace {

constexpr double unbounded = std::numeric_limits<double>::max();

void read_leg(map_reader& m, leg_heartbeat_config& out) {
  m.get_duration("ping_interval", out.ping_interval);
  m.get_duration("pong_timeout", out.pong_timeout);
}

void apply_app(parse_context& ctx, const field& at, std::optional<app_heartbeat_config>& out) {
  // `app: null` lets a route drop an app heartbeat it would inherit.
  if (at.value.IsNull()) {
    out.reset();
    return;
  }
  map_reader m(ctx, at, {"message", "interval"});
  if (!m.ok()) {
    return;
  }
  // An inherited app is complete already; a new one needs both keys.
  if (!out) {
    m.require("message");
    m.require("interval");
  }
  app_heartbeat_config app = out.value_or(app_heartbeat_config{});
  m.get_string("message", app.message);
  m.get_duration("interval", app.interval);
  out = app;
}

std::optional<answer_rule> read_answer(parse_context& ctx, const field& at) {
  map_reader m(ctx, at, {"match", "match_regex", "reply"});
  if (!m.ok()) {
    return std::nullopt;
  }
  answer_rule rule;
  m.require_one_of("match", "match_regex");
  m.get_string("match", rule.match);
  m.get_regex("match_regex", rule.match_regex);
  // An empty regex is how answer_rule says "use match", so it cannot
  // also mean "match the empty message".
  const field* regex = m.find("match_regex");
  if (regex != nullptr && regex->value.IsScalar() && regex->value.Scalar().empty()) {
    ctx.error(*regex, "must not be empty");
  }
  m.require("reply");
  m.get_string("reply", rule.reply);
  return rule;
}

void read_answers(parse_context& ctx, const field& at, std::vector<answer_rule>& out) {
  const auto items = read_list(ctx, at);
  if (!items) {
    return;
  }
  std::vector<answer_rule> rules;
  for (const auto& item : *items) {
    if (auto rule = read_answer(ctx, item)) {
      rules.push_back(std::move(*rule));
    }
  }
  out = std::move(rules);
}

void apply_client(parse_context& ctx, const field& at, client_heartbeat_config& out) {
  map_reader m(ctx, at, {"ping_interval", "pong_timeout", "app", "answer"});
  if (!m.ok()) {
    return;
  }
  read_leg(m, out);
  if (const field* app = m.find("app")) {
    apply_app(ctx, *app, out.app);
  }
  if (const field* answer = m.find("answer")) {
    read_answers(ctx, *answer, out.answer);
  }
}

void apply_upstream(parse_context& ctx, const field& at, leg_heartbeat_config& out) {
  map_reader m(ctx, at, {"ping_interval", "pong_timeout"});
  if (m.ok()) {
    read_leg(m, out);
  }
}

void read_close_codes(parse_context& ctx, const field& at, std::vector<std::uint16_t>& out) {
  const auto items = read_list(ctx, at);
  if (!items) {
    return;
  }
  std::vector<std::uint16_t> codes;
  for (const auto& item : *items) {
    std::uint64_t code = 0;
    if (read_integer(ctx, item, 1000, 4999, code)) {
      codes.push_back(static_cast<std::uint16_t>(code));
    }
  }
  out = std::move(codes);
}

std::string ms_text(duration d) { return std::to_string(d.count()) + "ms"; }

void apply_backoff(parse_context& ctx, const field& at, backoff_config& out) {
  map_reader m(ctx, at, {"initial", "max", "multiplier", "jitter"});
  if (!m.ok()) {
    return;
  }
  // A zero delay would retry in a tight loop against a dead backend.
  m.get_duration("initial", out.initial, true);
  m.get_duration("max", out.max, true);
  m.get_number("multiplier", out.multiplier, 1.0, unbounded);
  m.get_number("jitter", out.jitter, 0.0, 1.0);
  if (out.max < out.initial) {
    ctx.error(at, "max (" + ms_text(out.max) + ") is less than initial (" + ms_text(out.initial) +
                      ")");
  }
}

void apply_buffer(parse_context& ctx, const field& at, reconnect_config& out) {
  map_reader m(ctx, at, {"messages", "bytes"});
  if (m.ok()) {
    m.get_count("messages", out.buffer_messages);
    m.get_size("bytes", out.buffer_bytes);
  }
}

void apply_replay(parse_context& ctx, const field& at, reconnect_config& out) {
  map_reader m(ctx, at, {"first", "match_regex"});
  if (m.ok()) {
    m.get_count("first", out.replay_first);
    m.get_regex("match_regex", out.replay_match_regex);
  }
}

void apply_notify(parse_context& ctx, const field& at, reconnect_config& out) {
  map_reader m(ctx, at, {"reconnecting", "reconnected"});
  if (m.ok()) {
    m.get_string("reconnecting", out.notify_reconnecting);
    m.get_string("reconnected", out.notify_reconnected);
  }
}

}  // namespace

void apply_heartbeat(parse_context& ctx, const field& at, heartbeat_config& out) {
  map_reader m(ctx, at, {"client", "upstream"});
  if (!m.ok()) {
    return;
  }
  if (const field* client = m.find("client")) {
    apply_client(ctx, *client, out.client);
  }
  if (const field* upstream = m.find("upstream")) {
    apply_upstream(ctx, *upstream, out.upstream);
  }
}

void apply_reconnect(parse_context& ctx, const field& at, reconnect_config& out) {
  map_reader m(ctx, at,
               {"enabled", "on_close", "backoff", "give_up_after", "buffer", "replay", "notify"});
  if (!m.ok()) {
    return;
  }
  m.get_bool("enabled", out.enabled);
  if (const field* on_close = m.find("on_close")) {
    read_close_codes(ctx, *on_close, out.on_close);
  }
  if (const field* backoff = m.find("backoff")) {
    apply_backoff(ctx, *backoff, out.backoff);
  }
  m.get_duration("give_up_after", out.give_up_after);
  if (const field* buffer = m.find("buffer")) {
    apply_buffer(ctx, *buffer, out);
  }
  if (const field* replay = m.find("replay")) {
    apply_replay(ctx, *replay, out);
  }
  if (const field* notify = m.find("notify")) {
    apply_notify(ctx, *notify, out);
  }
}

void apply_limits(parse_context& ctx, const field& at, limits_config& out) {
  map_reader m(ctx, at, {"max_message_size", "handshake_timeout", "http_idle_timeout"});
  if (m.ok()) {
    m.get_size("max_message_size", out.max_message_size, true);
    m.get_duration("handshake_timeout", out.handshake_timeout);
    m.get_duration("http_idle_timeout", out.http_idle_timeout);
  }
}

void apply_compression(parse_context& ctx, const field& at, compression_config& out) {
  map_reader m(ctx, at, {"client", "upstream", "level", "max_window_bits", "context_takeover"});
  if (!m.ok()) {
    return;
  }
  m.get_bool("client", out.client);
  m.get_bool("upstream", out.upstream);
  std::uint64_t n = 0;
  if (const field* f = m.find("level"); f != nullptr && read_integer(ctx, *f, 0, 9, n)) {
    out.level = static_cast<int>(n);
  }
  // zlib cannot deflate with an 8-bit window (it silently uses 9), so 8 is
  // not a window tether can promise.
  if (const field* f = m.find("max_window_bits"); f != nullptr && read_integer(ctx, *f, 9, 15, n)) {
    out.max_window_bits = static_cast<int>(n);
  }
  // `context_takeover: true|false` for both directions, or a map of the two.
  if (const field* f = m.find("context_takeover")) {
    if (f->value.IsScalar()) {
      bool both = false;
      if (read_bool(ctx, *f, both)) {
        out.send_takeover = both;
        out.receive_takeover = both;
      }
    } else {
      map_reader dirs(ctx, *f, {"send", "receive"});
      if (dirs.ok()) {
        dirs.get_bool("send", out.send_takeover);
        dirs.get_bool("receive", out.receive_takeover);
      }
    }
  }
}

}  // namespace tether::config_yaml
