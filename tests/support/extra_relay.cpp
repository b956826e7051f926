#include "extra_relay.hpp"

#include <random>

namespace tt {

raw_ws::raw_ws(std::uint16_t port, bool tls, const std::string& target) : c_(port, tls) {
  if (!c_.connected()) {
    return;
  }
  auto got = c_.upgrade(target);
  const auto end = got.find("\r\n\r\n");
  if (end == std::string::npos) {
    head_ = got;
    return;
  }
  head_ = got.substr(0, end + 4);
  buf_ = got.substr(end + 4);  // frames that came right behind the 101
  upgraded_ = head_.rfind("HTTP/1.1 101", 0) == 0;
}

std::optional<wire_frame> raw_ws::next_frame(ms timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto f = parse_server_frame(buf_);
    if (f.size > 0) {
      wire_frame w{f.opcode, f.fin, (static_cast<std::uint8_t>(buf_[1]) & 0x80) != 0, std::move(f.payload)};
      buf_.erase(0, f.size);
      return w;
    }
    const auto left = std::chrono::duration_cast<ms>(end - std::chrono::steady_clock::now());
    if (c_.eof() || left <= 0ms) {
      return std::nullopt;
    }
    buf_ += c_.read_some(left);
  }
}

std::optional<wire_frame> raw_ws::wait_close_frame(ms timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto f = next_frame(std::chrono::duration_cast<ms>(end - std::chrono::steady_clock::now()));
    if (!f || f->opcode == 8) {
      return f;
    }
  }
}

bool raw_ws::wait_eof(ms timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!c_.eof()) {
    const auto left = std::chrono::duration_cast<ms>(end - std::chrono::steady_clock::now());
    if (left <= 0ms) {
      return false;
    }
    c_.read_some(left);
  }
  return true;
}

std::string server_frame(std::uint8_t first_byte, const std::string& payload) {
  return client_frame(first_byte, payload, /*mask=*/false);
}

std::string close_body(std::uint16_t code, const std::string& reason) {
  std::string s;
  s.push_back(static_cast<char>(code >> 8));
  s.push_back(static_cast<char>(code & 0xFF));
  return s + reason;
}

std::string random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::string s(n, '\0');
  for (auto& ch : s) {
    ch = static_cast<char>(gen() & 0xFF);
  }
  return s;
}

}  // namespace tt
