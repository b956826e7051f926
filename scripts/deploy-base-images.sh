#!/usr/bin/env bash
# Makes the Debian 12 base images that deploy/Dockerfile's FROM lines name
# (docker.io/library/debian:12 and :12-slim) from the Debian mirror apt uses,
# for hosts with podman but no registry. Skips an image that already exists.
# Usage: scripts/deploy-base-images.sh   (as root; about a minute per image)
set -euo pipefail
sources=/etc/apt/sources.list.d/debian.sources
[[ -f $sources ]] || sources=/etc/apt/sources.list

# What the official images carry: apt removes its .deb files and binary caches
# after every install, so they never stay in a layer. The caches of the
# bootstrap itself go too: with pkgcache "" set, apt clean no longer finds them.
clean_hook='cat > "$1/etc/apt/apt.conf.d/docker-clean" <<CFG
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
printf "Acquire::Languages \"none\";\n" > "$1/etc/apt/apt.conf.d/docker-no-languages"
rm -f "$1"/var/cache/apt/*.bin'

make_image() {  # tag, extra mmdebstrap options...
  local tag=$1; shift
  if podman image exists "$tag"; then echo "base: $tag exists"; return; fi
  local tar; tar=$(mktemp --suffix=.tar)
  nice -n 5 mmdebstrap --quiet --variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --customize-hook="$clean_hook" "$@" bookworm "$tar" "$sources"
  podman import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["bash"]' "$tar" "$tag" >/dev/null
  rm -f "$tar"
  echo "base: $tag made"
}

make_image docker.io/library/debian:12
# slim: no manuals, documentation or translations (copyright files stay).
make_image docker.io/library/debian:12-slim \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/info/*'
