#include <boost/test/unit_test.hpp>

#include "test_support.hpp"

namespace tt {

/// The client's state behind a small virtual interface, so plain and TLS
/// streams share the timeout logic.
struct ws_client::impl {
  net::io_context ioc;
  ssl::context ctx{ssl::context::tls_client};
  http::response<http::string_body> response;
  beast::flat_buffer buffer;
  bool read_pending = false;
  bool read_done = false;
  boost::system::error_code read_ec;
  std::size_t pings = 0;
  std::size_t pongs = 0;
  bool closed = false;

  virtual ~impl() = default;
  virtual void async_read(std::function<void(boost::system::error_code)> h) = 0;
  virtual void async_write(bool text, net::const_buffer b, bool fin, std::function<void(boost::system::error_code)> h) = 0;
  virtual void async_ping(std::string payload, std::function<void(boost::system::error_code)> h) = 0;
  virtual void async_close(std::uint16_t code, std::string reason, std::function<void(boost::system::error_code)> h) = 0;
  virtual bool got_text() = 0;
  virtual websocket::close_reason reason() = 0;
  virtual bool is_open() = 0;
  virtual void shutdown() = 0;

  /// Runs the io_context until `done` or timeout.
  bool run_until(const std::function<bool()>& done, ms timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (ioc.stopped()) {
        ioc.restart();
      }
      const auto left = end - std::chrono::steady_clock::now();
      if (left <= 0ms) {
        return false;
      }
      ioc.run_one_for(std::chrono::duration_cast<ms>(left));
    }
    return true;
  }

  boost::system::error_code op(ms timeout, const std::function<void(std::function<void(boost::system::error_code)>)>& start) {
    bool done = false;
    boost::system::error_code result;
    start([&](boost::system::error_code ec) {
      result = ec;
      done = true;
    });
    if (!run_until([&] { return done; }, timeout)) {
      shutdown();
      run_until([&] { return done; }, 2000ms);
      return net::error::timed_out;
    }
    return result;
  }

  void start_read() {
    if (read_pending) {
      return;
    }
    read_pending = true;
    read_done = false;
    async_read([this](boost::system::error_code ec) {
      read_ec = ec;
      read_done = true;
    });
  }
};

namespace {

template <class Ws>
struct impl_for : ws_client::impl {
  std::unique_ptr<Ws> ws;

  void setup() {
    ws->control_callback([this](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::ping) {
        ++pings;
      } else if (kind == websocket::frame_type::pong) {
        ++pongs;
      }
    });
    ws->read_message_max(64 * 1024 * 1024);
    ws->auto_fragment(false);
  }
  void async_read(std::function<void(boost::system::error_code)> h) override {
    ws->async_read(buffer, [h](boost::system::error_code ec, std::size_t) { h(ec); });
  }
  void async_write(bool text, net::const_buffer b, bool fin, std::function<void(boost::system::error_code)> h) override {
    ws->text(text);
    ws->async_write_some(fin, b, [h](boost::system::error_code ec, std::size_t) { h(ec); });
  }
  void async_ping(std::string payload, std::function<void(boost::system::error_code)> h) override {
    ws->async_ping(websocket::ping_data(payload.c_str()), h);
  }
  void async_close(std::uint16_t code, std::string reason, std::function<void(boost::system::error_code)> h) override {
    ws->async_close(websocket::close_reason(static_cast<websocket::close_code>(code), reason), h);
  }
  bool got_text() override { return ws->got_text(); }
  websocket::close_reason reason() override { return ws->reason(); }
  bool is_open() override { return ws->is_open(); }
  void shutdown() override {
    boost::system::error_code ec;
    beast::get_lowest_layer(*ws).socket().close(ec);
  }
};

using plain_ws = websocket::stream<beast::tcp_stream>;
using tls_ws = websocket::stream<ssl::stream<beast::tcp_stream>>;

}  // namespace

