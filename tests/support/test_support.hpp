#pragma once
// Shared pieces of the integration tests: real sockets on 127.0.0.1 with
// OS-chosen ports, real TLS with the certs/ CA. Every helper bounds its own
// waiting time, so a broken proxy fails a test instead of hanging it.
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace tt {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;
using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

std::string certs_dir();
std::string cert_path(const std::string& name);  // e.g. "ca.crt"

/// Polls `pred` until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& pred, ms timeout = 5000ms);

struct message {
  bool text = true;
  std::string data;
  bool operator==(const message&) const = default;
};

// ---------------------------------------------------------------------------
struct backend_options {
  bool tls = false;
  bool echo = true;
  /// Subprotocol to accept when offered; "*" accepts the first offered one.
  std::string subprotocol = "*";
  std::vector<std::pair<std::string, std::string>> response_headers;
  int reject_status = 0;  // answer the upgrade with this status instead of 101
  std::string reject_body;
  std::size_t max_message = 64 * 1024 * 1024;
  bool auto_pong = true;  // false: never answer pings (a hung backend)
  bool ticket_before_each_message = false;  // TLS 1.3: a session ticket ahead of each message sent
  bool split_tickets = false;  // 3 KB session tickets and records of at most 512 bytes
  /// permessage-deflate (Beast's own): accepted when offered, with this
  /// server window; context takeover unless the offer forbids it.
  bool deflate = false;
  int deflate_window_bits = 15;
  /// Called on the backend thread for each message; may send on `reply`.
  std::function<void(const message&, std::function<void(message)> reply)> on_message;
};

/// A WebSocket backend on its own thread (Beast, independent of tether's
/// code). Records every handshake, message and close frame it receives.
class test_backend {
 public:
  using options = backend_options;

  explicit test_backend(options opts = {}, std::uint16_t port = 0);
  ~test_backend();

  std::uint16_t port() const { return port_; }
  std::string url() const;
  /// Drops every connection without a close frame and stops listening (like SIGKILL).
  void kill();
  /// Listens again on the same port.
  void restart();
  void set_options(options opts);

  std::vector<message> messages() const;
  bool wait_messages(std::size_t n, ms timeout = 5000ms) const;
  std::vector<http::request<http::string_body>> handshakes() const;
  /// Close frames received from tether: (code, reason).
  std::vector<std::pair<std::uint16_t, std::string>> closes() const;
  bool wait_closes(std::size_t n, ms timeout = 5000ms) const;
  std::size_t open_sessions() const;
  std::size_t pings_received() const;
  /// Payload bytes of messages sent by send_all or `reply` whose write has
  /// completed (handed whole to the kernel).
  std::size_t bytes_sent() const;

  /// Sends to every open session.
  void send_all(message m);
  /// Sends a close frame on every open session.
  void close_all(std::uint16_t code, std::string reason);
  /// Sends raw bytes (e.g. a malformed frame) on every open session's socket.
  void send_raw_all(std::string bytes);

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
  std::uint16_t port_ = 0;
};

// ---------------------------------------------------------------------------
struct client_options {
  bool tls = false;
  std::string host = "127.0.0.1";  // Host header and TLS SNI/verification name
  std::string target = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string subprotocols;  // Sec-WebSocket-Protocol offer
  bool client_cert = false;  // present certs/dev/client.crt
  bool deflate = false;      // offer permessage-deflate (Beast's own)
  std::string ca = "ca.crt";
  ms timeout = 5000ms;
};

/// A WebSocket client (Beast). Every call is bounded in time.
class ws_client {
 public:
  using options = client_options;

  /// Connects and completes the handshake; on failure returns nullptr and
  /// fills `ec` and, when the server answered, `response`.
  static std::unique_ptr<ws_client> connect(std::uint16_t port, const options& opts,
                                            boost::system::error_code& ec,
                                            http::response<http::string_body>* response = nullptr);
  /// Same, failing the test on error.
  static std::unique_ptr<ws_client> connect(std::uint16_t port, const options& opts = {});

  ~ws_client();
  const http::response<http::string_body>& handshake_response() const;

  boost::system::error_code send(const message& m);
  boost::system::error_code send_text(std::string s) { return send({true, std::move(s)}); }
  boost::system::error_code send_binary(std::string s) { return send({false, std::move(s)}); }
  /// Sends `parts` as one fragmented message.
  boost::system::error_code send_fragmented(bool text, const std::vector<std::string>& parts);
  boost::system::error_code ping(std::string payload = {});
  /// Next message, or nullopt on timeout/close/error.
  std::optional<message> read(ms timeout = 5000ms);
  /// Waits for the server's close: its code and reason; nullopt on timeout.
  /// A connection dropped without a close frame gives code 1006.
  std::optional<std::pair<std::uint16_t, std::string>> wait_close(ms timeout = 5000ms);
  boost::system::error_code close(std::uint16_t code, std::string reason = {});
  std::size_t pings_received() const;
  std::size_t pongs_received() const;
  bool is_open() const;

  struct impl;
 private:
  explicit ws_client(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

// ---------------------------------------------------------------------------
/// Parses one unmasked server frame at the start of `bytes`: opcode, payload, size consumed (0 if incomplete).
struct parsed_frame {
  std::uint8_t opcode = 0;
  bool fin = false;
  bool rsv1 = false;  // permessage-deflate: the message is compressed
  std::string payload;
  std::size_t size = 0;
};
parsed_frame parse_server_frame(const std::string& bytes);

/// A raw TCP (optionally TLS) client for speaking bad protocol on purpose.
class raw_client {
 public:
  /// `max_tls_version`: e.g. TLS1_2_VERSION to offer nothing newer (0: any).
  raw_client(std::uint16_t port, bool tls = false, int max_tls_version = 0);
  ~raw_client();
  bool connected() const;
  boost::system::error_code write(const std::string& bytes);
  /// Plain TCP: `bytes` and the FIN in one segment (corked, then shut down),
  /// so the server sees data and end of stream in the same readiness event.
  boost::system::error_code write_then_fin(const std::string& bytes);
  /// Reads whatever arrives within `timeout` (at least one byte, unless
  /// closed or timed out). Empty with eof()==true when closed.
  std::string read_some(ms timeout = 2000ms);
  /// Reads until the peer closes or `timeout`.
  std::string read_all(ms timeout = 2000ms);
  /// Reads until `delim` is seen or timeout.
  std::string read_until(const std::string& delim, ms timeout = 2000ms);
  bool eof() const { return eof_; }
  /// Sends a valid WebSocket upgrade for `target` and reads the 101 head.
  std::string upgrade(const std::string& target = "/", const std::string& extra_headers = {});
  /// After upgrade(): sends a masked text message as one frame.
  boost::system::error_code send_text(const std::string& text);
  /// After upgrade(): the next data message (single frame), answering no
  /// pings; nullopt on timeout, close or error.
  std::optional<message> read_message(ms timeout = 5000ms);
  /// After upgrade(): skips data until a close frame and returns its code
  /// (1005 if empty); 1006 when the connection ends first; nullopt on timeout.
  /// Beast's client rejects 1014 as reserved (Boost 1.81), so tests that
  /// expect 1014 read the close frame here.
  std::optional<std::uint16_t> wait_close_code(ms timeout = 5000ms);
  /// After upgrade(): the next frame of any kind, as it came (nullopt on
  /// timeout or close).
  std::optional<parsed_frame> next_frame(ms timeout = 5000ms);
  /// Control frames seen by read_message/wait_close_code (opcode 9 = ping).
  std::size_t pings_seen() const { return pings_seen_; }
  /// The client's OpenSSL object (TLS only), for KeyUpdate and the like.
  SSL* native_ssl() { return tls_ ? tls_->native_handle() : nullptr; }
  /// Bytes straight onto the TCP socket, under any TLS.
  boost::system::error_code write_below_tls(const std::string& bytes);

 private:
  net::io_context ioc_;
  tcp::socket socket_;
  std::unique_ptr<ssl::context> ctx_;
  std::unique_ptr<ssl::stream<tcp::socket&>> tls_;
  bool eof_ = false;
  bool ok_ = false;
  std::string pending_;  // bytes read past the last parsed frame
  std::size_t pings_seen_ = 0;
};

/// A client frame (masked) with the given first byte (FIN|RSV|opcode).
std::string client_frame(std::uint8_t first_byte, const std::string& payload, bool mask = true);

/// The close code inside a close frame's payload (1005 if none).
std::uint16_t close_code_of(const std::string& payload);

// ---------------------------------------------------------------------------
/// Plain HTTP/1.1 request through tether (or anywhere); bounded.
http::response<http::string_body> http_request(std::uint16_t port, http::request<http::string_body> req,
                                               bool tls = false, ms timeout = 10000ms);
http::response<http::string_body> http_get(std::uint16_t port, const std::string& target,
                                           bool tls = false, const std::string& host = "127.0.0.1");

// ---------------------------------------------------------------------------
/// tether itself, in-process, from YAML text. Listener ports are chosen by
/// the OS (write "127.0.0.1:0"); ask for them by listener name.
class tether_instance {
 public:
  explicit tether_instance(const std::string& yaml, std::size_t threads = 2);
  ~tether_instance();
  std::uint16_t port(const std::string& listener = "main") const;
  std::uint16_t admin_port() const;
  std::string metrics() const;
  /// The value of one sample line, e.g. metric("tether_sessions_active{route=\"r\"}"); -1 if absent.
  double metric(const std::string& series) const;
  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

/// "listeners: - name: main bind 127.0.0.1:0" plus `tls` if asked, with the
/// dev certificate; a convenience for the common case.
std::string listener_yaml(bool tls = false, const std::string& name = "main");

// ---------------------------------------------------------------------------
/// A TCP relay that cuts any link silent in both directions for `idle`
/// (the behaviour of a load balancer's idle timeout).
class idle_cutter {
 public:
  idle_cutter(std::uint16_t target_port, ms idle);
  ~idle_cutter();
  std::uint16_t port() const { return port_; }
  std::size_t cuts() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
  std::uint16_t port_ = 0;
};

}  // namespace tt
