// The YAML configuration: every key of SPEC sections 3, 5, 6 and 8, the
// exact error messages (file:line:col: key.path: message), the merge of
// defaults into routes, upstream URLs, and load_config's file checks.
#include <boost/test/unit_test.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"

using namespace std::chrono_literals;
using tether::config;
using tether::parse_config;

namespace {

using error_list = std::vector<std::string>;

std::shared_ptr<const config> parse_ok(const std::string& yaml) {
  auto result = parse_config(yaml, "t.yaml");
  std::string all;
  for (const auto& e : result.errors) {
    all += "\n  " + e;
  }
  BOOST_TEST_REQUIRE(result.errors.empty(), "unexpected errors:" << all);
  BOOST_TEST_REQUIRE(result.value != nullptr);
  return result.value;
}

error_list errors_of(const std::string& yaml) {
  auto result = parse_config(yaml, "t.yaml");
  BOOST_TEST(!result.value, "a config with errors must not produce a value");
  return result.errors;
}

void check_errors(const std::string& yaml, const error_list& expected) {
  const error_list actual = errors_of(yaml);
  BOOST_TEST(actual == expected, boost::test_tools::per_element());
}

void check_error(const std::string& yaml, const std::string& expected) {
  check_errors(yaml, {expected});
}

// Line 1..6; tests append keys to the route at indentation 4.
const std::string minimal = R"(listeners:
  - name: public
    bind: "127.0.0.1:0"
routes:
  - name: r
    upstream:
      url: "ws://127.0.0.1:9000"
)";

}  // namespace

// ---------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(config_parse)

