#pragma once
// A connection until its handshake is done: asio owns the socket, and this
// is an AsyncReadStream/AsyncWriteStream so that Beast's HTTP parser and
// serializer work on it (the WebSocket upgrade, plain HTTP pass-through),
// over plain TCP or TLS. Attempts are non-blocking first and wait for
// readiness only when told to, through the byte stream underneath
// (io/socket_stream.hpp or tls/openssl_stream.hpp); no OpenSSL call is made
// here.
//
// The relay then takes the byte stream itself (release()), drives it from
// the worker's poller, and asio lets go of the descriptor.
#include <boost/asio/append.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/buffer.hpp>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/socket_stream.hpp"
#include "net.hpp"

typedef struct ssl_ctx_st SSL_CTX;

namespace tether {

class openssl_stream;

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
  bool is_tls() const { return tls_ != nullptr; }
  bool is_open() const { return stream_ && stream_->fd() >= 0; }
  /// A connection tether opened: the peer says nothing before tether does,
  /// so the first read waits for readiness instead of trying.
  void peer_speaks_second() { stream_->io().poll_first = true; }

  /// TLS server handshake.
  awaitable<error_code> tls_accept(SSL_CTX* ctx);
  /// TLS client handshake with SNI `server_name` and, when the context
  /// verifies, a host-name (or IP) check against `server_name`.
  awaitable<error_code> tls_connect(SSL_CTX* ctx, const std::string& server_name);
  /// Why the server's certificate was refused after tls_connect, or empty.
  std::string verify_error() const;
  /// OpenSSL keeps this session's records for its whole life (the
  /// listener's tls.record_offload: false).
  void keep_records_in_openssl();

  /// Writes all of `buf`.
  awaitable<error_code> write_all(net::const_buffer buf);
  /// Sends close_notify if TLS (best effort, never waits) and closes.
  void close();

  /// The relay's stream: asio lets go of the descriptor, which the stream
  /// owns from now on. On failure the stream has no descriptor (fd() < 0)
  /// and its first read fails.
  std::unique_ptr<fd_stream> release();

  // AsyncReadStream / AsyncWriteStream for Beast HTTP.
  template <class MutableBufferSequence, class Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token);
  template <class ConstBufferSequence, class Token>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token);

 private:
  template <bool IsRead, class Buffer>
  struct some_op;
  awaitable<error_code> tls_handshake();
  error_code start_tls(SSL_CTX* ctx, bool as_client);

  tcp::socket socket_;
  std::unique_ptr<fd_stream> stream_;
  openssl_stream* tls_ = nullptr;  // stream_, when it is TLS
};

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
        t.stream_->io().poll_first = false;  // just waited for readiness
      }
      if constexpr (IsRead) {
        st = t.stream_->read({static_cast<std::uint8_t*>(buf.data()), buf.size()}, n, ec);
      } else {
        st = t.stream_->write({static_cast<const std::uint8_t*>(buf.data()), buf.size()}, n, ec);
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
