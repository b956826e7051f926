// permessage-deflate negotiation, RFC 7692 section 7, as server (client leg)
// and as client (upstream leg).
#include <boost/test/unit_test.hpp>

#include "ws/deflate_negotiation.hpp"

using namespace tether;
using ws::accept_deflate_answer;
using ws::answer_deflate_offer;

BOOST_AUTO_TEST_SUITE(deflate_negotiation_test)

BOOST_AUTO_TEST_CASE(default_answer_resets_both_directions) {
  // Chromium's offer.
  const auto a = answer_deflate_offer("permessage-deflate; client_max_window_bits", {});
  BOOST_REQUIRE(a);
  BOOST_CHECK_EQUAL(a->header, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
  BOOST_CHECK(a->params.on);
  BOOST_CHECK(a->params.send_reset);
  BOOST_CHECK(a->params.receive_reset);
  BOOST_CHECK_EQUAL(a->params.send_window_bits, 15);
  BOOST_CHECK_EQUAL(a->params.receive_window_bits, 15);
}

BOOST_AUTO_TEST_CASE(no_offer_or_client_off_declines) {
  BOOST_CHECK(!answer_deflate_offer("", {}));
  BOOST_CHECK(!answer_deflate_offer("x-webkit-deflate-frame", {}));
  compression_config off;
  off.client = false;
  BOOST_CHECK(!answer_deflate_offer("permessage-deflate", off));
}

BOOST_AUTO_TEST_CASE(server_window_follows_the_offer) {
  const auto a = answer_deflate_offer("permessage-deflate; server_max_window_bits=10", {});
  BOOST_REQUIRE(a);
  BOOST_CHECK_EQUAL(a->params.send_window_bits, 10);
  BOOST_CHECK_EQUAL(a->header,
                    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                    "server_max_window_bits=10");
  // A quoted value is the same value.
  const auto q = answer_deflate_offer("permessage-deflate; server_max_window_bits=\"11\"", {});
  BOOST_REQUIRE(q);
  BOOST_CHECK_EQUAL(q->params.send_window_bits, 11);
}

BOOST_AUTO_TEST_CASE(window_eight_is_declined_and_the_next_offer_taken) {
  // zlib cannot deflate within 256 bytes: that offer is declined, the
  // fallback offer after it is accepted.
  const auto a = answer_deflate_offer(
      "permessage-deflate; server_max_window_bits=8, permessage-deflate", {});
  BOOST_REQUIRE(a);
  BOOST_CHECK_EQUAL(a->params.send_window_bits, 15);
  BOOST_CHECK(!answer_deflate_offer("permessage-deflate; server_max_window_bits=8", {}));
}

BOOST_AUTO_TEST_CASE(invalid_offers_are_declined) {
  for (const char* bad : {"permessage-deflate; foo", "permessage-deflate; server_max_window_bits",
                          "permessage-deflate; server_max_window_bits=16",
                          "permessage-deflate; server_max_window_bits=010",
                          "permessage-deflate; client_max_window_bits=7",
                          "permessage-deflate; server_no_context_takeover=1",
                          "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                          "permessage-deflate;", "permessage-deflate; a=\"unterminated"}) {
    BOOST_TEST_CONTEXT(bad) { BOOST_CHECK(!answer_deflate_offer(bad, {})); }
  }
}

BOOST_AUTO_TEST_CASE(context_takeover_when_configured) {
  compression_config c;
  c.send_takeover = true;
  c.receive_takeover = true;
  const auto a = answer_deflate_offer("permessage-deflate", c);
  BOOST_REQUIRE(a);
  BOOST_CHECK_EQUAL(a->header, "permessage-deflate");
  BOOST_CHECK(!a->params.send_reset);
  BOOST_CHECK(!a->params.receive_reset);
  // The client may still forbid tether's takeover, and give up its own.
  const auto b = answer_deflate_offer("permessage-deflate; server_no_context_takeover; client_no_context_takeover", c);
  BOOST_REQUIRE(b);
  BOOST_CHECK(b->params.send_reset);
  BOOST_CHECK(b->params.receive_reset);
  BOOST_CHECK_EQUAL(b->header, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
}

BOOST_AUTO_TEST_CASE(narrow_window_configured) {
  compression_config c;
  c.max_window_bits = 10;
  const auto a = answer_deflate_offer("permessage-deflate; client_max_window_bits", c);
  BOOST_REQUIRE(a);
  BOOST_CHECK_EQUAL(a->params.send_window_bits, 10);
  BOOST_CHECK_EQUAL(a->params.receive_window_bits, 10);
  BOOST_CHECK_EQUAL(a->header,
                    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                    "server_max_window_bits=10; client_max_window_bits=10");
  // Without client_max_window_bits in the offer tether may not narrow the
  // client's window.
  const auto b = answer_deflate_offer("permessage-deflate", c);
  BOOST_REQUIRE(b);
  BOOST_CHECK_EQUAL(b->params.receive_window_bits, 15);
  BOOST_CHECK(b->header.find("client_max_window_bits") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(upstream_offer_follows_config) {
  BOOST_CHECK_EQUAL(ws::make_deflate_offer({}),
                    "permessage-deflate; client_no_context_takeover; server_no_context_takeover");
  compression_config c;
  c.max_window_bits = 12;
  c.send_takeover = true;
  BOOST_CHECK_EQUAL(ws::make_deflate_offer(c),
                    "permessage-deflate; server_no_context_takeover; server_max_window_bits=12");
  c.upstream = false;
  BOOST_CHECK_EQUAL(ws::make_deflate_offer(c), "");
}

BOOST_AUTO_TEST_CASE(upstream_answers) {
  const auto offer = ws::make_deflate_offer({});
  const auto declined = accept_deflate_answer("", offer);
  BOOST_CHECK(declined.error.empty());
  BOOST_CHECK(!declined.params.on);

  const auto ok = accept_deflate_answer("permessage-deflate; server_no_context_takeover", offer);
  BOOST_CHECK(ok.error.empty());
  BOOST_CHECK(ok.params.on);
  BOOST_CHECK(ok.params.receive_reset);
  BOOST_CHECK(ok.params.send_reset);

  // The server kept its context after all: tether must keep an inflate context.
  const auto keeps = accept_deflate_answer("permessage-deflate", offer);
  BOOST_CHECK(keeps.error.empty());
  BOOST_CHECK(!keeps.params.receive_reset);

  const auto narrow = accept_deflate_answer("permessage-deflate; server_max_window_bits=9", offer);
  BOOST_CHECK(narrow.error.empty());
  BOOST_CHECK_EQUAL(narrow.params.receive_window_bits, 9);
}

BOOST_AUTO_TEST_CASE(upstream_answers_that_fail_the_connection) {
  const auto offer = ws::make_deflate_offer({});
  for (const char* bad : {"permessage-deflate; client_max_window_bits=10", "x-other",
                          "permessage-deflate, permessage-deflate", "permessage-deflate; bogus",
                          "permessage-deflate; server_max_window_bits=16", ";;"}) {
    BOOST_TEST_CONTEXT(bad) { BOOST_CHECK(!accept_deflate_answer(bad, offer).error.empty()); }
  }
  // Nothing offered, something accepted.
  BOOST_CHECK(!accept_deflate_answer("permessage-deflate", "").error.empty());
  // A window larger than asked for.
  compression_config c;
  c.max_window_bits = 10;
  BOOST_CHECK(!accept_deflate_answer("permessage-deflate; server_max_window_bits=12",
                                     ws::make_deflate_offer(c)).error.empty());
}

BOOST_AUTO_TEST_CASE(route_window_limits_tethers_own) {
  compression_config c;
  c.max_window_bits = 11;
  const auto p = ws::limited_by(accept_deflate_answer("permessage-deflate", ws::make_deflate_offer(c)).params, c);
  BOOST_CHECK_EQUAL(p.send_window_bits, 11);
}

BOOST_AUTO_TEST_SUITE_END()
