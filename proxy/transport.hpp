#pragma once
// One leg's byte stream: a TCP socket, optionally with TLS done by OpenSSL
// on the socket's descriptor (through tether's own BIO, which notes whether
// the last read emptied the socket, so the relay never reads just to hear
// EAGAIN). Reads are readiness-based (wait until readable, then read
// non-blocking into a caller's buffer), so an idle leg owns no read buffer;
// the relay reads into a per-thread buffer instead.
//
// A TLS 1.3 session (either leg) leaves OpenSSL once the relay has it and
// OpenSSL holds no buffered bytes: tether then does the records itself
// (tls_records.hpp) and frees the SSL object (transport_records.cpp).
//
// Until detach(), asio owns the socket and this is also an
// AsyncReadStream/AsyncWriteStream, so Beast's HTTP parser and serializer work
// on it for the handshake and plain HTTP pass-through. The relay detaches it
// and drives the descriptor from the worker's poller.
#include <openssl/ssl.h>

#include <boost/asio/append.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/buffer.hpp>
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "net.hpp"
#include "tls_records.hpp"

namespace tether {

class transport {
 public:
  using executor_type = tcp::socket::executor_type;

  /// `socket` comes with Nagle off: accepted sockets inherit TCP_NODELAY
  /// from their listener, and upstream sockets get it before connecting.
  explicit transport(tcp::socket socket);
  ~transport();
  transport(transport&&) = delete;
  transport& operator=(transport&&) = delete;

  executor_type get_executor() { return socket_.get_executor(); }
  tcp::socket& socket() { return socket_; }
  int fd() const { return fd_; }
  bool is_tls() const { return ssl_ != nullptr || records_ != nullptr; }
  /// The OpenSSL object; null once the records are tether's own.
  SSL* ssl() const { return ssl_; }
  /// Sessions whose records tether took over from OpenSSL, since start.
  static std::uint64_t records_handoffs();
  /// After detach: takes the TLS 1.3 records over from OpenSSL if it
  /// holds nothing now (reads and writes also try, until it succeeds).
  void offload_records() {
    if (watch_ && detached_) {
      try_handoff();
    }
  }
  /// OpenSSL keeps this session's records for its whole life (the
  /// listener's tls.record_offload: false).
  void keep_records_in_openssl();
  bool is_open() const { return fd_ >= 0; }
  /// A connection tether opened: the peer says nothing before tether does,
  /// so the first read waits for readiness instead of trying.
  void peer_speaks_second() { wait_before_read_ = true; }
  /// Takes the descriptor away from asio (async operations end here).
  error_code detach();
  /// After a successful read: the socket had nothing more to give then and
  /// nothing is left buffered inside TLS, so the next read would only block.
  bool drained() const;

  /// TLS server handshake. On error, `what` describes it for logs.
  awaitable<error_code> tls_accept(SSL_CTX* ctx);
  /// TLS client handshake with SNI `server_name` and, when the context
  /// verifies, a host-name (or IP) check against `server_name`.
  awaitable<error_code> tls_connect(SSL_CTX* ctx, const std::string& server_name);

  /// Outcome of one non-blocking attempt.
  enum class io_status { done, want_read, want_write, eof, error };

  /// Reads what is available without blocking. `n` bytes on done.
  io_status try_read(net::mutable_buffer buf, std::size_t& n, error_code& ec);
  /// Writes what the socket takes without blocking. `n` bytes on done.
  io_status try_write(net::const_buffer buf, std::size_t& n, error_code& ec);

  /// Writes all of `buf`.
  awaitable<error_code> write_all(net::const_buffer buf);

  /// Sends close_notify if TLS (best effort, never waits) and closes.
  void close();
  /// Sends close_notify if TLS and a FIN, keeping the socket open for reading.
  void shutdown_send();


