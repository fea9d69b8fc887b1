#!/usr/bin/env bash
# Benchmark softfmd against SoftHSMv2, measured in the same run on the same
# machine: ops/s of each PKCS#11 operation and the ratio softfm / SoftHSM.
#   bench/run.sh [THREADS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-4}
secs=${2:-3}
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
work=$(mktemp -d /tmp/softfm-bench.XXXXXX)
trap '[ -f "$work/data/softfmd.lock" ] && kill "$(head -n1 "$work/data/softfmd.lock")" 2>/dev/null; rm -rf "$work"' EXIT

# softfm
export SOFTFM_SOCKET="$work/s.sock" SOFTFM_SO_PIN=bench-so-pin
build/src/server/softfmd --data "$work/data" --socket "$SOFTFM_SOCKET"
build/src/tools/softfm/softfm hsm init --label bench >/dev/null
build/src/tools/softfm/softfm partition create --name bench >/dev/null
SFM=$PWD/build/src/pkcs11/libsoftfm-pkcs11.so
pkcs11-tool --module "$SFM" --slot 1 --init-token --label bench --so-pin 12345678 >/dev/null
pkcs11-tool --module "$SFM" --slot 1 --init-pin --so-pin 12345678 --pin 1234 >/dev/null

# SoftHSMv2, its own token directory
mkdir -p "$work/softhsm"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$work/softhsm" > "$work/softhsm2.conf"
export SOFTHSM2_CONF="$work/softhsm2.conf"
SH=$(find /usr/lib -name libsofthsm2.so | head -n1)
softhsm2-util --init-token --free --label bench --so-pin 12345678 --pin 1234 >/dev/null
shslot=$(softhsm2-util --show-slots | awk '/^Slot [0-9]+/{s=$2} /Label:.*bench/{print s; exit}')

echo "p11bench: $threads threads, ${secs}s per operation, $(nproc) cores"
build/bench/p11bench --module "$SFM" --slot 1 --pin 1234 --threads "$threads" --seconds "$secs" > "$work/sfm.txt"
build/bench/p11bench --module "$SH" --slot "$shslot" --pin 1234 --threads "$threads" --seconds "$secs" > "$work/sh.txt"
printf '%-16s %14s %14s %8s\n' operation "softfm ops/s" "SoftHSM ops/s" ratio
join <(sort "$work/sfm.txt") <(sort "$work/sh.txt") | while read -r op a b; do
  printf '%-16s %14s %14s %8.2f\n' "$op" "$a" "$b" "$(echo "$a / $b" | bc -l)"
done
# The transport floor: a plain blocking request/reply loop on a Unix socket,
# with both ends in one process and with the answering end in another.
loop=$(build/bench/sockloop --threads "$threads" --seconds "$secs" | awk '{print $2}')
loop2=$(build/bench/sockloop --threads "$threads" --seconds "$secs" --processes | awk '{print $2}')
for op in digest-64 random; do
  v=$(awk -v o="$op" '$1==o {print $2}' "$work/sfm.txt")
  printf '%-16s %14s %14s %8.2f  (vs a raw socket request/reply loop, one process)\n' "$op" "$v" "$loop" "$(echo "$v / $loop" | bc -l)"
  printf '%-16s %14s %14s %8.2f  (vs the same loop across two processes)\n' "$op" "$v" "$loop2" "$(echo "$v / $loop2" | bc -l)"
done
# OpenSSL's own speed, the same threads, as the ceiling for the signatures.
ossl=$(openssl speed -multi "$threads" -seconds "$secs" rsa2048 ecdsap256 2>/dev/null)
rsa=$(echo "$ossl" | awk '/^rsa 2048 bits/ {print $6}' | tail -n1)
ec=$(echo "$ossl" | awk '/256 bits ecdsa \(nistp256\)/ {print $7}' | tail -n1)
sfm_rsa=$(awk '$1=="rsa2048-sign" {print $2}' "$work/sfm.txt")
sfm_ec=$(awk '$1=="ecdsa-p256-sign" {print $2}' "$work/sfm.txt")
[ -n "$rsa" ] && printf '%-16s %14s %14s %8.2f  (vs openssl speed)\n' rsa2048-sign "$sfm_rsa" "$rsa" "$(echo "$sfm_rsa / $rsa" | bc -l)"
[ -n "$ec" ] && printf '%-16s %14s %14s %8.2f  (vs openssl speed)\n' ecdsa-p256-sign "$sfm_ec" "$ec" "$(echo "$sfm_ec / $ec" | bc -l)"
true
