#pragma once
// The Beast HTTP types tether passes around.
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace tether {
namespace beast = boost::beast;
namespace http = boost::beast::http;
using request_header = http::request_header<>;
using upgrade_request = http::request<http::empty_body>;
using string_response = http::response<http::string_body>;
}  // namespace tether
