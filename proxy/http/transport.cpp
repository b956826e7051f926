#include "http/transport.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "tls/openssl_stream.hpp"

namespace tether {
namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

tcp::socket::wait_type wait_for(io_status st) {
  return st == io_status::want_read ? tcp::socket::wait_read : tcp::socket::wait_write;
}

}  // namespace

transport::transport(tcp::socket socket) : socket_(std::move(socket)) {
  error_code ec;
  if (socket_.is_open() && !socket_.non_blocking()) {
    socket_.non_blocking(true, ec);
  }
  stream_ = std::make_unique<socket_stream>(socket_.is_open() ? static_cast<int>(socket_.native_handle()) : -1);
}

transport::~transport() = default;

std::unique_ptr<fd_stream> transport::release() {
  auto& io = stream_->io();
  io.poll_first = false;  // the poller's readiness rules from here
  error_code ec;
  if (io.fd >= 0) {
    socket_.release(ec);
  }
  if (ec) {
    socket_.close(ec);
    io.fd = -1;
  }
  io.owns_fd = io.fd >= 0;
  tls_ = nullptr;
  return std::move(stream_);
}

error_code transport::start_tls(SSL_CTX* ctx, bool as_client) {
  auto tls = std::make_unique<openssl_stream>(stream_->fd(), ctx, as_client);
  if (!tls->ok()) {
    return error_code(net::error::no_memory);
  }
  tls->io() = stream_->io();  // what the socket has shown so far
  tls_ = tls.get();
  stream_ = std::move(tls);
  return {};
}

awaitable<error_code> transport::tls_handshake() {
  for (;;) {
    error_code ec;
    const auto st = tls_->handshake(ec);
    if (st == io_status::done) {
      co_return error_code{};
    }
    if (st != io_status::want_read && st != io_status::want_write) {
      co_return ec;
    }
    auto [wec] = co_await socket_.async_wait(wait_for(st), use_tuple);
    if (wec) {
      co_return wec;
    }
    stream_->io().poll_first = false;
  }
}

awaitable<error_code> transport::tls_accept(SSL_CTX* ctx) {
  if (auto ec = start_tls(ctx, false)) {
    co_return ec;
  }
  co_return co_await tls_handshake();
}

awaitable<error_code> transport::tls_connect(SSL_CTX* ctx, const std::string& server_name) {
  if (auto ec = start_tls(ctx, true)) {
    co_return ec;
  }
  tls_->expect_server(server_name);
  co_return co_await tls_handshake();
}

std::string transport::verify_error() const { return tls_ != nullptr ? tls_->verify_error() : std::string(); }

void transport::keep_records_in_openssl() {
  if (tls_ != nullptr) {
    tls_->keep_records();
  }
}

awaitable<error_code> transport::write_all(net::const_buffer buf) {
  while (buf.size() > 0) {
    std::size_t n = 0;
    error_code ec;
    const auto st = stream_->write({static_cast<const std::uint8_t*>(buf.data()), buf.size()}, n, ec);
    switch (st) {
      case io_status::done:
        buf += n;
        break;
      case io_status::eof:
      case io_status::error:
        co_return ec ? ec : error_code(net::error::broken_pipe);
      case io_status::want_read:
      case io_status::want_write: {
        auto [wec] = co_await socket_.async_wait(wait_for(st), use_tuple);
        if (wec) {
          co_return wec;
        }
        break;
      }
    }
  }
  co_return error_code{};
}

void transport::close() {
  if (!stream_ || stream_->fd() < 0) {
    return;
  }
  stream_->close();  // close_notify if TLS; the descriptor is asio's
  error_code ec;
  socket_.close(ec);
}

}  // namespace tether
