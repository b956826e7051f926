// RFC 8446 record rules on a relayed wss:// session, on the client leg and
// on a wss:// upstream leg, driven by an independent TLS 1.3 peer that
// crafts its own records (tls13_peer.hpp): the exact alert tether answers
// with, or the end of the connection, and a canary session that keeps
// working. With TETHER_TEST_RECORD_OFFLOAD=0 the same cases run against
// OpenSSL's record layer, which must behave the same.
#include <boost/test/unit_test.hpp>
#include <poll.h>
#include <sys/socket.h>

#include <future>

#include "test_modes.hpp"
#include "test_support.hpp"
#include "tls13_peer.hpp"

using namespace tt;

namespace {

constexpr std::uint8_t fatal = 2;
constexpr std::uint8_t unexpected_message = 10;
constexpr std::uint8_t record_overflow = 22;
constexpr std::uint8_t illegal_parameter = 47;
constexpr std::uint8_t decode_error = 50;


client_options tls_client(const std::string& target = "/") {
  client_options o;
  o.tls = true;
  o.host = "localhost";
  o.target = target;
  return o;
}

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) {
    s += static_cast<char>(c);
  }
  return s;
}

/// A relayed wss:// session whose one leg is a tls13_peer: the client
/// (upstream == false) or the wss:// backend (upstream == true).
struct relayed {
  bool upstream;
  test_listener crafted;
  test_backend canary_backend;
  std::unique_ptr<tether_instance> t;
  std::unique_ptr<tls13_peer> peer;
  std::unique_ptr<ws_client> client;  // upstream case: the session's client

  explicit relayed(bool up, const std::string& limits = {}) : upstream(up) {
    std::string yaml = listener_yaml(true) + "routes:\n";
    if (upstream) {
      yaml += "  - name: crafted\n    match: {path: /crafted}\n    upstream:\n      url: "
              "\"wss://localhost:" +
              std::to_string(crafted.port) + "\"\n      tls: {ca: " + cert_path("ca.crt") +
              "}\n    reconnect: {enabled: false}\n" + limits;
    }
    yaml += "  - name: canary\n    upstream:\n      url: \"" + canary_backend.url() + "\"\n" +
            limits;
    t = std::make_unique<tether_instance>(yaml);
    if (!upstream) {
      peer = tls13_peer::connect(t->port());
      BOOST_REQUIRE(peer);
      BOOST_REQUIRE(peer->ws_upgrade());
    } else {
      auto connecting = std::async(std::launch::async, [this] {
        boost::system::error_code ec;
        return ws_client::connect(t->port(), tls_client("/crafted"), ec);
      });
      peer = tls13_peer::accept(crafted.fd);
      BOOST_REQUIRE(peer);
      BOOST_REQUIRE(peer->ws_accept());
      client = connecting.get();
      BOOST_REQUIRE(client);
    }
    BOOST_REQUIRE(round_trip("fine so far"));  // the relay runs: the records are tether's
  }

  /// `text` through the session: the peer sends it, and sees it come back
  /// (echoed by the canary backend, or by the test's client).
  bool round_trip(const std::string& text) {
    if (!peer->send(tls13_peer::application_data, peer->ws_text_frame(text))) {
      return false;
    }
    if (upstream) {
      auto m = client->read(5000ms);
      if (!m || m->data != text || client->send_text(text)) {
        return false;
      }
    }
    auto back = peer->ws_read_text();
    return back && *back == text;
  }

  /// A fresh session through the same tether still relays.
  void canary() {
    auto c = ws_client::connect(t->port(), tls_client());
    BOOST_REQUIRE(!c->send_text("canary"));
    auto m = c->read();
    BOOST_REQUIRE(m);
    BOOST_CHECK_EQUAL(m->data, "canary");
  }

  void expect_alert(std::uint8_t description) {
    const auto e = peer->wait_end(5000ms);
    BOOST_CHECK_MESSAGE(e.alert, "no alert (timed out: " << e.timed_out << ")");
    BOOST_CHECK_EQUAL(int(e.level), int(fatal));
    BOOST_CHECK_EQUAL(int(e.description), int(description));
    BOOST_CHECK(e.closed);
    canary();
  }
};

/// The alert tether's own record layer sends, or, in the run with
/// record_offload off, the one OpenSSL 3.0 sends for the same fault.
std::uint8_t ours_or_openssl(std::uint8_t ours, std::uint8_t openssl) {
  return record_offload_on() ? ours : openssl;
}