ws_client::ws_client(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

ws_client::~ws_client() {
  if (impl_) {
    impl_->shutdown();
    impl_->ioc.poll();
  }
}

std::unique_ptr<ws_client> ws_client::connect(std::uint16_t port, const options& opts,
                                              boost::system::error_code& ec,
                                              http::response<http::string_body>* response) {
  std::unique_ptr<impl> base;
  auto decorate = [opts](websocket::request_type& req) {
    for (const auto& [k, v] : opts.headers) {
      req.set(k, v);
    }
    if (!opts.subprotocols.empty()) {
      req.set(http::field::sec_websocket_protocol, opts.subprotocols);
    }
  };
  auto finish = [&](auto& p, auto& ws) -> bool {
    p->setup();
    ws.set_option(websocket::stream_base::decorator(decorate));
    if (opts.deflate) {
      websocket::permessage_deflate pmd;
      pmd.client_enable = true;
      ws.set_option(pmd);
    }
    auto& lowest = beast::get_lowest_layer(ws);
    ec = p->op(opts.timeout, [&](auto h) {
      lowest.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port),
                           [h](boost::system::error_code e) { h(e); });
    });
    return !ec;
  };
  if (opts.tls) {
    auto p = std::make_unique<impl_for<tls_ws>>();
    p->ctx.load_verify_file(cert_path(opts.ca));
    p->ctx.set_verify_mode(ssl::verify_peer);
    if (opts.client_cert) {
      p->ctx.use_certificate_chain_file(cert_path("client.crt"));
      p->ctx.use_private_key_file(cert_path("client.key"), ssl::context::pem);
    }
    p->ws = std::make_unique<tls_ws>(p->ioc, p->ctx);
    auto& ws = *p->ws;
    if (!finish(p, ws)) {
      return nullptr;
    }
    SSL_set_tlsext_host_name(ws.next_layer().native_handle(), opts.host.c_str());
    ws.next_layer().set_verify_callback(ssl::host_name_verification(opts.host));
    ec = p->op(opts.timeout, [&](auto h) {
      ws.next_layer().async_handshake(ssl::stream_base::client, [h](boost::system::error_code e) { h(e); });
    });
    if (ec) {
      return nullptr;
    }
    base = std::move(p);
  } else {
    auto p = std::make_unique<impl_for<plain_ws>>();
    p->ws = std::make_unique<plain_ws>(p->ioc);
    if (!finish(p, *p->ws)) {
      return nullptr;
    }
    base = std::move(p);
  }
  auto* raw = base.get();
  ec = raw->op(opts.timeout, [&](auto h) {
    if (auto* t = dynamic_cast<impl_for<tls_ws>*>(raw)) {
      t->ws->async_handshake(raw->response, opts.host, opts.target, [h](boost::system::error_code e) { h(e); });
    } else {
      auto* pl = static_cast<impl_for<plain_ws>*>(raw);
      pl->ws->async_handshake(raw->response, opts.host, opts.target, [h](boost::system::error_code e) { h(e); });
    }
  });
  if (response != nullptr) {
    *response = raw->response;
  }
  if (ec) {
    return nullptr;
  }
  return std::unique_ptr<ws_client>(new ws_client(std::move(base)));
}

std::unique_ptr<ws_client> ws_client::connect(std::uint16_t port, const options& opts) {
  boost::system::error_code ec;
  http::response<http::string_body> res;
  auto c = connect(port, opts, ec, &res);
  BOOST_REQUIRE_MESSAGE(c, "connect to port " << port << " failed: " << ec.message()
                                               << " (status " << res.result_int() << ")");
  return c;
}

const http::response<http::string_body>& ws_client::handshake_response() const { return impl_->response; }

boost::system::error_code ws_client::send(const message& m) {
  auto data = std::make_shared<std::string>(m.data);
  return impl_->op(5000ms, [&](auto h) { impl_->async_write(m.text, net::buffer(*data), true, h); });
}

boost::system::error_code ws_client::send_fragmented(bool text, const std::vector<std::string>& parts) {
  for (std::size_t i = 0; i < parts.size(); ++i) {
    auto data = std::make_shared<std::string>(parts[i]);
    auto ec = impl_->op(5000ms, [&](auto h) { impl_->async_write(text, net::buffer(*data), i + 1 == parts.size(), h); });
    if (ec) {
      return ec;
    }
  }
  return {};
}

boost::system::error_code ws_client::ping(std::string payload) {
  return impl_->op(5000ms, [&](auto h) { impl_->async_ping(payload, h); });
}

std::optional<message> ws_client::read(ms timeout) {
  impl_->start_read();
  if (!impl_->run_until([&] { return impl_->read_done; }, timeout)) {
    return std::nullopt;  // still pending; a later read picks it up
  }
  impl_->read_pending = false;
  if (impl_->read_ec) {
    impl_->closed = true;
    return std::nullopt;
  }
  message m{impl_->got_text(), beast::buffers_to_string(impl_->buffer.data())};
  impl_->buffer.consume(impl_->buffer.size());
  return m;
}

std::optional<std::pair<std::uint16_t, std::string>> ws_client::wait_close(ms timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (!impl_->read_pending && !impl_->is_open()) {
      // close() already completed the closing handshake.
      auto r = impl_->reason();
      return std::pair<std::uint16_t, std::string>{r.code, std::string(r.reason.data(), r.reason.size())};
    }
    impl_->start_read();
    const auto left = std::chrono::duration_cast<ms>(end - std::chrono::steady_clock::now());
    if (left <= 0ms || !impl_->run_until([&] { return impl_->read_done; }, left)) {
      return std::nullopt;
    }
    impl_->read_pending = false;
    if (impl_->read_ec == websocket::error::closed) {
      auto r = impl_->reason();
      return std::pair<std::uint16_t, std::string>{r.code, std::string(r.reason.data(), r.reason.size())};
    }
    if (impl_->read_ec) {
      return std::pair<std::uint16_t, std::string>{1006, impl_->read_ec.message()};
    }
    impl_->buffer.consume(impl_->buffer.size());  // a data message before the close: skip
  }
}

boost::system::error_code ws_client::close(std::uint16_t code, std::string reason) {
  return impl_->op(5000ms, [&](auto h) { impl_->async_close(code, reason, h); });
}

std::size_t ws_client::pings_received() const { return impl_->pings; }
std::size_t ws_client::pongs_received() const { return impl_->pongs; }
bool ws_client::is_open() const { return impl_->is_open(); }

}  // namespace tt
