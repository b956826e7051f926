// The relay run in memory (tests/support/session_harness.hpp): messages cross
// intact and in order both ways, whatever the fragmentation and however the
// bytes are split; they survive an upstream loss and reconnect; and bad input
// ends the session with the exact close codes.
#include <boost/test/unit_test.hpp>

#include "session_harness.hpp"

using namespace tether;
using namespace tether::testing;

namespace {

bytes random_payload(session_harness& h, std::size_t n, bool text) {
  bytes b(n);
  for (auto& c : b) {
    const auto r = h.random() >> 33;
    c = text ? static_cast<std::uint8_t>(' ' + r % 95) : static_cast<std::uint8_t>(r);
  }
  return b;
}

/// Sizes around the relay's thresholds: tiny, 125/126, 64 KiB (whole vs streamed).
std::size_t pick_size(session_harness& h, std::size_t i) {
  static constexpr std::size_t sizes[] = {0, 1, 125, 126, 127, 1000, 65535, 65536, 65537, 70000};
  return i % 3 == 0 ? sizes[(h.random() >> 20) % std::size(sizes)] : (h.random() >> 20) % 300;
}

std::vector<ws_message> send_many(session_harness& h, bool from_client, std::size_t count) {
  std::vector<ws_message> sent;
  for (std::size_t i = 0; i < count; ++i) {
    const bool text = (h.random() >> 40) % 2 == 0;
    const auto op = text ? ws::opcode::text : ws::opcode::binary;
    auto data = random_payload(h, pick_size(h, i), text);
    if (from_client) {
      h.client_message(op, data);
    } else {
      h.backend_message(op, data);
    }
    sent.push_back({op, std::move(data)});
  }
  return sent;
}

const std::string limited_route = R"(    limits:
      max_message_size: 1KiB
    reconnect:
      backoff:
        initial: 1ms
        max: 1ms
        jitter: 0
)";

}  // namespace

BOOST_AUTO_TEST_SUITE(relay_harness)

BOOST_AUTO_TEST_CASE(messages_cross_intact_and_in_order_both_ways) {
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    session_harness h({.seed = seed});
    const auto up = send_many(h, true, 40);
    const auto down = send_many(h, false, 40);
    h.poll();
    BOOST_TEST(h.to_backend().violation == "");
    BOOST_TEST(h.to_client().violation == "");
    BOOST_TEST_REQUIRE(h.to_backend().messages.size() == up.size());
    BOOST_TEST_REQUIRE(h.to_client().messages.size() == down.size());
    for (std::size_t i = 0; i < up.size(); ++i) {
      BOOST_TEST((h.to_backend().messages[i] == up[i]), "seed " << seed << " client message " << i);
    }
    for (std::size_t i = 0; i < down.size(); ++i) {
      BOOST_TEST((h.to_client().messages[i] == down[i]), "seed " << seed << " backend message " << i);
    }
    BOOST_TEST(!h.session_finished());
  }
}

BOOST_AUTO_TEST_CASE(byte_at_a_time_and_interleaved_controls) {
  session_harness h;
  // A fragmented message with a ping between its fragments, one byte at a time.
  bytes wire;
  for (const auto& f : {encode_frame(ws::opcode::text, false, to_bytes("hel"), true),
                        encode_frame(ws::opcode::ping, true, to_bytes("p"), true),
                        encode_frame(ws::opcode::cont, true, to_bytes("lo"), true)}) {
    wire.insert(wire.end(), f.begin(), f.end());
  }
  h.client_bytes(wire, 1);
  BOOST_TEST_REQUIRE(h.to_backend().messages.size() == 1u);
  BOOST_TEST((h.to_backend().messages[0] == ws_message{ws::opcode::text, to_bytes("hello")}));
  // The ping is tether's to answer, not the backend's.
  BOOST_TEST_REQUIRE(h.to_client().controls.size() == 1u);
  BOOST_TEST((h.to_client().controls[0] == ws_message{ws::opcode::pong, to_bytes("p")}));
  BOOST_TEST(h.to_backend().controls.empty());
  h.backend_text("world", 3);
  BOOST_TEST_REQUIRE(h.to_client().messages.size() == 1u);
  BOOST_TEST((h.to_client().messages[0] == ws_message{ws::opcode::text, to_bytes("world")}));
}

