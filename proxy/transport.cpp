#include "transport.hpp"

#include <openssl/err.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <openssl/x509v3.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "tls_context.hpp"
#include "tls_handoff.hpp"

namespace tether {
namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

error_code tls_error() {
  return error_code(static_cast<int>(ERR_get_error()), net::error::get_ssl_category());
}

}  // namespace

/// OpenSSL's socket BIO, cut down to what a non-blocking TCP leg needs, plus
/// the one fact the socket BIO hides: whether the last read came back short.
struct transport_bio {
  static transport& of(BIO* b) { return *static_cast<transport*>(BIO_get_data(b)); }

  static int read(BIO* b, char* out, std::size_t len, std::size_t* done) {
    auto& t = of(b);
    BIO_clear_retry_flags(b);
    if (t.wait_before_read_) {
      BIO_set_retry_read(b);  // known empty: the handshake waits instead of hearing EAGAIN
      return 0;
    }
    const auto n = ::recv(t.fd_, out, len, 0);
    if (n > 0) {
      t.last_read_short_ = static_cast<std::size_t>(n) < len;
      t.wait_before_read_ = t.last_read_short_ && !t.detached_;
      *done = static_cast<std::size_t>(n);
      return 1;
    }
    if (n == 0) {
      t.peer_eof_ = true;
      return 0;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      BIO_set_retry_read(b);
    }
    return 0;
  }

  static int write(BIO* b, const char* in, std::size_t len, std::size_t* done) {
    auto& t = of(b);
    BIO_clear_retry_flags(b);
    const auto n = ::send(t.fd_, in, len, MSG_NOSIGNAL);
    if (n >= 0) {
      *done = static_cast<std::size_t>(n);
      return 1;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      BIO_set_retry_write(b);
    }
    return 0;
  }

  static long ctrl(BIO* b, int cmd, long, void*) {
    switch (cmd) {
      case BIO_CTRL_FLUSH:
        return 1;
      case BIO_CTRL_EOF:
        return of(b).peer_eof_ ? 1 : 0;
      case BIO_C_GET_FD:
        return of(b).fd_;
      default:
        return 0;
    }
  }

  static int create(BIO* b) {
    BIO_set_init(b, 1);
    return 1;
  }

  static const BIO_METHOD* method() {
    static BIO_METHOD* m = [] {
      auto* bm = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tether socket");
      BIO_meth_set_read_ex(bm, &read);
      BIO_meth_set_write_ex(bm, &write);
      BIO_meth_set_ctrl(bm, &ctrl);
      BIO_meth_set_create(bm, &create);
      return bm;
    }();
    return m;
  }
};

transport::transport(tcp::socket socket) : socket_(std::move(socket)) {
  error_code ec;
  if (!socket_.non_blocking()) {
    socket_.non_blocking(true, ec);
  }
  fd_ = socket_.is_open() ? static_cast<int>(socket_.native_handle()) : -1;
}

transport::~transport() {
  if (ssl_ != nullptr) {
    SSL_free(ssl_);
  }
  if (detached_ && fd_ >= 0) {
    ::close(fd_);
  }
}

error_code transport::detach() {
  if (detached_) {
    return {};
  }
  wait_before_read_ = false;  // the poller's readiness rules from here
  error_code ec;
  const auto fd = socket_.release(ec);
  if (ec) {
    return ec;
  }
  fd_ = static_cast<int>(fd);
  detached_ = true;
  return {};
}

bool transport::drained() const {
  if (records_) {
    return last_read_short_ && rx_plain_ == 0;
  }
  return last_read_short_ && (ssl_ == nullptr || SSL_has_pending(ssl_) == 0);
}

transport::io_status transport::try_read(net::mutable_buffer buf, std::size_t& n,
                                         error_code& ec) {
  n = 0;
  offload_records();
  if (records_) {
    return records_read(buf, n, ec);
  }
  if (ssl_ == nullptr) {
    if (wait_before_read_) {
      return io_status::want_read;
    }
    const auto r = ::recv(fd_, buf.data(), buf.size(), 0);
    if (r > 0) {
      n = static_cast<std::size_t>(r);
      last_read_short_ = n < buf.size();
      wait_before_read_ = last_read_short_ && !detached_;
      return io_status::done;
    }
    if (r == 0) {
      return io_status::eof;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      return io_status::want_read;
    }
    ec = error_code(errno, boost::system::system_category());
    return io_status::error;
  }
  ERR_clear_error();
  const int r = SSL_read(ssl_, buf.data(), static_cast<int>(std::min<std::size_t>(buf.size(), INT32_MAX)));
  if (r > 0) {
    n = static_cast<std::size_t>(r);
    return io_status::done;
  }
  switch (SSL_get_error(ssl_, r)) {
    case SSL_ERROR_WANT_READ:
      return io_status::want_read;
    case SSL_ERROR_WANT_WRITE:
      return io_status::want_write;
    case SSL_ERROR_ZERO_RETURN:
      return io_status::eof;
    case SSL_ERROR_SYSCALL:
      // A peer that closes TCP without close_notify: treated as EOF, as
      // browsers and most servers do this.
      if (ERR_peek_error() == 0) {
        return io_status::eof;
      }
      ec = tls_error();
      return io_status::error;
    default:
      ec = tls_error();
      return io_status::error;
  }
}

