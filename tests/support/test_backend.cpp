#include <boost/test/unit_test.hpp>
#include <deque>
#include <future>
#include <list>

#include "test_support.hpp"

namespace tt {

namespace {
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
}

/// One accepted connection, seen through type-erased actions so that the
/// plain and TLS variants share the bookkeeping.
struct backend_conn {
  std::function<void(message)> send;
  std::function<void(std::uint16_t, std::string)> close;
  std::function<void(std::string)> raw;
  std::function<void()> kill;
};

struct test_backend::impl : std::enable_shared_from_this<impl> {
  // Held apart so that it can be destroyed first: its pending coroutines own
  // references to this impl, and would otherwise keep it alive forever.
  std::unique_ptr<net::io_context> ioc_holder = std::make_unique<net::io_context>();
  net::io_context& ioc = *ioc_holder;
  ssl::context ctx{ssl::context::tls_server};
  std::unique_ptr<tcp::acceptor> acceptor;
  std::thread thread;
  mutable std::mutex mutex;
  options opts;
  std::uint16_t port = 0;
  std::vector<message> messages;
  std::vector<http::request<http::string_body>> handshakes;
  std::vector<std::pair<std::uint16_t, std::string>> closes;
  std::size_t pings = 0;
  std::list<std::shared_ptr<backend_conn>> conns;  // io thread only
  std::atomic<std::size_t> open{0};
  std::atomic<std::size_t> sent_bytes{0};

  options get_opts() const {
    std::lock_guard lock(mutex);
    return opts;
  }

  void listen(std::uint16_t p) {
    acceptor = std::make_unique<tcp::acceptor>(ioc);
    tcp::endpoint ep(net::ip::make_address("127.0.0.1"), p);
    acceptor->open(ep.protocol());
    acceptor->set_option(tcp::acceptor::reuse_address(true));
    acceptor->bind(ep);
    acceptor->listen();
    port = acceptor->local_endpoint().port();
    net::co_spawn(ioc, accept_loop(shared_from_this()), net::detached);
  }

  static net::awaitable<void> accept_loop(std::shared_ptr<impl> self) {
    auto* acc = self->acceptor.get();
    for (;;) {
      auto [ec, socket] = co_await acc->async_accept(use_tuple);
      if (ec) {
        co_return;
      }
      if (self->get_opts().tls) {
        net::co_spawn(self->ioc, handle_tls(self, std::move(socket)), net::detached);
      } else {
        net::co_spawn(self->ioc, handle_plain(self, std::move(socket)), net::detached);
      }
    }
  }

  static net::awaitable<void> handle_plain(std::shared_ptr<impl> self, tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    if (auto [ec, n] = co_await http::async_read(stream, buffer, req, use_tuple); ec) {
      co_return;
    }
    if (!co_await self->maybe_reject(stream, req)) {
      co_return;
    }
    websocket::stream<beast::tcp_stream> ws(std::move(stream));
    co_await serve(self, ws, req);
  }