BOOST_AUTO_TEST_CASE(minimal_config_gets_the_documented_defaults) {
  const auto cfg = parse_ok(minimal);
  BOOST_TEST(cfg->source == "t.yaml");
  BOOST_TEST_REQUIRE(cfg->listeners.size() == 1u);
  const auto& l = cfg->listeners[0];
  BOOST_TEST(l.name == "public");
  BOOST_TEST(l.bind.host == "127.0.0.1");
  BOOST_TEST(l.bind.port == 0);  // port 0: kernel picks one (tests rely on it)
  BOOST_TEST(l.max_connections == 10000u);
  BOOST_TEST(!l.tls);
  BOOST_TEST(!cfg->admin.enabled);
  BOOST_TEST(cfg->log.level == "info");
  BOOST_TEST(cfg->log.format == "text");
  BOOST_TEST(cfg->log.access);
  BOOST_TEST(cfg->drain_timeout.count() == 30'000);
  BOOST_TEST_REQUIRE(cfg->routes.size() == 1u);
  const auto& r = cfg->routes[0];
  BOOST_TEST(r.name == "r");
  BOOST_TEST(r.listeners.empty());
  BOOST_TEST(r.host == "");
  BOOST_TEST(r.path == "/");
  BOOST_TEST_REQUIRE(r.upstream.urls.size() == 1u);
  BOOST_TEST(r.upstream.urls[0].host == "127.0.0.1");
  BOOST_TEST(r.upstream.urls[0].port == 9000);
  BOOST_TEST(!r.upstream.urls[0].tls);
  BOOST_TEST(r.upstream.connect_timeout.count() == 5000);
  BOOST_TEST(r.upstream.tls.verify);
  BOOST_TEST(r.heartbeat.client.ping_interval.count() == 20'000);
  BOOST_TEST(r.heartbeat.client.pong_timeout.count() == 10'000);
  BOOST_TEST(!r.heartbeat.client.app);
  BOOST_TEST(r.reconnect.enabled);
  BOOST_TEST((r.reconnect.on_close == std::vector<std::uint16_t>{1001, 1006, 1011, 1012, 1013, 1014}));
  BOOST_TEST(r.limits.max_message_size == 1024u * 1024);
  BOOST_TEST(r.limits.handshake_timeout.count() == 10'000);
}

BOOST_AUTO_TEST_CASE(every_key) {
  // Files do not exist: parse_config never touches the filesystem.
  const auto cfg = parse_ok(R"(listeners:
  - name: public
    bind: "0.0.0.0:8443"
    max_connections: 500
    tls:
      cert: certs/server.crt
      key: certs/server.key
      min_version: 1.3
      client_ca: certs/ca.crt
      sni:
        - names: ["Chat.Example.com", "*.example.org"]
          cert: certs/chat.crt
          key: certs/chat.key
  - name: plain
    bind: "[::1]:0"
    tls:
      cert: a.crt
      key: a.key
      min_version: "1.2"
admin:
  bind: "127.0.0.1:9901"
log:
  level: debug
  format: json
  access: false
shutdown:
  drain_timeout: 45s
defaults:
  heartbeat:
    client:
      ping_interval: 15s
      pong_timeout: 5s
      app:
        message: '{"type":"heartbeat","ts":{{now_ms}}}'
        interval: 25s
      answer:
        - match: "ping"
          reply: "pong"
        - match_regex: '\{"type":"ping".*'
          reply: '{"type":"pong","ts":{{now_ms}}}'
    upstream:
      ping_interval: 30s
      pong_timeout: 0s
  reconnect:
    enabled: false
    on_close: [1001, 1006, 4000]
    backoff: { initial: 200ms, max: 10s, multiplier: 1.5, jitter: 0.1 }
    give_up_after: 1m
    buffer: { messages: 50, bytes: 64KiB }
    replay:
      first: 1
      match_regex: '^sub:.*'
    notify:
      reconnecting: '{"type":"reconnecting"}'
      reconnected: '{"type":"reconnected"}'
  limits:
    max_message_size: 2MiB
    handshake_timeout: 5s
routes:
  - name: chat
    listeners: [public]
    match:
      host: "Chat.Example.com"
      path: "/ws"
    upstream:
      urls: ["wss://[::1]:9443/base/", "wss://backend.internal"]
      strip_prefix: true
      connect_timeout: 2s
      tls:
        ca: certs/ca.crt
        verify: false
        server_name: backend.internal
        cert: certs/client.crt
        key: certs/client.key
    allowed_origins: ["https://chat.example.com", "https://app.example.com"]
    heartbeat:
      client:
        pong_timeout: 1s
      upstream:
        ping_interval: 2s
    reconnect:
      on_close: [1012]
      notify:
        reconnected: "back"
    limits:
      max_message_size: 512
  - name: fallback
    listeners: [public, plain]
    match:
      host: "*.Example.org"
    upstream:
      url: "ws://127.0.0.1:8080"
)");
  BOOST_TEST_REQUIRE(cfg->listeners.size() == 2u);
  const auto& pub = cfg->listeners[0];
  BOOST_TEST(pub.bind.host == "0.0.0.0");
  BOOST_TEST(pub.bind.port == 8443);
  BOOST_TEST(pub.max_connections == 500u);
  BOOST_TEST_REQUIRE(pub.tls.has_value());
  BOOST_TEST(pub.tls->cert == "certs/server.crt");
  BOOST_TEST(pub.tls->key == "certs/server.key");
  BOOST_TEST(pub.tls->min_version == "1.3");  // YAML float 1.3 accepted
  BOOST_TEST(pub.tls->client_ca == "certs/ca.crt");
  BOOST_TEST_REQUIRE(pub.tls->sni.size() == 1u);
  BOOST_TEST((pub.tls->sni[0].names == std::vector<std::string>{"chat.example.com", "*.example.org"}));
  BOOST_TEST(pub.tls->sni[0].cert == "certs/chat.crt");
  BOOST_TEST(pub.tls->sni[0].key == "certs/chat.key");
  const auto& plain = cfg->listeners[1];
  BOOST_TEST(plain.bind.host == "::1");
  BOOST_TEST(plain.bind.port == 0);
  BOOST_TEST(plain.tls->min_version == "1.2");
  BOOST_TEST(plain.tls->client_ca == "");

  BOOST_TEST(cfg->admin.enabled);
  BOOST_TEST(cfg->admin.bind.host == "127.0.0.1");
  BOOST_TEST(cfg->admin.bind.port == 9901);
  BOOST_TEST(cfg->log.level == "debug");
  BOOST_TEST(cfg->log.format == "json");
  BOOST_TEST(!cfg->log.access);
  BOOST_TEST(cfg->drain_timeout.count() == 45'000);

  const auto& hb = cfg->default_heartbeat;
  BOOST_TEST(hb.client.ping_interval.count() == 15'000);
  BOOST_TEST(hb.client.pong_timeout.count() == 5'000);
  BOOST_TEST_REQUIRE(hb.client.app.has_value());
  BOOST_TEST(hb.client.app->message == R"({"type":"heartbeat","ts":{{now_ms}}})");
  BOOST_TEST(hb.client.app->interval.count() == 25'000);
  BOOST_TEST_REQUIRE(hb.client.answer.size() == 2u);
  BOOST_TEST(hb.client.answer[0].match == "ping");
  BOOST_TEST(hb.client.answer[0].match_regex == "");
  BOOST_TEST(hb.client.answer[0].reply == "pong");
  BOOST_TEST(hb.client.answer[1].match == "");
  BOOST_TEST(hb.client.answer[1].match_regex == R"(\{"type":"ping".*)");
  BOOST_TEST(hb.client.answer[1].reply == R"({"type":"pong","ts":{{now_ms}}})");
  BOOST_TEST(hb.upstream.ping_interval.count() == 30'000);
  BOOST_TEST(hb.upstream.pong_timeout.count() == 0);

  const auto& rc = cfg->default_reconnect;
  BOOST_TEST(!rc.enabled);
  BOOST_TEST((rc.on_close == std::vector<std::uint16_t>{1001, 1006, 4000}));
  BOOST_TEST(rc.backoff.initial.count() == 200);
  BOOST_TEST(rc.backoff.max.count() == 10'000);
  BOOST_TEST(rc.backoff.multiplier == 1.5);
  BOOST_TEST(rc.backoff.jitter == 0.1);
  BOOST_TEST(rc.give_up_after.count() == 60'000);
  BOOST_TEST(rc.buffer_messages == 50u);
  BOOST_TEST(rc.buffer_bytes == 65536u);
  BOOST_TEST(rc.replay_first == 1u);
  BOOST_TEST(rc.replay_match_regex == "^sub:.*");
  BOOST_TEST(rc.notify_reconnecting == R"({"type":"reconnecting"})");
  BOOST_TEST(rc.notify_reconnected == R"({"type":"reconnected"})");
  BOOST_TEST(cfg->default_limits.max_message_size == 2u * 1024 * 1024);
  BOOST_TEST(cfg->default_limits.handshake_timeout.count() == 5'000);

  BOOST_TEST_REQUIRE(cfg->routes.size() == 2u);
  const auto& chat = cfg->routes[0];
  BOOST_TEST(chat.name == "chat");
  BOOST_TEST((chat.listeners == std::vector<std::string>{"public"}));
  BOOST_TEST(chat.host == "chat.example.com");
  BOOST_TEST(chat.path == "/ws");
  BOOST_TEST_REQUIRE(chat.upstream.urls.size() == 2u);
  BOOST_TEST(chat.upstream.urls[0].tls);
  BOOST_TEST(chat.upstream.urls[0].host == "::1");
  BOOST_TEST(chat.upstream.urls[0].port == 9443);
  BOOST_TEST(chat.upstream.urls[0].path == "/base");
  BOOST_TEST(chat.upstream.urls[0].text == "wss://[::1]:9443/base/");
  BOOST_TEST(chat.upstream.urls[1].host == "backend.internal");
  BOOST_TEST(chat.upstream.urls[1].port == 443);
  BOOST_TEST(chat.upstream.urls[1].path == "");
  BOOST_TEST(chat.upstream.strip_prefix);
  BOOST_TEST(chat.upstream.connect_timeout.count() == 2'000);
  BOOST_TEST(chat.upstream.tls.ca == "certs/ca.crt");
  BOOST_TEST(!chat.upstream.tls.verify);
  BOOST_TEST(chat.upstream.tls.server_name == "backend.internal");
  BOOST_TEST(chat.upstream.tls.cert == "certs/client.crt");
  BOOST_TEST(chat.upstream.tls.key == "certs/client.key");
  BOOST_TEST((chat.allowed_origins ==
              std::vector<std::string>{"https://chat.example.com", "https://app.example.com"}));
  // Route sections on top of the defaults.
  BOOST_TEST(chat.heartbeat.client.ping_interval.count() == 15'000);
  BOOST_TEST(chat.heartbeat.client.pong_timeout.count() == 1'000);
  BOOST_TEST(chat.heartbeat.client.answer.size() == 2u);
  BOOST_TEST(chat.heartbeat.upstream.ping_interval.count() == 2'000);
  BOOST_TEST(chat.heartbeat.upstream.pong_timeout.count() == 0);
  BOOST_TEST((chat.reconnect.on_close == std::vector<std::uint16_t>{1012}));
  BOOST_TEST(!chat.reconnect.enabled);
  BOOST_TEST(chat.reconnect.notify_reconnecting == R"({"type":"reconnecting"})");
  BOOST_TEST(chat.reconnect.notify_reconnected == "back");
  BOOST_TEST(chat.limits.max_message_size == 512u);
  BOOST_TEST(chat.limits.handshake_timeout.count() == 5'000);

  const auto& fallback = cfg->routes[1];
  BOOST_TEST(fallback.host == "*.example.org");
  BOOST_TEST(fallback.path == "/");
  BOOST_TEST((fallback.listeners == std::vector<std::string>{"public", "plain"}));
  BOOST_TEST(fallback.upstream.urls[0].port == 8080);
  BOOST_TEST(fallback.limits.max_message_size == 2u * 1024 * 1024);
}

BOOST_AUTO_TEST_CASE(flow_style_and_comments) {
  const auto cfg = parse_ok(R"(# tether
listeners: [{name: a, bind: "localhost:80"}]   # plain
routes: [{name: r, upstream: {url: "WS://Example.com"}}]
)");
  BOOST_TEST(cfg->listeners[0].bind.host == "localhost");
  BOOST_TEST(cfg->listeners[0].bind.port == 80);
  BOOST_TEST(cfg->routes[0].upstream.urls[0].port == 80);
}

BOOST_AUTO_TEST_CASE(sizes_as_plain_integers_and_strings) {
  const auto cfg = parse_ok(minimal + R"(    limits:
      max_message_size: 65536
  - name: s
    upstream:
      url: "ws://h"
    limits:
      max_message_size: "64KiB"
)");
  BOOST_TEST(cfg->routes[0].limits.max_message_size == 65536u);
  BOOST_TEST(cfg->routes[1].limits.max_message_size == 65536u);
}

BOOST_AUTO_TEST_CASE(app_null_drops_an_inherited_app_heartbeat) {
  const auto cfg = parse_ok(R"(listeners:
  - name: public
    bind: "[::]:0"
defaults:
  heartbeat:
    client:
      app: { message: "hb", interval: 10s }
routes:
  - name: r
    upstream: { url: "ws://h" }
    heartbeat:
      client:
        app: null
)");
  BOOST_TEST(cfg->default_heartbeat.client.app.has_value());
  BOOST_TEST(!cfg->routes[0].heartbeat.client.app.has_value());
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(config_defaults)

BOOST_AUTO_TEST_CASE(maps_merge_key_by_key_and_lists_replace_whole) {
  const auto cfg = parse_ok(R"(listeners:
  - name: public
    bind: "127.0.0.1:0"
defaults:
  heartbeat:
    client:
      ping_interval: 5s
      app: { message: "hb", interval: 10s }
      answer:
        - match: ping
          reply: pong
        - match: hello
          reply: hi
  reconnect:
    on_close: [1001, 1006]
    backoff: { initial: 1s, max: 10s }
  limits:
    max_message_size: 64KiB
routes:
  - name: a
    upstream: { url: "ws://h" }
    heartbeat:
      client:
        pong_timeout: 1s
        app: { interval: 3s }
        answer:
          - match: x
            reply: y
    reconnect:
      on_close: [4000]
      backoff: { multiplier: 3 }
    limits:
      handshake_timeout: 2s
      http_idle_timeout: 90s
  - name: b
    upstream: { url: "ws://h" }
    reconnect:
      on_close: []
)");
  const auto& a = cfg->routes[0];
  BOOST_TEST(a.heartbeat.client.ping_interval.count() == 5'000);  // from defaults
  BOOST_TEST(a.heartbeat.client.pong_timeout.count() == 1'000);   // from the route
  BOOST_TEST_REQUIRE(a.heartbeat.client.app.has_value());
  BOOST_TEST(a.heartbeat.client.app->message == "hb");
  BOOST_TEST(a.heartbeat.client.app->interval.count() == 3'000);
  BOOST_TEST_REQUIRE(a.heartbeat.client.answer.size() == 1u);
  BOOST_TEST(a.heartbeat.client.answer[0].match == "x");
  BOOST_TEST(a.heartbeat.upstream.ping_interval.count() == 20'000);  // built-in
  BOOST_TEST((a.reconnect.on_close == std::vector<std::uint16_t>{4000}));
  BOOST_TEST(a.reconnect.backoff.initial.count() == 1'000);
  BOOST_TEST(a.reconnect.backoff.max.count() == 10'000);
  BOOST_TEST(a.reconnect.backoff.multiplier == 3.0);
  BOOST_TEST(a.reconnect.backoff.jitter == 0.2);
  BOOST_TEST(a.limits.max_message_size == 64u * 1024);
  BOOST_TEST(a.limits.handshake_timeout.count() == 2'000);
  BOOST_TEST(a.limits.http_idle_timeout.count() == 90'000);

  const auto& b = cfg->routes[1];
  BOOST_TEST(b.heartbeat.client.ping_interval.count() == 5'000);
  BOOST_TEST(b.heartbeat.client.pong_timeout.count() == 10'000);
  BOOST_TEST(b.heartbeat.client.app->interval.count() == 10'000);
  BOOST_TEST(b.heartbeat.client.answer.size() == 2u);
  BOOST_TEST(b.reconnect.on_close.empty());  // an empty list replaces too
  BOOST_TEST(b.limits.max_message_size == 64u * 1024);
  BOOST_TEST(b.limits.http_idle_timeout.count() == 60'000);  // built-in

  // The defaults themselves are kept for what needs them before a route
  // is known (handshake_timeout).
  BOOST_TEST((cfg->default_reconnect.on_close == std::vector<std::uint16_t>{1001, 1006}));
  BOOST_TEST(cfg->default_limits.handshake_timeout.count() == 10'000);
}

BOOST_AUTO_TEST_CASE(route_without_sections_inherits_everything) {
  const auto cfg = parse_ok(R"(listeners:
  - name: public
    bind: "127.0.0.1:0"
defaults:
  reconnect: { enabled: false, give_up_after: 0s }
routes:
  - name: a
    upstream: { url: "ws://h" }
)");
  BOOST_TEST(!cfg->routes[0].reconnect.enabled);
  BOOST_TEST(cfg->routes[0].reconnect.give_up_after.count() == 0);
}

BOOST_AUTO_TEST_CASE(inherited_app_needs_no_keys_but_a_new_one_needs_both) {
  check_error(minimal + R"(    heartbeat:
      client:
        app: { interval: 3s }
)",
              R"(t.yaml:10:14: routes[0].heartbeat.client.app: missing key "message")");
}

BOOST_AUTO_TEST_CASE(errors_in_defaults_name_the_defaults_path) {
  check_error(R"(listeners:
  - name: public
    bind: "127.0.0.1:0"
defaults:
  limits:
    max_message_size: 0
routes:
  - name: r
    upstream: { url: "ws://h" }
)",
              "t.yaml:6:23: defaults.limits.max_message_size: must be greater than 0");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(config_errors)

BOOST_AUTO_TEST_CASE(unsupported_scheme_as_in_the_spec) {
  check_error(R"(listeners:
  - name: public
    bind: "127.0.0.1:0"
routes:
  - name: r
    upstream:
      url: "http://127.0.0.1:8080"
)",
              R"(t.yaml:7:12: routes[0].upstream.url: unsupported scheme "http" (want ws or wss))");
}

BOOST_AUTO_TEST_CASE(unknown_key_points_at_the_key) {
  check_error(minimal + R"(    alowed_origins: []
)",
              "t.yaml:8:5: routes[0].alowed_origins: unknown key");
  check_error(R"(listeners:
  - name: public
    bind: "127.0.0.1:0"
    tls: { cert: a, key: b, min_verison: "1.3" }
routes:
  - name: r
    upstream: { url: "ws://h" }
)",
              "t.yaml:4:29: listeners[0].tls.min_verison: unknown key");
  check_error("listener: []\n" + minimal, "t.yaml:1:1: listener: unknown key");
}

BOOST_AUTO_TEST_CASE(duplicate_yaml_key) {
  check_error(minimal + R"(    name: again
)",
              "t.yaml:8:5: routes[0].name: duplicate key");
}

BOOST_AUTO_TEST_CASE(all_errors_are_collected_in_document_order) {
  check_errors(R"(listeners:
  - name: public
    bind: "127.0.0.1"
    max_connections: abc
    colour: blue
routes:
  - name: r
    upstream:
      url: "http://x"
      connect_timeout: 5
      tls:
        verify: maybe
    limits:
      max_message_size: 1.5MiB
)",
               {
                   R"(t.yaml:3:11: listeners[0].bind: invalid address "127.0.0.1": missing port (want host:port or [v6]:port))",
                   R"(t.yaml:4:22: listeners[0].max_connections: expected a positive integer, got "abc")",
                   "t.yaml:5:5: listeners[0].colour: unknown key",
                   R"(t.yaml:9:12: routes[0].upstream.url: unsupported scheme "http" (want ws or wss))",
                   R"(t.yaml:10:24: routes[0].upstream.connect_timeout: invalid duration "5" (want a number and a unit: 250ms, 20s, 5m, 1h))",
                   R"(t.yaml:12:17: routes[0].upstream.tls.verify: expected true or false, got "maybe")",
                   R"(t.yaml:14:25: routes[0].limits.max_message_size: invalid size "1.5MiB" (want bytes or a number and a unit: 512, 64KiB, 1MiB))",
               });
}

BOOST_AUTO_TEST_CASE(yaml_syntax_error) {
  check_error("listeners: [\nroutes: x\n",
              "t.yaml:3:1: (root): YAML syntax error: end of sequence flow not found");
  check_error("a: b: c\n", "t.yaml:1:5: (root): YAML syntax error: illegal map value");
  check_error(std::string(3000, '[') + "\n", "t.yaml:2:1: (root): YAML syntax error: nesting is too deep");
}

BOOST_AUTO_TEST_CASE(empty_and_non_map_documents) {
  check_error("", "t.yaml:1:1: (root): the configuration is empty");
  check_error("# nothing\n", "t.yaml:1:1: (root): the configuration is empty");
  check_error("- a\n- b\n", "t.yaml:1:1: (root): expected a map, got a list");
  check_error("hello\n", R"(t.yaml:1:1: (root): expected a map, got "hello")");
  check_errors(minimal + "---\nlisteners: []\n",
               {"t.yaml:8:1: (root): only one YAML document is allowed"});
  check_error("---\n---\n" + minimal, "t.yaml:2:1: (root): only one YAML document is allowed");
  parse_ok(minimal + "---\n---\n");  // trailing empty documents are harmless
}

BOOST_AUTO_TEST_CASE(stray_comma_does_not_hang) {
  // yaml-cpp 0.7 loops forever on these in YAML::LoadAll (jbeder/yaml-cpp#1040).
  check_error(",\n", R"(t.yaml:1:1: (root): YAML syntax error: unexpected ",")");
  check_error("," + minimal, R"(t.yaml:1:1: (root): YAML syntax error: unexpected ",")");
  check_error(minimal + "---\n,\n", R"(t.yaml:9:1: (root): YAML syntax error: unexpected ",")");
  check_error(minimal + ",x\n", "t.yaml:8:1: (root): YAML syntax error: end of map not found");
}

BOOST_AUTO_TEST_CASE(required_top_level_sections) {
  check_errors("log: {level: info}\n", {
                                           R"(t.yaml:1:1: (root): missing key "listeners")",
                                           R"(t.yaml:1:1: (root): missing key "routes")",
                                       });
  check_errors("listeners: []\nroutes: {}\n", {
                                                 "t.yaml:1:12: listeners: must not be empty",
                                                 "t.yaml:2:9: routes: expected a list, got a map",
                                             });
}

BOOST_AUTO_TEST_CASE(missing_key_reported_at_the_parent_map) {
  check_error(R"(listeners:
  - name: public
    bind: "127.0.0.1:0"
routes:
  - name: r
    upstream:
      strip_prefix: true
)",
              R"(t.yaml:7:7: routes[0].upstream: missing key "url" or "urls")");
  check_errors(R"(listeners:
  - bind: "127.0.0.1:0"
routes:
  - upstream: { url: "ws://h" }
)",
               {
                   R"(t.yaml:2:5: listeners[0]: missing key "name")",
                   R"(t.yaml:4:5: routes[0]: missing key "name")",
               });
}

BOOST_AUTO_TEST_CASE(url_and_urls_are_exclusive) {
  check_error(R"(listeners:
  - name: public
    bind: "127.0.0.1:0"
routes:
  - name: r
    upstream: { url: "ws://a", urls: ["ws://b"] }
)",
              R"(t.yaml:6:15: routes[0].upstream: use either "url" or "urls", not both)");
  check_errors(R"(listeners:
  - name: public
    bind: "127.0.0.1:0"
routes:
  - name: r
    upstream:
      urls: []
  - name: s
    upstream:
      urls: ["ws://a", "ftp://b"]
)",
               {
                   "t.yaml:7:13: routes[0].upstream.urls: must not be empty",
                   R"(t.yaml:10:24: routes[1].upstream.urls[1]: unsupported scheme "ftp" (want ws or wss))",
               });
}

BOOST_AUTO_TEST_CASE(wrong_types) {
  check_errors(R"(listeners:
  - name: {first: a}
    bind: 8080
    max_connections: 0
routes:
  - name: [r]
    upstream: "ws://h"
    allowed_origins: "https://a"
    heartbeat:
      client:
        answer: {match: a}
)",
               {
                   "t.yaml:2:11: listeners[0].name: expected a string, got a map",
                   R"(t.yaml:3:11: listeners[0].bind: invalid address "8080": missing port (want host:port or [v6]:port))",
                   R"(t.yaml:4:22: listeners[0].max_connections: expected a positive integer, got "0")",
                   "t.yaml:6:11: routes[0].name: expected a string, got a list",
                   R"(t.yaml:7:15: routes[0].upstream: expected a map, got "ws://h")",
                   R"(t.yaml:8:22: routes[0].allowed_origins: expected a list, got "https://a")",
                   "t.yaml:11:17: routes[0].heartbeat.client.answer: expected a list, got a map",
               });
}

BOOST_AUTO_TEST_CASE(booleans_are_true_or_false_only) {
  check_errors(minimal + R"(    reconnect:
      enabled: yes
  - name: s
    upstream: { url: "ws://h", strip_prefix: 1 }
)",
               {
                   R"(t.yaml:9:16: routes[0].reconnect.enabled: expected true or false, got "yes")",
                   R"(t.yaml:11:46: routes[1].upstream.strip_prefix: expected true or false, got "1")",
               });
}

BOOST_AUTO_TEST_CASE(empty_value_points_at_its_key) {
  check_error(R"(listeners:
  - name:
    bind: "127.0.0.1:0"
routes:
  - name: r
    upstream: { url: "ws://h" }
)",
              "t.yaml:2:5: listeners[0].name: expected a string, got nothing");
}

BOOST_AUTO_TEST_CASE(duplicate_names) {
  check_errors(R"(listeners:
  - name: public
    bind: "127.0.0.1:0"
  - name: public
    bind: "127.0.0.1:0"
routes:
  - name: r
    upstream: { url: "ws://h" }
  - name: r
    upstream: { url: "ws://h" }
)",
               {
                   R"(t.yaml:4:11: listeners[1].name: duplicate listener name "public")",
                   R"(t.yaml:9:11: routes[1].name: duplicate route name "r")",
               });
}

BOOST_AUTO_TEST_CASE(duplicate_bind_address) {
  check_error(R"(listeners:
  - name: a
    bind: "127.0.0.1:8080"
  - name: b
    bind: "127.0.0.1:8080"
routes:
  - name: r
    upstream: { url: "ws://h" }
)",
              "t.yaml:5:11: listeners[1].bind: address already used by listeners[0]");
}

BOOST_AUTO_TEST_CASE(route_listeners_must_exist) {
  check_errors(minimal + R"(    listeners: [public, internal]
  - name: s
    listeners: []
    upstream: { url: "ws://h" }
)",
               {
                   R"(t.yaml:8:25: routes[0].listeners[1]: unknown listener "internal")",
                   "t.yaml:10:16: routes[1].listeners: must not be empty (omit the key to use every listener)",
               });
}

BOOST_AUTO_TEST_CASE(bind_addresses) {
  check_errors(R"(listeners:
  - name: a
    bind: "::1:80"
  - name: b
    bind: "127.0.0.1:70000"
  - name: c
    bind: "[::1:80"
  - name: d
    bind: ":80"
  - name: e
    bind: "host:"
routes:
  - name: r
    upstream: { url: "ws://h" }
)",
               {
                   R"(t.yaml:3:11: listeners[0].bind: invalid address "::1:80": IPv6 addresses must be in brackets (want host:port or [v6]:port))",
                   R"(t.yaml:5:11: listeners[1].bind: invalid port "70000" (want 0 to 65535))",
                   R"(t.yaml:7:11: listeners[2].bind: invalid address "[::1:80": unterminated IPv6 address (want host:port or [v6]:port))",
                   R"(t.yaml:9:11: listeners[3].bind: invalid address ":80": missing host (want host:port or [v6]:port))",
                   R"(t.yaml:11:11: listeners[4].bind: invalid port "" (want 0 to 65535))",
               });
}

BOOST_AUTO_TEST_CASE(listener_tls) {
  check_errors(R"(listeners:
  - name: a
    bind: "127.0.0.1:0"
    tls:
      cert: a.crt
      min_version: "1.1"
      sni:
        - names: []
          cert: b.crt
        - names: ["*"]
          cert: c.crt
          key: c.key
routes:
  - name: r
    upstream: { url: "ws://h" }
)",
               {
                   R"(t.yaml:5:7: listeners[0].tls: missing key "key")",
                   R"(t.yaml:6:20: listeners[0].tls.min_version: expected one of 1.2, 1.3, got "1.1")",
                   R"(t.yaml:8:11: listeners[0].tls.sni[0]: missing key "key")",
                   "t.yaml:8:18: listeners[0].tls.sni[0].names: must not be empty",
                   R"(t.yaml:10:19: listeners[0].tls.sni[1].names[0]: invalid wildcard "*" (want an exact name or "*.suffix"))",
               });
}

BOOST_AUTO_TEST_CASE(listener_tls_cipher_lists) {
  const auto cfg = parse_ok(R"(listeners:
  - name: a
    bind: "127.0.0.1:0"
    tls:
      cert: a.crt
      key: a.key
      ciphers: "ECDHE-ECDSA-AES256-GCM-SHA384:!aNULL:@STRENGTH"
      ciphersuites: TLS_AES_128_GCM_SHA256
      record_offload: false
  - name: b
    bind: "127.0.0.1:0"
    tls: { cert: a.crt, key: a.key }
routes:
  - name: r
    upstream: { url: "ws://h" }
)");
  BOOST_TEST(cfg->listeners[0].tls->ciphers == "ECDHE-ECDSA-AES256-GCM-SHA384:!aNULL:@STRENGTH");
  BOOST_TEST(cfg->listeners[0].tls->ciphersuites == "TLS_AES_128_GCM_SHA256");
  BOOST_TEST(!cfg->listeners[0].tls->record_offload);
  BOOST_TEST(cfg->listeners[1].tls->ciphers.empty());  // the built-in ECDHE+AEAD list
  BOOST_TEST(cfg->listeners[1].tls->ciphersuites.empty());
  BOOST_TEST(cfg->listeners[1].tls->record_offload);

  check_errors(R"(listeners:
  - name: a
    bind: "127.0.0.1:0"
    tls:
      cert: a.crt
      key: a.key
      ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256:NOT-A-CIPHER"
      ciphersuites: "TLS_AES_128_GCM_SHA256:TLS_AES_128_CBC_SHA"
      record_offload: sometimes
  - name: b
    bind: "127.0.0.1:0"
    tls:
      cert: a.crt
      key: a.key
      ciphers: "!ALL"
      ciphersuites: ""
routes:
  - name: r
    upstream: { url: "ws://h" }
)",
               {
                   R"(t.yaml:7:16: listeners[0].tls.ciphers: unknown cipher "NOT-A-CIPHER")",
                   R"(t.yaml:8:21: listeners[0].tls.ciphersuites: unknown TLS 1.3 cipher suite "TLS_AES_128_CBC_SHA")",
                   R"(t.yaml:9:23: listeners[0].tls.record_offload: expected true or false, got "sometimes")",
                   R"(t.yaml:15:16: listeners[1].tls.ciphers: leaves no TLS 1.2 cipher)",
                   R"(t.yaml:16:21: listeners[1].tls.ciphersuites: must not be empty)",
               });
}

BOOST_AUTO_TEST_CASE(match_host_and_path) {
  check_errors(minimal + R"(    match: { host: "foo.*.com", path: "ws" }
  - name: s
    upstream: { url: "ws://h" }
    match: { host: "a.example.com:8080", path: "/a?b" }
  - name: t
    upstream: { url: "ws://h" }
    match: { host: "" }
)",
               {
                   R"(t.yaml:8:20: routes[0].match.host: invalid wildcard "foo.*.com" (want an exact name or "*.suffix"))",
                   R"(t.yaml:8:39: routes[0].match.path: must start with "/")",
                   R"(t.yaml:11:20: routes[1].match.host: invalid host "a.example.com:8080" (want a name, "*.suffix" or "[v6]", no port))",
                   R"(t.yaml:11:48: routes[1].match.path: must be a plain path (no query, fragment or spaces))",
                   "t.yaml:14:20: routes[2].match.host: must not be empty",
               });
}

BOOST_AUTO_TEST_CASE(answer_rules) {
  check_errors(minimal + R"(    heartbeat:
      client:
        answer:
          - match: a
            match_regex: b
            reply: c
          - reply: d
          - match_regex: "x+"
            reply: e
          - match: f
)",
               {
                   R"(t.yaml:11:13: routes[0].heartbeat.client.answer[0]: use either "match" or "match_regex", not both)",
                   R"(t.yaml:14:13: routes[0].heartbeat.client.answer[1]: missing key "match" or "match_regex")",
                   R"(t.yaml:17:13: routes[0].heartbeat.client.answer[3]: missing key "reply")",
               });
  // RE2 words the regex error itself; only its start is ours.
  const auto errors = errors_of(minimal + R"(    heartbeat:
      client:
        answer:
          - match_regex: "(unclosed"
            reply: e
)");
  BOOST_TEST_REQUIRE(errors.size() == 1u);
  BOOST_TEST(errors[0].starts_with("t.yaml:11:26: routes[0].heartbeat.client.answer[0].match_regex: invalid regex: "),
             errors[0]);
}

BOOST_AUTO_TEST_CASE(regexes_are_re2_syntax) {
  // ECMAScript has look-ahead and back-references; RE2 refuses both,
  // because neither can be matched in linear time.
  check_errors(minimal + R"(    heartbeat:
      client:
        answer:
          - match_regex: '(?=a)b'
            reply: e
          - match_regex: '(a)\1'
            reply: e
          - match_regex: '\{"type":"ping".*'
            reply: e
)",
               {
                   "t.yaml:11:26: routes[0].heartbeat.client.answer[0].match_regex: invalid regex: "
                   "invalid perl operator: (?= (RE2 syntax)",
                   "t.yaml:13:26: routes[0].heartbeat.client.answer[1].match_regex: invalid regex: "
                   "invalid escape sequence: \\1 (RE2 syntax)",
               });
}

BOOST_AUTO_TEST_CASE(reconnect_values) {
  check_errors(minimal + R"(    reconnect:
      on_close: [999, 1000, 4999, 5000, abc]
      backoff: { initial: 0s, multiplier: 0.5, jitter: 1.5 }
      buffer: { messages: -1 }
)",
               {
                   R"(t.yaml:9:18: routes[0].reconnect.on_close[0]: expected an integer from 1000 to 4999, got "999")",
                   R"(t.yaml:9:35: routes[0].reconnect.on_close[3]: expected an integer from 1000 to 4999, got "5000")",
                   R"(t.yaml:9:41: routes[0].reconnect.on_close[4]: expected an integer from 1000 to 4999, got "abc")",
                   "t.yaml:10:27: routes[0].reconnect.backoff.initial: must be greater than 0",
                   R"(t.yaml:10:43: routes[0].reconnect.backoff.multiplier: expected a number >= 1, got "0.5")",
                   R"(t.yaml:10:56: routes[0].reconnect.backoff.jitter: expected a number from 0 to 1, got "1.5")",
                   R"(t.yaml:11:27: routes[0].reconnect.buffer.messages: expected a non-negative integer, got "-1")",
               });
  const auto errors = errors_of(minimal + R"(    reconnect:
      replay: { match_regex: "[" }
)");
  BOOST_TEST_REQUIRE(errors.size() == 1u);
  BOOST_TEST(errors[0].starts_with("t.yaml:9:30: routes[0].reconnect.replay.match_regex: invalid regex: "),
             errors[0]);
}

BOOST_AUTO_TEST_CASE(backoff_max_below_initial) {
  check_error(minimal + R"(    reconnect:
      backoff: { initial: 10s }
)",
              "t.yaml:9:16: routes[0].reconnect.backoff: max (5000ms) is less than initial (10000ms)");
}

BOOST_AUTO_TEST_CASE(log_values) {
  check_errors(minimal + R"(log:
  level: verbose
  format: xml
  access: 1
)",
               {
                   R"(t.yaml:9:10: log.level: expected one of trace, debug, info, warn, error, got "verbose")",
                   R"(t.yaml:10:11: log.format: expected one of text, json, got "xml")",
                   R"(t.yaml:11:11: log.access: expected true or false, got "1")",
               });
}

BOOST_AUTO_TEST_CASE(upstream_tls_cert_and_key_together) {
  check_error(R"(listeners:
  - name: public
    bind: "127.0.0.1:0"
routes:
  - name: r
    upstream:
      url: "wss://h"
      tls:
        cert: client.crt
        key: ""
)",
              R"(t.yaml:9:9: routes[0].upstream.tls: "cert" and "key" must be set together)");
}

BOOST_AUTO_TEST_CASE(admin_and_shutdown) {
  check_errors(minimal + R"(admin: {}
shutdown:
  drain_timeout: forever
)",
               {
                   R"(t.yaml:8:8: admin: missing key "bind")",
                   R"(t.yaml:10:18: shutdown.drain_timeout: invalid duration "forever" (want a number and a unit: 250ms, 20s, 5m, 1h))",
               });
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(config_upstream_url)

BOOST_AUTO_TEST_CASE(default_ports) {
  std::string error;
  const auto ws = tether::parse_upstream_url("ws://backend", error);
  BOOST_TEST_REQUIRE(ws.has_value(), error);
  BOOST_TEST(!ws->tls);
  BOOST_TEST(ws->host == "backend");
  BOOST_TEST(ws->port == 80);
  BOOST_TEST(ws->path == "");
  BOOST_TEST(ws->text == "ws://backend");
  const auto wss = tether::parse_upstream_url("wss://backend/", error);
  BOOST_TEST_REQUIRE(wss.has_value(), error);
  BOOST_TEST(wss->tls);
  BOOST_TEST(wss->port == 443);
  BOOST_TEST(wss->path == "");
}

BOOST_AUTO_TEST_CASE(port_and_path) {
  std::string error;
  const auto url = tether::parse_upstream_url("ws://127.0.0.1:8080/api/v1/", error);
  BOOST_TEST_REQUIRE(url.has_value(), error);
  BOOST_TEST(url->host == "127.0.0.1");
  BOOST_TEST(url->port == 8080);
  BOOST_TEST(url->path == "/api/v1");
}

BOOST_AUTO_TEST_CASE(ipv6) {
  std::string error;
  const auto with_port = tether::parse_upstream_url("wss://[::1]:8443/x", error);
  BOOST_TEST_REQUIRE(with_port.has_value(), error);
  BOOST_TEST(with_port->host == "::1");
  BOOST_TEST(with_port->port == 8443);
  BOOST_TEST(with_port->path == "/x");
  const auto no_port = tether::parse_upstream_url("ws://[2001:db8::1]", error);
  BOOST_TEST_REQUIRE(no_port.has_value(), error);
  BOOST_TEST(no_port->host == "2001:db8::1");
  BOOST_TEST(no_port->port == 80);
}

BOOST_AUTO_TEST_CASE(scheme_is_case_insensitive) {
  std::string error;
  const auto url = tether::parse_upstream_url("WSS://h", error);
  BOOST_TEST_REQUIRE(url.has_value(), error);
  BOOST_TEST(url->tls);
}

BOOST_AUTO_TEST_CASE(rejected) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"http://h", R"(unsupported scheme "http" (want ws or wss))"},
      {"https://h", R"(unsupported scheme "https" (want ws or wss))"},
      {"h:8080", R"(invalid URL "h:8080" (want ws://host[:port][/path] or wss://...))"},
      {"ws://", R"(invalid URL "ws://": missing host)"},
      {"ws://:80", R"(invalid URL "ws://:80": missing host)"},
      {"ws://h:0", R"(invalid URL "ws://h:0": invalid port "0" (want 1 to 65535))"},
      {"ws://h:65536", R"(invalid URL "ws://h:65536": invalid port "65536" (want 1 to 65535))"},
      {"ws://h:", R"(invalid URL "ws://h:": invalid port "" (want 1 to 65535))"},
      {"ws://h:x", R"(invalid URL "ws://h:x": invalid port "x" (want 1 to 65535))"},
      {"ws://::1:80", R"(invalid URL "ws://::1:80": IPv6 addresses must be in brackets)"},
      {"ws://[::1", R"(invalid URL "ws://[::1": unterminated IPv6 address)"},
      {"ws://[zz]:80", R"(invalid URL "ws://[zz]:80": invalid IPv6 address "zz")"},
      {"ws://h/p?q=1", R"(invalid URL "ws://h/p?q=1": query and fragment are not allowed)"},
      {"ws://h#f", R"(invalid URL "ws://h#f": query and fragment are not allowed)"},
      {"ws://u:p@h", R"(invalid URL "ws://u:p@h": user info is not allowed)"},
      {"ws://h /x", R"(invalid URL "ws://h /x": contains spaces or control characters)"},
      {"ws://h!x", R"(invalid URL "ws://h!x": invalid host "h!x")"},
  };
  for (const auto& [text, expected] : cases) {
    std::string error;
    BOOST_TEST(!tether::parse_upstream_url(text, error), text);
    BOOST_TEST(error == expected);
  }
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------

namespace {

struct evp_pkey_free {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct x509_free {
  void operator()(X509* x) const { X509_free(x); }
};

/// A scratch directory with self-signed certificates made in-process, so
/// the test needs neither the openssl tool nor files from the source tree.
struct cert_dir {
  std::filesystem::path dir;

  cert_dir() {
    static int counter = 0;
    dir = std::filesystem::temp_directory_path() /
          ("tether_config_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(dir);
    make_pair("a");
    make_pair("b");
    write("garbage.crt", "not a certificate\n");
  }
  ~cert_dir() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  std::string path(const std::string& name) const { return (dir / name).string(); }

  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path(name)) << text;
  }

  void make_pair(const std::string& stem) const {
    std::unique_ptr<EVP_PKEY, evp_pkey_free> key(EVP_EC_gen("P-256"));
    BOOST_TEST_REQUIRE(key != nullptr);
    std::unique_ptr<X509, x509_free> cert(X509_new());
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
    X509_set_pubkey(cert.get(), key.get());
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    BOOST_TEST_REQUIRE(X509_sign(cert.get(), key.get(), EVP_sha256()) > 0);
    FILE* out = std::fopen(path(stem + ".crt").c_str(), "w");
    PEM_write_X509(out, cert.get());
    std::fclose(out);
    out = std::fopen(path(stem + ".key").c_str(), "w");
    PEM_write_PrivateKey(out, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(out);
  }

  /// Writes `yaml` as the config file; returns its path.
  std::string config(const std::string& yaml) const {
    write("tether.yaml", yaml);
    return path("tether.yaml");
  }

  std::string listener(const std::string& cert, const std::string& key,
                       const std::string& extra = "") const {
    return "listeners:\n  - name: public\n    bind: \"127.0.0.1:0\"\n    tls:\n      cert: " + path(cert) +
           "\n      key: " + path(key) + "\n" + extra +
           "routes:\n  - name: r\n    upstream: { url: \"ws://h\" }\n";
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(config_load)

BOOST_AUTO_TEST_CASE(valid_files_load) {
  cert_dir d;
  const std::string yaml = d.listener("a.crt", "a.key",
                                      "      client_ca: " + d.path("b.crt") +
                                          "\n      sni:\n        - names: [x.example.com]\n          cert: " +
                                          d.path("b.crt") + "\n          key: " + d.path("b.key") + "\n") +
                           "    # upstream client certificate\n" +
                           "  - name: s\n    upstream:\n      url: \"wss://h\"\n      tls: { ca: " + d.path("a.crt") +
                           ", cert: " + d.path("b.crt") + ", key: " + d.path("b.key") + " }\n";
  const auto result = tether::load_config(d.config(yaml));
  std::string all;
  for (const auto& e : result.errors) {
    all += "\n  " + e;
  }
  BOOST_TEST(result.errors.empty(), "unexpected errors:" << all);
  BOOST_TEST_REQUIRE(result.value != nullptr);
  BOOST_TEST(result.value->source == d.path("tether.yaml"));
  BOOST_TEST(result.value->listeners[0].tls->sni.size() == 1u);
}

BOOST_AUTO_TEST_CASE(missing_cert_names_the_key) {
  cert_dir d;
  const std::string file = d.config(d.listener("missing.crt", "a.key"));
  const auto result = tether::load_config(file);
  BOOST_TEST(!result.value);
  const error_list expected = {file + ":5:13: listeners[0].tls.cert: cannot open \"" +
                               d.path("missing.crt") + "\": No such file or directory"};
  BOOST_TEST(result.errors == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(garbage_cert_and_mismatched_key) {
  cert_dir d;
  const std::string garbage_file = d.config(d.listener("garbage.crt", "a.key"));
  auto result = tether::load_config(garbage_file);
  BOOST_TEST_REQUIRE(result.errors.size() == 1u);
  BOOST_TEST(result.errors[0].starts_with(garbage_file + ":5:13: listeners[0].tls.cert: cannot load certificate chain \"" +
                                          d.path("garbage.crt") + "\": "),
             result.errors[0]);

  const std::string mismatch_file = d.config(d.listener("a.crt", "b.key"));
  result = tether::load_config(mismatch_file);
  const error_list expected = {mismatch_file + ":6:12: listeners[0].tls.key: private key \"" + d.path("b.key") +
                               "\" does not match certificate \"" + d.path("a.crt") + "\""};
  BOOST_TEST(result.errors == expected, boost::test_tools::per_element());

  // A certificate given where the key belongs is not a key.
  const std::string swapped_file = d.config(d.listener("a.crt", "a.crt"));
  result = tether::load_config(swapped_file);
  BOOST_TEST_REQUIRE(result.errors.size() == 1u);
  BOOST_TEST(result.errors[0].starts_with(swapped_file + ":6:12: listeners[0].tls.key: cannot load private key"),
             result.errors[0]);
}

BOOST_AUTO_TEST_CASE(upstream_and_client_ca_files_must_exist) {
  cert_dir d;
  const std::string yaml = d.listener("a.crt", "a.key", "      client_ca: " + d.path("nope-ca.crt") + "\n") +
                           "  - name: s\n    upstream:\n      url: \"wss://h\"\n      tls:\n        ca: " +
                           d.path("nope.crt") + "\n";
  const std::string file = d.config(yaml);
  const auto result = tether::load_config(file);
  const error_list expected = {
      file + ":7:18: listeners[0].tls.client_ca: cannot open \"" + d.path("nope-ca.crt") +
          "\": No such file or directory",
      file + ":15:13: routes[1].upstream.tls.ca: cannot open \"" + d.path("nope.crt") +
          "\": No such file or directory",
  };
  BOOST_TEST(result.errors == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(parse_errors_and_file_errors_together) {
  cert_dir d;
  const std::string file = d.config(d.listener("missing.crt", "a.key", "      min_version: \"1.0\"\n"));
  const auto result = tether::load_config(file);
  BOOST_TEST(result.errors.size() == 2u);
}

BOOST_AUTO_TEST_CASE(unreadable_config_file) {
  cert_dir d;
  const std::string missing = d.path("none.yaml");
  const auto result = tether::load_config(missing);
  BOOST_TEST(!result.value);
  const error_list expected = {missing + ":1:1: (root): cannot read file: No such file or directory"};
  BOOST_TEST(result.errors == expected, boost::test_tools::per_element());
  const auto dir_result = tether::load_config(d.dir.string());
  BOOST_TEST_REQUIRE(dir_result.errors.size() == 1u);
  BOOST_TEST(dir_result.errors[0] == d.dir.string() + ":1:1: (root): cannot read file: is a directory");
}

// Anchors and aliases stay usable, but cannot make a few kilobytes expand
// into millions of values to walk (found by the config fuzz target: this one
// took seconds to refuse).
BOOST_AUTO_TEST_CASE(aliases_that_expand_too_far_are_an_error) {
  std::string answers;
  std::string routes;
  for (int i = 0; i < 600; ++i) {
    answers += ", *x";
    routes += ", *r";
  }
  const std::string yaml =
      "listeners: [{name: l, bind: \"127.0.0.1:1\"}]\n"
      "routes: [&r {name: a, upstream: {url: \"ws://h:1\"}, heartbeat: {client: {answer: "
      "[&x {match_regex: \"(a|b)*c\", reply: p}" + answers + "]}}}" + routes + "]\n";
  const auto started = std::chrono::steady_clock::now();
  const auto errors = errors_of(yaml);
  const bool quick = std::chrono::steady_clock::now() - started < 1s;
  BOOST_TEST(quick);
  BOOST_TEST_REQUIRE(errors.size() == 1u);
  BOOST_TEST(errors[0] == "t.yaml:1:1: (root): aliases expand the document by more than 5000 values");
}

BOOST_AUTO_TEST_CASE(a_few_aliases_still_work) {
  const auto cfg = parse_ok(
      "listeners: [{name: l, bind: \"127.0.0.1:1\"}]\n"
      "routes:\n"
      "  - {name: a, match: {path: /a}, upstream: {url: \"ws://h:1\"}, limits: &lim {max_message_size: 1KiB}}\n"
      "  - {name: b, match: {path: /b}, upstream: {url: \"ws://h:2\"}, limits: *lim}\n");
  BOOST_TEST_REQUIRE(cfg->routes.size() == 2u);
  BOOST_TEST(cfg->routes[1].limits.max_message_size == 1024u);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(config_compression)

BOOST_AUTO_TEST_CASE(defaults_inheritance_and_both_forms_of_context_takeover) {
  const auto c = parse_ok(minimal);
  const auto& d = c->routes[0].compression;
  BOOST_TEST(d.client);
  BOOST_TEST(d.upstream);
  BOOST_TEST(d.level == 6);
  BOOST_TEST(d.max_window_bits == 15);
  BOOST_TEST(!d.send_takeover);
  BOOST_TEST(!d.receive_takeover);

  // defaults set it, the route overrides one key, and a map sets one direction.
  const auto m = parse_ok(R"(defaults:
  compression: {upstream: false, level: 1, context_takeover: true}
)" + minimal + R"(    compression:
      max_window_bits: 10
      context_takeover: {receive: false}
)");
  const auto& r = m->routes[0].compression;
  BOOST_TEST(r.client);
  BOOST_TEST(!r.upstream);
  BOOST_TEST(r.level == 1);
  BOOST_TEST(r.max_window_bits == 10);
  BOOST_TEST(r.send_takeover);
  BOOST_TEST(!r.receive_takeover);
}

BOOST_AUTO_TEST_CASE(bad_values_name_line_column_and_key) {
  check_errors(minimal + R"(    compression:
      level: 10
      max_window_bits: 8
      context_takeover: {send: yes, both: true}
      deflate: true
)",
               {
                   R"(t.yaml:9:14: routes[0].compression.level: expected an integer from 0 to 9, got "10")",
                   R"(t.yaml:10:24: routes[0].compression.max_window_bits: expected an integer from 9 to 15, got "8")",
                   R"(t.yaml:11:32: routes[0].compression.context_takeover.send: expected true or false, got "yes")",
                   R"(t.yaml:11:37: routes[0].compression.context_takeover.both: unknown key)",
                   R"(t.yaml:12:7: routes[0].compression.deflate: unknown key)",
               });
}

BOOST_AUTO_TEST_SUITE_END()
