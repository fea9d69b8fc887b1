#!/usr/bin/env bash
# FM benchmarks, in one run on one machine: MD round trips to an echo FM
# (64 bytes with 1 and 2 host threads, 1 and 16 processes; 4 KiB and 64 KiB
# with 2 threads) against a raw Unix-socket request/reply loop between two
# processes, and a Cryptoki call made inside an FM next to the same call
# from a host.
#   bench/run-fm.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-2}
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
work=$(mktemp -d /tmp/softfm-fmbench.XXXXXX)
trap '[ -f "$work/data/softfmd.lock" ] && kill "$(head -n1 "$work/data/softfmd.lock")" 2>/dev/null; rm -rf "$work"' EXIT
export SOFTFM_SOCKET="$work/s.sock" SOFTFM_SO_PIN=bench-so-pin
build/src/server/softfmd --data "$work/data" --socket "$SOFTFM_SOCKET"
S=build/src/tools/softfm/softfm
$S hsm init --label bench >/dev/null
$S partition create --name bench >/dev/null
SFM=$PWD/build/src/pkcs11/libsoftfm-pkcs11.so
pkcs11-tool --module "$SFM" --slot 1 --init-token --label bench --so-pin 12345678 >/dev/null
$S policy set allow-unsigned-fms on >/dev/null
$S policy set smfs-auto-activate on >/dev/null
$S fm load --dev build/fmsdk/samples/benchfm.bin >/dev/null

echo "mdbench: ${secs}s per case, $(nproc) cores"
loop1=$(build/bench/sockloop --threads 1 --seconds "$secs" --processes | awk '{print $2}')
loop2=$(build/bench/sockloop --threads 2 --seconds "$secs" --processes | awk '{print $2}')
printf '%-22s %12s %10s %s\n' case "round trips/s" "us each" "vs raw socket loop (2 processes, same threads)"
for args in "--threads 1" "--threads 2" "--procs 16" "--size 4096 --threads 2" "--size 65536 --threads 2"; do
  read -r name ops us < <(build/bench/mdbench echo $args --seconds "$secs")
  case "$args" in *"--threads 2"*) ref=$loop2 ;; *) ref=$loop1 ;; esac
  printf '%-22s %12s %10s %8.2fx the time of a raw round trip\n' "$name" "$ops" "$us" "$(echo "$ref / $ops" | bc -l)"
done
build/bench/mdbench ck --module "$SFM" --slot 1 | while read -r name ns; do
  printf '%-22s %12s ns per C_GenerateRandom(32)\n' "$name" "$ns"
done
