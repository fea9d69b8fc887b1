#!/usr/bin/env bash
# The network link's cost: the same PKCS#11 operations through the local
# Unix socket and through TLS 1.3 on loopback (one softfmd serving both, one
# client host registered), with 1, 2 and 16 client threads. Rates are ops/s;
# the mean latency is threads / rate (the workers run closed loops).
#   bench/run-net.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-3}
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
work=$(mktemp -d /tmp/softfm-bench-net.XXXXXX)
trap '[ -f "$work/data/softfmd.lock" ] && kill "$(head -n1 "$work/data/softfmd.lock")" 2>/dev/null; rm -rf "$work"' EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.2",0)); print(s.getsockname()[1])')
addr=127.0.0.2:$port
export SOFTFM_SO_PIN=bench-so-pin
sock="$work/s.sock"
build/src/server/softfmd --data "$work/data" --socket "$sock" --listen "$addr"
sfm() { SOFTFM_SOCKET="$sock" build/src/tools/softfm/softfm "$@"; }
sfm hsm init --label bench >/dev/null
sfm partition create --name bench >/dev/null
SFM=$PWD/build/src/pkcs11/libsoftfm-pkcs11.so
SOFTFM_SOCKET="$sock" pkcs11-tool --module "$SFM" --slot 1 --init-token --label bench --so-pin 12345678 >/dev/null
SOFTFM_SOCKET="$sock" pkcs11-tool --module "$SFM" --slot 1 --init-pin --so-pin 12345678 --pin 1234 >/dev/null
build/src/tools/softfm/softfm client setup --server "$addr" --dir "$work/client" --name bench-host >/dev/null
sfm client register --name bench-host --cert "$work/client/client.crt" >/dev/null
sfm client assign --name bench-host --partition bench >/dev/null

bench() { # bench unix|tls THREADS OP
  if [ "$1" = unix ]; then
    SOFTFM_SOCKET="$sock" build/bench/p11bench --module "$SFM" --slot 1 --pin 1234 --objects 1 \
      --threads "$2" --seconds "$secs" --only "$3"
  else
    env -u SOFTFM_SOCKET SOFTFM_CONF="$work/client/softfm.conf" build/bench/p11bench --module "$SFM" \
      --slot 1 --pin 1234 --objects 1 --threads "$2" --seconds "$secs" --only "$3"
  fi | awk '{print $2}'
}

echo "softfmd on $(nproc) cores; ${secs}s per run; TLS 1.3 (P-256 identities) on loopback"
printf '%-16s %7s %12s %11s %12s %11s %9s\n' operation threads "unix ops/s" "unix µs" "tls ops/s" "tls µs" "tls/unix"
for op in random digest-64 rsa2048-sign; do
  for t in 1 2 16; do
    u=$(bench unix "$t" "$op")
    s=$(bench tls "$t" "$op")
    printf '%-16s %7s %12s %11.1f %12s %11.1f %9.2f\n' "$op" "$t" "$u" "$(echo "$t * 1000000 / $u" | bc -l)" \
      "$s" "$(echo "$t * 1000000 / $s" | bc -l)" "$(echo "$s / $u" | bc -l)"
  done
done
# The handshake: how many new TLS connections a second one client process makes.
start=$(date +%s.%N)
n=20
for _ in $(seq $n); do
  env -u SOFTFM_SOCKET SOFTFM_CONF="$work/client/softfm.conf" pkcs11-tool --module "$SFM" -L >/dev/null
done
end=$(date +%s.%N)
printf 'pkcs11-tool -L over TLS (process start, handshake, hello, slot list): %.1f ms each\n' \
  "$(echo "($end - $start) * 1000 / $n" | bc -l)"
start=$(date +%s.%N)
for _ in $(seq $n); do SOFTFM_SOCKET="$sock" pkcs11-tool --module "$SFM" -L >/dev/null; done
end=$(date +%s.%N)
printf 'pkcs11-tool -L over the Unix socket: %.1f ms each\n' "$(echo "($end - $start) * 1000 / $n" | bc -l)"
