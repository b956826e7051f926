#include "conformance_transcript.hpp"

#include <sstream>

namespace tt::conformance {
namespace {

/// The per-case reading budget: a broken proxy fails a case, never hangs it.
constexpr auto read_budget = 3000ms;

std::string close_text(const std::string& payload) {
  return payload.size() < 2 ? "close (no code)" : show_close(close_code_of(payload), payload.substr(2));
}

}  // namespace

std::string show(const std::string& bytes) {
  std::ostringstream out;
  if (bytes.size() > 48) {
    std::uint32_t h = 2166136261u;
    for (const char ch : bytes) {
      h = (h ^ static_cast<std::uint8_t>(ch)) * 16777619u;
    }
    out << bytes.size() << " bytes, fnv " << std::hex << h;
    return out.str();
  }
  out << '\'';
  for (const char ch : bytes) {
    const auto u = static_cast<std::uint8_t>(ch);
    if (u >= 0x20 && u < 0x7F && ch != '\\' && ch != '\'') {
      out << ch;
    } else {
      out << "\\x" << std::hex << (u >> 4) << (u & 0xF) << std::dec;
    }
  }
  out << '\'';
  return out.str();
}

std::string show(const message& m, bool partial) {
  return std::string(partial ? "partial " : "") + (m.text ? "text " : "binary ") + show(m.data);
}

std::string show_close(std::uint16_t code, const std::string& reason) {
  return code == 1005 ? "close (no code)" : "close " + std::to_string(code) + " " + show(reason);
}

std::string join(const std::vector<std::string>& events) {
  std::string s;
  for (const auto& e : events) {
    s += (s.empty() ? "" : " | ") + e;
  }
  return s.empty() ? "(nothing)" : s;
}

transcript::transcript(peer& p) : p_(p), end_(std::chrono::steady_clock::now() + read_budget) {}

std::vector<std::string> transcript::until(const std::function<bool(const wire_frame&)>& stop) {
  for (;;) {
    const auto left = std::chrono::duration_cast<ms>(end_ - std::chrono::steady_clock::now());
    auto f = p_.next_frame(std::max(left, 1ms));
    if (!f) {
      flush_partial();
      events_.push_back(p_.ended() ? "eof" : "silence");
      return take();
    }
    if (f->masked != !p_.is_client()) {
      events_.push_back("mask bit wrong");
    }
    if (stop(*f)) {
      return take();
    }
    if (f->opcode == 0x8) {
      flush_partial();
      events_.push_back(close_text(f->payload));
      close_payload_ = f->payload;
      return take();
    }
    add(*f);
  }
}

std::vector<std::string> transcript::to_end(bool answer) {
  auto got = until([](const wire_frame&) { return false; });
  if (close_payload_) {
    if (answer) {
      p_.send(client_frame(0x88, *close_payload_, p_.is_client()));
    }
    close_payload_.reset();
    const auto rest = until([](const wire_frame&) { return false; });
    got.insert(got.end(), rest.begin(), rest.end());
  }
  return got;
}

void transcript::add(const wire_frame& f) {
  if (f.opcode == 0x9 || f.opcode == 0xA) {
    events_.push_back((f.opcode == 0x9 ? "ping " : "pong ") + show(f.payload));
    return;
  }
  if (f.opcode == 0x1 || f.opcode == 0x2) {
    if (building_) {
      events_.push_back("new message inside a message");
    }
    building_ = message{f.opcode == 0x1, {}};
  } else if (f.opcode != 0x0 || !building_) {
    events_.push_back("stray frame, opcode " + std::to_string(f.opcode));
    return;
  }
  building_->data += f.payload;
  if (f.fin) {
    events_.push_back(show(*building_));
    building_.reset();
  }
}

void transcript::flush_partial() {
  if (building_) {
    events_.push_back(show(*building_, true));
    building_.reset();
  }
}

}  // namespace tt::conformance
