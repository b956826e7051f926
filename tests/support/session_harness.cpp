#include "session_harness.hpp"

#include <zlib.h>

#include <algorithm>
#include <stdexcept>

#include "config/config.hpp"
#include "session/session.hpp"

namespace tether::testing {
namespace {

/// What a reconnect sends again (the harness's backends do not check it).
constexpr const char* upstream_request =
    "GET / HTTP/1.1\r\n"
    "Host: backend\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "\r\n";

/// Reconnects at once (1 ms, the smallest backoff the config allows).
constexpr const char* default_route_yaml = R"(    reconnect:
      backoff:
        initial: 1ms
        max: 1ms
        jitter: 0
)";

}  // namespace

bytes to_bytes(std::string_view s) { return {s.begin(), s.end()}; }

bytes deflate_message(std::span<const std::uint8_t> in, int level) {
  z_stream z{};
  deflateInit2(&z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  bytes out(deflateBound(&z, static_cast<uLong>(in.size())) + 16);
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_SYNC_FLUSH);
  // What zlib left unused, and the sync flush's tail (erase: g++ 12 takes a
  // shrinking resize for a possible huge growth).
  out.erase(out.end() - static_cast<std::ptrdiff_t>(z.avail_out + 4), out.end());
  deflateEnd(&z);
  return out;
}

namespace {

/// False when `in` is not a valid compressed message.
bool inflate_message(bytes in, bytes& out) {
  static constexpr std::uint8_t tail[] = {0x00, 0x00, 0xFF, 0xFF};
  in.insert(in.end(), std::begin(tail), std::end(tail));
  z_stream z{};
  inflateInit2(&z, -15);
  z.next_in = in.data();
  z.avail_in = static_cast<uInt>(in.size());
  out.clear();
  int rc = Z_OK;
  while (rc == Z_OK && z.avail_in != 0) {
    std::uint8_t buf[16384];
    z.next_out = buf;
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_SYNC_FLUSH);
    out.insert(out.end(), buf, buf + (sizeof buf - z.avail_out));
  }
  inflateEnd(&z);
  return rc == Z_OK || rc == Z_STREAM_END;
}

}  // namespace

bytes encode_frame(ws::opcode op, bool fin, std::span<const std::uint8_t> payload, bool masked,
                   std::array<std::uint8_t, 4> key, bool rsv1) {
  bytes out;
  out.push_back(static_cast<std::uint8_t>((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | static_cast<std::uint8_t>(op)));
  const std::uint8_t m = masked ? 0x80 : 0;
  const auto n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<std::uint8_t>(m | n));
  } else if (n <= 0xFFFF) {
    out.push_back(m | 126);
    out.push_back(static_cast<std::uint8_t>(n >> 8));
    out.push_back(static_cast<std::uint8_t>(n));
  } else {
    out.push_back(m | 127);
    for (int i = 7; i >= 0; --i) {
      out.push_back(static_cast<std::uint8_t>(static_cast<std::uint64_t>(n) >> (8 * i)));
    }
  }
  if (masked) {
    out.insert(out.end(), key.begin(), key.end());
  }
  const auto at = out.size();
  out.insert(out.end(), payload.begin(), payload.end());
  if (masked) {
    for (std::size_t i = 0; i < n; ++i) {
      out[at + i] ^= key[i % 4];
    }
  }
  return out;
}

bytes close_payload(std::uint16_t code, std::string_view reason) {
  bytes b{static_cast<std::uint8_t>(code >> 8), static_cast<std::uint8_t>(code & 0xFF)};
  b.insert(b.end(), reason.begin(), reason.end());
  return b;
}

