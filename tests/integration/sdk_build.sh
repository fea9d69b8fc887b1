#!/usr/bin/env bash
# The installed FM SDK as FM authors use it: install softfm to a temporary
# prefix, build the hello sample with its Luna-style makefile (FMSDK=) and
# the sg sample with its PTK-style makefile (FMDIR=), FM and host program,
# load both images into a real softfmd and call them from their host
# programs, linked against the vendor-style client folder (libethsm.so).
# Needs BUILD_DIR, SOFTFMD, SOFTFM_BIN.
set -u
work=$(mktemp -d /tmp/softfm-sdk.XXXXXX)
export SOFTFM_SOCKET="$work/s.sock" SOFTFM_SO_PIN=sdk-so-pin
cleanup() { [ -f "$work/data/softfmd.lock" ] && kill "$(head -n1 "$work/data/softfmd.lock")" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
. "$(dirname "$0")/checks.sh"

cmake --install "$BUILD_DIR" --prefix "$work/prefix" >/dev/null || { echo "install failed"; exit 1; }
sdk="$work/prefix/share/softfm/fmsdk"
for f in include/fm.h include/fm/hsm/fm.h include/fm/common/fm_byteorder.h include/fm/host/md.h \
         include/cryptoki.h lib/libfmsupt.a config.mk cfgbuild.mak samples/fmconfig.mk; do
  [ -e "$sdk/$f" ] && ok "installed $f" || bad "installed $f"
done
for l in libethsm.so libcryptoki.so libCryptoki2_64.so; do
  [ -e "$work/prefix/share/softfm/lunasdk/lib/$l" ] && ok "lunasdk/lib/$l" || bad "lunasdk/lib/$l"
done
cp -r "$sdk/samples/hello" "$sdk/samples/sg" "$sdk/samples/stream" "$sdk/samples/login" \
      "$sdk/samples/crypto" "$sdk/samples/custodian" "$sdk/samples/restrict" "$sdk/samples/xorsign" "$work/"
check "hello: Luna-style make" "." make -C "$work/hello" FMSDK="$sdk"
for s in stream login crypto custodian restrict xorsign; do
  check "$s: Luna-style make" "." make -C "$work/$s" FMSDK="$sdk"
done
check "sg: PTK-style make, the FM" "." make -C "$work/sg" FMDIR="$sdk"
check "sg: PTK-style make, the host program" "." make -C "$work/sg" CONSOLE=1 FMDIR="$sdk"
img="$work/hello/bin-$(uname -m)/hello.bin"
readelf -d "$img" | grep -q NEEDED && bad "hello.bin imports nothing" || ok "hello.bin imports nothing"

"$SOFTFMD" --data "$work/data" --socket "$SOFTFM_SOCKET"
"$SOFTFM_BIN" hsm init --label sdk >/dev/null
"$SOFTFM_BIN" policy set allow-unsigned-fms on >/dev/null
"$SOFTFM_BIN" policy set smfs-auto-activate on >/dev/null
check "load hello" "loaded as number 0x0300 and running" "$SOFTFM_BIN" fm load --dev "$img"
check "load sg" "loaded as number 0x0304 and running" "$SOFTFM_BIN" fm load --dev "$work/sg/bin/sg.bin"
check "hello-host" "^HELLO, SDK$" "$work/hello/hello-host" upper "hello, sdk"
check "sg-host: buffers filled in order" "^12 bytes in buffers of 8: \[..a..bb.\] \[.ccc____\] \[________\]$" "$work/sg/obj-host/sg-host"
check "sg-host: records recovered" "^record 2: ccc$" "$work/sg/obj-host/sg-host"
arch=$(uname -m)
for s in stream login crypto custodian; do
  check "load $s" "and running" "$SOFTFM_BIN" fm load --dev "$work/$s/bin-$arch/$s.bin"
done
check "stream-host" "^sum 10; reversed: 4 3 2 1$" "$work/stream/stream-host" 1 2 3 4
check "login-host: refused before login" "^before login: status 0xc$" "$work/login/login-host" "open sesame"
check "login-host: the secret after login" "^secret: the answer is 42$" "$work/login/login-host" "open sesame"
# crypto: a partition with a known HMAC key, used by the FM by label.
M="$BUILD_DIR/src/pkcs11/libsoftfm-pkcs11.so"
"$SOFTFM_BIN" partition create --name keys >/dev/null
pkcs11-tool --module "$M" --slot 1 --init-token --label keys --so-pin 87654321 >/dev/null 2>&1
pkcs11-tool --module "$M" --slot 1 --init-pin --so-pin 87654321 --pin 1234 >/dev/null 2>&1
# (GnuTLS p11tool writes a generic secret key; pkcs11-tool cannot.)
GNUTLS_PIN=1234 p11tool --provider "$M" --login --label fm-mac "pkcs11:token=keys" \
  --write --secret-key=3031323334353637383961626364656630313233343536373839616263646566 >/dev/null 2>&1
check "HMAC key into the partition" "Generic secret length 32" pkcs11-tool --module "$M" --slot 1 --login --pin 1234 -O
want=$(printf 'from the host' | openssl dgst -sha256 -mac HMAC -macopt key:0123456789abcdef0123456789abcdef -r | cut -d' ' -f1)
check "crypto-host: the FM's HMAC matches openssl" "^HMAC-SHA256: $want$" "$work/crypto/crypto-host" 1 1234 fm-mac "from the host"
# The key custodian keeps its keys in the SMFS: they outlive the daemon.
C="$work/custodian/custodian-host"
check "custodian: generate" "^ok$" "$C" generate signing
check "custodian: generate another" "^ok$" "$C" generate backup
check "custodian: use" "^[0-9a-f]{64}$" "$C" use signing "a message"
mac=$(tail -n1 "$work/out")
dpid=$(head -n1 "$work/data/softfmd.lock")
kill "$dpid"
for _ in $(seq 200); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.05; done
"$SOFTFMD" --data "$work/data" --socket "$SOFTFM_SOCKET"
check "custodian: the key after a restart" "^$mac$" "$C" use signing "a message"
check "custodian: list" "^backup$" "$C" list
check "custodian: delete" "^ok$" "$C" delete backup
"$C" use backup "x" >"$work/out" 2>&1 && bad "custodian: a deleted key is gone" || ok "custodian: a deleted key is gone"
check "custodian: the other key stays" "^$mac$" "$C" use signing "a message"
# A backup of the SMFS, and back to it after a change.
check "smfs status" "^SMFS active; [0-9]+ of 1048576 bytes used$" "$SOFTFM_BIN" smfs status
check "smfs backup" "^SMFS backed up to $work/smfs.bak" "$SOFTFM_BIN" smfs backup --out "$work/smfs.bak"
check "custodian: delete the signing key" "^ok$" "$C" delete signing
check "smfs restore" "^SMFS restored from" "$SOFTFM_BIN" smfs restore --in "$work/smfs.bak"
check "custodian: the key is back" "^$mac$" "$C" use signing "a message"
printf 'not a backup' > "$work/junk.bak"
"$SOFTFM_BIN" smfs restore --in "$work/junk.bak" >"$work/out" 2>&1 && bad "junk backup refused" || \
  { grep -q "not an SMFS backup of this HSM" "$work/out" && ok "junk backup refused" || bad "junk backup refused"; }
# restrict: an FM that patches C_OpenSession, seen through pkcs11-tool.
check "load restrict" "and running" "$SOFTFM_BIN" fm load --dev "$work/restrict/bin-$arch/restrict.bin"
check "restrict: pkcs11-tool opens a session on slot 1" "Generic secret" \
  pkcs11-tool --module "$M" --slot 1 --login --pin 1234 -O
check "restrict-host set 1" "^sessions on slot 1 are refused$" "$work/restrict/restrict-host" set 1
pkcs11-tool --module "$M" --slot 1 -O >"$work/out" 2>&1 && bad "restrict: slot 1 refused" || \
  { grep -q "C_OpenSession failed: rv = CKR_SLOT_ID_INVALID" "$work/out" && ok "restrict: slot 1 refused" || bad "restrict: slot 1 refused"; }
check "restrict: slot 0 still open" "token label" pkcs11-tool --module "$M" --slot 0 -I -T
check "restrict: the FM's trace" "restrict: refused a session on slot 1" "$SOFTFM_BIN" fm trace restrict
dpid=$(head -n1 "$work/data/softfmd.lock")
kill "$dpid"
for _ in $(seq 200); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.05; done
"$SOFTFMD" --data "$work/data" --socket "$SOFTFM_SOCKET"
pkcs11-tool --module "$M" --slot 1 -O >"$work/out" 2>&1 && bad "restrict: the rule outlives a restart" || \
  { grep -q "CKR_SLOT_ID_INVALID" "$work/out" && ok "restrict: the rule outlives a restart" || bad "restrict: the rule outlives a restart"; }
check "restrict-host clear" "^no slot is refused$" "$work/restrict/restrict-host" clear
check "restrict: slot 1 open again" "Generic secret" pkcs11-tool --module "$M" --slot 1 --login --pin 1234 -O
check "restrict-host set 1 again" "refused" "$work/restrict/restrict-host" set 1
check "delete restrict" "deleted" "$SOFTFM_BIN" fm delete restrict
check "restrict: deleting the FM brings C_OpenSession back" "Generic secret" \
  pkcs11-tool --module "$M" --slot 1 --login --pin 1234 -O
# xorsign: a vendor mechanism an FM adds, seen by plain PKCS#11 programs.
check "load xorsign" "and running" "$SOFTFM_BIN" fm load --dev "$work/xorsign/bin-$arch/xorsign.bin"
check "xorsign: pkcs11-tool -M lists the vendor mechanism" "mechtype-0x80005846, keySize=\{1,256\}, hw, sign, verify" \
  pkcs11-tool --module "$M" --slot 1 -M
check "xorsign-host: sign in one and two parts, verify, refuse a changed signature" \
  "^verified; a changed signature is refused$" "$work/xorsign/xorsign-host" 1 1234 "a vendor mechanism"
check "xorsign: other mechanisms untouched" "Generic secret" pkcs11-tool --module "$M" --slot 1 --login --pin 1234 -O
check "delete xorsign" "deleted" "$SOFTFM_BIN" fm delete xorsign
pkcs11-tool --module "$M" --slot 1 -M >"$work/out" 2>&1
grep -q "0x80005846" "$work/out" && bad "xorsign: gone with its FM" || ok "xorsign: gone with its FM"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
