#include "conformance_runner.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/test/unit_test.hpp>

#include "conformance_transcript.hpp"

namespace tt::conformance {
namespace {

const message sentinel{true, "sentinel"};

std::string config(const std::string& backend_url, bool tls) {
  return listener_yaml(tls) + "defaults:\n  limits: {max_message_size: " + std::to_string(message_limit / 1024) +
         "KiB}\n  reconnect: {enabled: false}\n  heartbeat:\n    client: {ping_interval: 0s}\n"
         "    upstream: {ping_interval: 0s}\nroutes:\n" +
         hostile::route("r", backend_url);
}

/// The frame as the peer puts it on the wire, header tricks included.
std::string wire(const frame_spec& f, bool from_client) {
  const bool mask = from_client != f.wrong_mask;
  auto w = client_frame(f.first_byte, f.payload, mask);
  if (f.form == length_form::minimal) {
    return w;
  }
  // Only short payloads get a longer length form: their minimal header is 2 bytes.
  const auto mask_bit = static_cast<char>(mask ? 0x80 : 0);
  std::string head(1, w[0]);
  if (f.form == length_form::ext16) {
    head += std::string{static_cast<char>(mask_bit | 126), 0, static_cast<char>(f.payload.size())};
  } else {
    head += static_cast<char>(mask_bit | 127);
    head += static_cast<char>(f.form == length_form::top_bit ? 0x80 : f.form == length_form::huge ? 0x40 : 0);
    head += std::string(6, '\0');
    head += static_cast<char>(f.payload.size());
  }
  return head + w.substr(2);
}

void write_frames(peer& p, const std::vector<frame_spec>& frames) {
  for (const auto& f : frames) {
    const auto bytes = wire(f, p.is_client());
    if (f.chop == 0) {
      p.send(bytes);  // may fail once tether has closed: the transcripts tell
      continue;
    }
    for (std::size_t at = 0; at < bytes.size(); at += f.chop) {
      p.send(bytes.substr(at, f.chop));
      std::this_thread::sleep_for(1ms);
    }
  }
}

bool is_message(const wire_frame& f, const message& m) {
  return f.fin && f.opcode == (m.text ? 0x1 : 0x2) && f.payload == m.data;
}

struct comparison {
  std::vector<std::pair<std::string, std::string>> mismatches;  // (what, detail)
  void check(const std::string& who, const std::vector<std::string>& want, const std::vector<std::string>& got) {
    if (want != got) {
      mismatches.emplace_back(who, "expected: " + join(want) + "\n   got:      " + join(got));
    }
  }
};

}  // namespace

runner::runner(direction d, bool tls) : dir_(d), tls_(tls), tether_(config(backend_.url(), tls)) {}

double runner::active_sessions() const { return tether_.metric("tether_sessions_active{route=\"r\"}"); }

void runner::run(const conf_case& c, std::size_t index) {
  const auto target = "/case-" + std::to_string(index);
  client_peer client(tether_.port(), tls_, target);
  BOOST_REQUIRE_MESSAGE(client.upgraded(), "no 101 for the case's session");
  // Chopped frames must leave in separate segments, not wait for an ACK
  // (Nagle); raw_client keeps its socket to itself, so find it by its peer.
  hostile::for_each_tcp_socket([&](std::uint16_t, std::uint16_t peer_port, int fd) {
    if (peer_port == tether_.port()) {
      int on = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    }
  });
  auto backend = backend_.next();
  BOOST_REQUIRE_MESSAGE(backend, "tether opened no upstream connection");
  BOOST_REQUIRE_MESSAGE(backend->head().rfind("GET " + target + " ", 0) == 0, "upstream request for another case");
  const bool up = dir_ == direction::client_to_backend;
  peer& sender = up ? static_cast<peer&>(client) : *backend;
  peer& receiver = up ? static_cast<peer&>(*backend) : client;
  const auto& e = c.expect;

  std::vector<std::string> want_receiver, want_sender;
  for (const auto& m : e.relayed) {
    want_receiver.push_back(show(m));
  }
  if (e.partial) {
    want_receiver.push_back(show(*e.partial, true));
  }
  for (const auto& p : e.pongs) {
    want_sender.push_back("pong " + show(p));
  }

  write_frames(sender, c.frames);
  comparison cmp;
  transcript at_receiver(receiver), at_sender(sender);
  if (e.end == ending::stays_open) {
    write_frames(sender, {ping(sentinel.data), text(sentinel.data)});
    cmp.check("receiver", want_receiver, at_receiver.until([](const wire_frame& f) { return is_message(f, sentinel); }));
    cmp.check("sender", want_sender, at_sender.until([](const wire_frame& f) {
      return f.opcode == 0xA && f.payload == sentinel.data;
    }));
    if (cmp.mismatches.empty()) {
      // Still a healthy session: a normal closing handshake, the client first.
      client.send(client_frame(0x88, close_body(1000, "done")));
      transcript at_client(client), at_backend(*backend);
      cmp.check("backend at the close", {show_close(1000, "done"), "eof"}, at_backend.to_end(true));
      cmp.check("client at the close", {show_close(1000, "done"), "eof"}, at_client.to_end(false));
    }
  } else {
    if (e.end == ending::rejected) {
      const auto other = up ? std::uint16_t{1001} : (e.code == 1009 ? std::uint16_t{1009} : std::uint16_t{1014});
      if (!e.receiver_dropped) {
        want_receiver.push_back(show_close(other, {}));
      }
      want_sender.push_back(show_close(e.code, {}));
    } else {
      want_receiver.push_back(show_close(e.code, e.reason));
      want_sender.push_back(show_close(e.code, e.reason));
    }
    want_receiver.push_back("eof");
    want_sender.push_back("eof");
    cmp.check("receiver", want_receiver, at_receiver.to_end(true));
    cmp.check("sender", want_sender, at_sender.to_end(e.end == ending::rejected));
  }

  if (!c.known_bug.empty()) {
    BOOST_CHECK_MESSAGE(!cmp.mismatches.empty(), "marked as a known bug (" << c.known_bug << ") but passes");
    BOOST_TEST_MESSAGE("known bug (" << c.known_bug << "): " << (cmp.mismatches.empty() ? "" : cmp.mismatches[0].second));
    return;
  }
  for (const auto& [who, detail] : cmp.mismatches) {
    BOOST_ERROR(who << " transcript differs\n   " << detail);
  }
}

}  // namespace tt::conformance
