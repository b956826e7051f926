#include "admin/admin.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "http/http_types.hpp"
#include "server/server.hpp"

namespace tether {
namespace {
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
}

admin::admin(server& srv, net::io_context& ioc) : server_(srv), acceptor_(ioc) {}

std::string admin::bind(const endpoint_config& ep) {
  error_code ec;
  auto addr = net::ip::make_address(ep.host, ec);
  if (ec) {
    return "admin: bad address " + ep.host;
  }
  const tcp::endpoint endpoint(addr, ep.port);
  acceptor_.open(endpoint.protocol(), ec);
  acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (acceptor_.bind(endpoint, ec); ec) {
    return "admin: bind " + ep.host + ":" + std::to_string(ep.port) + ": " + ec.message();
  }
  if (acceptor_.listen(64, ec); ec) {
    return "admin: listen: " + ec.message();
  }
  port_ = acceptor_.local_endpoint(ec).port();
  return {};
}

void admin::start() {
  net::co_spawn(acceptor_.get_executor(), accept_loop(), net::detached);
}

awaitable<void> admin::accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
    if (ec) {
      if (!acceptor_.is_open()) {
        co_return;
      }
      continue;
    }
    net::co_spawn(acceptor_.get_executor(), serve(std::move(socket)), net::detached);
  }
}

awaitable<void> admin::serve(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    stream.expires_after(std::chrono::seconds(30));
    http::request<http::empty_body> req;
    auto [ec, n] = co_await http::async_read(stream, buffer, req, use_tuple);
    if (ec) {
      co_return;
    }
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::server, "tether");
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    const auto target = req.target();
    const auto path = target.substr(0, target.find('?'));
    if (path == "/healthz") {
      res.body() = "ok\n";
    } else if (path == "/readyz") {
      const bool ready = server_.ready();
      res.result(ready ? http::status::ok : http::status::service_unavailable);
      res.body() = ready ? "ready\n" : "not ready\n";
    } else if (path == "/metrics") {
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = server_.stats().render();
    } else {
      res.result(http::status::not_found);
      res.body() = "not found\n";
    }
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
    if (wec || !req.keep_alive()) {
      co_return;
    }
  }
}

}  // namespace tether
