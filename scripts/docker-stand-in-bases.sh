#!/usr/bin/env bash
# Stand-in base images for building labelbay's image where Docker Hub is unreachable, made from
# Debian bookworm's packages (debootstrap) and tagged with `docker import`:
#
#   python: bookworm + python3 and python3-venv, in place of python:3.11-slim;
#   node:   bookworm + this machine's Node (node and npm), in place of node:20-slim. The web app's
#           Vite needs Node ^20.19 or >= 22.12, and bookworm's own nodejs package is 18.
#
# Like Docker's debian:bookworm-slim they leave out documentation, man pages and translations.
# Cached: an image whose tag exists is kept, and each root file system is kept as a tarball (with
# the downloaded packages) in the cache folder, so a pruned image is re-imported without download.
# Needs root, debootstrap and a running Docker daemon. Prints the build arguments:
#
#   docker build $(scripts/docker-stand-in-bases.sh) -t labelbay .
set -euo pipefail

mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
cache="${LABELBAY_DOCKER_BASE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/labelbay/docker-bases}"
node_bin="$(command -v node || true)"
[ -n "$node_bin" ] || { echo "node is needed for the Node stand-in (^20.19 or >= 22.12)" >&2; exit 1; }
node_version="$("$node_bin" --version)"
node_version="${node_version#v}"
python_tag="labelbay-stand-in/python:3.11-bookworm"
node_tag="labelbay-stand-in/node:${node_version}-bookworm"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

has_image() { docker image inspect "$1" >/dev/null 2>&1; }

import_tree() {  # import_tree DIR TAG
  tar -C "$1" -cf - . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["bash"]' \
    - "$2" >/dev/null
}

rootfs() {  # rootfs NAME [PACKAGE,...]: a slim bookworm tree in $work/NAME, from the cache if there
  local tarball="$cache/$1-bookworm.tar" root="$work/$1"
  mkdir -p "$root"
  if [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || {
      echo "debootstrap is needed (apt-get install debootstrap)" >&2; exit 1; }
    mkdir -p "$cache/debs"
    debootstrap --variant=minbase --cache-dir="$cache/debs" ${2:+--include="$2"} \
      bookworm "$root" "$mirror" >&2
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
      "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
      "$root"/usr/share/locale/*
    tar -C "$root" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
  else
    tar -C "$root" -xf "$tarball"
  fi
}

mkdir -p "$cache"
if ! has_image "$python_tag"; then
  echo "making $python_tag (debootstrap bookworm from $mirror)" >&2
  rootfs python python3,python3-venv
  import_tree "$work/python" "$python_tag"
fi
if ! has_image "$node_tag"; then
  echo "making $node_tag (bookworm + this machine's Node $node_version)" >&2
  node_lib="$(cd "$(dirname "$(readlink -f "$node_bin")")/../lib/node_modules" && pwd)"
  [ -f "$node_lib/npm/bin/npm-cli.js" ] || { echo "npm not found beside $node_bin" >&2; exit 1; }
  rootfs minbase
  mkdir -p "$work/minbase/usr/local/bin" "$work/minbase/usr/local/lib/node_modules"
  cp "$(readlink -f "$node_bin")" "$work/minbase/usr/local/bin/node"
  cp -r "$node_lib/npm" "$work/minbase/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/minbase/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/minbase/usr/local/bin/npx"
  import_tree "$work/minbase" "$node_tag"
fi
echo "--build-arg PYTHON_IMAGE=$python_tag --build-arg NODE_IMAGE=$node_tag"
