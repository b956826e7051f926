#include "server/listener.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "server/server.hpp"
#include "session/session.hpp"
#include "server/worker.hpp"

namespace tether {
namespace {
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
}

listener::listener(server& srv, listener_config cfg, std::shared_ptr<listener_context> ctx)
    : server_(srv), cfg_(std::move(cfg)), ctx_(std::move(ctx)) {}

std::string listener::bind(net::io_context& ioc) {
  error_code ec;
  auto addr = net::ip::make_address(cfg_.bind.host, ec);
  if (ec) {
    tcp::resolver resolver(ioc);
    auto results = resolver.resolve(cfg_.bind.host, std::to_string(cfg_.bind.port), ec);
    if (ec || results.empty()) {
      return "listener " + cfg_.name + ": cannot resolve " + cfg_.bind.host;
    }
    addr = results.begin()->endpoint().address();
  }
  const tcp::endpoint ep(addr, cfg_.bind.port);
  acceptor_ = std::make_unique<tcp::acceptor>(ioc);
  auto fail = [&](const char* what) {
    return "listener " + cfg_.name + ": " + what + " " + ep.address().to_string() + ":" +
           std::to_string(ep.port()) + ": " + ec.message();
  };
  if (acceptor_->open(ep.protocol(), ec); ec) {
    return fail("open");
  }
  acceptor_->set_option(tcp::acceptor::reuse_address(true), ec);
  // Accepted sockets inherit it (Linux): one setsockopt per listener, not
  // one per connection.
  acceptor_->set_option(tcp::no_delay(true), ec);
  if (addr.is_v6()) {
    acceptor_->set_option(net::ip::v6_only(true), ec);
  }
  if (acceptor_->bind(ep, ec); ec) {
    return fail("bind");
  }
  if (acceptor_->listen(net::socket_base::max_listen_connections, ec); ec) {
    return fail("listen");
  }
  port_ = acceptor_->local_endpoint(ec).port();
  return {};
}

void listener::start() {
  net::co_spawn(acceptor_->get_executor(), [self = shared_from_this()] { return self->accept_loop(); },
                net::detached);
}

void listener::stop() {
  if (acceptor_) {
    net::post(acceptor_->get_executor(), [self = shared_from_this()] {
      error_code ec;
      self->acceptor_->close(ec);
    });
  }
}

awaitable<void> listener::accept_loop() {
  for (;;) {
    auto& w = server_.next_worker();
    tcp::endpoint peer;  // from accept itself: no getpeername per session
    auto [ec, socket] = co_await acceptor_->async_accept(w.ioc(), peer, use_tuple);
    if (ec) {
      if (!acceptor_->is_open() || ec == net::error::operation_aborted) {
        co_return;
      }
      // Out of descriptors or memory: back off instead of spinning.
      spdlog::warn("listener {}: accept: {}", cfg_.name, ec.message());
      net::steady_timer t(acceptor_->get_executor(), std::chrono::milliseconds(50));
      co_await t.async_wait(use_tuple);
      continue;
    }
    const auto n = ctx_->active().fetch_add(1, std::memory_order_relaxed) + 1;
    const bool over = n > ctx_->max_connections();
    net::post(w.ioc(), [&w, rt = server_.current(), ctx = ctx_, s = std::move(socket), peer, over]() mutable {
      std::make_shared<session>(w, std::move(rt), std::move(ctx), std::move(s), peer, over)->start();
    });
  }
}

}  // namespace tether