BOOST_AUTO_TEST_CASE(backend_echo_round_trip) {
  session_harness h({.seed = 7});
  const auto sent = send_many(h, true, 30);
  for (const auto& m : h.to_backend().messages) {
    h.backend_message(m.op, m.data);
  }
  BOOST_TEST_REQUIRE(h.to_client().messages.size() == sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i) {
    BOOST_TEST((h.to_client().messages[i] == sent[i]), "message " << i);
  }
}

BOOST_AUTO_TEST_CASE(messages_survive_upstream_loss_and_reconnect) {
  for (const bool reset : {false, true}) {
    session_harness h({.seed = reset ? 11u : 12u});
    auto sent = send_many(h, true, 5);
    h.set_accept_reconnects(false);
    h.backend_drop(reset);
    // During the outage: nothing may reach any backend; it is buffered.
    auto during = send_many(h, true, 5);
    BOOST_TEST(h.all_backend_messages().size() == 5u);
    BOOST_TEST(h.backend_count() == 1u);
    BOOST_TEST(h.run_until([&] { return h.reconnect_attempts() >= 2; }));
    h.set_accept_reconnects(true);
    BOOST_TEST_REQUIRE(h.run_until([&] { return h.backend_count() == 2 && h.to_backend().messages.size() == 5; }));
    auto after = send_many(h, true, 5);
    sent.insert(sent.end(), during.begin(), during.end());
    sent.insert(sent.end(), after.begin(), after.end());
    const auto got = h.all_backend_messages();
    BOOST_TEST_REQUIRE(got.size() == sent.size());
    for (std::size_t i = 0; i < sent.size(); ++i) {
      BOOST_TEST((got[i] == sent[i]), "reset " << reset << " message " << i);
    }
    // And the new backend reaches the client.
    h.backend_text("back");
    BOOST_TEST_REQUIRE(h.to_client().messages.size() == 1u);
    BOOST_TEST((h.to_client().messages.back() == ws_message{ws::opcode::text, to_bytes("back")}));
    BOOST_TEST(!h.to_client().close_code.has_value());
    BOOST_TEST(h.to_backend(0).violation == "");
    BOOST_TEST(h.to_backend(1).violation == "");
  }
}

BOOST_AUTO_TEST_CASE(backend_restart_close_is_answered_and_reconnected) {
  session_harness h({.seed = 13});
  h.client_text("before");
  h.backend_close(1012, "restarting");
  // Tether answers the old backend's close and reconnects; the client sees nothing.
  BOOST_TEST(h.to_backend(0).close_code.value_or(0) == 1012);
  BOOST_TEST_REQUIRE(h.run_until([&] { return h.backend_count() == 2; }));
  h.client_text("after", 2);
  BOOST_TEST_REQUIRE(h.to_backend(1).messages.size() == 1u);
  BOOST_TEST((h.to_backend(1).messages[0] == ws_message{ws::opcode::text, to_bytes("after")}));
  BOOST_TEST(h.to_backend(0).messages.size() == 1u);
  BOOST_TEST(!h.to_client().close_code.has_value());
}

BOOST_AUTO_TEST_CASE(invalid_utf8_from_client_closes_1007_and_backend_gets_1001) {
  session_harness h;
  h.client_message(ws::opcode::text, bytes{'o', 'k', 0xC3, 0x28}, 2);
  BOOST_TEST(h.to_client().close_code.value_or(0) == ws::close_code::invalid_payload);
  BOOST_TEST(h.to_backend().close_code.value_or(0) == ws::close_code::going_away);
  BOOST_TEST(h.to_backend().messages.empty());
}

