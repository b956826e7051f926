// route_table: SPEC section 3's route choice.
#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/routes.hpp"

using tether::config;
using tether::route_config;
using tether::route_table;

namespace {

route_config make_route(std::string name, std::string host, std::string path,
                        std::vector<std::string> listeners = {}) {
  route_config r;
  r.name = std::move(name);
  r.host = std::move(host);
  r.path = std::move(path);
  r.listeners = std::move(listeners);
  return r;
}

std::shared_ptr<const config> make_config(std::vector<route_config> routes) {
  auto cfg = std::make_shared<config>();
  cfg->routes = std::move(routes);
  return cfg;
}

/// The name of the chosen route, or "none".
std::string pick(const route_table& table, std::string_view host, std::string_view target,
                 std::string_view listener = "public") {
  const route_config* r = table.match(listener, host, target);
  return r != nullptr ? r->name : "none";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(route_table_match)

BOOST_AUTO_TEST_CASE(exact_beats_wildcard_beats_no_host) {
  // Listed worst first so that file order cannot be what decides.
  const route_table table(make_config({
      make_route("any", "", "/"),
      make_route("wild", "*.example.com", "/"),
      make_route("exact", "a.example.com", "/"),
  }));
  BOOST_TEST(pick(table, "a.example.com", "/") == "exact");
  BOOST_TEST(pick(table, "b.example.com", "/") == "wild");
  BOOST_TEST(pick(table, "x.y.example.com", "/") == "wild");  // any depth
  BOOST_TEST(pick(table, "example.com", "/") == "any");       // not the bare suffix
  BOOST_TEST(pick(table, "other.org", "/") == "any");
  BOOST_TEST(pick(table, "", "/") == "any");
}

BOOST_AUTO_TEST_CASE(host_decides_before_path_length) {
  const route_table table(make_config({
      make_route("deep", "", "/ws/chat"),
      make_route("host", "a.example.com", "/"),
  }));
  BOOST_TEST(pick(table, "a.example.com", "/ws/chat/1") == "host");
  BOOST_TEST(pick(table, "b.example.com", "/ws/chat/1") == "deep");
  BOOST_TEST(pick(table, "b.example.com", "/other") == "none");
}

BOOST_AUTO_TEST_CASE(longer_wildcard_is_more_specific) {
  const route_table table(make_config({
      make_route("short", "*.example.com", "/"),
      make_route("long", "*.eu.example.com", "/"),
  }));
  BOOST_TEST(pick(table, "x.eu.example.com", "/") == "long");
  BOOST_TEST(pick(table, "x.us.example.com", "/") == "short");
}

BOOST_AUTO_TEST_CASE(longest_path_prefix_wins) {
  const route_table table(make_config({
      make_route("root", "", "/"),
      make_route("ws", "", "/ws"),
      make_route("chat", "", "/ws/chat"),
  }));
  BOOST_TEST(pick(table, "h", "/ws/chat") == "chat");
  BOOST_TEST(pick(table, "h", "/ws/chat/room/1") == "chat");
  BOOST_TEST(pick(table, "h", "/ws/chatter") == "ws");
  BOOST_TEST(pick(table, "h", "/ws/other") == "ws");
  BOOST_TEST(pick(table, "h", "/ws") == "ws");
  BOOST_TEST(pick(table, "h", "/ws/") == "ws");
  BOOST_TEST(pick(table, "h", "/wsx") == "root");
  BOOST_TEST(pick(table, "h", "/") == "root");
  BOOST_TEST(pick(table, "h", "/WS") == "root");  // paths are case-sensitive
}

BOOST_AUTO_TEST_CASE(segment_boundaries) {
  BOOST_TEST(route_table::path_has_prefix("/ws", "/ws"));
  BOOST_TEST(route_table::path_has_prefix("/ws/", "/ws"));
  BOOST_TEST(route_table::path_has_prefix("/ws/a/b", "/ws"));
  BOOST_TEST(!route_table::path_has_prefix("/wsx", "/ws"));
  BOOST_TEST(!route_table::path_has_prefix("/w", "/ws"));
  BOOST_TEST(!route_table::path_has_prefix("/", "/ws"));
  BOOST_TEST(route_table::path_has_prefix("/", "/"));
  BOOST_TEST(route_table::path_has_prefix("/anything/at/all", "/"));
  // A prefix written with a trailing slash ends on a segment already.
  BOOST_TEST(route_table::path_has_prefix("/ws/a", "/ws/"));
  BOOST_TEST(route_table::path_has_prefix("/ws/", "/ws/"));
  BOOST_TEST(!route_table::path_has_prefix("/ws", "/ws/"));
}

BOOST_AUTO_TEST_CASE(host_patterns) {
  BOOST_TEST(route_table::host_matches("a.example.com", "*.example.com"));
  BOOST_TEST(route_table::host_matches("a.b.example.com", "*.example.com"));
  BOOST_TEST(route_table::host_matches("A.Example.COM", "*.example.com"));
  BOOST_TEST(!route_table::host_matches("example.com", "*.example.com"));
  BOOST_TEST(!route_table::host_matches("aexample.com", "*.example.com"));
  BOOST_TEST(!route_table::host_matches(".example.com", "*.example.com"));
  BOOST_TEST(route_table::host_matches("Example.com", "example.com"));
  BOOST_TEST(!route_table::host_matches("a.example.com", "example.com"));
  BOOST_TEST(route_table::host_matches("anything", ""));
}

BOOST_AUTO_TEST_CASE(listener_restriction) {
  const route_table table(make_config({
      make_route("internal_only", "", "/", {"internal"}),
      make_route("everywhere", "", "/"),
      make_route("admin", "", "/admin", {"internal", "ops"}),
  }));
  BOOST_TEST(pick(table, "h", "/", "internal") == "internal_only");
  BOOST_TEST(pick(table, "h", "/", "public") == "everywhere");
  BOOST_TEST(pick(table, "h", "/admin", "public") == "everywhere");
  BOOST_TEST(pick(table, "h", "/admin", "ops") == "admin");
  BOOST_TEST(pick(table, "h", "/admin", "internal") == "admin");
}

BOOST_AUTO_TEST_CASE(no_candidate_gives_nullptr) {
  const route_table table(make_config({
      make_route("internal_only", "", "/", {"internal"}),
      make_route("api", "api.example.com", "/"),
  }));
  BOOST_TEST(table.match("public", "h", "/") == nullptr);
  BOOST_TEST(table.match("public", "api.example.com", "/") != nullptr);
  const route_table empty(make_config({}));
  BOOST_TEST(empty.match("public", "h", "/") == nullptr);
}

BOOST_AUTO_TEST_CASE(query_and_fragment_are_ignored) {
  const route_table table(make_config({
      make_route("root", "", "/"),
      make_route("ws", "", "/ws"),
      make_route("chat", "", "/ws/chat"),
  }));
  BOOST_TEST(pick(table, "h", "/ws?room=/ws/chat") == "ws");
  BOOST_TEST(pick(table, "h", "/ws/chat?x=1") == "chat");
  BOOST_TEST(pick(table, "h", "/wsx?/ws") == "root");
  BOOST_TEST(pick(table, "h", "/ws#frag") == "ws");
  BOOST_TEST(pick(table, "h", "?x=1") == "root");
  BOOST_TEST(pick(table, "h", "") == "root");
}

BOOST_AUTO_TEST_CASE(host_header_port_and_case) {
  const route_table table(make_config({
      make_route("any", "", "/"),
      make_route("exact", "chat.example.com", "/"),
      make_route("wild", "*.example.org", "/"),
  }));
  BOOST_TEST(pick(table, "chat.example.com:8443", "/") == "exact");
  BOOST_TEST(pick(table, "CHAT.Example.Com", "/") == "exact");
  BOOST_TEST(pick(table, "Chat.Example.COM:443", "/") == "exact");
  BOOST_TEST(pick(table, "chat.example.com.", "/") == "exact");  // fully qualified form
  BOOST_TEST(pick(table, "chat.example.com.:80", "/") == "exact");
  BOOST_TEST(pick(table, "X.EXAMPLE.ORG:8080", "/") == "wild");
  BOOST_TEST(pick(table, "chat.example.comx", "/") == "any");
}

BOOST_AUTO_TEST_CASE(ipv6_literal_hosts) {
  const route_table table(make_config({
      make_route("any", "", "/"),
      make_route("v6", "::1", "/"),
  }));
  BOOST_TEST(pick(table, "[::1]:8443", "/") == "v6");
  BOOST_TEST(pick(table, "[::1]", "/") == "v6");
  BOOST_TEST(pick(table, "[::2]:8443", "/") == "any");
}

BOOST_AUTO_TEST_CASE(ties_go_to_the_first_listed) {
  const route_table table(make_config({
      make_route("first", "h.example.com", "/ws"),
      make_route("second", "h.example.com", "/ws"),
      make_route("third", "", "/"),
      make_route("fourth", "", "/"),
  }));
  BOOST_TEST(pick(table, "h.example.com", "/ws") == "first");
  BOOST_TEST(pick(table, "other", "/ws") == "third");
}

BOOST_AUTO_TEST_CASE(table_from_parsed_config) {
  const auto result = tether::parse_config(R"(listeners:
  - name: public
    bind: "127.0.0.1:0"
  - name: internal
    bind: "127.0.0.1:0"
routes:
  - name: fallback
    upstream: { url: "ws://a" }
  - name: chat
    match: { host: "Chat.Example.com", path: /ws }
    upstream: { url: "ws://b" }
  - name: ops
    listeners: [internal]
    match: { path: /ws }
    upstream: { url: "ws://c" }
)",
                                           "t.yaml");
  BOOST_TEST_REQUIRE(result.errors.empty());
  const route_table table(result.value);
  BOOST_TEST(pick(table, "chat.example.com", "/ws/x?y") == "chat");
  BOOST_TEST(pick(table, "chat.example.com", "/other") == "fallback");
  BOOST_TEST(pick(table, "h", "/ws", "internal") == "ops");
  BOOST_TEST(pick(table, "h", "/ws", "public") == "fallback");
}

BOOST_AUTO_TEST_CASE(routes_outlive_the_caller_config_pointer) {
  auto cfg = make_config({make_route("only", "", "/")});
  const route_table table(cfg);
  cfg.reset();  // the table keeps its own reference
  BOOST_TEST(pick(table, "h", "/") == "only");
}

BOOST_AUTO_TEST_SUITE_END()
