#include "http/upstream.hpp"

#include <sys/socket.h>

#include <cerrno>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "ws/ws_handshake.hpp"

namespace tether {
namespace {

using namespace boost::asio::experimental::awaitable_operators;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

/// The body of a non-101 answer is relayed to the client; cap what is held.
constexpr std::size_t max_relayed_body = 1024 * 1024;

/// A non-blocking connect, its wait, then SO_ERROR. asio's async_connect
/// also polls the socket before reading SO_ERROR: one syscall more.
awaitable<error_code> connect_socket(tcp::socket& socket, const tcp::endpoint& ep) {
  if (::connect(socket.native_handle(), ep.data(), static_cast<socklen_t>(ep.size())) == 0) {
    co_return error_code{};
  }
  if (errno != EINPROGRESS) {
    co_return error_code(errno, boost::system::system_category());
  }
  auto [wec] = co_await socket.async_wait(tcp::socket::wait_write, use_tuple);
  if (wec) {
    co_return wec;
  }
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
    err = errno;
  }
  co_return err == 0 ? error_code{} : error_code(err, boost::system::system_category());
}

awaitable<upstream_connection> connect_leg(
    const upstream_url& url, SSL_CTX* tls_ctx, const std::string& server_name) {
  auto ex = co_await net::this_coro::executor;
  tcp::socket socket(ex);
  error_code ec;
  auto addr = net::ip::make_address(url.host, ec);
  if (!ec) {
    // Non-blocking before connecting: asio then does not make it so itself,
    // and transport finds it done (one ioctl, not two).
    const tcp::endpoint ep(addr, url.port);
    if (socket.open(ep.protocol(), ec); !ec) {
      socket.non_blocking(true, ec);
    }
    if (!ec) {
      socket.set_option(tcp::no_delay(true), ec);
    }
    if (ec) {
      co_return upstream_connection{nullptr, "socket for " + url.text + ": " + ec.message()};
    }
    ec = co_await connect_socket(socket, ep);
  } else {
    tcp::resolver resolver(ex);
    auto [rec, results] = co_await resolver.async_resolve(url.host, std::to_string(url.port), use_tuple);
    if (rec) {
      co_return upstream_connection{nullptr, "resolve " + url.host + ": " + rec.message()};
    }
    std::tie(ec, std::ignore) = co_await net::async_connect(socket, results, use_tuple);
    if (!ec) {
      socket.set_option(tcp::no_delay(true), ec);
    }
  }
  if (ec) {
    co_return upstream_connection{nullptr, "connect " + url.text + ": " + ec.message()};
  }
  auto leg = std::make_unique<transport>(std::move(socket));
  leg->peer_speaks_second();
  if (url.tls) {
    const auto& name = server_name.empty() ? url.host : server_name;
    if (auto tec = co_await leg->tls_connect(tls_ctx, name)) {
      auto why = leg->verify_error();
      if (why.empty()) {
        why = tec.message();
      }
      co_return upstream_connection{nullptr, "TLS to " + url.text + ": " + why};
    }
  }
  co_return upstream_connection{std::move(leg), std::string{}};
}

awaitable<upstream_attempt> handshake(const upstream_dial& d) {
  const auto& url = d.url;
  upstream_attempt out;
  auto [leg, error] = co_await connect_leg(url, d.tls_ctx, d.server_name);
  if (!leg) {
    out.error = std::move(error);
    co_return out;
  }
  if (auto [ec, n] = co_await http::async_write(*leg, d.req, use_tuple); ec) {
    out.error = "write handshake to " + url.text + ": " + ec.message();
    co_return out;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_relayed_body);
  if (auto [ec, n] = co_await http::async_read(*leg, buffer, parser, use_tuple); ec) {
    out.error = "read handshake from " + url.text + ": " + ec.message();
    co_return out;
  }
  out.response = parser.release();
  const auto offer = d.req[http::field::sec_websocket_extensions];
  if (auto why = ws::check_upstream_response(out.response.base(), d.key, d.client_req, offer);
      !why.empty()) {
    out.result = upstream_attempt::status::rejected;
    out.error = std::move(why);
    co_return out;
  }
  out.deflate = ws::accept_deflate_answer(ws::extension_offers(out.response.base()), offer).params;
  auto rest = buffer.data();
  const auto* p = static_cast<const std::uint8_t*>(rest.data());
  out.leftover.assign(p, p + rest.size());
  if (d.keep_records_in_openssl) {
    leg->keep_records_in_openssl();
  }
  out.stream = leg->release();
  out.result = upstream_attempt::status::ok;
  co_return out;
}

}  // namespace

awaitable<upstream_attempt> open_upstream(const upstream_dial& d) {
  net::steady_timer timer(co_await net::this_coro::executor, d.timeout);
  auto result = co_await (handshake(d) || timer.async_wait(net::use_awaitable));
  if (result.index() == 0) {
    co_return std::move(std::get<0>(result));
  }
  upstream_attempt out;
  out.error = "upstream " + d.url.text + " not reached within connect_timeout";
  co_return out;
}

awaitable<upstream_connection> open_http_upstream(
    const upstream_url& url, SSL_CTX* tls_ctx, const std::string& server_name, duration timeout) {
  net::steady_timer timer(co_await net::this_coro::executor, timeout);
  auto result = co_await (connect_leg(url, tls_ctx, server_name) || timer.async_wait(net::use_awaitable));
  if (result.index() == 0) {
    co_return std::move(std::get<0>(result));
  }
  co_return upstream_connection{nullptr, "upstream " + url.text + " not reached within connect_timeout"};
}

}  // namespace tether
