#!/usr/bin/env bash
# Install the Debian packages softfm needs to build and test, when missing.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libssl-dev libsqlite3-dev libp11-kit-dev
      libcmocka-dev libseccomp-dev opensc gnutls-bin softhsm2 clang libclang-rt-dev valgrind xxd bc python3 sqlite3
      libengine-pkcs11-openssl openjdk-17-jdk-headless)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
