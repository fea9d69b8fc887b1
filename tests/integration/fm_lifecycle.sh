#!/usr/bin/env bash
# The FM lifecycle of docs/lifecycle.md, end to end, with the installed
# tools and SDK and three softfmd instances:
#   dev    a development HSM: dev mode (unsigned FMs allowed), and a
#          partition holding the development signing key
#   target the HSM the FM is tested on (adapter test, then acceptance test)
#   prod   the production-grade HSM holding the production signing key
# then every refusal the HSM owes: each must fail with one clear message
# and leave the loaded FMs as they were.
# Needs BUILD_DIR, SOFTFMD.
set -u
work=$(mktemp -d /tmp/softfm-life.XXXXXX)
refusals=0
stop_all() {
  for h in dev target prod; do
    [ -f "$work/$h/softfmd.lock" ] && kill "$(head -n1 "$work/$h/softfmd.lock")" 2>/dev/null
  done
}
cleanup() { stop_all; rm -rf "$work"; }
trap cleanup EXIT
. "$(dirname "$0")/checks.sh"

cmake --install "$BUILD_DIR" --prefix "$work/prefix" >/dev/null || { echo "install failed"; exit 1; }
bin="$work/prefix/bin"
sdk="$work/prefix/share/softfm/fmsdk"
arch=$(uname -m)
export SOFTFM_SO_PIN=life-so-pin MKFM_PIN=dev-user-pin CMU_PIN=dev-user-pin