BOOST_AUTO_TEST_CASE(oversized_message_closes_1009) {
  session_harness h({.route_yaml = limited_route});
  h.client_message(ws::opcode::binary, bytes(1000, 'a'));
  BOOST_TEST(h.to_backend().messages.size() == 1u);
  h.client_message(ws::opcode::binary, bytes(1025, 'b'), 3);
  BOOST_TEST(h.to_client().close_code.value_or(0) == ws::close_code::too_big);
  BOOST_TEST(h.to_backend().close_code.value_or(0) == ws::close_code::going_away);
  BOOST_TEST(h.to_backend().messages.size() == 1u);
}

BOOST_AUTO_TEST_CASE(compressed_messages_cross_both_ways_in_any_pieces) {
  // Compressed or not, in 1 to 4 frames, split anywhere: each arrives
  // intact; what came compressed (from 32 bytes) leaves compressed.
  session_harness h({.seed = 21, .compression = true});
  std::vector<ws_message> up, down;
  std::size_t compressed_up = 0, compressed_down = 0;
  for (std::size_t i = 0; i < 40; ++i) {
    const bool text = i % 2 == 0;
    const auto op = text ? ws::opcode::text : ws::opcode::binary;
    const auto n = pick_size(h, i);
    const bool compress = i % 3 != 0;
    auto a = random_payload(h, n, text);
    h.client_message(op, a, 0, compress);
    compressed_up += compress && n >= 32;
    up.push_back({op, std::move(a)});
    auto b = random_payload(h, n, text);
    h.backend_message(op, b, 0, compress);
    compressed_down += compress && n >= 32;
    down.push_back({op, std::move(b)});
  }
  BOOST_TEST_REQUIRE(h.to_backend().messages.size() == up.size());
  BOOST_TEST_REQUIRE(h.to_client().messages.size() == down.size());
  for (std::size_t i = 0; i < up.size(); ++i) {
    BOOST_TEST((h.to_backend().messages[i] == up[i]), "up " << i);
    BOOST_TEST((h.to_client().messages[i] == down[i]), "down " << i);
  }
  BOOST_TEST(h.to_backend().compressed_messages == compressed_up);
  BOOST_TEST(h.to_client().compressed_messages == compressed_down);
  BOOST_TEST(h.to_backend().violation == "");
  BOOST_TEST(h.to_client().violation == "");
}

BOOST_AUTO_TEST_CASE(compressed_messages_buffered_through_a_reconnect) {
  session_harness h({.seed = 22, .compression = true});
  const auto text = [](int i) { return to_bytes("{\"seq\":" + std::to_string(i) + ",\"pad\":\"" + std::string(100, 'x') + "\"}"); };
  h.client_message(ws::opcode::text, text(0), 1, true);
  h.set_accept_reconnects(false);
  h.backend_drop(true);
  for (int i = 1; i <= 3; ++i) {
    h.client_message(ws::opcode::text, text(i), 2, true);
  }
  h.set_accept_reconnects(true);
  BOOST_TEST_REQUIRE(h.run_until([&] { return h.backend_count() == 2 && h.to_backend().messages.size() == 3; }));
  // Kept in clear, deflated again for the new backend.
  for (int i = 1; i <= 3; ++i) {
    BOOST_TEST((h.to_backend(1).messages[static_cast<std::size_t>(i - 1)] == ws_message{ws::opcode::text, text(i)}));
  }
  BOOST_TEST(h.to_backend(1).compressed_messages == 3u);
}

BOOST_AUTO_TEST_CASE(compressed_message_passes_through_when_the_sink_can_take_it) {
  // A stored (level 0) deflate block: tether's own deflate would shrink it,
  // so the bytes at the backend show whether it was passed on or redone.
  const auto clear = to_bytes(std::string(300, 'a'));
  const auto stored = deflate_message(clear, 0);
  for (const std::uint8_t window : {15, 10}) {
    session_harness h({.compression = true, .upstream_window_bits = window});
    h.client_bytes(encode_frame(ws::opcode::text, true, stored, true, {1, 2, 3, 4}, true));
    BOOST_TEST_REQUIRE(h.to_backend().messages.size() == 1u);
    BOOST_TEST((h.to_backend().messages[0] == ws_message{ws::opcode::text, clear}));
    BOOST_TEST(h.to_backend().compressed_messages == 1u);
    if (window == 15) {
      BOOST_TEST((h.to_backend().last_compressed == stored));  // as it came
    } else {
      // The client may have used a 32 KiB window; the backend accepts 1 KiB:
      // inflated and deflated again, within 1 KiB.
      BOOST_TEST(h.to_backend().last_compressed.size() < stored.size() / 4);
    }
  }
}

