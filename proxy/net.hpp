#pragma once
// Namespace aliases used across tether. Kept in one place so that no file
// needs `using namespace`.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

namespace tether {
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;
using error_code = boost::system::error_code;
template <class T>
using awaitable = boost::asio::awaitable<T>;
}  // namespace tether