/// Runs `attack` on each leg in turn and expects `description` back.
void on_both_legs(const std::function<void(tls13_peer&)>& attack, std::uint8_t description) {
  for (bool up : {false, true}) {
    BOOST_TEST_CONTEXT((up ? "upstream leg" : "client leg")) {
      relayed s(up);
      attack(*s.peer);
      s.expect_alert(description);
    }
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tls_record_rules_test)

BOOST_AUTO_TEST_CASE(zero_length_handshake_record_is_unexpected) {
  on_both_legs([](tls13_peer& p) { BOOST_REQUIRE(p.send(tls13_peer::handshake, "")); },
               unexpected_message);
}

BOOST_AUTO_TEST_CASE(all_zero_inner_plaintext_is_unexpected) {
  on_both_legs([](tls13_peer& p) { BOOST_REQUIRE(p.send_raw(p.seal_inner(std::string(8, '\0')))); },
               unexpected_message);
}

BOOST_AUTO_TEST_CASE(bad_request_update_is_an_illegal_parameter) {
  on_both_legs(
      [](tls13_peer& p) { BOOST_REQUIRE(p.send(tls13_peer::handshake, bytes({24, 0, 0, 1, 2}))); },
      illegal_parameter);
}

BOOST_AUTO_TEST_CASE(bad_key_update_length_is_a_decode_error) {
  on_both_legs(
      [](tls13_peer& p) {
        BOOST_REQUIRE(p.send(tls13_peer::handshake, bytes({24, 0, 0, 2, 1, 0})));
      },
      // OpenSSL refuses a KeyUpdate longer than 1 byte as an excessive message size.
      ours_or_openssl(decode_error, illegal_parameter));
  on_both_legs(
      [](tls13_peer& p) { BOOST_REQUIRE(p.send(tls13_peer::handshake, bytes({24, 0, 0, 0}))); },
      decode_error);
}

BOOST_AUTO_TEST_CASE(unexpected_handshake_messages_are_rejected) {
  // A client never sends a ticket; nobody sends a ClientHello now.
  relayed c(false);
  BOOST_REQUIRE(c.peer->send(tls13_peer::handshake, bytes({4, 0, 0, 1, 0})));
  c.expect_alert(unexpected_message);
  on_both_legs(
      [](tls13_peer& p) { BOOST_REQUIRE(p.send(tls13_peer::handshake, bytes({1, 0, 0, 1, 0}))); },
      unexpected_message);
  // A KeyUpdate must end its record: the key changes behind it.
  on_both_legs(
      [](tls13_peer& p) {
        BOOST_REQUIRE(p.send(tls13_peer::handshake, bytes({24, 0, 0, 1, 0, 24, 0, 0, 1, 0})));
      },
      unexpected_message);
}

BOOST_AUTO_TEST_CASE(key_update_split_across_records_is_accepted) {
  for (bool up : {false, true}) {
    for (std::size_t cut : {1U, 3U, 4U}) {
      BOOST_TEST_CONTEXT((up ? "upstream leg" : "client leg") << ", cut at " << cut) {
        relayed s(up);
        const std::string ku = bytes({24, 0, 0, 1, 1});  // update_requested
        BOOST_REQUIRE(s.peer->send(tls13_peer::handshake, ku.substr(0, cut)));
        BOOST_REQUIRE(s.peer->send(tls13_peer::handshake, ku.substr(cut)));
        s.peer->update_write_key();
        BOOST_CHECK(s.round_trip("after the update"));
        BOOST_CHECK_EQUAL(s.peer->key_updates_received(), 1);
        BOOST_CHECK(s.round_trip("and again"));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(malformed_alerts_get_decode_error) {
  for (const std::string& alert : {bytes({1}), bytes({1, 0, 0}), bytes({2, 40, 2})}) {
    BOOST_TEST_CONTEXT("alert of " << alert.size() << " bytes") {
      on_both_legs([&](tls13_peer& p) { BOOST_REQUIRE(p.send(tls13_peer::alert, alert)); },
                   ours_or_openssl(decode_error, unexpected_message));
    }
  }
}

BOOST_AUTO_TEST_CASE(empty_alert_is_unexpected) {
  // RFC 8446 5.4: a zero-length alert is unexpected_message, as OpenSSL answers.
  on_both_legs([](tls13_peer& p) { BOOST_REQUIRE(p.send(tls13_peer::alert, "")); },
               unexpected_message);
}

BOOST_AUTO_TEST_CASE(fatal_alert_from_the_peer_ends_without_close_notify) {
  for (bool up : {false, true}) {
    BOOST_TEST_CONTEXT((up ? "upstream leg" : "client leg")) {
      relayed s(up);
      BOOST_REQUIRE(s.peer->send(tls13_peer::alert, bytes({2, 40})));  // handshake_failure
      const auto e = s.peer->wait_end(5000ms);
      BOOST_CHECK_MESSAGE(!e.alert, "tether answered a fatal alert with alert "
                                        << int(e.level) << "/" << int(e.description));
      BOOST_CHECK(e.closed);
      s.canary();
    }
  }
}

BOOST_AUTO_TEST_CASE(padding_counts_against_the_inner_plaintext_limit) {
  if (!record_offload_on()) {
    BOOST_TEST_MESSAGE("skipped: OpenSSL 3.0 does not count padding against the limit");
    return;
  }
  // 2^14 bytes of data, the type and one zero: 2^14 + 2 > 2^14 + 1.
  on_both_legs(
      [](tls13_peer& p) {
        BOOST_REQUIRE(p.send(tls13_peer::application_data, std::string(16384, 'x'), 1));
      },
      record_overflow);
  // Padding within the limit is fine.
  relayed s(false);
  BOOST_REQUIRE(s.peer->send(tls13_peer::application_data, s.peer->ws_text_frame("padded"), 200));
  auto back = s.peer->ws_read_text();
  BOOST_REQUIRE(back);
  BOOST_CHECK_EQUAL(*back, "padded");
}

BOOST_AUTO_TEST_CASE(runs_of_records_without_data_are_bounded) {
  for (bool up : {false, true}) {
    BOOST_TEST_CONTEXT((up ? "upstream leg" : "client leg")) {
      // 32 in a row are fine, and data resets the count.
      relayed ok(up);
      for (int round = 0; round < 2; ++round) {
        for (int i = 0; i < 32; ++i) {
          BOOST_REQUIRE(ok.peer->send(tls13_peer::application_data, ""));
        }
        BOOST_CHECK(ok.round_trip("still fine"));
      }
    }
  }
  // One burst each, so nothing is still being sent when tether gives up.
  on_both_legs(
      [](tls13_peer& p) {
        std::string burst;
        for (int i = 0; i < 33; ++i) {
          burst += p.seal(tls13_peer::application_data, "");
        }
        BOOST_REQUIRE(p.send_raw(burst));
      },
      unexpected_message);
  if (!record_offload_on()) {
    return;  // OpenSSL bounds empty records only, not KeyUpdates
  }
  on_both_legs(
      [](tls13_peer& p) {
        std::string burst;
        for (int i = 0; i < 33; ++i) {
          burst += p.seal(tls13_peer::handshake, bytes({24, 0, 0, 1, 0}));
          p.update_write_key();
        }
        BOOST_REQUIRE(p.send_raw(burst));
      },
      unexpected_message);
}

BOOST_AUTO_TEST_CASE(close_notify_after_32_records_without_data_ends_cleanly) {
  // close_notify ends the reading, so it is not a 33rd record without data:
  // the peer gets no fatal alert (found by the record_stream fuzz target).
  for (bool up : {false, true}) {
    BOOST_TEST_CONTEXT((up ? "upstream leg" : "client leg")) {
      relayed s(up);
      std::string burst;
      for (int i = 0; i < 32; ++i) {
        burst += s.peer->seal(tls13_peer::application_data, "");
      }
      burst += s.peer->seal(tls13_peer::alert, bytes({1, 0}));
      BOOST_REQUIRE(s.peer->send_raw(burst));
      const auto e = s.peer->wait_end(5000ms);
      BOOST_CHECK_MESSAGE(!e.alert || e.level != fatal,
                          "tether answered close_notify with alert " << int(e.level) << "/" << int(e.description));
      BOOST_CHECK(e.closed);
      s.canary();
    }
  }
}

BOOST_AUTO_TEST_CASE(key_update_flood_from_a_peer_that_never_reads_is_held_back) {
  // KeyUpdates asking for a reply, each followed by a one-byte fragment of
  // one binary message, from a client that reads nothing: once tether's
  // replies fill the socket it must stop reading the client, so the
  // client's socket fills up too. Without that tether reads on and queues
  // replies without end (2 million of them were 76 MiB). The fragments keep
  // the session relaying (a backend takes a message of many small frames;
  // one frame announcing 1 GiB would be refused at once, and a closing
  // session stops reading for that reason instead).
  // What this cannot isolate: on loopback TCP stops the flood by itself.
  // With tether's read-stop removed the client still blocks, at the same
  // ~4 MB: once its receive queue is full, its own data stops reaching
  // tether (ss: client Send-Q 3.9 MB, tether Recv-Q 0). The test shows that
  // the flood ends and tether stays healthy, not which of the two ended it.
  relayed s(false, "    limits: {max_message_size: 1GiB}\n");
  int small = 4096;
  ::setsockopt(s.peer->fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  const auto fragment = [](bool first) {
    return bytes({first ? 0x02 : 0x00, 0x81, 9, 8, 7, 6, 'x' ^ 9});  // masked, not final
  };
  BOOST_REQUIRE(s.peer->send(tls13_peer::application_data, fragment(true)));
  constexpr std::size_t budget = 48 * 1024 * 1024;
  std::size_t sent = 0;
  bool blocked = false;
  const auto until = std::chrono::steady_clock::now() + 60s;
  std::string pending;
  while (sent < budget && std::chrono::steady_clock::now() < until) {
    if (pending.empty()) {
      pending = s.peer->seal(tls13_peer::handshake, bytes({24, 0, 0, 1, 1}));
      s.peer->update_write_key();
      pending += s.peer->seal(tls13_peer::application_data, fragment(false));
    }
    std::size_t n = 0;
    if (s.peer->try_send_raw(pending, n)) {
      pending.erase(0, n);
      sent += n;
      continue;
    }
    pollfd pfd{s.peer->fd(), POLLOUT, 0};
    if (::poll(&pfd, 1, 1000) == 0) {
      blocked = true;  // a whole second and tether took nothing
      break;
    }
  }
  BOOST_TEST_MESSAGE("flood: " << sent << " bytes before the client blocked");
  BOOST_CHECK_MESSAGE(blocked, "tether kept reading " << sent << " bytes of KeyUpdates");
  s.canary();
}

BOOST_AUTO_TEST_SUITE_END()