transport::io_status transport::try_write(net::const_buffer buf, std::size_t& n,
                                          error_code& ec) {
  n = 0;
  offload_records();
  if (records_) {
    return records_write(buf, n, ec);
  }
  if (buf.size() == 0) {
    return io_status::done;
  }
  if (ssl_ == nullptr) {
    const auto r = ::send(fd_, buf.data(), buf.size(), MSG_NOSIGNAL);
    if (r >= 0) {
      n = static_cast<std::size_t>(r);
      return io_status::done;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      return io_status::want_write;
    }
    ec = error_code(errno, boost::system::system_category());
    return io_status::error;
  }
  ERR_clear_error();
  const int r = SSL_write(ssl_, buf.data(), static_cast<int>(std::min<std::size_t>(buf.size(), INT32_MAX)));
  ssl_write_blocked_ = r <= 0;
  if (r > 0) {
    n = static_cast<std::size_t>(r);
    return io_status::done;
  }
  switch (SSL_get_error(ssl_, r)) {
    case SSL_ERROR_WANT_READ:
      return io_status::want_read;
    case SSL_ERROR_WANT_WRITE:
      return io_status::want_write;
    default:
      ec = ERR_peek_error() == 0 ? error_code(net::error::broken_pipe) : tls_error();
      return io_status::error;
  }
}

awaitable<error_code> transport::write_all(net::const_buffer buf) {
  while (buf.size() > 0) {
    std::size_t n = 0;
    error_code ec;
    switch (try_write(buf, n, ec)) {
      case io_status::done:
        buf += n;
        break;
      case io_status::eof:
      case io_status::error:
        co_return ec ? ec : error_code(net::error::broken_pipe);
      case io_status::want_read:
      case io_status::want_write: {
        const auto w = ssl_ != nullptr && SSL_want_read(ssl_) ? tcp::socket::wait_read
                                                               : tcp::socket::wait_write;
        auto [wec] = co_await socket_.async_wait(w, use_tuple);
        if (wec) {
          co_return wec;
        }
        break;
      }
    }
  }
  co_return error_code{};
}

awaitable<error_code> transport::tls_handshake(int (*step)(SSL*)) {
  for (;;) {
    ERR_clear_error();
    const int r = step(ssl_);
    if (r == 1) {
      co_return error_code{};
    }
    const int err = SSL_get_error(ssl_, r);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      co_return err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 ? error_code(net::error::eof)
                                                                  : tls_error();
    }
    auto [wec] = co_await socket_.async_wait(
        err == SSL_ERROR_WANT_READ ? tcp::socket::wait_read : tcp::socket::wait_write, use_tuple);
    if (wec) {
      co_return wec;
    }
    wait_before_read_ = false;
  }
}

error_code transport::attach_ssl(SSL_CTX* ctx) {
  ssl_ = SSL_new(ctx);
  if (ssl_ == nullptr) {
    return tls_error();
  }
  BIO* bio = BIO_new(transport_bio::method());
  if (bio == nullptr) {
    return tls_error();
  }
  BIO_set_data(bio, this);
  SSL_set_bio(ssl_, bio, bio);
  return {};
}

awaitable<error_code> transport::tls_accept(SSL_CTX* ctx) {
  if (auto ec = attach_ssl(ctx)) {
    co_return ec;
  }
  watch_for_handoff(false);
  co_return co_await tls_handshake(&SSL_accept);
}

awaitable<error_code> transport::tls_connect(SSL_CTX* ctx, const std::string& server_name) {
  if (auto ec = attach_ssl(ctx)) {
    co_return ec;
  }
  error_code aec;
  const auto addr = net::ip::make_address(server_name, aec);
  if (aec) {
    // SNI is for names only (RFC 6066), and so is the host-name check.
    SSL_set_tlsext_host_name(ssl_, server_name.c_str());
    SSL_set1_host(ssl_, server_name.c_str());
  } else {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), addr.to_string().c_str());
  }
  watch_for_handoff(true);
  co_return co_await tls_handshake(&SSL_connect);
}

void transport::close() {
  if (fd_ < 0) {
    return;
  }
  if (records_) {
    send_alert(0);  // close_notify, one non-blocking attempt
  } else if (ssl_ != nullptr && SSL_is_init_finished(ssl_)) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // one non-blocking attempt to send close_notify
  }
  if (detached_) {
    ::close(fd_);
  } else {
    error_code ec;
    socket_.close(ec);
  }
  fd_ = -1;
}

void transport::shutdown_send() {
  if (fd_ < 0) {
    return;
  }
  if (records_) {
    send_alert(0);
  } else if (ssl_ != nullptr && SSL_is_init_finished(ssl_)) {
    ERR_clear_error();
    SSL_shutdown(ssl_);
  }
  ::shutdown(fd_, SHUT_WR);
}

}  // namespace tether
