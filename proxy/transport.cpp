#include "transport.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "tls_context.hpp"

namespace tether {
namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

error_code tls_error() {
  return error_code(static_cast<int>(ERR_get_error()), net::error::get_ssl_category());
}

}  // namespace

transport::transport(tcp::socket socket) : socket_(std::move(socket)) {
  error_code ec;
  socket_.non_blocking(true, ec);
  socket_.set_option(tcp::no_delay(true), ec);
}

transport::~transport() {
  if (ssl_ != nullptr) {
    SSL_free(ssl_);
  }
}

transport::io_status transport::try_read(net::mutable_buffer buf, std::size_t& n,
                                         error_code& ec) {
  n = 0;
  if (ssl_ == nullptr) {
    n = socket_.read_some(buf, ec);
    if (ec == net::error::would_block) {
      ec = {};
      return io_status::want_read;
    }
    if (ec == net::error::eof) {
      ec = {};
      return io_status::eof;
    }
    return ec ? io_status::error : io_status::done;
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
  if (buf.size() == 0) {
    return io_status::done;
  }
  if (ssl_ == nullptr) {
    n = socket_.write_some(buf, ec);
    if (ec == net::error::would_block) {
      ec = {};
      return io_status::want_write;
    }
    return ec ? io_status::error : io_status::done;
  }
  ERR_clear_error();
  const int r = SSL_write(ssl_, buf.data(), static_cast<int>(std::min<std::size_t>(buf.size(), INT32_MAX)));
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

awaitable<std::pair<error_code, std::size_t>> transport::read_some(net::mutable_buffer buf) {
  for (;;) {
    std::size_t n = 0;
    error_code ec;
    switch (try_read(buf, n, ec)) {
      case io_status::done:
        co_return std::pair{error_code{}, n};
      case io_status::eof:
        co_return std::pair{error_code(net::error::eof), std::size_t{0}};
      case io_status::error:
        co_return std::pair{ec, std::size_t{0}};
      case io_status::want_read: {
        auto [wec] = co_await socket_.async_wait(tcp::socket::wait_read, use_tuple);
        if (wec) {
          co_return std::pair{wec, std::size_t{0}};
        }
        break;
      }
      case io_status::want_write: {
        auto [wec] = co_await socket_.async_wait(tcp::socket::wait_write, use_tuple);
        if (wec) {
          co_return std::pair{wec, std::size_t{0}};
        }
        break;
      }
    }
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
  }
}

awaitable<error_code> transport::tls_accept(SSL_CTX* ctx) {
  ssl_ = SSL_new(ctx);
  if (ssl_ == nullptr || SSL_set_fd(ssl_, static_cast<int>(socket_.native_handle())) != 1) {
    co_return tls_error();
  }
  co_return co_await tls_handshake(&SSL_accept);
}

awaitable<error_code> transport::tls_connect(SSL_CTX* ctx, const std::string& server_name) {
  ssl_ = SSL_new(ctx);
  if (ssl_ == nullptr || SSL_set_fd(ssl_, static_cast<int>(socket_.native_handle())) != 1) {
    co_return tls_error();
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
  co_return co_await tls_handshake(&SSL_connect);
}

void transport::close() {
  if (ssl_ != nullptr && socket_.is_open() && SSL_is_init_finished(ssl_)) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // one non-blocking attempt to send close_notify
  }
  error_code ec;
  socket_.close(ec);
}

void transport::shutdown_send() {
  if (ssl_ != nullptr && socket_.is_open() && SSL_is_init_finished(ssl_)) {
    ERR_clear_error();
    SSL_shutdown(ssl_);
  }
  error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace tether
