// A small HTTP/1.1 origin server for the pass-through tests (see
// extra_handshake.hpp for what it answers).
#include <boost/beast/core/string.hpp>
#include <boost/test/unit_test.hpp>

#include "extra_handshake.hpp"

namespace tt::hs {

namespace {
using error_code = boost::system::error_code;
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
}  // namespace

std::string origin_request::header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (beast::iequals(k, name)) {
      return v;
    }
  }
  return {};
}

std::size_t origin_request::count(const std::string& name) const {
  std::size_t n = 0;
  for (const auto& h : headers) {
    n += beast::iequals(h.first, name) ? 1 : 0;
  }
  return n;
}

struct http_origin::impl {
  ssl::context ctx{ssl::context::tls_server};  // outlives the io_context's streams
  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
  bool tls = false;
  std::thread thread;
  mutable std::mutex mutex;
  std::vector<origin_request> requests;
  std::atomic<std::size_t> accepted{0};

  net::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
      if (ec) {
        co_return;
      }
      const auto index = ++accepted;
      if (tls) {
        net::co_spawn(ioc, serve_tls(std::move(socket), index), net::detached);
      } else {
        net::co_spawn(ioc, serve_plain(std::move(socket), index), net::detached);
      }
    }
  }

  net::awaitable<void> serve_plain(tcp::socket socket, std::size_t index) {
    co_await serve(socket, index);
    error_code ec;
    socket.shutdown(tcp::socket::shutdown_send, ec);
    socket.close(ec);
  }

  net::awaitable<void> serve_tls(tcp::socket socket, std::size_t index) {
    ssl::stream<tcp::socket> stream(std::move(socket), ctx);
    if (auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, use_tuple); ec) {
      co_return;
    }
    co_await serve(stream, index);
    error_code ec;
    stream.next_layer().shutdown(tcp::socket::shutdown_send, ec);
    stream.next_layer().close(ec);
  }

  template <class Stream>
  net::awaitable<bool> write_raw(Stream& s, std::string bytes) {
    auto [ec, n] = co_await net::async_write(s, net::buffer(bytes), use_tuple);
    co_return !ec;
  }

  template <class Stream>
  net::awaitable<void> serve(Stream& stream, std::size_t index) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(64 * 1024 * 1024);
      parser.header_limit(64 * 1024);
      if (auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple); ec) {
        co_return;
      }
      auto req = parser.release();
      origin_request rec;
      rec.method = std::string(req.method_string());
      rec.target = std::string(req.target());
      for (const auto& f : req) {
        rec.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
      }
      rec.body = req.body();
      rec.chunked = req.chunked();
      rec.connection = index;
      {
        std::lock_guard lock(mutex);
        requests.push_back(rec);
      }
      const bool keep = req.keep_alive();
      const std::string path = rec.target.substr(0, rec.target.find('?'));
      bool ok = true;
      if (req.method() == http::verb::head) {
        ok = co_await write_raw(stream, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nX-Head: yes\r\n\r\n");
      } else if (path == "/chunked") {
        ok = co_await write_raw(stream,
                                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "5\r\nhello\r\n9\r\n, chunked\r\n6\r\n world\r\n0\r\n\r\n");
      } else if (path == "/stream") {
        // The first chunk now, the rest a second later: a proxy that
        // buffers whole bodies holds "first" back.
        ok = co_await write_raw(stream, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n");
        net::steady_timer pause(ioc, std::chrono::milliseconds(1000));
        co_await pause.async_wait(use_tuple);
        ok = ok && co_await write_raw(stream, "6\r\nsecond\r\n0\r\n\r\n");
      } else if (path == "/hang") {
        // Never answers; the test's end (ioc.stop) abandons this.
        net::steady_timer pause(ioc, std::chrono::seconds(60));
        co_await pause.async_wait(use_tuple);
        co_return;
      } else if (path == "/drip") {
        // Five chunks 200 ms apart: a second in all, never 200 ms silent.
        ok = co_await write_raw(stream, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        for (char c = 'a'; ok && c <= 'e'; ++c) {
          net::steady_timer pause(ioc, std::chrono::milliseconds(200));
          co_await pause.async_wait(use_tuple);
          ok = co_await write_raw(stream, std::string("1\r\n") + c + "\r\n");
        }
        ok = ok && co_await write_raw(stream, "0\r\n\r\n");
      } else if (path == "/then-close") {
        // A normal keep-alive answer, then the origin drops the idle
        // connection (as servers with a short keep-alive timeout do).
        co_await write_raw(stream, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nthen-close");
        net::steady_timer pause(ioc, std::chrono::milliseconds(50));
        co_await pause.async_wait(use_tuple);
        co_return;
      } else if (path == "/eof") {
        co_await write_raw(stream, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil-eof body");
        co_return;
      } else {
        http::response<http::string_body> res{http::status::ok, 11};
        res.set(http::field::content_type, "application/octet-stream");
        if (path == "/echo") {
          res.body() = rec.body;
          res.set("X-Seen-Method", rec.method);
          res.set("X-Seen-Length", std::string(req[http::field::content_length]));
          res.set("X-Seen-Chunked", rec.chunked ? "1" : "0");
        } else if (path == "/headers") {
          for (const auto& [k, v] : rec.headers) {
            res.body() += k + ": " + v + "\n";
          }
        } else if (path.rfind("/status/", 0) == 0) {
          const int status = std::stoi(path.substr(8));
          res.result(static_cast<unsigned>(status));
          res.set("X-Origin", "yes");
          res.body() = "status " + std::to_string(status);
        } else {
          res.body() = "target=" + rec.target;
        }
        res.keep_alive(keep);
        res.prepare_payload();
        auto [ec, n] = co_await http::async_write(stream, res, use_tuple);
        ok = !ec;
      }
      if (!ok || !keep) {
        co_return;
      }
    }
  }
};

http_origin::http_origin(bool tls) : impl_(std::make_unique<impl>()), tls_(tls) {
  auto& i = *impl_;
  i.tls = tls;
  if (tls) {
    i.ctx.use_certificate_chain_file(cert_path("server-chain.crt"));
    i.ctx.use_private_key_file(cert_path("server.key"), ssl::context::pem);
  }
  const tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
  i.acceptor.open(ep.protocol());
  i.acceptor.set_option(tcp::acceptor::reuse_address(true));
  i.acceptor.bind(ep);
  i.acceptor.listen();
  port_ = i.acceptor.local_endpoint().port();
  net::co_spawn(i.ioc, i.accept_loop(), net::detached);
  i.thread = std::thread([p = impl_.get()] { p->ioc.run(); });
}

http_origin::~http_origin() {
  // Stopping abandons the connections' coroutines; the io_context's
  // destructor (with impl) destroys their frames and sockets.
  impl_->ioc.stop();
  impl_->thread.join();
}

std::string http_origin::url() const {
  return std::string(tls_ ? "wss" : "ws") + "://127.0.0.1:" + std::to_string(port_);
}

std::size_t http_origin::accepted() const { return impl_->accepted.load(); }

std::vector<origin_request> http_origin::requests() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->requests;
}

}  // namespace tt::hs
