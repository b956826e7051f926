// Failed client handshakes sorted into the metric's bounded reasons.
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/test/unit_test.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls/tls_failure.hpp"

namespace {

tether::error_code ssl_error(int reason) {
  return {static_cast<int>(ERR_PACK(ERR_LIB_SSL, 0, reason)), boost::asio::error::get_ssl_category()};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tls_failure_test)

BOOST_AUTO_TEST_CASE(reasons) {
  using tether::tls_failure;
  using tether::tls_failure_of;
  BOOST_CHECK(tls_failure_of(ssl_error(SSL_R_HTTP_REQUEST), true) == tls_failure::timeout);
  BOOST_CHECK(tls_failure_of(boost::asio::error::eof, false) == tls_failure::closed);
  BOOST_CHECK(tls_failure_of(boost::asio::error::connection_reset, false) == tls_failure::closed);
  BOOST_CHECK(tls_failure_of(ssl_error(SSL_R_UNEXPECTED_EOF_WHILE_READING), false) == tls_failure::closed);
  BOOST_CHECK(tls_failure_of(ssl_error(SSL_R_HTTP_REQUEST), false) == tls_failure::not_tls);
  BOOST_CHECK(tls_failure_of(ssl_error(SSL_R_WRONG_VERSION_NUMBER), false) == tls_failure::not_tls);
  BOOST_CHECK(tls_failure_of(ssl_error(SSL_R_UNSUPPORTED_PROTOCOL), false) == tls_failure::protocol_version);
  BOOST_CHECK(tls_failure_of(ssl_error(SSL_R_NO_SHARED_CIPHER), false) == tls_failure::no_shared_cipher);
  BOOST_CHECK(tls_failure_of(ssl_error(SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE), false) ==
              tls_failure::client_certificate);
  BOOST_CHECK(tls_failure_of(ssl_error(SSL_R_TLSV1_ALERT_UNKNOWN_CA), false) ==
              tls_failure::certificate_rejected);
  BOOST_CHECK(tls_failure_of(ssl_error(SSL_R_BAD_LENGTH), false) == tls_failure::other);
  BOOST_CHECK(tls_failure_of(boost::asio::error::host_unreachable, false) == tls_failure::other);
}

BOOST_AUTO_TEST_SUITE_END()
