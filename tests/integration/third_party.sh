#!/usr/bin/env bash
# softfm through third-party clients: OpenSC's pkcs11-tool and GnuTLS's
# p11tool, each checked on what it prints; and the softfm shell's output and
# exit codes (golden lines). Needs SOFTFMD, SOFTFM_MODULE, SOFTFM_BIN.
set -u
work=$(mktemp -d /tmp/softfm-3p.XXXXXX)
export SOFTFM_SOCKET="$work/s.sock"
export SOFTFM_SO_PIN=hsm-so-pin
M="$SOFTFM_MODULE"
cleanup() { [ -n "${dpid:-}" ] && kill "$dpid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
. "$(dirname "$0")/checks.sh"


"$SOFTFMD" --data "$work/data" --socket "$SOFTFM_SOCKET" --foreground --log "$work/d.log" &
dpid=$!
for _ in $(seq 100); do [ -S "$SOFTFM_SOCKET" ] && break; sleep 0.05; done

# --- the daemon refuses a second instance on the same data directory
expect "second daemon refused" 1 "in use by another softfmd" -- \
  "$SOFTFMD" --data "$work/data" --socket "$work/other.sock" --foreground
[ -d "$work/data" ] && [ "$(stat -c %a "$work/data")" = 700 ] && ok "data dir is 0700" || bad "data dir mode"

# --- the softfm shell
expect "show before init" 0 "not initialised" -- "$SOFTFM_BIN" hsm show
expect "partition before init" 1 "not initialised \\(softfm hsm init\\)" -- "$SOFTFM_BIN" partition create --name p
expect "init needs a label" 1 "--label LABEL is required" -- "$SOFTFM_BIN" hsm init
expect "hsm init" 0 '^HSM initialised: label "golden"$' -- "$SOFTFM_BIN" hsm init --label golden
[ "$(stat -c %a "$work/data/master.key")" = 600 ] && ok "master key is 0600" || bad "master key mode"
expect "init twice refused" 1 "initialised already" -- "$SOFTFM_BIN" hsm init --label again
expect "partition create" 0 "^partition pay created in slot 1$" -- "$SOFTFM_BIN" partition create --name pay
expect "partition create twice" 1 "a partition of that name exists \\(SFM_R_EXISTS\\)" -- "$SOFTFM_BIN" partition create --name pay
expect "bad partition name" 1 "names have 1-32 characters" -- "$SOFTFM_BIN" partition create --name "a/b"
echo wrong-pin > "$work/wrong"
expect "wrong SO PIN" 1 "wrong PIN \\(CKR_PIN_INCORRECT\\)" -- env -u SOFTFM_SO_PIN "$SOFTFM_BIN" --so-pin-file "$work/wrong" partition create --name x
expect "no PIN without a terminal" 1 "no HSM SO PIN" -- env -u SOFTFM_SO_PIN setsid "$SOFTFM_BIN" partition create --name x
expect "partition list" 0 "^1 +pay +- +[0-9a-f]{16} +not initialised$" -- "$SOFTFM_BIN" partition list
expect "policy set" 0 "^policy user-pin-max-tries set to 5$" -- "$SOFTFM_BIN" policy set user-pin-max-tries 5
expect "policy out of range" 1 "does not accept" -- "$SOFTFM_BIN" policy set user-pin-max-tries 0
expect "policy unknown" 1 "no such partition or policy" -- "$SOFTFM_BIN" policy set no-such 1
expect "policy show" 0 "^user-pin-max-tries +5 " -- "$SOFTFM_BIN" policy show
expect "unknown command" 2 "unknown command" -- "$SOFTFM_BIN" frobnicate
printf 'hsm show\npartition list\n' > "$work/script"
expect "interactive mode" 0 "^1 +pay " -- sh -c "'$SOFTFM_BIN' < '$work/script'"

# --- OpenSC pkcs11-tool
# Under the sanitizers the module needs the ASan runtime first in the tools.
TOOL_ENV=()
if [ -n "${SOFTFM_PRELOAD:-}" ]; then
  TOOL_ENV=(env LD_PRELOAD="$SOFTFM_PRELOAD" ASAN_OPTIONS=detect_leaks=0)
fi
T="${TOOL_ENV[*]} pkcs11-tool --module $M"
expect "pkcs11-tool -L" 0 "softfm partition pay" -- $T -L
expect "pkcs11-tool -L shows uninitialised token" 0 "uninitialized" -- $T -L
expect "init token" 0 "Token successfully initialized" -- $T --slot 1 --init-token --label paytok --so-pin 87654321
expect "init pin" 0 "User PIN successfully initialized" -- $T --slot 1 --init-pin --so-pin 87654321 --pin 1234
expect "token label listed" 0 "token label +: paytok" -- $T -L
expect "login wrong pin" 1 "CKR_PIN_INCORRECT" -- $T --slot 1 --login --pin 9999 -O
echo "data object content 42" > "$work/data.txt"
expect "write data object" 0 "Created Data Object" -- $T --slot 1 --login --pin 1234 --write-object "$work/data.txt" --type data --label d1 --private
expect "read data object" 0 "^data object content 42$" -- $T --slot 1 --login --pin 1234 --read-object --type data --label d1
expect "private object hidden without login" 0 "" -- $T --slot 1 -O
grep -q d1 "$work/out" && bad "private object listed without login" || ok "private object not listed without login"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/k.pem" -subj "/CN=softfm test" -days 2 -outform DER -out "$work/cert.der" 2>/dev/null
expect "write certificate" 0 "Created certificate" -- $T --slot 1 --login --pin 1234 --write-object "$work/cert.der" --type cert --label c1 --id 01
expect "list certificate" 0 "subject: +DN: CN=softfm test" -- $T --slot 1 -O --type cert
expect "read certificate" 0 "" -- $T --slot 1 --read-object --type cert --label c1 -o "$work/back.der"
cmp -s "$work/cert.der" "$work/back.der" && ok "certificate round trip" || bad "certificate round trip"
expect "delete data object" 0 "" -- $T --slot 1 --login --pin 1234 --delete-object --type data --label d1
expect "data object gone" 0 "" -- $T --slot 1 --login --pin 1234 -O
grep -q "d1" "$work/out" && bad "deleted object still listed" || ok "deleted object not listed"
expect "random" 0 "" -- $T --slot 1 --generate-random 64 -o "$work/rnd"
[ "$(stat -c %s "$work/rnd")" = 64 ] && ok "64 random bytes" || bad "random length"
for alg in SHA-1 SHA224 SHA256 SHA384 SHA512; do
  ossl=$(echo "$alg" | tr -d '-' | tr 'A-Z' 'a-z')
  ${TOOL_ENV[@]} pkcs11-tool --module $M --slot 1 --hash -m "$alg" -i "$work/data.txt" -o "$work/h.bin" >/dev/null 2>&1
  [ "$(xxd -p -c 256 "$work/h.bin")" = "$(openssl dgst -"$ossl" -r "$work/data.txt" | cut -d' ' -f1)" ] \
    && ok "hash $alg matches openssl" || bad "hash $alg"
done
expect "change user pin" 0 "PIN successfully changed" -- $T --slot 1 --login --pin 1234 --change-pin --new-pin 5678
expect "old pin refused" 1 "CKR_PIN_INCORRECT" -- $T --slot 1 --login --pin 1234 -O
expect "new pin works" 0 "" -- $T --slot 1 --login --pin 5678 -O
# five wrong PINs lock the Crypto Officer (policy set to 5 above)
for i in 1 2 3 4 5; do $T --slot 1 --login --pin 0000 -O >/dev/null 2>&1; done
expect "user PIN locked" 1 "CKR_PIN_LOCKED" -- $T --slot 1 --login --pin 5678 -O
expect "locked flag shown" 0 "user PIN locked" -- "$SOFTFM_BIN" slot list
expect "SO unlocks with init-pin" 0 "User PIN successfully initialized" -- $T --slot 1 --init-pin --so-pin 87654321 --pin 2468
expect "new user pin works" 0 "" -- $T --slot 1 --login --pin 2468 -O
expect "mechanism list" 0 "SHA256, hw, digest" -- $T --slot 1 -M
expect "mechanism list: key generation" 0 "AES-KEY-GEN, keySize=\\{16,32\\}, hw, generate" -- $T --slot 1 -M
expect "keygen AES-256" 0 "Key generated" -- $T --slot 1 --login --pin 2468 --keygen --key-type AES:32 --label aes1 --id 0a
expect "AES key listed" 0 "Secret Key Object; AES length 32" -- $T --slot 1 --login --pin 2468 -O --type secrkey
head -c 1000 /dev/urandom > "$work/plain"
IV=000102030405060708090a0b0c0d0e0f
expect "encrypt AES-CBC-PAD" 0 "" -- $T --slot 1 --login --pin 2468 --encrypt --id 0a -m AES-CBC-PAD --iv $IV -i "$work/plain" -o "$work/enc"
[ "$(stat -c %s "$work/enc")" = 1008 ] && ok "ciphertext length" || bad "ciphertext length"
expect "decrypt AES-CBC-PAD" 0 "" -- $T --slot 1 --login --pin 2468 --decrypt --id 0a -m AES-CBC-PAD --iv $IV -i "$work/enc" -o "$work/dec"
cmp -s "$work/plain" "$work/dec" && ok "AES round trip" || bad "AES round trip"
# key pairs: what the token signs, plain openssl verifies
echo "a message to sign" > "$work/msg"
expect "keypairgen RSA-2048" 0 "Private Key Object; RSA" -- $T --slot 1 --login --pin 2468 --keypairgen --key-type rsa:2048 --label rsa1 --id 01
expect "keypairgen EC P-256" 0 "Private Key Object; EC" -- $T --slot 1 --login --pin 2468 --keypairgen --key-type EC:prime256v1 --label ec1 --id 02
expect "sign SHA256-RSA-PKCS" 0 "" -- $T --slot 1 --login --pin 2468 --sign --id 01 -m SHA256-RSA-PKCS -i "$work/msg" -o "$work/rsa.sig"
expect "export RSA public key" 0 "" -- $T --slot 1 --read-object --type pubkey --id 01 -o "$work/rsa.der"
openssl rsa -pubin -inform DER -in "$work/rsa.der" -out "$work/rsa.pem" 2>/dev/null
expect "openssl verifies the RSA signature" 0 "Verified OK" -- openssl dgst -sha256 -verify "$work/rsa.pem" -signature "$work/rsa.sig" "$work/msg"
expect "sign ECDSA-SHA256" 0 "" -- $T --slot 1 --login --pin 2468 --sign --id 02 -m ECDSA-SHA256 --signature-format openssl -i "$work/msg" -o "$work/ec.sig"
# pkcs11-tool's own EC public-key export reads freed memory (inside the tool,
# in its EVP_PKEY_fromdata call), which AddressSanitizer stops: that step runs
# in the plain build only.
if [ -z "${SOFTFM_PRELOAD:-}" ]; then
  expect "export EC public key" 0 "" -- $T --slot 1 --read-object --type pubkey --id 02 -o "$work/ec.der"
  openssl ec -pubin -inform DER -in "$work/ec.der" -out "$work/ec.pem" 2>/dev/null
  expect "openssl verifies the ECDSA signature" 0 "Verified OK" -- openssl dgst -sha256 -verify "$work/ec.pem" -signature "$work/ec.sig" "$work/msg"
fi
expect "token verifies" 0 "Signature is valid" -- $T --slot 1 --login --pin 2468 --verify --id 01 -m SHA256-RSA-PKCS -i "$work/msg" --signature-file "$work/rsa.sig"
expect "pkcs11-tool --test" 0 "No errors" -- $T --slot 1 --login --pin 2468 --test
expect "keygen DES3" 0 "Key generated" -- $T --slot 1 --login --pin 2468 --keygen --key-type DES3:24 --label des1
# wrapping: an AES key under an AES key (RFC 3394) and under an RSA key, and back
L="--slot 1 --login --pin 2468"
expect "keygen AES wrapping key" 0 "Key generated" -- $T $L --keygen --key-type AES:32 --label wk --id 50 --usage-wrap
expect "keygen extractable AES key" 0 "extractable" -- $T $L --keygen --key-type AES:16 --label tk --id 51 --extractable
expect "wrap AES-KEY-WRAP" 0 "Key wrapped" -- $T $L --wrap --id 50 --application-id 51 -m AES-KEY-WRAP -o "$work/kw.bin"
[ "$(stat -c %s "$work/kw.bin")" = 24 ] && ok "RFC 3394 output length" || bad "RFC 3394 output length"
expect "unwrap AES-KEY-WRAP" 0 "" -- $T $L --unwrap --id 50 -m AES-KEY-WRAP -i "$work/kw.bin" --key-type AES:16 --application-id 52
expect "keypairgen RSA wrapping key" 0 "wrap" -- $T $L --keypairgen --key-type rsa:2048 --id 53 --label rw --usage-wrap
expect "wrap RSA-PKCS" 0 "Key wrapped" -- $T $L --wrap --id 53 --application-id 51 -m RSA-PKCS -o "$work/rw.bin"
expect "unwrap RSA-PKCS" 0 "" -- $T $L --unwrap --id 53 -m RSA-PKCS -i "$work/rw.bin" --key-type AES:16 --application-id 54
head -c 16 /dev/zero > "$work/block"
for id in 51 52 54; do
  ${TOOL_ENV[@]} pkcs11-tool --module $M $L --encrypt --id $id -m AES-ECB -i "$work/block" -o "$work/blk$id" >/dev/null 2>&1
done
cmp -s "$work/blk51" "$work/blk52" && cmp -s "$work/blk51" "$work/blk54" && [ -s "$work/blk51" ] \
  && ok "unwrapped keys are the wrapped key" || bad "unwrapped keys differ"
expect "unextractable key not wrapped" 1 "CKR_KEY_UNEXTRACTABLE" -- $T $L --wrap --id 50 --application-id 0a -m AES-KEY-WRAP -o "$work/no.bin"
expect "OAEP without its parameters refused" 1 "CKR_MECHANISM_PARAM_INVALID" -- $T $L --wrap --id 53 --application-id 51 -m RSA-PKCS-OAEP -o "$work/no.bin"
# ECDH: the token and OpenSSL agree on the shared secret
expect "keypairgen EC for derivation" 0 "derive" -- $T $L --keypairgen --key-type EC:prime256v1 --id 55 --label ecdh --usage-derive
openssl ecparam -name prime256v1 -genkey -noout -out "$work/peer.pem" 2>/dev/null
openssl ec -in "$work/peer.pem" -pubout -outform DER -out "$work/peer.der" 2>/dev/null
expect "derive ECDH1" 0 "ECDH1-DERIVE" -- $T $L --derive --id 55 -i "$work/peer.der" -m ECDH1-DERIVE -o "$work/shared.bin"
if [ -z "${SOFTFM_PRELOAD:-}" ]; then # the EC public-key export, as above
  ${TOOL_ENV[@]} pkcs11-tool --module $M --slot 1 --read-object --type pubkey --id 55 -o "$work/ecdh.der" >/dev/null 2>&1
  openssl pkey -pubin -inform DER -in "$work/ecdh.der" -out "$work/ecdh.pem" 2>/dev/null
  openssl pkeyutl -derive -inkey "$work/peer.pem" -peerkey "$work/ecdh.pem" -out "$work/shared2.bin" 2>/dev/null
  cmp -s "$work/shared.bin" "$work/shared2.bin" && [ -s "$work/shared.bin" ] \
    && ok "openssl derives the same secret" || bad "ECDH secrets differ"
fi
# RSA decryption of what OpenSSL encrypted with the token's public key
expect "keypairgen RSA for decryption" 0 "decrypt" -- $T $L --keypairgen --key-type rsa:2048 --id 56 --label rd --usage-decrypt
${TOOL_ENV[@]} pkcs11-tool --module $M --slot 1 --read-object --type pubkey --id 56 -o "$work/rd.der" >/dev/null 2>&1
openssl pkey -pubin -inform DER -in "$work/rd.der" -out "$work/rd.pem" 2>/dev/null
echo "for the token's eyes only" > "$work/pm"
openssl pkeyutl -encrypt -pubin -inkey "$work/rd.pem" -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 -in "$work/pm" -out "$work/oaep.ct"
expect "decrypt RSA-PKCS-OAEP (SHA-256)" 0 "" -- $T $L --decrypt --id 56 -m RSA-PKCS-OAEP --hash-algorithm SHA256 --mgf MGF1-SHA256 -i "$work/oaep.ct" -o "$work/oaep.pt"
cmp -s "$work/pm" "$work/oaep.pt" && ok "OAEP plaintext matches" || bad "OAEP plaintext"
openssl pkeyutl -encrypt -pubin -inkey "$work/rd.pem" -in "$work/pm" -out "$work/pkcs.ct"
expect "decrypt RSA-PKCS" 0 "" -- $T $L --decrypt --id 56 -m RSA-PKCS -i "$work/pkcs.ct" -o "$work/pkcs.pt"
cmp -s "$work/pm" "$work/pkcs.pt" && ok "PKCS#1 v1.5 plaintext matches" || bad "PKCS#1 v1.5 plaintext"

# --- GnuTLS p11tool
P11URL="pkcs11:token=paytok"
expect "p11tool list tokens" 0 "Label: paytok" -- ${TOOL_ENV[@]} p11tool --provider "$M" --list-tokens
expect "p11tool list certificates" 0 "Label: c1" -- ${TOOL_ENV[@]} p11tool --provider "$M" --list-all-certs "$P11URL"
expect "p11tool export certificate" 0 "BEGIN CERTIFICATE" -- ${TOOL_ENV[@]} p11tool --provider "$M" --export "$P11URL;object=c1;type=cert"

expect "p11tool generates an EC key" 0 "BEGIN PUBLIC KEY" -- env GNUTLS_PIN=2468 ${TOOL_ENV[@]} p11tool --provider "$M" --login --generate-privkey=ecdsa --curve=secp256r1 --label=gnutls-ec "$P11URL"
expect "p11tool lists it" 0 "Label: gnutls-ec" -- env GNUTLS_PIN=2468 ${TOOL_ENV[@]} p11tool --provider "$M" --login --list-privkeys "$P11URL"
expect "p11tool exports its public key" 0 "BEGIN PUBLIC KEY" -- env GNUTLS_PIN=2468 ${TOOL_ENV[@]} p11tool --provider "$M" --export-pubkey "$P11URL;object=gnutls-ec"

# --- OpenSSL through the pkcs11 engine: a CSR and a self-signed certificate
# whose private key never leaves the token, checked by plain openssl
ENGINE=$(ls /usr/lib/*/engines-3/pkcs11.so 2>/dev/null | head -n1)
cat > "$work/openssl.cnf" <<CNF
openssl_conf = init
[init]
engines = engines
[engines]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = $ENGINE
MODULE_PATH = $M
init = 0
[req]
distinguished_name = dn
[dn]
CNF
KEYURI="pkcs11:token=paytok;object=rsa1;type=private;pin-value=2468"
expect "openssl engine: self-signed certificate" 0 "" -- env OPENSSL_CONF="$work/openssl.cnf" ${TOOL_ENV[@]} openssl req -new -x509 -days 2 -subj "/CN=softfm engine" -engine pkcs11 -keyform engine -key "$KEYURI" -out "$work/eng.pem"
expect "plain openssl verifies it" 0 "OK" -- openssl verify -CAfile "$work/eng.pem" "$work/eng.pem"
expect "openssl engine: CSR" 0 "" -- env OPENSSL_CONF="$work/openssl.cnf" ${TOOL_ENV[@]} openssl req -new -subj "/CN=softfm csr" -engine pkcs11 -keyform engine -key "$KEYURI" -out "$work/eng.csr"
expect "plain openssl verifies the CSR" 0 "verify OK" -- openssl req -in "$work/eng.csr" -verify -noout

# --- Java's SunPKCS11 provider: keytool sees the key with its certificate,
# jarsigner signs a jar with it (a JVM does not take the ASan runtime)
if [ -z "${SOFTFM_PRELOAD:-}" ] && command -v jarsigner >/dev/null; then
  openssl x509 -in "$work/eng.pem" -outform DER -out "$work/eng.der"
  expect "certificate for the RSA key" 0 "Created certificate" -- $T --slot 1 --login --pin 2468 --write-object "$work/eng.der" --type cert --id 01 --label rsa1
  printf 'name = softfm\nlibrary = %s\nslot = 1\n' "$M" > "$work/java.cfg"
  JKS=(-keystore NONE -storetype PKCS11 -providerClass sun.security.pkcs11.SunPKCS11 -providerArg "$work/java.cfg" -storepass 2468)
  expect "keytool lists the token's key" 0 "rsa1, PrivateKeyEntry" -- keytool -list "${JKS[@]}"
  (cd "$work" && echo "jar content" > inside.txt && jar cf test.jar inside.txt)
  expect "jarsigner signs with the token key" 0 "jar signed" -- jarsigner "${JKS[@]}" "$work/test.jar" rsa1
  expect "jarsigner -verify accepts it" 0 "jar verified" -- jarsigner -verify "$work/test.jar"
fi

# --- encrypted at rest: the data directory holds no object value, PIN or cert in the clear
sync
if grep -rqa "data object content 42\|softfm test\|87654321\|2468" "$work/data"; then bad "plaintext found in the data directory"; else ok "nothing in the clear at rest"; fi

# --- SIGTERM: a clean stop that removes the socket
kill -TERM "$dpid"; wait "$dpid"; rc=$?
[ "$rc" = 0 ] && [ ! -e "$SOFTFM_SOCKET" ] && ok "SIGTERM stops cleanly" || bad "SIGTERM exit $rc"
dpid=""
expect "daemon down" 1 "softfmd is not running" -- "$SOFTFM_BIN" hsm show
expect "pkcs11-tool with daemon down" 1 "CKR_DEVICE_REMOVED" -- $T -L
# --- zeroize after restart (daemonised start returns once ready)
expect "daemonised start" 0 "" -- "$SOFTFMD" --data "$work/data" --socket "$SOFTFM_SOCKET"
dpid=$(head -n1 "$work/data/softfmd.lock")
expect "objects survive restart" 0 "Label: c1" -- ${TOOL_ENV[@]} p11tool --provider "$M" --list-all-certs "$P11URL"
expect "zeroize needs confirmation" 1 "not confirmed" -- setsid "$SOFTFM_BIN" hsm zeroize
expect "zeroize" 0 "^HSM zeroized$" -- "$SOFTFM_BIN" hsm zeroize --force
expect "zeroized HSM is empty" 0 "not initialised" -- "$SOFTFM_BIN" hsm show
grep -q "pay" "$work/out" && bad "partition survived zeroize" || ok "partitions gone after zeroize"

# --- PINs typed at a terminal: not echoed, confirmed when new
TTY="$(dirname "$0")/tty_dialog.py"
expect "init with a mistyped confirmation" 1 "the PINs differ" -- env -u SOFTFM_SO_PIN \
  "$TTY" "HSM SO PIN: " tty-pin-one "HSM SO PIN again: " tty-pin-two -- "$SOFTFM_BIN" hsm init --label t
expect "init at a terminal" 0 "HSM initialised" -- env -u SOFTFM_SO_PIN \
  "$TTY" "HSM SO PIN: " tty-pin-one "HSM SO PIN again: " tty-pin-one -- "$SOFTFM_BIN" hsm init --label t
grep -q tty-pin-one "$work/out" && bad "the PIN was echoed" || ok "the PIN is not echoed"
expect "SO PIN from the terminal" 0 "partition viatty created" -- env -u SOFTFM_SO_PIN \
  "$TTY" "HSM SO PIN: " tty-pin-one -- "$SOFTFM_BIN" partition create --name viatty
expect "zeroize confirmed at a terminal" 0 "HSM zeroized" -- env -u SOFTFM_SO_PIN \
  "$TTY" "to go on: " yes "HSM SO PIN: " tty-pin-one -- "$SOFTFM_BIN" hsm zeroize

echo "third-party: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