void frame_decoder::feed(std::span<const std::uint8_t> in) {
  buf_.insert(buf_.end(), in.begin(), in.end());
  std::size_t at = 0;
  while (violation.empty()) {
    const auto avail = buf_.size() - at;
    if (avail < 2) {
      break;
    }
    const std::uint8_t b0 = buf_[at];
    const std::uint8_t b1 = buf_[at + 1];
    const bool fin = (b0 & 0x80) != 0;
    const auto op = static_cast<ws::opcode>(b0 & 0x0F);
    const bool masked = (b1 & 0x80) != 0;
    std::size_t header = 2;
    std::uint64_t len = b1 & 0x7F;
    if (len == 126) {
      header += 2;
    } else if (len == 127) {
      header += 8;
    }
    if (masked) {
      header += 4;
    }
    if (avail < header) {
      break;
    }
    if (len == 126) {
      len = (std::uint64_t{buf_[at + 2]} << 8) | buf_[at + 3];
    } else if (len == 127) {
      len = 0;
      for (int i = 0; i < 8; ++i) {
        len = (len << 8) | buf_[at + 2 + static_cast<std::size_t>(i)];
      }
    }
    if (len > (std::uint64_t{1} << 31)) {
      violation = "frame length " + std::to_string(len);
      break;
    }
    if (avail < header + len) {
      break;
    }
    bytes payload(buf_.begin() + static_cast<std::ptrdiff_t>(at + header),
                  buf_.begin() + static_cast<std::ptrdiff_t>(at + header + len));
    if (masked) {
      const auto* key = &buf_[at + header - 4];
      for (std::size_t i = 0; i < payload.size(); ++i) {
        payload[i] ^= key[i % 4];
      }
    }
    at += header + static_cast<std::size_t>(len);
    if (close_code) {
      after_close = true;
      continue;
    }
    if (masked != masked_) {
      violation = masked ? "masked frame toward a client" : "unmasked frame toward a server";
    } else if ((b0 & 0x30) != 0 ||
               ((b0 & 0x40) != 0 && !(compressed_ok_ && (op == ws::opcode::text || op == ws::opcode::binary)))) {
      violation = "reserved bits set";
    }
    if (!violation.empty()) {
      break;
    }
    switch (op) {
      case ws::opcode::cont:
        if (!message_op_) {
          violation = "continuation without a message";
          break;
        }
        message_.insert(message_.end(), payload.begin(), payload.end());
        break;
      case ws::opcode::text:
      case ws::opcode::binary:
        if (message_op_) {
          violation = "new message inside a message";
          break;
        }
        message_op_ = op;
        message_compressed_ = (b0 & 0x40) != 0;
        message_ = std::move(payload);
        break;
      case ws::opcode::close:
      case ws::opcode::ping:
      case ws::opcode::pong:
        if (!fin || len > 125) {
          violation = "bad control frame";
          break;
        }
        if (op == ws::opcode::close) {
          close_code = payload.size() >= 2 ? static_cast<std::uint16_t>((payload[0] << 8) | payload[1])
                                           : ws::close_code::no_status;
          if (payload.size() > 2) {
            close_reason.assign(payload.begin() + 2, payload.end());
          }
        } else {
          controls.push_back({op, std::move(payload)});
        }
        continue;
      default:
        violation = "unknown opcode";
        break;
    }
    if (violation.empty() && fin && message_op_ && message_compressed_) {
      bytes clear;
      last_compressed = message_;
      if (!inflate_message(std::move(message_), clear)) {
        violation = "invalid deflate data";
        break;
      }
      message_ = std::move(clear);
      ++compressed_messages;
    }
    if (violation.empty() && fin && message_op_) {
      messages.push_back({*message_op_, std::move(message_)});
      message_op_.reset();
      message_.clear();
    }
  }
  buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(at));
}

std::string session_harness::config_yaml(const options& o) {
  return std::string(R"(listeners:
  - name: public
    bind: "127.0.0.1:0"
log:
  access: false
routes:
  - name: r
    upstream:
      url: "ws://127.0.0.1:9"
)") + (o.route_yaml.empty() ? default_route_yaml : o.route_yaml);
}

session_harness::session_harness(options o) : opts_(std::move(o)), rng_(opts_.seed * 2 + 1) {
  auto parsed = parse_config(config_yaml(opts_), "harness.yaml");
  if (!parsed.value) {
    std::string all = "harness config:";
    for (const auto& e : parsed.errors) {
      all += "\n  " + e;
    }
    throw std::runtime_error(all);
  }
  metrics_ = std::make_unique<metrics>(1);
  std::string error;
  rt_ = runtime::make(parsed.value, *metrics_, error);
  if (!rt_) {
    throw std::runtime_error("harness runtime: " + error);
  }
  listener_ = std::make_shared<listener_context>("public", metrics_->listener("public"));
  worker_ = std::make_unique<worker>(0, std::chrono::milliseconds(10), std::chrono::microseconds(0));
  worker_->seed(opts_.seed);
  worker_->set_connector(this);
  client_ = std::make_shared<memory_pipe>(worker_->poller());
  backends_.push_back(std::make_shared<memory_pipe>(worker_->poller()));
  to_backends_.emplace_back(true, opts_.compression);
  to_client_ = frame_decoder(false, opts_.compression);
  const auto& route = rt_->route(&rt_->cfg().routes.front());
  ws::deflate_params deflate;
  deflate.on = opts_.compression;
  ws::deflate_params upstream_deflate = deflate;
  upstream_deflate.send_window_bits = opts_.upstream_window_bits;
  session_ = session::relay_without_handshake(
      *worker_, rt_, listener_, route, std::make_unique<memory_stream>(client_),
      std::make_unique<memory_stream>(backends_.front()),
      route.cfg->reconnect.enabled ? upstream_request : "", "/", deflate, upstream_deflate);
  poll();
}

session_harness::~session_harness() {
  if (!session_.expired()) {
    // Both connections fail, which stops a reconnect under way (its
    // coroutine must not outlive the worker's poller). A session that still
    // waits (e.g. for the close timeout after its close frame) is let go by
    // the worker, as at shutdown without drain.
    client_->fail();
    for (auto& b : backends_) {
      b->fail();
    }
  }
  poll();
  worker_.reset();
}

bool session_harness::session_finished() const {
  auto s = session_.lock();
  return !s || s->finished();
}

