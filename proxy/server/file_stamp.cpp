#include "server/file_stamp.hpp"

#include <sys/stat.h>

#include "config/config.hpp"

namespace tether {

file_stamp file_stamp::of(const std::string& path) {
  file_stamp s;
  s.path = path;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {  // through symlinks: the content's file
    s.exists = true;
    s.dev = st.st_dev;
    s.ino = st.st_ino;
    s.size = st.st_size;
    s.mtime = st.st_mtim;
  }
  return s;
}

bool file_stamp::operator==(const file_stamp& o) const {
  return path == o.path && exists == o.exists && dev == o.dev && ino == o.ino && size == o.size &&
         mtime.tv_sec == o.mtime.tv_sec && mtime.tv_nsec == o.mtime.tv_nsec;
}

std::vector<file_stamp> stamp_files(file_stamp config_file, const config& cfg) {
  std::vector<file_stamp> stamps{std::move(config_file)};
  auto add = [&](const std::string& f) {
    if (!f.empty()) {
      stamps.push_back(file_stamp::of(f));
    }
  };
  for (const auto& l : cfg.listeners) {
    if (l.tls) {
      add(l.tls->cert);
      add(l.tls->key);
      add(l.tls->client_ca);
      for (const auto& s : l.tls->sni) {
        add(s.cert);
        add(s.key);
      }
    }
  }
  for (const auto& r : cfg.routes) {
    add(r.upstream.tls.ca);
    add(r.upstream.tls.cert);
    add(r.upstream.tls.key);
  }
  return stamps;
}

}  // namespace tether