on() { export SOFTFM_SOCKET="$work/$1.sock"; }
start() {
  "$SOFTFMD" --data "$work/$1" --socket "$work/$1.sock" --log "$work/$1.log" || { echo "softfmd $1 did not start"; exit 1; }
}
restart() {
  local pid; pid=$(head -n1 "$work/$1/softfmd.lock")
  kill "$pid"
  for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  start "$1"
}
# A partition with an initialised token and a user PIN, for signing keys.
token() { # SLOT LABEL USERPIN
  local m="$work/prefix/lib/libsoftfm-pkcs11.so"
  [ -e "$m" ] || m=$(ls "$work"/prefix/lib/*/libsoftfm-pkcs11.so | head -n1)
  "$bin/softfm" partition create --name "$2" >/dev/null
  pkcs11-tool --module "$m" --slot "$1" --init-token --label "$2" --so-pin "$2-so-pin" >/dev/null 2>&1
  pkcs11-tool --module "$m" --slot "$1" --init-pin --so-pin "$2-so-pin" --pin "$3" >/dev/null 2>&1
}
for h in dev target prod; do
  start $h
  on $h
  "$bin/softfm" hsm init --label "$h" $([ $h = dev ] && echo --dev-mode) >/dev/null
done

cp -r "$sdk/samples/hello" "$work/hello"
H="$work/hello"
mk() { make -s -C "$H" FMSDK="$sdk" "$@"; }

# ---- 1. Initial development: an unsigned DEBUG build on a dev-mode HSM ----
on dev
check "development: a dev-mode HSM allows unsigned FMs" "allow-unsigned-fms +1" "$bin/softfm" policy show
check "development: make DEBUG=1" "" mk DEBUG=1
check "development: make load UNSIGNED=1" "loaded as number 0x0300 and running" mk load UNSIGNED=1
check "development: the host program calls the FM" "^HELLO, LIFECYCLE$" "$H/hello-host" upper "hello, lifecycle"
check "development: the FM's trace" "hello FM starting as 0x0300" "$bin/softfm" fm trace hello
check "development: status says unsigned" "build type +unsigned" "$bin/softfm" fm status
check "development: make unload" "FM hello deleted" mk unload

# ---- 2. Adapter build: a DEBUG image signed by a development key ----
token 1 devtok dev-user-pin
check "adapter build: cmu generatekeypair (EC P-256)" "generated EC P-256 key pair" \
  "$bin/cmu" generatekeypair -token=devtok -keyType=EC -curve=P-256 -label=fm-dev
check "adapter build: cmu selfsign" "certificate \"fm-dev\" made" \
  "$bin/cmu" selfsign -token=devtok -label=fm-dev -CN="FM development" -O=softfm -days=30 -outputFile="$work/dev.pem"
check "adapter build: the certificate is X.509 and self-signed" "dev.pem: OK" \
  openssl verify -CAfile "$work/dev.pem" -partial_chain "$work/dev.pem"
check "adapter build: make sign DEBUG=1 (key in the token)" "DEBUG, signed" \
  mk sign DEBUG=1 FM_KEY=devtok/fm-dev FM_CERT="$work/dev.pem"
debug_img="$work/hello-debug.fm"
cp "$H/bin-$arch/hello-debug.fm" "$debug_img"
check "adapter build: mkfm --info" "build: +DEBUG" "$bin/mkfm" --info -f "$debug_img"
check "adapter build: make verify" "verifies: FM hello 1.4, id 0x0300, DEBUG" \
  mk verify DEBUG=1 FM_CERT="$work/dev.pem"

# ---- 3. Adapter test: a normal HSM whose Admin Token holds the dev certificate ----
on target
check "adapter test: the HSM SO imports the certificate into the Admin Token" "imported" \
  "$bin/cmu" import -slot=0 -so -password="$SOFTFM_SO_PIN" -inputFile="$work/dev.pem" -label=fm-dev
check "adapter test: make load DEBUG=1" "FM hello loaded as number 0x0300" mk load DEBUG=1 FM_CERT="$work/dev.pem"
check "adapter test: smfs activate" "" "$bin/softfm" smfs activate
check "adapter test: the host program" "^HELLO, ADAPTER$" "$H/hello-host" upper "hello, adapter"
check "adapter test: ctfm q names build type and signer" "signer +fm-dev" "$bin/ctfm" q -i 0x300
grep -qE "build type +DEBUG" "$work/out" && ok "adapter test: DEBUG build" || bad "adapter test: DEBUG build"
check "adapter test: ctfm d" "deleted" "$bin/ctfm" d -i 0x300

# ---- 4. Production build: RELEASE, signed on the production HSM ----
on prod
export MKFM_PIN=prod-user-pin CMU_PIN=prod-user-pin
token 1 prodtok prod-user-pin
check "production: cmu generatekeypair (RSA 3072) on the production HSM" "generated RSA key pair" \
  "$bin/cmu" generatekeypair -token=prodtok -keyType=RSA -modulusBits=3072 -label=fm-prod -password=prod-user-pin
check "production: cmu selfsign" "certificate \"fm-prod\" made" \
  "$bin/cmu" selfsign -token=prodtok -label=fm-prod -CN="FM production" -O=softfm -days=365 -password=prod-user-pin
check "production: cmu export (DER)" "DER" "$bin/cmu" export -token=prodtok -label=fm-prod -outputFile="$work/prod.der" -format=der
check "production: make clean all (RELEASE)" "" mk clean all
check "production: make sign, the key in the production HSM" "RELEASE, signed" \
  mk sign FM_KEY=prodtok/fm-prod FM_CERT="$work/prod.der"
release_img="$H/bin-$arch/hello.fm"
check "production: mkfm --verify" "the signature verifies" "$bin/mkfm" --verify -f "$release_img" -c "$work/prod.der"
# The key never left the production HSM.
"$bin/cmu" list -token=prodtok -password=prod-user-pin >"$work/out" 2>&1
grep -q "private key  fm-prod" "$work/out" && ok "production: the key stays in its token" || bad "production: the key stays in its token"

# ---- 5. Acceptance test: the production image on a RELEASE-only HSM ----
on target
"$bin/softfm" policy set fm-release-only on >/dev/null
check "acceptance: the production certificate into the Admin Token" "imported" \
  "$bin/cmu" import -slot=0 -so -password="$SOFTFM_SO_PIN" -inputFile="$work/prod.der" -label=fm-prod
check "acceptance: ctfm i" "FM hello loaded as number 0x0300 and running" "$bin/ctfm" i -f "$release_img" -l fm-prod
check "acceptance: the host tests" "^HELLO, PRODUCTION$" "$H/hello-host" upper "hello, production"
check "acceptance: echo" "^exactly this$" "$H/hello-host" echo "exactly this"
check "acceptance: RELEASE, signed by fm-prod" "signer +fm-prod" "$bin/ctfm" q
grep -qE "build type +RELEASE" "$work/out" && ok "acceptance: RELEASE build" || bad "acceptance: RELEASE build"
restart target
check "acceptance: after an HSM restart, waiting for the SMFS" "status +waiting" "$bin/ctfm" q -i 0x300
"$bin/softfm" policy set smfs-auto-activate on >/dev/null
check "acceptance: verified again and running" "status +running" "$bin/ctfm" q -i 0x300
check "acceptance: the host tests after the restart" "^HELLO, AGAIN$" "$H/hello-host" upper "hello, again"
check "acceptance: the audit log holds the changes" "policy set fm-release-only 1" "$bin/softfm" audit show
grep -q "fm load hello 0x0300 release" "$work/out" && ok "acceptance: the load is audited" || bad "acceptance: the load is audited"

# ---- Refusals: one clear message each, and nothing loaded ----
fm_list() { "$bin/ctfm" q 2>/dev/null | grep -E "^FM |status" | tr '\n' ' '; }
# refuse NAME PATTERN COMMAND...: fails, says PATTERN in one line, loads nothing
refuse() {
  local name=$1 pattern=$2; shift 2
  local before after
  before=$(fm_list)
  if "$@" >"$work/out" 2>&1 </dev/null; then bad "refused: $name (it was accepted)"; return; fi
  after=$(fm_list)
  if ! grep -qE -- "$pattern" "$work/out"; then bad "refused: $name (message)"; return; fi
  if [ "$(wc -l <"$work/out")" -ne 1 ]; then bad "refused: $name (one line)"; return; fi
  if [ "$before" != "$after" ]; then bad "refused: $name (FMs changed)"; return; fi
  refusals=$((refusals + 1))
  ok "refused: $name: $(cat "$work/out")"
}
on target
"$bin/softfm" policy set fm-release-only off >/dev/null
check "refusals: the FM stays loaded meanwhile" "status +running" "$bin/ctfm" q
# 1. unsigned
refuse "an unsigned image (ctfm)" "not a signed FM image" "$bin/ctfm" i -f "$H/bin-$arch/hello.bin"
refuse "an unsigned image (softfm fm load --dev, policy off)" "refuses unsigned FMs" \
  "$bin/softfm" fm load --dev "$H/bin-$arch/hello.bin"
# 2. a signer whose certificate is not in the Admin Token
cp -r "$sdk/samples/hello" "$work/hello2"
sed -i 's/#define HELLO_FM_NAME "hello"/#define HELLO_FM_NAME "hello2"/' "$work/hello2/hello.h"
make -s -C "$work/hello2" FMSDK="$sdk" >/dev/null 2>&1
h2="$work/hello2/bin-$arch/hello.bin"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/stranger.key" \
  -out "$work/stranger.pem" -subj /CN=stranger -days 30 >/dev/null 2>&1
"$bin/mkfm" -f "$h2" -o "$work/stranger.fm" -k "$work/stranger.key" -c "$work/stranger.pem" --release >/dev/null
refuse "a signer not in the Admin Token" "not in the Admin Token" "$bin/ctfm" i -f "$work/stranger.fm"
# 3. one bit altered anywhere: in the header, the FM and the signature
size=$(stat -c %s "$release_img")
for off in 0 9 12 40 100 $((size / 3)) $((size / 2)) $((size - 300)) $((size - 1)); do
  python3 - "$release_img" "$work/flip.fm" "$off" <<'EOF'
import sys
b = bytearray(open(sys.argv[1], 'rb').read())
b[int(sys.argv[3])] ^= 0x10
open(sys.argv[2], 'wb').write(b)
EOF
  refuse "one bit altered at byte $off of $size" "refused: " "$bin/ctfm" i -f "$work/flip.fm"
done
# 4. DEBUG on a RELEASE-only HSM (its signer is in the Admin Token)
"$bin/softfm" policy set fm-release-only on >/dev/null
refuse "a DEBUG image on a RELEASE-only HSM" "RELEASE images only" "$bin/ctfm" i -f "$debug_img"
"$bin/softfm" policy set fm-release-only off >/dev/null
# 5. no or wrong HSM SO PIN (no terminal: setsid drops it)
"$bin/ctfm" d -i 0x300 >/dev/null
refuse "no HSM SO PIN" "no HSM SO PIN" env -u SOFTFM_SO_PIN setsid -w "$bin/ctfm" i -f "$release_img"
refuse "a wrong HSM SO PIN" "wrong HSM SO PIN" "$bin/ctfm" i -f "$release_img" -p not-the-pin
# 6. FMs not allowed
"$bin/softfm" policy set allow-fms off >/dev/null
refuse "FMs not allowed by policy" "allows no FMs" "$bin/ctfm" i -f "$release_img"
"$bin/softfm" policy set allow-fms on >/dev/null
# 7. another architecture (signed properly, for an aarch64 HSM)
other=$([ "$arch" = x86_64 ] && echo aarch64 || echo x86_64)
python3 - "$H/bin-$arch/hello.bin" "$work/other.bin" "$other" <<'EOF'
import sys
b = bytearray(open(sys.argv[1], 'rb').read())
m = 183 if sys.argv[3] == 'aarch64' else 62
b[18:20] = m.to_bytes(2, 'little')
open(sys.argv[2], 'wb').write(b)
EOF
"$bin/mkfm" -f "$work/other.bin" -o "$work/other.fm" -k "$work/stranger.key" -c "$work/stranger.pem" \
  --release --target-arch "$other" >/dev/null
"$bin/cmu" import -slot=0 -so -password="$SOFTFM_SO_PIN" -inputFile="$work/stranger.pem" -label=stranger >/dev/null
refuse "an image for another architecture" "another architecture" "$bin/ctfm" i -f "$work/other.fm"
# 8. truncated or oversized
for cut in 0 7 64 $((size / 2)) $((size - 1)); do
  head -c "$cut" "$release_img" >"$work/cut.fm"
  refuse "truncated to $cut bytes" "refused: " "$bin/ctfm" i -f "$work/cut.fm"
done
cp "$release_img" "$work/long.fm"; printf 'x' >>"$work/long.fm"
refuse "a byte after the signature" "bytes after its signature" "$bin/ctfm" i -f "$work/long.fm"
head -c $((2 * 1024 * 1024)) /dev/zero >"$work/huge.fm"
refuse "an image over 1984 KiB" "larger than an FM image may be" "$bin/ctfm" i -f "$work/huge.fm"
# 9. two FMs claiming one FM number
check "refusals: hello loaded again" "running" "$bin/ctfm" i -f "$release_img"
refuse "a second FM with number 0x0300" "number 0x0300 is taken" "$bin/ctfm" i -f "$work/stranger.fm"
# 10. expired and not-yet-valid certificates
"$bin/ctfm" d -i 0x300 >/dev/null
on dev
export MKFM_PIN=dev-user-pin
"$bin/cmu" selfsign -token=devtok -password=dev-user-pin -label=fm-dev -certLabel=old -CN=old \
  -startDate=20200101 -endDate=20210101 -outputFile="$work/old.pem" >/dev/null
"$bin/cmu" selfsign -token=devtok -password=dev-user-pin -label=fm-dev -certLabel=future -CN=future \
  -startDate=20900101 -endDate=20910101 -outputFile="$work/future.pem" >/dev/null
make -s -C "$work/hello2" FMSDK="$sdk" sign FM_KEY=devtok/fm-dev FM_CERT="$work/old.pem" FM_SIGNED="$work/old.fm" >/dev/null
make -s -C "$work/hello2" FMSDK="$sdk" sign FM_KEY=devtok/fm-dev FM_CERT="$work/future.pem" FM_SIGNED="$work/future.fm" >/dev/null
on target
for c in old future; do
  "$bin/cmu" import -slot=0 -so -password="$SOFTFM_SO_PIN" -inputFile="$work/$c.pem" -label=$c >/dev/null
done
refuse "an expired signer certificate" "has expired" "$bin/ctfm" i -f "$work/old.fm"
refuse "a signer certificate not valid yet" "not valid yet" "$bin/ctfm" i -f "$work/future.fm"
# and the named certificate must be the signer
refuse "a certificate named that did not sign" "another certificate" "$bin/ctfm" i -f "$release_img" -l old
# Only the HSM SO changes the Admin Token.
"$bin/cmu" import -slot=0 -password=anything -inputFile="$work/stranger.pem" -label=x >"$work/out" 2>&1 \
  && bad "the Admin Token refuses a certificate from a non-SO" || ok "the Admin Token refuses a certificate from a non-SO"
check "the audit log's chain verifies" "fm load refused" "$bin/softfm" audit show
check "after the refusals, the production image still loads" "running" "$bin/ctfm" i -f "$release_img"
# The audit log shows tampering: one record changed in the database.
python3 - "$work/target/softfm.db" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE audit SET event = 'policy set fm-release-only 0 (was 0)' WHERE event LIKE 'policy set fm-release-only 1%'")
db.commit()
EOF
"$bin/softfm" audit show >"$work/out" 2>&1 && bad "a tampered audit log is reported" || \
  { grep -q "CHAIN BROKEN" "$work/out" && grep -q "chain is broken" "$work/out" && ok "a tampered audit log is reported" || bad "a tampered audit log is reported"; }

echo "refusals: $refusals"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
