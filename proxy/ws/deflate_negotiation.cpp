#include "ws/deflate_negotiation.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

namespace tether::ws {
namespace {

constexpr std::string_view extension_name = "permessage-deflate";

struct param {
  std::string name;
  std::optional<std::string> value;
};
struct element {
  std::string name;
  std::vector<param> params;
};

bool is_tchar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

/// RFC 6455 section 9.1's extension list; nullopt on a syntax error.
class list_reader {
 public:
  explicit list_reader(std::string_view text) : s_(text) {}

  std::optional<std::vector<element>> read() {
    std::vector<element> out;
    for (;;) {
      skip_space();
      if (at_end()) {
        return out;
      }
      if (peek() == ',') {  // empty list elements are allowed (RFC 9110 5.6.1)
        ++i_;
        continue;
      }
      element e;
      if (!token(e.name)) {
        return std::nullopt;
      }
      skip_space();
      while (!at_end() && peek() == ';') {
        ++i_;
        skip_space();
        param p;
        if (!token(p.name)) {
          return std::nullopt;
        }
        skip_space();
        if (!at_end() && peek() == '=') {
          ++i_;
          skip_space();
          std::string v;
          if (!(at_end() ? false : peek() == '"' ? quoted(v) : token(v))) {
            return std::nullopt;
          }
          p.value = std::move(v);
          skip_space();
        }
        e.params.push_back(std::move(p));
      }
      out.push_back(std::move(e));
      if (at_end()) {
        return out;
      }
      if (peek() != ',') {
        return std::nullopt;
      }
      ++i_;
    }
  }