void session_harness::poll() {
  auto& ioc = worker_->ioc();
  for (;;) {
    if (ioc.stopped()) {
      ioc.restart();
    }
    if (ioc.poll() == 0) {
      break;
    }
  }
}

bool session_harness::run_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  auto& ioc = worker_->ioc();
  for (;;) {
    poll();
    if (done()) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= until) {
      return false;
    }
    if (ioc.stopped()) {
      ioc.restart();
    }
    ioc.run_one_for(std::chrono::milliseconds(1));
  }
}

void session_harness::send_pieces(memory_pipe& p, std::span<const std::uint8_t> b, std::size_t max_piece) {
  std::size_t at = 0;
  while (at < b.size()) {
    const auto left = b.size() - at;
    std::size_t n = left;
    if (max_piece > 0) {
      n = std::min(left, max_piece);
    } else if (left > 1) {
      // Mostly small pieces (splitting headers), sometimes the rest at once.
      const auto cap = random() % 3 == 0 ? left : std::min<std::size_t>(left, 9);
      n = 1 + random() % cap;
    }
    p.push(b.subspan(at, n));
    poll();
    at += n;
  }
}

bytes session_harness::message_frames(ws::opcode op, std::span<const std::uint8_t> clear, int fragments,
                                      bool masked, bool compress) {
  const bytes deflated = compress ? deflate_message(clear) : bytes{};
  const std::span<const std::uint8_t> payload = compress ? std::span<const std::uint8_t>(deflated) : clear;
  if (fragments <= 0) {
    fragments = 1 + static_cast<int>(random() % 4);
  }
  std::vector<std::size_t> cuts;
  for (int i = 1; i < fragments; ++i) {
    cuts.push_back(payload.empty() ? 0 : random() % (payload.size() + 1));
  }
  std::sort(cuts.begin(), cuts.end());
  cuts.push_back(payload.size());
  bytes out;
  std::size_t from = 0;
  for (std::size_t i = 0; i < cuts.size(); ++i) {
    const auto r = random();
    std::array<std::uint8_t, 4> key{static_cast<std::uint8_t>(r), static_cast<std::uint8_t>(r >> 8),
                                    static_cast<std::uint8_t>(r >> 16), static_cast<std::uint8_t>(r >> 24)};
    const auto f = encode_frame(i == 0 ? op : ws::opcode::cont, i + 1 == cuts.size(),
                                payload.subspan(from, cuts[i] - from), masked, key, compress && i == 0);
    out.insert(out.end(), f.begin(), f.end());
    from = cuts[i];
  }
  return out;
}

void session_harness::client_bytes(std::span<const std::uint8_t> b, std::size_t max_piece) {
  send_pieces(*client_, b, max_piece);
}

void session_harness::client_message(ws::opcode op, std::span<const std::uint8_t> payload, int fragments,
                                     bool compress) {
  client_bytes(message_frames(op, payload, fragments, true, compress));
}

void session_harness::client_close(std::uint16_t code, std::string_view reason) {
  client_bytes(encode_frame(ws::opcode::close, true, close_payload(code, reason), true));
}

void session_harness::backend_bytes(std::span<const std::uint8_t> b, std::size_t max_piece) {
  send_pieces(backend(), b, max_piece);
}

void session_harness::backend_message(ws::opcode op, std::span<const std::uint8_t> payload, int fragments,
                                      bool compress) {
  backend_bytes(message_frames(op, payload, fragments, false, compress));
}

void session_harness::backend_close(std::uint16_t code, std::string_view reason) {
  backend_bytes(encode_frame(ws::opcode::close, true, close_payload(code, reason), false));
}

void session_harness::backend_drop(bool reset) {
  if (reset) {
    backend().fail();
  } else {
    backend().end_input();
  }
  poll();
}

void session_harness::collect() {
  to_client_.feed(client_->take_output());
  for (std::size_t i = 0; i < backends_.size(); ++i) {
    to_backends_[i].feed(backends_[i]->take_output());
  }
}

frame_decoder& session_harness::to_backend(std::size_t i) {
  collect();
  return to_backends_[i == npos ? to_backends_.size() - 1 : i];
}

std::vector<ws_message> session_harness::all_backend_messages() {
  collect();
  std::vector<ws_message> all;
  for (const auto& d : to_backends_) {
    all.insert(all.end(), d.messages.begin(), d.messages.end());
  }
  return all;
}

awaitable<upstream_attempt> session_harness::open(const upstream_dial& d) {
  ++attempts_;
  upstream_attempt out;
  if (!opts_.accept_reconnects) {
    out.error = "harness: " + d.url.text + " refused";
    co_return out;
  }
  backends_.push_back(std::make_shared<memory_pipe>(worker_->poller()));
  to_backends_.emplace_back(true, opts_.compression);
  out.result = upstream_attempt::status::ok;
  out.deflate.on = opts_.compression;
  out.deflate.send_window_bits = opts_.upstream_window_bits;
  out.stream = std::make_unique<memory_stream>(backends_.back());
  co_return out;
}

}  // namespace tether::testing
