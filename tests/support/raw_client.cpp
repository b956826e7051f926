#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/test/unit_test.hpp>

#include "test_support.hpp"

namespace tt {

raw_client::raw_client(std::uint16_t port, bool tls, int max_tls_version) : socket_(ioc_) {
  boost::system::error_code ec;
  socket_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), ec);
  if (ec) {
    return;
  }
  if (tls) {
    ctx_ = std::make_unique<ssl::context>(ssl::context::tls_client);
    ctx_->load_verify_file(cert_path("ca.crt"));
    if (max_tls_version != 0) {
      SSL_CTX_set_max_proto_version(ctx_->native_handle(), max_tls_version);
    }
    tls_ = std::make_unique<ssl::stream<tcp::socket&>>(socket_, *ctx_);
    SSL_set_tlsext_host_name(tls_->native_handle(), "localhost");
    tls_->handshake(ssl::stream_base::client, ec);
    if (ec) {
      return;
    }
  }
  ok_ = true;
}

raw_client::~raw_client() {
  boost::system::error_code ec;
  socket_.close(ec);
}

bool raw_client::connected() const { return ok_; }

boost::system::error_code raw_client::write(const std::string& bytes) {
  boost::system::error_code ec;
  if (tls_) {
    net::write(*tls_, net::buffer(bytes), ec);
  } else {
    net::write(socket_, net::buffer(bytes), ec);
  }
  return ec;
}

boost::system::error_code raw_client::write_below_tls(const std::string& bytes) {
  boost::system::error_code ec;
  net::write(socket_, net::buffer(bytes), ec);
  return ec;
}

boost::system::error_code raw_client::write_then_fin(const std::string& bytes) {
  int on = 1;
  ::setsockopt(socket_.native_handle(), IPPROTO_TCP, TCP_CORK, &on, sizeof on);
  auto ec = write(bytes);
  if (!ec) {
    socket_.shutdown(tcp::socket::shutdown_send, ec);
  }
  return ec;
}

std::string raw_client::read_some(ms timeout) {
  std::string out;
  if (eof_) {
    return out;
  }
  char buf[65536];
  bool done = false;
  auto handler = [&](boost::system::error_code ec, std::size_t n) {
    out.assign(buf, n);
    if (ec && ec != net::error::operation_aborted) {
      eof_ = true;
    }
    done = true;
  };
  if (tls_) {
    tls_->async_read_some(net::buffer(buf), handler);
  } else {
    socket_.async_read_some(net::buffer(buf), handler);
  }
  ioc_.restart();
  ioc_.run_for(timeout);
  if (!done) {
    socket_.cancel();
    ioc_.restart();
    ioc_.run_for(1000ms);
  }
  return out;
}

std::string raw_client::read_all(ms timeout) {
  std::string out;
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!eof_ && std::chrono::steady_clock::now() < end) {
    out += read_some(std::chrono::duration_cast<ms>(end - std::chrono::steady_clock::now()));
  }
  return out;
}

std::string raw_client::read_until(const std::string& delim, ms timeout) {
  std::string out;
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!eof_ && out.find(delim) == std::string::npos && std::chrono::steady_clock::now() < end) {
    out += read_some(std::chrono::duration_cast<ms>(end - std::chrono::steady_clock::now()));
  }
  return out;
}

std::string raw_client::upgrade(const std::string& target, const std::string& extra_headers) {
  write("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
        extra_headers + "\r\n");
  return read_until("\r\n\r\n", 5000ms);
}

boost::system::error_code raw_client::send_text(const std::string& text) {
  return write(client_frame(0x81, text));
}

std::optional<parsed_frame> raw_client::next_frame(ms timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto f = parse_server_frame(pending_);
    if (f.size > 0) {
      pending_.erase(0, f.size);
      return f;
    }
    const auto left = std::chrono::duration_cast<ms>(end - std::chrono::steady_clock::now());
    if (eof_ || left <= 0ms) {
      return std::nullopt;
    }
    pending_ += read_some(left);
  }
}

std::optional<message> raw_client::read_message(ms timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto f = next_frame(std::chrono::duration_cast<ms>(end - std::chrono::steady_clock::now()));
    if (!f || f->opcode == 8) {
      return std::nullopt;
    }
    if (f->opcode == 9) {
      ++pings_seen_;
      continue;
    }
    if (f->opcode == 1 || f->opcode == 2) {
      return message{f->opcode == 1, f->payload};
    }
  }
}

std::optional<std::uint16_t> raw_client::wait_close_code(ms timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto f = next_frame(std::chrono::duration_cast<ms>(end - std::chrono::steady_clock::now()));
    if (!f) {
      if (eof_) {
        return 1006;
      }
      return std::nullopt;
    }
    if (f->opcode == 9) {
      ++pings_seen_;
    }
    if (f->opcode == 8) {
      return close_code_of(f->payload);
    }
  }
}

http::response<http::string_body> http_request(std::uint16_t port, http::request<http::string_body> req,
                                               bool tls, ms timeout) {
  net::io_context ioc;
  http::response<http::string_body> res;
  http::response_parser<http::string_body> parser;
  parser.body_limit(256 * 1024 * 1024);
  beast::flat_buffer buffer;
  boost::system::error_code result = net::error::timed_out;
  req.version(11);
  if (req.find(http::field::host) == req.end()) {
    req.set(http::field::host, "127.0.0.1");
  }
  req.prepare_payload();
  ssl::context ctx{ssl::context::tls_client};
  beast::tcp_stream tcp_stream(ioc);
  ssl::stream<beast::tcp_stream&> tls_stream(tcp_stream, ctx);
  auto run = [&]() -> net::awaitable<void> {
    constexpr auto t = net::as_tuple(net::use_awaitable);
    auto [ec] = co_await tcp_stream.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), t);
    if (ec) {
      result = ec;
      co_return;
    }
    if (tls) {
      ctx.load_verify_file(cert_path("ca.crt"));
      SSL_set_tlsext_host_name(tls_stream.native_handle(), "localhost");
      auto [hec] = co_await tls_stream.async_handshake(ssl::stream_base::client, t);
      if (hec) {
        result = hec;
        co_return;
      }
      auto [wec, wn] = co_await http::async_write(tls_stream, req, t);
      auto [rec, rn] = co_await http::async_read(tls_stream, buffer, parser, t);
      result = wec ? wec : rec;
    } else {
      auto [wec, wn] = co_await http::async_write(tcp_stream, req, t);
      auto [rec, rn] = co_await http::async_read(tcp_stream, buffer, parser, t);
      result = wec ? wec : rec;
    }
  };
  net::co_spawn(ioc, run(), net::detached);
  ioc.run_for(timeout);
  BOOST_REQUIRE_MESSAGE(!result, "HTTP request to port " << port << " failed: " << result.message());
  return parser.release();
}

http::response<http::string_body> http_get(std::uint16_t port, const std::string& target, bool tls,
                                           const std::string& host) {
  http::request<http::string_body> req{http::verb::get, target, 11};
  req.set(http::field::host, host);
  return http_request(port, std::move(req), tls);
}

}  // namespace tt
