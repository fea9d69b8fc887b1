#!/usr/bin/env bash
# Build softfm and run every test: unit tests, integration tests against a
# real softfmd (with OpenSC's pkcs11-tool and GnuTLS's p11tool), then the same
# suite under AddressSanitizer/UBSan, then a short fuzzing run of the wire
# decoder. ThreadSanitizer watches the core and the daemon under load.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
jobs=$(nproc)

echo "== build (release) and test"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j1)

echo "== build with ASan/UBSan and test"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSOFTFM_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j1 -LE no-asan)

echo "== ThreadSanitizer: the core's unit tests, softfmd under the concurrency and network tests"
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DSOFTFM_TSAN=ON >/dev/null
cmake --build build-tsan -j"$jobs" --target test_hsm softfmd softfm-fmhost
TSAN_OPTIONS=halt_on_error=1 ./build-tsan/tests/unit/test_hsm
SOFTFMD=build-tsan/src/server/softfmd SOFTFM_MODULE=build/src/pkcs11/libsoftfm-pkcs11.so \
  ./build/tests/integration/test_concurrency
SOFTFMD=build-tsan/src/server/softfmd SOFTFM_MODULE=build/src/pkcs11/libsoftfm-pkcs11.so \
  SOFTFM_HELLO_FM=build/fmsdk/samples/hello.bin TSAN_OPTIONS=halt_on_error=1 \
  ./build/tests/integration/test_net

echo "== fuzz the request decoder briefly"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DSOFTFM_FUZZ=ON -DSOFTFM_TESTS=OFF >/dev/null
cmake --build build-fuzz -j"$jobs" --target fuzz_dispatch fuzz_wire fuzz_fm_image fuzz_fm_signed fuzz_smfs
mkdir -p build-fuzz/corpus
./build-fuzz/fuzz/fuzz_wire -max_total_time="${FUZZ_SECONDS:-30}" -max_len=4096 build-fuzz/corpus 2>&1 | tail -n 2
./build-fuzz/fuzz/fuzz_dispatch -max_total_time="${FUZZ_SECONDS:-30}" -max_len=4096 2>&1 | tail -n 2
mkdir -p build-fuzz/corpus-fm && cp build/fmsdk/samples/*.bin build-fuzz/corpus-fm/ 2>/dev/null || true
./build-fuzz/fuzz/fuzz_fm_image -max_total_time="${FUZZ_SECONDS:-30}" -max_len=65536 build-fuzz/corpus-fm 2>&1 | tail -n 2
# A signed image to start from (a throwaway development key).
mkdir -p build-fuzz/corpus-signed
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout build-fuzz/seed.key \
  -out build-fuzz/seed.pem -subj /CN=fuzz-seed -days 1 >/dev/null 2>&1
./build/src/tools/mkfm/mkfm -f build/fmsdk/samples/hello.bin -o build-fuzz/corpus-signed/hello.fm \
  -k build-fuzz/seed.key -c build-fuzz/seed.pem >/dev/null
./build-fuzz/fuzz/fuzz_fm_signed -max_total_time="${FUZZ_SECONDS:-30}" -max_len=70000 build-fuzz/corpus-signed 2>&1 | tail -n 2
./build-fuzz/fuzz/fuzz_smfs -max_total_time="${FUZZ_SECONDS:-30}" -max_len=512 2>&1 | tail -n 2
rm -rf /tmp/softfm-fuzz-smfs.*
echo "all tests passed"
