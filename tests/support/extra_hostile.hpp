#pragma once
// Helpers for the hostile-peer suites: a canary session that proves a
// tether stays responsive while it is being abused, the process's resident
// memory (tether runs in-process), the kernel's share of bytes in flight,
// raw POSIX sockets that can dribble, half-close, reset or flood, and a raw
// backend that answers the upgrade and then does whatever a test wants.
// Everything bounds its own waiting time, as in test_support.hpp.
#include <atomic>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <thread>

#include "test_support.hpp"

namespace tt::hostile {

/// The Host a canary route matches; the canary's backend echoes.
inline const std::string canary_host = "canary.test";

/// A well-behaved session that sends a text message every 100 ms through
/// tether and waits for its echo, on its own thread, until stopped.
class canary {
 public:
  /// Connects to `port` with Host canary_host; fails the test if it cannot.
  explicit canary(std::uint16_t port, ms bound = 1000ms);
  ~canary();
  /// Stops the loop; then the counters below are final.
  void stop();
  std::size_t echoes() const { return echoes_; }
  std::size_t misses() const { return misses_; }
  ms slowest() const { return ms(slowest_ms_.load()); }
  /// Stops and checks: at least `min_echoes` round trips, none missed or
  /// later than the bound.
  void check(std::size_t min_echoes = 5);

 private:
  void loop();
  std::unique_ptr<ws_client> client_;
  ms bound_;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> echoes_{0};
  std::atomic<std::size_t> misses_{0};
  std::atomic<long> slowest_ms_{0};
  std::thread thread_;
};

/// YAML for a route that sends Host canary_host to `backend` (a list item).
std::string canary_route(const test_backend& backend);
/// A route list item: `name` to `url`; `extra` is more of the route's keys,
/// indented by four spaces.
std::string route(const std::string& name, const std::string& url, const std::string& extra = {});
/// A whole configuration: the "main" plain listener, `defaults` (a
/// top-level "defaults: ..." line or empty), the canary route and `routes`.
std::string tether_yaml(const test_backend& canary_backend, const std::string& routes,
                        const std::string& defaults = {});

/// Calls `f(local_port, peer_port, fd)` for each connected IPv4 socket of
/// this process (tether runs in-process, so its sockets are among them).
void for_each_tcp_socket(const std::function<void(std::uint16_t, std::uint16_t, int)>& f);

/// Resident set size of this process in bytes (/proc/self/statm).
std::size_t rss_bytes();

/// Raises RLIMIT_NOFILE's soft limit to at least `want` (up to the hard
/// limit); returns the soft limit now in force.
std::size_t raise_fd_limit(std::size_t want);

/// Bytes the kernel holds for this process's TCP sockets whose local or
/// peer port is one of `ports`: unread (SIOCINQ) plus unsent or unacked
/// (SIOCOUTQ). The test's peers and tether share the process, so this
/// covers every socket buffer on a relayed path.
std::size_t kernel_queued(std::initializer_list<std::uint16_t> ports);
/// Unread bytes (SIOCINQ) on this process's TCP sockets with that local
/// and peer port (0: any). A socket with unread bytes long after they came
/// is one its owner stopped reading.
std::size_t unread_bytes(std::uint16_t local_port, std::uint16_t peer_port);
/// The local port of a socket.
std::uint16_t local_port(int fd);

// ---------------------------------------------------------------------------
/// A blocking TCP socket connected to 127.0.0.1:port (-1 on failure);
/// its writes give up after 10 s without progress.
int tcp_connect(std::uint16_t port);
/// tcp_connect, then a WebSocket upgrade of "/" answered with 101: the
/// socket of a raw session through tether (-1 if any step failed).
int upgraded_socket(std::uint16_t port);
/// Writes all of `bytes` (on a non-blocking socket, waiting up to 10 s for
/// room each time it is full); false on error or when no room came.
bool write_all(int fd, const std::string& bytes);
/// Reads until `delim` or `timeout`; what came (may be partial).
std::string read_until(int fd, const std::string& delim, ms timeout = 5000ms);
/// Whether the peer ended the connection (EOF or reset) within `timeout`;
/// anything it sends meanwhile is read and dropped.
bool wait_closed(int fd, ms timeout);
/// Closes with SO_LINGER 0: the peer gets a reset, not a FIN.
void close_with_reset(int fd);
/// Reads masked frames (as tether sends them upstream) until a close frame
/// and returns its code (1005 if empty); nullopt on timeout or end of stream.
std::optional<std::uint16_t> read_close_from_proxy(int fd, ms timeout = 5000ms);

/// Writes `unit` over and over on `fd` (made non-blocking) until `limit`
/// bytes are written or the socket has taken nothing for `stall`. Returns
/// the bytes written; `stalled` tells which of the two ended it.
std::size_t push_until_stalled(int fd, const std::string& unit, std::size_t limit, ms stall,
                               bool& stalled);

// ---------------------------------------------------------------------------
/// A backend that speaks raw bytes: for each accepted connection it reads
/// the request head and calls `serve(fd, head)` on a thread of its own. The
/// connection is closed when `serve` returns; `serve` should return once
/// stopping() is true.
class raw_backend {
 public:
  explicit raw_backend(std::function<void(raw_backend&, int fd, const std::string& head)> serve);
  ~raw_backend();
  std::uint16_t port() const { return port_; }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_); }
  std::size_t accepted() const { return accepted_; }
  bool stopping() const { return stop_; }

  /// A valid 101 for the request `head`, plus `extra_headers` (each ending in CRLF).
  static std::string accept_answer(const std::string& head, const std::string& extra_headers = {});

 private:
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> accepted_{0};
  std::function<void(raw_backend&, int, const std::string&)> serve_;
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> workers_;
};

}  // namespace tt::hostile