  static net::awaitable<void> handle_tls(std::shared_ptr<impl> self, tcp::socket socket) {
    ssl::stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), self->ctx);
    if (auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, use_tuple); ec) {
      co_return;
    }
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    if (auto [ec, n] = co_await http::async_read(stream, buffer, req, use_tuple); ec) {
      co_return;
    }
    if (!co_await self->maybe_reject(stream, req)) {
      co_return;
    }
    websocket::stream<ssl::stream<beast::tcp_stream>> ws(std::move(stream));
    co_await serve(self, ws, req);
  }

  template <class Stream>
  net::awaitable<bool> maybe_reject(Stream& stream, const http::request<http::string_body>& req) {
    const auto o = get_opts();
    {
      std::lock_guard lock(mutex);
      handshakes.push_back(req);
    }
    if (o.reject_status == 0) {
      co_return true;
    }
    http::response<http::string_body> res{static_cast<http::status>(o.reject_status), 11};
    for (const auto& [k, v] : o.response_headers) {
      res.set(k, v);
    }
    res.body() = o.reject_body;
    res.prepare_payload();
    co_await http::async_write(stream, res, use_tuple);
    co_return false;
  }

  template <class Ws>
  static net::awaitable<void> serve(std::shared_ptr<impl> self, Ws& ws,
                                    const http::request<http::string_body>& req) {
    const auto o = self->get_opts();
    std::string chosen;
    if (!o.subprotocol.empty()) {
      for (auto p : http::token_list(req[http::field::sec_websocket_protocol])) {
        if (o.subprotocol == "*" || p == o.subprotocol) {
          chosen = std::string(p);
          break;
        }
      }
      if (o.subprotocol != "*" && chosen.empty() && req.count(http::field::sec_websocket_protocol) == 0) {
        chosen.clear();
      }
    }
    ws.set_option(websocket::stream_base::decorator([o, chosen](websocket::response_type& res) {
      if (!chosen.empty()) {
        res.set(http::field::sec_websocket_protocol, chosen);
      }
      for (const auto& [k, v] : o.response_headers) {
        res.insert(k, v);
      }
    }));
    ws.read_message_max(o.max_message);
    ws.auto_fragment(false);
    if (o.deflate) {
      websocket::permessage_deflate pmd;
      pmd.server_enable = true;
      pmd.server_max_window_bits = o.deflate_window_bits;
      ws.set_option(pmd);
    }
    ws.control_callback([self](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::ping) {
        std::lock_guard lock(self->mutex);
        ++self->pings;
      }
    });
    if (auto [ec] = co_await ws.async_accept(req, use_tuple); ec) {
      co_return;
    }
    ++self->open;
    auto conn = std::make_shared<backend_conn>();
    auto queue = std::make_shared<std::deque<message>>();
    auto writing = std::make_shared<bool>(false);
    // A coroutine lambda must not capture: its frame would point into the
    // closure, which dies with whichever copy of `send` started it.
    auto drain = [](std::shared_ptr<impl> self, Ws* ws, std::shared_ptr<std::deque<message>> queue,
                    std::shared_ptr<bool> writing) -> net::awaitable<void> {
      *writing = true;
      while (!queue->empty()) {
        auto m = std::move(queue->front());
        queue->pop_front();
        ws->text(m.text);
        if constexpr (std::is_same_v<std::decay_t<decltype(ws->next_layer())>, ssl::stream<beast::tcp_stream>>) {
          if (self->get_opts().ticket_before_each_message) {
            SSL_new_session_ticket(ws->next_layer().native_handle());  // leaves with the next write
          }
        }
        auto [ec, n] = co_await ws->async_write(net::buffer(m.data), use_tuple);
        if (ec) {
          break;
        }
        self->sent_bytes += m.data.size();
      }
      *writing = false;
    };
    conn->send = [self, queue, writing, drain, wsp = &ws](message m) {
      queue->push_back(std::move(m));
      if (!*writing) {
        *writing = true;
        net::co_spawn(self->ioc, drain(self, wsp, queue, writing), net::detached);
      }
    };
    conn->close = [self, &ws](std::uint16_t code, std::string reason) {
      ws.async_close(websocket::close_reason(static_cast<websocket::close_code>(code), reason), [](beast::error_code) {});
    };
    // Raw writes queue behind each other: Beast allows one write at a time.
    auto raw_queue = std::make_shared<std::deque<std::string>>();
    auto raw_next = std::make_shared<std::function<void()>>();
    *raw_next = [&ws, raw_queue, raw_next_weak = std::weak_ptr<std::function<void()>>(raw_next)]() {
      if (raw_queue->empty()) {
        return;
      }
      net::async_write(beast::get_lowest_layer(ws), net::buffer(raw_queue->front()),
                       [raw_queue, raw_next_weak](beast::error_code ec, std::size_t) {
                         raw_queue->pop_front();
                         auto next = raw_next_weak.lock();
                         if (!ec && next) {
                           (*next)();
                         }
                       });
    };
    conn->raw = [raw_queue, raw_next](std::string bytes) {
      raw_queue->push_back(std::move(bytes));
      if (raw_queue->size() == 1) {
        (*raw_next)();
      }
    };
    conn->kill = [&ws]() {
      beast::error_code ec;
      auto& sock = beast::get_lowest_layer(ws).socket();
      sock.set_option(net::socket_base::linger(true, 0), ec);  // RST, like a killed process
      sock.close(ec);
    };
    self->conns.push_back(conn);
    if (!o.auto_pong) {
      // A hung backend: it never reads again, so it never answers a ping.
      net::steady_timer forever(self->ioc, std::chrono::hours(1));
      co_await forever.async_wait(use_tuple);
    } else {
      beast::flat_buffer buffer;
      for (;;) {
        auto [ec, n] = co_await ws.async_read(buffer, use_tuple);
        if (ec) {
          if (ec == websocket::error::closed) {
            std::lock_guard lock(self->mutex);
            self->closes.emplace_back(ws.reason().code, std::string(ws.reason().reason.data(), ws.reason().reason.size()));
          }
          break;
        }
        message m{ws.got_text(), beast::buffers_to_string(buffer.data())};
        buffer.consume(buffer.size());
        {
          std::lock_guard lock(self->mutex);
          self->messages.push_back(m);
        }
        const auto cur = self->get_opts();
        if (cur.on_message) {
          cur.on_message(m, conn->send);
        } else if (cur.echo) {
          conn->send(m);
        }
      }
    }
    self->conns.remove(conn);
    --self->open;
    // Let queued writes drop before `ws` goes away with this frame.
    while (*writing) {
      net::steady_timer t(self->ioc, 1ms);
      co_await t.async_wait(use_tuple);
    }
  }
};

