#pragma once
// Plain structs that the YAML configuration parses into. No I/O lives here:
// the rest of tether reads these after `load_config` has validated them.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tether {

using duration = std::chrono::milliseconds;

/// A host:port pair as written in `bind:`; host may be an IPv6 literal
/// (stored without brackets) or a name.
struct endpoint_config {
  std::string host;
  std::uint16_t port = 0;
};

struct sni_cert_config {
  std::vector<std::string> names;  // exact or "*.example.org"
  std::string cert;
  std::string key;
};

struct listener_tls_config {
  std::string cert;
  std::string key;
  std::string min_version = "1.2";  // "1.2" or "1.3"
  std::string ciphers;              // TLS 1.2, OpenSSL syntax; empty: default_tls12_ciphers
  std::string ciphersuites;         // TLS 1.3; empty: default_tls13_ciphersuites
  bool record_offload = true;       // false: OpenSSL keeps the records for a session's life
  std::string client_ca;            // empty: no client certificates asked
  std::vector<sni_cert_config> sni;
};

struct listener_config {
  std::string name;
  endpoint_config bind;
  std::size_t max_connections = 10000;
  std::optional<listener_tls_config> tls;
};

struct admin_config {
  bool enabled = false;
  endpoint_config bind{"127.0.0.1", 9901};
};

struct log_config {
  std::string level = "info";   // trace | debug | info | warn | error
  std::string format = "text";  // text | json
  bool access = true;
};

struct answer_rule {
  std::string match;        // whole-message equality, used when regex is empty
  std::string match_regex;  // must match the whole message
  std::string reply;        // may contain {{now_ms}}
};

struct app_heartbeat_config {
  std::string message;  // may contain {{now_ms}}
  duration interval{0};
};

struct leg_heartbeat_config {
  duration ping_interval{20000};
  duration pong_timeout{10000};
};

struct client_heartbeat_config : leg_heartbeat_config {
  std::optional<app_heartbeat_config> app;
  std::vector<answer_rule> answer;
};

struct heartbeat_config {
  client_heartbeat_config client;
  leg_heartbeat_config upstream;
};

struct backoff_config {
  duration initial{100};
  duration max{5000};
  double multiplier = 2.0;
  double jitter = 0.2;
};

struct reconnect_config {
  bool enabled = true;
  std::vector<std::uint16_t> on_close{1001, 1006, 1011, 1012, 1013, 1014};
  backoff_config backoff;
  duration give_up_after{30000};
  std::size_t buffer_messages = 1000;
  std::size_t buffer_bytes = 1024 * 1024;
  std::size_t replay_first = 0;
  std::string replay_match_regex;
  std::string notify_reconnecting;
  std::string notify_reconnected;
};

struct limits_config {
  std::size_t max_message_size = 1024 * 1024;
  duration handshake_timeout{10000};
  duration http_idle_timeout{60000};  // plain HTTP exchange with no byte moving; 0: none
};

/// permessage-deflate (RFC 7692), negotiated on each leg on its own.
struct compression_config {
  bool client = true;    // answer a client's offer
  bool upstream = true;  // offer it to the backend
  int level = 6;         // zlib level, 0-9
  int max_window_bits = 15;  // 9-15: tether's own window, and what it asks peers for
  // Context takeover costs a zlib stream per leg and direction for the
  // session's life; without it an idle session holds no zlib state.
  bool send_takeover = false;     // tether keeps its deflate context between messages
  bool receive_takeover = false;  // peers may keep theirs (tether keeps an inflate context)
};

/// A parsed ws:// or wss:// upstream address.
struct upstream_url {
  bool tls = false;
  std::string host;  // without brackets for IPv6
  std::uint16_t port = 0;
  std::string path;  // prefix prepended to the forwarded target ("" or "/base")
  std::string text;  // as written, for logs
};

struct upstream_tls_config {
  std::string ca;  // empty: system store
  bool verify = true;
  std::string server_name;  // empty: the URL's host
  std::string cert;
  std::string key;
};

struct upstream_config {
  std::vector<upstream_url> urls;  // round robin
  bool strip_prefix = false;
  duration connect_timeout{5000};
  upstream_tls_config tls;
};

struct route_config {
  std::string name;
  std::vector<std::string> listeners;  // empty: every listener
  std::string host;                    // "" | exact | "*.suffix"; lower-case
  std::string path = "/";
  upstream_config upstream;
  std::vector<std::string> allowed_origins;
  heartbeat_config heartbeat;
  reconnect_config reconnect;
  limits_config limits;
  compression_config compression;
};

struct config {
  std::string source;  // file it was read from
  std::vector<listener_config> listeners;
  admin_config admin;
  log_config log;
  duration drain_timeout{30000};
  heartbeat_config default_heartbeat;
  reconnect_config default_reconnect;
  limits_config default_limits;
  compression_config default_compression;
  std::vector<route_config> routes;
};

/// Result of loading a configuration: either a config or every error found,
/// each formatted "file:line:col: key.path: message".
struct config_result {
  std::shared_ptr<const config> value;
  std::vector<std::string> errors;
};

/// Reads and validates `path`. Also checks that referenced files exist and
/// that certificates and keys load (so `--check` catches them).
config_result load_config(const std::string& path);

/// Same, from YAML text (`source` names it in error messages). Referenced
/// files are resolved relative to the current directory.
config_result parse_config(const std::string& yaml_text, const std::string& source);

/// "250ms", "20s", "5m", "1h" -> duration; nullopt when malformed.
std::optional<duration> parse_duration(const std::string& text);
/// 512, "64KiB", "1MiB", "1GiB" (also KB/MB = 1000-based) -> bytes; nullopt when malformed.
std::optional<std::size_t> parse_size(const std::string& text);
/// "ws://host:port/path" or "wss://..."; error text on failure.
std::optional<upstream_url> parse_upstream_url(const std::string& text, std::string& error);

}  // namespace tether
