#!/usr/bin/env bash
# What patching costs: C_Encrypt (AES-GCM 4 KiB) and C_Sign (ECDSA P-256)
# through the PKCS#11 module, first with no FM, then with an FM that patches
# C_Sign (passing it through to the HSM's own). The unpatched function
# should not notice (ratio ~1); the patched one pays a trip through the FM.
#   bench/run-patch.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-2}
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
work=$(mktemp -d /tmp/softfm-patchbench.XXXXXX)
trap '[ -f "$work/data/softfmd.lock" ] && kill "$(head -n1 "$work/data/softfmd.lock")" 2>/dev/null; rm -rf "$work"' EXIT
export SOFTFM_SOCKET="$work/s.sock" SOFTFM_SO_PIN=bench-so-pin
build/src/server/softfmd --data "$work/data" --socket "$SOFTFM_SOCKET"
S=build/src/tools/softfm/softfm
$S hsm init --label bench --dev-mode >/dev/null
$S partition create --name bench >/dev/null
SFM=$PWD/build/src/pkcs11/libsoftfm-pkcs11.so
pkcs11-tool --module "$SFM" --slot 1 --init-token --label bench --so-pin 12345678 >/dev/null
pkcs11-tool --module "$SFM" --slot 1 --init-pin --so-pin 12345678 --pin 1234 >/dev/null
run() { build/bench/p11bench --module "$SFM" --slot 1 --pin 1234 --threads 2 --seconds "$secs" --only "$1" | awk '{print $2}'; }
enc0=$(run aes-gcm-4k); sig0=$(run ecdsa-p256-sign)
$S fm load --dev build/fmsdk/samples/patchsign.bin >/dev/null
enc1=$(run aes-gcm-4k); sig1=$(run ecdsa-p256-sign)
echo "patch bench: ${secs}s per case, 2 threads, $(nproc) cores"
printf '%-18s %12s %12s %8s\n' op "no FM /s" "C_Sign patched /s" ratio
printf '%-18s %12s %12s %8.3f\n' "C_Encrypt (GCM 4K)" "$enc0" "$enc1" "$(echo "$enc1 / $enc0" | bc -l)"
printf '%-18s %12s %12s %8.3f\n' "C_Sign (ECDSA)" "$sig0" "$sig1" "$(echo "$sig1 / $sig0" | bc -l)"
