#pragma once
// More helpers for the handshake, TLS and HTTP pass-through tests: a
// client that can reach any address (IPv6 too) with tunable TLS, servers
// that accept and then stay silent, and a small HTTP/1.1 origin server.
// Everything bounds its own waiting time, as in test_support.hpp.
#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace tt::hs {

/// Whether a TCP socket can be bound to [::1] on this machine.
bool ipv6_loopback_available();

/// A port on 127.0.0.1 on which nothing listens (bound once, then closed).
std::uint16_t closed_port();

/// Whether a TCP connect to `address:port` succeeds within `timeout`.
bool tcp_connects(const std::string& address, std::uint16_t port, ms timeout = 2000ms);

// ---------------------------------------------------------------------------
struct conn_options {
  std::string address = "127.0.0.1";
  bool tls = false;
  /// SNI and the name verified; empty: no SNI and no name check.
  std::string sni = "localhost";
  bool verify = true;
  std::string ca = "ca.crt";
  bool client_cert = false;  // present certs/dev/client.crt
  int min_tls_version = 0;   // e.g. TLS1_2_VERSION; 0: library default
  int max_tls_version = 0;
  ms timeout = 5000ms;  // connect and TLS handshake
};

/// A raw TCP or TLS connection to any address, for byte-level tests and for
/// several HTTP requests on one connection.
class conn {
 public:
  explicit conn(std::uint16_t port, conn_options opts = {});
  ~conn();
  conn(const conn&) = delete;
  conn& operator=(const conn&) = delete;

  /// Connect or TLS handshake error (empty when connected).
  boost::system::error_code error() const;
  bool connected() const { return !error(); }
  /// The negotiated protocol version (SSL_version), 0 for plain TCP.
  int tls_version() const;
  /// The peer certificate's subject, one line ("/O=.../CN=..."); empty if none.
  std::string peer_subject() const;

  boost::system::error_code write(const std::string& bytes);
  /// Whatever arrives within `timeout` (at least one byte unless closed or timed out).
  std::string read_some(ms timeout = 2000ms);
  std::string read_until(const std::string& delim, ms timeout = 2000ms);
  /// Reads until the peer closes or `timeout`.
  std::string read_all(ms timeout = 2000ms);
  /// The peer closed (or reset) the connection.
  bool eof() const;

  /// One HTTP response (pass head=true for the answer to a HEAD request);
  /// nullopt on error or timeout.
  std::optional<http::response<http::string_body>> read_response(bool head = false,
                                                                 ms timeout = 10000ms);
  /// Writes `req` (Host defaults to 127.0.0.1; payload prepared) and reads the answer.
  std::optional<http::response<http::string_body>> request(http::request<http::string_body> req,
                                                           ms timeout = 10000ms);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// A WebSocket upgrade request (valid key, version 13) as raw bytes.
std::string upgrade_request(const std::string& target, const std::string& host,
                            const std::string& extra_headers = {});

/// Parses an HTTP response head (and body, if complete) from raw bytes.
std::optional<http::response<http::string_body>> parse_response(const std::string& bytes);

// ---------------------------------------------------------------------------
/// Accepts TCP connections on 127.0.0.1 and holds them without ever reading
/// or writing: a backend that is up but hung.
class silent_server {
 public:
  silent_server();
  ~silent_server();
  std::uint16_t port() const { return port_; }
  std::size_t accepted() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::uint16_t port_ = 0;
};

/// Accepts connections on `address` (127.0.0.1 unless told), reads one
/// request head from each and writes whatever `answer(head)` returns, then
/// holds the connection open until the peer closes it; an empty answer
/// closes it at once.
class canned_server {
 public:
  explicit canned_server(std::function<std::string(const std::string& head)> answer,
                         const std::string& address = "127.0.0.1");
  ~canned_server();
  std::uint16_t port() const { return port_; }
  std::size_t requests() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::uint16_t port_ = 0;
};

/// Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 section 4.2.2).
std::string ws_accept_for(const std::string& key);
/// The value of header `name` (case-insensitive) in a raw request or response head.
std::string head_field(const std::string& head, const std::string& name);

// ---------------------------------------------------------------------------
struct origin_request {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // as received, in order
  std::string body;
  bool chunked = false;        // arrived with Transfer-Encoding: chunked
  std::size_t connection = 0;  // 1-based index of the accepted connection
  /// First value of `name` (case-insensitive), or "" if absent.
  std::string header(const std::string& name) const;
  std::size_t count(const std::string& name) const;
};

/// An HTTP/1.1 origin server (Beast) on 127.0.0.1, its own thread,
/// keep-alive, optionally TLS with the dev server certificate. Answers by path:
///   /echo            200, body = request body; X-Seen-Method, X-Seen-Length
///                    (the request's Content-Length or ""), X-Seen-Chunked ("1"/"0")
///   /headers         200, body = one "Name: value\n" line per request header
///   /chunked         200 with a chunked body of 3 chunks: "hello", ", chunked", " world"
///   /eof             200 without length, body "until-eof body", then closes
///   /stream          200 chunked: "first" at once, "second" one second later
///   /then-close      200, body "then-close" (keep-alive), then closes 50 ms later
///   /hang            reads the request and never answers
///   /drip            200 chunked: "a" to "e", one every 200 ms
///   /status/NNN      NNN, body "status NNN", X-Origin: yes
///   any HEAD         200, Content-Length: 1234, X-Head: yes, no body
///   anything else    200, body "target=" + target
class http_origin {
 public:
  explicit http_origin(bool tls = false);
  ~http_origin();
  std::uint16_t port() const { return port_; }
  /// ws:// or wss:// URL for tether's `upstream.url`.
  std::string url() const;
  std::size_t accepted() const;
  std::vector<origin_request> requests() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::uint16_t port_ = 0;
  bool tls_ = false;
};

}  // namespace tt::hs