  // AsyncReadStream / AsyncWriteStream for Beast HTTP.
  template <class MutableBufferSequence, class Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token);
  template <class ConstBufferSequence, class Token>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token);

 private:
  template <bool IsRead, class Buffer>
  struct some_op;
  awaitable<error_code> tls_handshake(int (*step)(SSL*));
  error_code attach_ssl(SSL_CTX* ctx);
  friend struct transport_bio;

  // transport_records.cpp: TLS 1.3 records without OpenSSL.
  void watch_for_handoff(bool as_client);
  /// Post-handshake messages in one record's plaintext: 0xff, or the alert to end with.
  std::uint8_t open_handshake(const std::uint8_t* p, std::size_t len);
  bool try_handoff();
  io_status records_read(net::mutable_buffer buf, std::size_t& n, error_code& ec);
  io_status records_write(net::const_buffer buf, std::size_t& n, error_code& ec);
  io_status receive_into(std::uint8_t* at, std::size_t room, std::size_t& got, error_code& ec);
  bool open_records(std::uint8_t* data, std::size_t size, std::size_t& plain, std::size_t& used,
                    error_code& ec);
  /// Sends what tx_ holds; false if the socket did not take all of it.
  bool send_pending();
  /// Seals a record onto tx_; false if the cipher failed.
  bool queue_record(std::uint8_t type, std::span<const std::uint8_t> body);
  void send_alert(std::uint8_t description);

  tcp::socket socket_;
  int fd_ = -1;
  bool detached_ = false;
  bool last_read_short_ = false;  // the socket gave less than was asked
  // Until detach: the last read came back short, so the next one waits for
  // readiness first instead of costing a recv that says EAGAIN.
  bool wait_before_read_ = false;
  bool peer_eof_ = false;
  bool ssl_write_blocked_ = false;  // OpenSSL holds a record the socket has not taken
  SSL* ssl_ = nullptr;
  // What the handshake revealed for the handoff (TLS legs, until it).
  std::unique_ptr<struct handoff_watch> watch_;
  std::unique_ptr<tls13::record_layer> records_;
  // Offloaded TLS only: input the caller has not taken (plaintext at the
  // front, then the start of an incomplete record), and sealed output the
  // socket has not taken. Both are empty, and own no memory, while idle.
  std::vector<std::uint8_t> rx_;
  std::size_t rx_plain_ = 0;
  std::vector<std::uint8_t> tx_;
  std::size_t tx_done_ = 0;
  std::size_t tx_plain_ = 0;  // plaintext behind tx_, reported once tx_ is out
  bool tx_failed_ = false;
  bool close_notify_seen_ = false;
  bool close_notify_sent_ = false;  // or a fatal alert: nothing more may be sent
  bool handoff_as_client_ = false;  // an upstream leg: the server may send session tickets
  // A handshake message that spans records: its header so far (plus a
  // KeyUpdate's body byte), then, for a session ticket passed over as it
  // comes, how many body bytes are still to come.
  std::array<std::uint8_t, 5> hs_{};
  std::uint8_t hs_len_ = 0;
  std::uint32_t ticket_left_ = 0;
  int records_without_data_ = 0;  // consecutive, bounded in open_records
  bool key_update_queued_ = false;  // a KeyUpdate reply in tx_ the socket has not taken
};

/// SSL_CTX_set_keylog_callback for tether's contexts: hands the application
/// traffic secrets to the transport that will take the records over.
void tls_handoff_keylog(const SSL* ssl, const char* line);

/// Non-blocking attempt first; otherwise wait for readiness and retry.
/// Completion is always posted, never inline, so Beast's loops cannot recurse.
template <bool IsRead, class Buffer>
struct transport::some_op {
  transport& t;
  Buffer buf;
  std::shared_ptr<std::vector<char>> storage{};  // owns buf for writes
  bool started = false;
  bool posted = false;
  error_code result_ec{};
  std::size_t result_n = 0;

  template <class Self>
  void operator()(Self& self, error_code ec = {}) {
    if (posted) {
      self.complete(result_ec, result_n);
      return;
    }
    if (!ec) {
      std::size_t n = 0;
      io_status st;
      if (started) {
        t.wait_before_read_ = false;  // just waited for readiness
      }
      if constexpr (IsRead) {
        st = t.try_read(buf, n, ec);
      } else {
        st = t.try_write(buf, n, ec);
      }
      if (st == io_status::want_read || st == io_status::want_write) {
        started = true;
        t.socket_.async_wait(st == io_status::want_read ? tcp::socket::wait_read
                                                        : tcp::socket::wait_write,
                             std::move(self));
        return;
      }
      if (st == io_status::eof) {
        ec = net::error::eof;
      }
      result_n = n;
    }
    result_ec = ec;
    if (!started) {
      posted = true;
      net::post(t.get_executor(), net::append(std::move(self), error_code{}));
      return;
    }
    self.complete(result_ec, result_n);
  }
};

template <class MutableBufferSequence, class Token>
auto transport::async_read_some(const MutableBufferSequence& buffers, Token&& token) {
  net::mutable_buffer first;
  for (auto it = net::buffer_sequence_begin(buffers); it != net::buffer_sequence_end(buffers);
       ++it) {
    net::mutable_buffer b = *it;
    if (b.size() > 0) {
      first = b;
      break;
    }
  }
  return net::async_compose<Token, void(error_code, std::size_t)>(
      some_op<true, net::mutable_buffer>{*this, first}, token, socket_);
}

template <class ConstBufferSequence, class Token>
auto transport::async_write_some(const ConstBufferSequence& buffers, Token&& token) {
  // Beast hands HTTP headers over as many small buffers; one linear copy
  // makes them one TLS record and one syscall. Only the HTTP path uses this.
  constexpr std::size_t max_linear = 64 * 1024;
  auto data = std::make_shared<std::vector<char>>(std::min(net::buffer_size(buffers), max_linear));
  net::buffer_copy(net::buffer(*data), buffers);
  return net::async_compose<Token, void(error_code, std::size_t)>(
      some_op<false, net::const_buffer>{*this, net::buffer(*data), data}, token, socket_);
}

}  // namespace tether
