#pragma once
// Reload on change: the configuration file and every certificate and key it
// names are watched with inotify, through their directories. Kubernetes
// updates a mounted ConfigMap or Secret by swapping a symlink in that
// directory (..data), and editors replace files by renaming; a watch on the
// file itself would miss both. Events only start a quiet period; when it
// ends, the files are compared with their stamps (file_stamp.hpp), taken
// before they were loaded, and only a real difference reloads.
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "net.hpp"
#include "server/file_stamp.hpp"

namespace tether {

class file_watch {
 public:
  /// `changed` runs on `ioc`'s thread once watched files changed and then
  /// stayed quiet for `quiet`.
  file_watch(net::io_context& ioc, std::chrono::milliseconds quiet, std::function<void()> changed);
  ~file_watch();
  file_watch(const file_watch&) = delete;
  file_watch& operator=(const file_watch&) = delete;

  /// Watches these files from now on, against these stamps (call again
  /// after a reload, with the files the configuration in force names).
  void watch(std::vector<file_stamp> stamps);
  const std::vector<file_stamp>& stamps() const { return stamps_; }

 private:
  void read_events();
  void on_quiet();

  net::posix::stream_descriptor fd_;
  net::steady_timer timer_;
  std::chrono::milliseconds quiet_;
  std::function<void()> changed_;
  std::vector<int> watches_;
  std::vector<file_stamp> stamps_;
  std::array<char, 4096> events_{};
};

}  // namespace tether