test_backend::test_backend(options opts, std::uint16_t port) : impl_(std::make_shared<impl>()) {
  impl_->opts = std::move(opts);
  impl_->ctx.use_certificate_chain_file(cert_path("server-chain.crt"));
  impl_->ctx.use_private_key_file(cert_path("server.key"), ssl::context::pem);
  if (impl_->opts.split_tickets) {
    // Every ticket then spans several records.
    SSL_CTX_set_max_send_fragment(impl_->ctx.native_handle(), 512);
    SSL_CTX_set_session_ticket_cb(
        impl_->ctx.native_handle(),
        [](SSL* s, void*) {
          static const std::string padding(3000, 't');
          return SSL_SESSION_set1_ticket_appdata(SSL_get0_session(s), padding.data(), padding.size());
        },
        nullptr, nullptr);
  }
  impl_->listen(port);
  port_ = impl_->port;
  impl_->thread = std::thread([i = impl_] {
    auto guard = net::make_work_guard(i->ioc);
    i->ioc.run();
  });
}

test_backend::~test_backend() {
  kill();
  impl_->ioc.stop();
  if (impl_->thread.joinable()) {
    impl_->thread.join();
  }
  impl_->acceptor.reset();
  impl_->conns.clear();
  impl_->ioc_holder.reset();
}

std::string test_backend::url() const {
  return std::string(impl_->opts.tls ? "wss" : "ws") + "://127.0.0.1:" + std::to_string(port_);
}

void test_backend::set_options(options opts) {
  std::lock_guard lock(impl_->mutex);
  impl_->opts = std::move(opts);
}

void test_backend::kill() {
  std::promise<void> done;
  net::post(impl_->ioc, [i = impl_, &done] {
    if (i->acceptor) {
      beast::error_code ec;
      i->acceptor->close(ec);
    }
    for (auto& c : std::list<std::shared_ptr<backend_conn>>(i->conns)) {
      c->kill();
    }
    done.set_value();
  });
  done.get_future().wait_for(5s);
  wait_until([&] { return impl_->open.load() == 0; }, 5000ms);
}

void test_backend::restart() {
  std::promise<void> done;
  net::post(impl_->ioc, [i = impl_, &done, p = port_] {
    i->listen(p);
    done.set_value();
  });
  done.get_future().wait_for(5s);
}

std::vector<message> test_backend::messages() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->messages;
}

bool test_backend::wait_messages(std::size_t n, ms timeout) const {
  return wait_until([&] { return messages().size() >= n; }, timeout);
}

std::vector<http::request<http::string_body>> test_backend::handshakes() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->handshakes;
}

std::vector<std::pair<std::uint16_t, std::string>> test_backend::closes() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->closes;
}

bool test_backend::wait_closes(std::size_t n, ms timeout) const {
  return wait_until([&] { return closes().size() >= n; }, timeout);
}

std::size_t test_backend::open_sessions() const { return impl_->open.load(); }

std::size_t test_backend::pings_received() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->pings;
}

std::size_t test_backend::bytes_sent() const { return impl_->sent_bytes; }

void test_backend::send_all(message m) {
  net::post(impl_->ioc, [i = impl_, m] {
    for (auto& c : i->conns) {
      c->send(m);
    }
  });
}

void test_backend::close_all(std::uint16_t code, std::string reason) {
  net::post(impl_->ioc, [i = impl_, code, reason] {
    for (auto& c : i->conns) {
      c->close(code, reason);
    }
  });
}

void test_backend::send_raw_all(std::string bytes) {
  net::post(impl_->ioc, [i = impl_, bytes] {
    for (auto& c : i->conns) {
      c->raw(bytes);
    }
  });
}

}  // namespace tt