BOOST_AUTO_TEST_CASE(compressed_bomb_closes_1009_and_bad_data_1007) {
  {
    session_harness h({.route_yaml = limited_route, .compression = true});
    h.client_message(ws::opcode::binary, bytes(1024, 0), 1, true);  // exactly the limit, inflated
    BOOST_TEST(h.to_backend().messages.size() == 1u);
    h.client_message(ws::opcode::binary, bytes(100000, 0), 2, true);  // ~100 bytes on the wire
    BOOST_TEST(h.to_client().close_code.value_or(0) == ws::close_code::too_big);
    BOOST_TEST(h.to_backend().close_code.value_or(0) == ws::close_code::going_away);
    BOOST_TEST(h.to_backend().messages.size() == 1u);
  }
  {
    session_harness h({.compression = true});
    h.backend_bytes(encode_frame(ws::opcode::binary, true, bytes{0xff, 0xff, 0xff, 0xff, 0x12}, false, {}, true));
    BOOST_TEST(h.to_backend().close_code.value_or(0) == ws::close_code::invalid_payload);
    BOOST_TEST(h.to_client().close_code.value_or(0) == ws::close_code::bad_gateway);
  }
}

BOOST_AUTO_TEST_CASE(unmasked_client_frame_closes_1002) {
  session_harness h;
  h.client_bytes(encode_frame(ws::opcode::text, true, to_bytes("hi"), /*masked=*/false));
  BOOST_TEST(h.to_client().close_code.value_or(0) == ws::close_code::protocol_error);
  BOOST_TEST(h.to_backend().close_code.value_or(0) == ws::close_code::going_away);
  BOOST_TEST(h.to_backend().messages.empty());
}

BOOST_AUTO_TEST_CASE(closing_handshake_passes_through_and_ends_the_session) {
  session_harness h;
  h.client_text("last");
  h.client_close(1000, "bye");
  BOOST_TEST(h.to_backend().messages.size() == 1u);
  BOOST_TEST(h.to_backend().close_code.value_or(0) == 1000);
  BOOST_TEST(h.to_backend().close_reason == "bye");
  h.backend_close(1000, "bye");
  h.backend_drop(false);
  BOOST_TEST(h.to_client().close_code.value_or(0) == 1000);
  h.client().end_input();
  BOOST_TEST(h.run_until([&] { return h.session_gone(); }));
}

BOOST_AUTO_TEST_CASE(backpressure_holds_reading_then_delivers_everything) {
  session_harness h({.seed = 5});
  h.backend().limit_writes(0);
  std::vector<ws_message> sent;
  for (int i = 0; i < 12; ++i) {
    auto data = random_payload(h, 100 * 1024, false);
    h.client_bytes(encode_frame(ws::opcode::binary, true, data, true), 64 * 1024);
    sent.push_back({ws::opcode::binary, std::move(data)});
  }
  // The backend takes nothing: tether stops reading the client.
  BOOST_TEST(h.client().unread_input() > 0u);
  BOOST_TEST(h.to_backend().messages.empty());
  while (h.client().unread_input() > 0 || h.backend().output().size() + 0 < 1) {
    h.backend().allow_writes(32 * 1024);
    h.poll();
    if (h.to_backend().messages.size() == sent.size()) {
      break;
    }
  }
  h.backend().allow_writes(static_cast<std::size_t>(-1));
  h.poll();
  BOOST_TEST_REQUIRE(h.to_backend().messages.size() == sent.size());
  for (std::size_t i = 0; i < sent.size(); ++i) {
    BOOST_TEST((h.to_backend().messages[i] == sent[i]), "message " << i);
  }
}

BOOST_AUTO_TEST_SUITE_END()
