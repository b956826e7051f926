#include <boost/test/unit_test.hpp>
#include <list>

#include "test_support.hpp"

namespace tt {

namespace {
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
}

struct idle_cutter::impl : std::enable_shared_from_this<impl> {
  // Destroyed first (see ~idle_cutter): pending coroutines hold this impl.
  std::unique_ptr<net::io_context> ioc_holder = std::make_unique<net::io_context>();
  net::io_context& ioc = *ioc_holder;
  std::unique_ptr<tcp::acceptor> acceptor_holder = std::make_unique<tcp::acceptor>(ioc);
  tcp::acceptor& acceptor = *acceptor_holder;
  std::thread thread;
  std::uint16_t target = 0;
  ms idle{0};
  std::atomic<std::size_t> cuts{0};

  struct pair_state {
    tcp::socket a;
    tcp::socket b;
    std::chrono::steady_clock::time_point last;
    bool done = false;
    explicit pair_state(net::io_context& ioc) : a(ioc), b(ioc) {}
  };

  static net::awaitable<void> pump(std::shared_ptr<pair_state> p, tcp::socket& from, tcp::socket& to) {
    char buf[16384];
    for (;;) {
      auto [ec, n] = co_await from.async_read_some(net::buffer(buf), use_tuple);
      if (ec) {
        break;
      }
      p->last = std::chrono::steady_clock::now();
      auto [wec, wn] = co_await net::async_write(to, net::buffer(buf, n), use_tuple);
      if (wec) {
        break;
      }
    }
    boost::system::error_code ec;
    to.shutdown(tcp::socket::shutdown_send, ec);
  }

  static net::awaitable<void> watch(std::shared_ptr<impl> self, std::shared_ptr<pair_state> p) {
    net::steady_timer t(self->ioc);
    while (p->a.is_open()) {
      t.expires_after(self->idle / 10);
      co_await t.async_wait(use_tuple);
      if (std::chrono::steady_clock::now() - p->last >= self->idle) {
        // What an idle-timeout load balancer does: reset both sides.
        // Counted first, so a test that sees the reset also sees the count.
        ++self->cuts;
        boost::system::error_code ec;
        p->a.set_option(net::socket_base::linger(true, 0), ec);
        p->b.set_option(net::socket_base::linger(true, 0), ec);
        p->a.close(ec);
        p->b.close(ec);
        co_return;
      }
    }
  }

  static net::awaitable<void> accept_loop(std::shared_ptr<impl> self) {
    for (;;) {
      auto p = std::make_shared<pair_state>(self->ioc);
      auto [ec] = co_await self->acceptor.async_accept(p->a, use_tuple);
      if (ec) {
        co_return;
      }
      auto [cec] = co_await p->b.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), self->target), use_tuple);
      if (cec) {
        continue;
      }
      p->last = std::chrono::steady_clock::now();
      net::co_spawn(self->ioc, pump(p, p->a, p->b), net::detached);
      net::co_spawn(self->ioc, pump(p, p->b, p->a), net::detached);
      net::co_spawn(self->ioc, watch(self, p), net::detached);
    }
  }
};

idle_cutter::idle_cutter(std::uint16_t target_port, ms idle) : impl_(std::make_shared<impl>()) {
  impl_->target = target_port;
  impl_->idle = idle;
  tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  net::co_spawn(impl_->ioc, impl::accept_loop(impl_), net::detached);
  impl_->thread = std::thread([i = impl_] { i->ioc.run(); });
}

idle_cutter::~idle_cutter() {
  impl_->ioc.stop();
  impl_->thread.join();
  impl_->acceptor_holder.reset();
  impl_->ioc_holder.reset();
}

std::size_t idle_cutter::cuts() const { return impl_->cuts.load(); }

}  // namespace tt