 private:
  bool at_end() const { return i_ >= s_.size(); }
  char peek() const { return s_[i_]; }
  void skip_space() {
    while (!at_end() && (peek() == ' ' || peek() == '\t')) {
      ++i_;
    }
  }
  bool token(std::string& out) {
    const auto start = i_;
    while (!at_end() && is_tchar(peek())) {
      ++i_;
    }
    out.assign(s_.substr(start, i_ - start));
    return i_ > start;
  }
  bool quoted(std::string& out) {
    ++i_;  // opening quote
    while (!at_end()) {
      const char c = s_[i_++];
      if (c == '"') {
        return true;
      }
      if (c == '\\') {
        if (at_end()) {
          return false;
        }
        out += s_[i_++];
      } else {
        out += c;
      }
    }
    return false;
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

/// One permessage-deflate element's parameters, as section 7 defines them.
struct deflate_element {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  std::optional<int> server_max_window_bits;
  bool client_max_window_bits = false;  // present (with or without a value)
  std::optional<int> client_max_window_bits_value;
};

std::optional<int> window_bits(const std::optional<std::string>& v) {
  // 1*DIGIT without leading zeros, 8 to 15.
  if (!v || v->empty() || v->size() > 2 || (*v)[0] == '0' ||
      !std::all_of(v->begin(), v->end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  const int n = std::stoi(*v);
  if (n < 8 || n > 15) {
    return std::nullopt;
  }
  return n;
}

/// nullopt when a parameter is unknown, repeated or has a bad value (an
/// offer or response a peer must refuse). `response`: client_max_window_bits
/// then needs its value.
std::optional<deflate_element> read_element(const element& e, bool response) {
  deflate_element out;
  std::vector<std::string_view> seen;
  for (const auto& p : e.params) {
    if (std::find(seen.begin(), seen.end(), p.name) != seen.end()) {
      return std::nullopt;
    }
    seen.push_back(p.name);
    if (p.name == "server_no_context_takeover" || p.name == "client_no_context_takeover") {
      if (p.value) {
        return std::nullopt;
      }
      (p.name[0] == 's' ? out.server_no_context_takeover : out.client_no_context_takeover) = true;
    } else if (p.name == "server_max_window_bits") {
      out.server_max_window_bits = window_bits(p.value);
      if (!out.server_max_window_bits) {
        return std::nullopt;
      }
    } else if (p.name == "client_max_window_bits") {
      out.client_max_window_bits = true;
      if (p.value || response) {
        out.client_max_window_bits_value = window_bits(p.value);
        if (!out.client_max_window_bits_value) {
          return std::nullopt;
        }
      }
    } else {
      return std::nullopt;
    }
  }
  return out;
}

}  // namespace

std::optional<deflate_answer> answer_deflate_offer(std::string_view offers,
                                                   const compression_config& c) {
  if (!c.client) {
    return std::nullopt;
  }
  const auto list = list_reader(offers).read();
  if (!list) {
    return std::nullopt;
  }
  for (const auto& e : *list) {
    if (e.name != extension_name) {
      continue;
    }
    const auto offer = read_element(e, /*response=*/false);
    if (!offer) {
      continue;  // section 7.1: decline an offer with a bad parameter
    }
    deflate_answer a;
    a.params.on = true;
    // Server to client: tether deflates, within what the client allows.
    int send_bits = c.max_window_bits;
    if (offer->server_max_window_bits) {
      send_bits = std::min(send_bits, *offer->server_max_window_bits);
    }
    if (send_bits < 9) {
      continue;  // zlib cannot keep to an 8-bit window: decline this offer
    }
    a.params.send_window_bits = static_cast<std::uint8_t>(send_bits);
    a.params.send_reset = !c.send_takeover || offer->server_no_context_takeover;
    // Client to server: tether inflates; it may narrow the client's window
    // only when the client said it can be narrowed.
    int receive_bits = 15;
    if (offer->client_max_window_bits) {
      receive_bits = std::min(offer->client_max_window_bits_value.value_or(15), c.max_window_bits);
    }
    a.params.receive_window_bits = static_cast<std::uint8_t>(receive_bits);
    a.params.receive_reset = !c.receive_takeover || offer->client_no_context_takeover;

    a.header = std::string(extension_name);
    if (a.params.send_reset) {
      a.header += "; server_no_context_takeover";
    }
    if (a.params.receive_reset) {
      a.header += "; client_no_context_takeover";
    }
    if (offer->server_max_window_bits || send_bits < 15) {
      a.header += "; server_max_window_bits=" + std::to_string(send_bits);
    }
    if (offer->client_max_window_bits && receive_bits < 15) {
      a.header += "; client_max_window_bits=" + std::to_string(receive_bits);
    }
    return a;
  }
  return std::nullopt;
}

std::string make_deflate_offer(const compression_config& c) {
  if (!c.upstream) {
    return {};
  }
  std::string offer(extension_name);
  if (!c.send_takeover) {
    offer += "; client_no_context_takeover";
  }
  if (!c.receive_takeover) {
    offer += "; server_no_context_takeover";
  }
  if (c.max_window_bits < 15) {
    offer += "; server_max_window_bits=" + std::to_string(c.max_window_bits);
  }
  return offer;
}

deflate_accept accept_deflate_answer(std::string_view response, std::string_view offer) {
  deflate_accept out;
  const auto answer = list_reader(response).read();
  if (!answer) {
    out.error = "upstream sent a malformed Sec-WebSocket-Extensions";
    return out;
  }
  if (answer->empty()) {
    return out;  // declined: the leg runs uncompressed
  }
  const auto offered = list_reader(offer).read();
  const bool made_offer = offered && offered->size() == 1 && (*offered)[0].name == extension_name;
  if (!made_offer || answer->size() != 1 || (*answer)[0].name != extension_name) {
    out.error = "upstream accepted an extension tether did not offer";
    return out;
  }
  const auto ours = read_element((*offered)[0], false);
  const auto theirs = read_element((*answer)[0], true);
  if (!ours || !theirs) {
    out.error = "upstream answered permessage-deflate with invalid parameters";
    return out;
  }
  // Section 7.1.2: a client_max_window_bits the client did not offer, or a
  // server window larger than the one asked for, fails the connection.
  if (theirs->client_max_window_bits && !ours->client_max_window_bits) {
    out.error = "upstream set client_max_window_bits, which tether did not offer";
    return out;
  }
  if (ours->server_max_window_bits && theirs->server_max_window_bits.value_or(15) > *ours->server_max_window_bits) {
    out.error = "upstream chose a window larger than tether asked for";
    return out;
  }
  out.params.on = true;
  out.params.receive_window_bits = static_cast<std::uint8_t>(theirs->server_max_window_bits.value_or(15));
  // A server that did not confirm server_no_context_takeover may keep its
  // context: tether then keeps an inflate context for the leg.
  out.params.receive_reset = theirs->server_no_context_takeover;
  // tether may always reset its own context; it keeps it only when it did
  // not say it would not and the server does not forbid it.
  out.params.send_reset = ours->client_no_context_takeover || theirs->client_no_context_takeover;
  if (theirs->client_max_window_bits_value) {
    out.params.send_window_bits = static_cast<std::uint8_t>(*theirs->client_max_window_bits_value);
  }
  return out;
}

deflate_params limited_by(deflate_params p, const compression_config& c) {
  p.send_window_bits = static_cast<std::uint8_t>(std::min<int>(p.send_window_bits, c.max_window_bits));
  return p;
}

}  // namespace tether::ws
