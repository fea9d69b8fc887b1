#!/usr/bin/env bash
# The network HSM through the softfm shell and third-party clients: two
# softfmd listening on loopback addresses, a client host set up with
# `softfm client setup`, registered and assigned on the HSM side, then
# OpenSC's pkcs11-tool, GnuTLS's p11tool and openssl (s_client, dgst) over
# TLS. Needs SOFTFMD, SOFTFM_MODULE, SOFTFM_BIN. Traffic stays on 127/8.
set -u
work=$(mktemp -d /tmp/softfm-net.XXXXXX)
export SOFTFM_SO_PIN=hsm-so-pin
M="$SOFTFM_MODULE"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
. "$(dirname "$0")/checks.sh"

TOOL_ENV=()
[ -n "${SOFTFM_PRELOAD:-}" ] && TOOL_ENV=(env LD_PRELOAD="$SOFTFM_PRELOAD" ASAN_OPTIONS=detect_leaks=0)

free_port() { python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$1"; }
A=127.0.0.2:$(free_port 127.0.0.2)
B=127.0.0.3:$(free_port 127.0.0.3)
start() { # start N ADDRESS
  "$SOFTFMD" --data "$work/d$1" --socket "$work/s$1.sock" --listen "$2" --foreground --log "$work/d$1.log" &
  pids+=($!)
  for _ in $(seq 200); do [ -S "$work/s$1.sock" ] && break; sleep 0.05; done
}
hsm() { local n=$1; shift; SOFTFM_SOCKET="$work/s$n.sock" "$SOFTFM_BIN" "$@"; }
start 1 "$A"
start 2 "$B"

expect "--listen wants HOST:PORT" 2 "HOST:PORT" -- "$SOFTFMD" --data "$work/dx" --socket "$work/x.sock" --listen nonsense --foreground

# --- the HSM side: its certificate is made at init and shown with its fingerprint
expect "no certificate before init" 1 "no certificate" -- hsm 1 hsm server-cert --out "$work/none.crt"
for n in 1 2; do
  hsm $n hsm init --label "net$n" >/dev/null && hsm $n partition create --name app >/dev/null
done
expect "hsm show: fingerprint" 0 "^  SHA-256 +([0-9A-F]{2}:){31}[0-9A-F]{2}$" -- hsm 1 hsm show
fpA=$(hsm 1 hsm show | sed -n 's/^  SHA-256 *//p')
fpB=$(hsm 2 hsm show | sed -n 's/^  SHA-256 *//p')
[ -n "$fpA" ] && [ "$fpA" != "$fpB" ] && ok "each HSM has its own certificate" || bad "certificates"
expect "hsm server-cert" 0 "^wrote" -- hsm 1 hsm server-cert --out "$work/a.crt"
[ "$(openssl x509 -in "$work/a.crt" -noout -fingerprint -sha256 | cut -d= -f2)" = "$fpA" ] \
  && ok "openssl sees the fingerprint softfm shows" || bad "fingerprint differs"

# --- the client host: setup fetches and pins; a wrong fingerprint pins nothing
expect "setup refuses a wrong fingerprint" 1 "not the one given" -- \
  "$SOFTFM_BIN" client setup --server "$A" --dir "$work/c" --fingerprint "00:11:22"
[ ! -e "$work/c/server.crt" ] && ok "nothing pinned" || bad "pinned anyway"
expect "client setup" 0 "SHA-256 $fpA" -- \
  "$SOFTFM_BIN" client setup --server "$A" --dir "$work/c" --name host-one --fingerprint "$fpA"
[ "$(stat -c %a "$work/c/client.key")" = 600 ] && ok "client key is 0600" || bad "client key mode"
grep -q "^server = $A $work/c/server.crt$" "$work/c/softfm.conf" && ok "configuration names the HSM" || bad "conf"
export SOFTFM_CONF="$work/c/softfm.conf"
T="${TOOL_ENV[*]} pkcs11-tool --module $M"

expect "unregistered: no HSM" 1 "CKR_DEVICE_REMOVED" -- $T -L
grep -q "unregistered certificate" "$work/d1.log" && ok "unregistered client logged" || bad "log"

# --- registration, through the local shell
expect "register" 0 "^client host1 registered; certificate SHA-256" -- hsm 1 client register --name host1 --cert "$work/c/client.crt"
expect "register twice" 1 "SFM_R_EXISTS" -- hsm 1 client register --name other --cert "$work/c/client.crt"
expect "register a non-certificate" 1 "not a certificate" -- hsm 1 client register --name x --cert "$work/c/softfm.conf"
expect "assign unknown partition" 1 "SFM_R_NOT_FOUND" -- hsm 1 client assign --name host1 --partition nope
expect "assign the Admin Token" 1 "SFM_R_NOT_FOUND" -- hsm 1 client assign --name host1 --partition admin
expect "revoke unknown client" 1 "SFM_R_NOT_FOUND" -- hsm 1 client revoke --name nobody
expect "registered, nothing assigned: no slots" 1 "^No slots" -- $T -L
expect "assign" 0 "^partition app assigned to client host1$" -- hsm 1 client assign --name host1 --partition app
expect "client list" 0 "^    registered .*partitions \\(slots\\): 1$" -- hsm 1 client list

# --- third-party clients over TLS
expect "pkcs11-tool lists the partition" 0 "softfm partition app" -- $T -L
grep -q "softfm admin" "$work/out" && bad "Admin Token visible" || ok "Admin Token not visible"
expect "init token over the network" 0 "successfully initialized" -- $T --slot 1 --init-token --label netapp --so-pin 12345678
expect "init PIN" 0 "successfully" -- $T --slot 1 --init-pin --so-pin 12345678 --pin 2468
expect "RSA key pair" 0 "RSA 2048 bits" -- $T --slot 1 --login --pin 2468 --keypairgen --key-type rsa:2048 --id 07 --label netkey
echo "signed over TLS" > "$work/msg"
expect "sign" 0 "" -- $T --slot 1 --login --pin 2468 --sign --id 07 -m SHA256-RSA-PKCS -i "$work/msg" -o "$work/sig"
expect "export the public key" 0 "" -- $T --slot 1 --read-object --type pubkey --id 07 -o "$work/pub.der"
openssl rsa -pubin -inform DER -in "$work/pub.der" -out "$work/pub.pem" 2>/dev/null
expect "openssl verifies" 0 "Verified OK" -- openssl dgst -sha256 -verify "$work/pub.pem" -signature "$work/sig" "$work/msg"
expect "p11tool lists the token" 0 "netapp" -- ${TOOL_ENV[@]} p11tool --provider "$M" --list-tokens

# --- openssl s_client: TLS 1.3, and the certificate checks
expect "s_client with the client's identity" 0 "TLSv1.3" -- sh -c \
  "echo | openssl s_client -connect $A -cert $work/c/client.crt -key $work/c/client.key -CAfile $work/c/server.crt -brief 2>&1"
echo | openssl s_client -connect "$A" -tls1_2 >/dev/null 2>&1 && bad "TLS 1.2 accepted" || ok "TLS 1.2 refused"
echo | openssl s_client -connect "$A" -brief >/dev/null 2>&1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/self.key" \
  -out "$work/self.crt" -subj /CN=self -days 1 >/dev/null 2>&1
echo | openssl s_client -connect "$A" -cert "$work/self.crt" -key "$work/self.key" >/dev/null 2>&1
printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect "$A" -quiet >/dev/null 2>&1
exec 3<>/dev/tcp/127.0.0.2/"${A##*:}" && printf 'plain text\r\n' >&3 && exec 3>&-
sleep 0.3
grep -q "peer did not return a certificate" "$work/d1.log" && ok "no certificate: refused, logged" || bad "no-cert log"
grep -c "unregistered certificate" "$work/d1.log" | grep -qv '^1$' && ok "self-made certificate: refused, logged" || bad "self-made log"
grep -qE "refused 127.0.0.1:[0-9]+: TLS" "$work/d1.log" && ok "plain TCP: refused, logged" || bad "plain log"

# --- a second HSM in the configuration
expect "add-server" 0 "^added to .*server = $B " -- "$SOFTFM_BIN" client add-server --server "$B" --dir "$work/c" --fingerprint "$fpB"
expect "add-server twice" 1 "already" -- "$SOFTFM_BIN" client add-server --server "$B" --dir "$work/c"
hsm 2 client register --name host1 --cert "$work/c/client.crt" >/dev/null
hsm 2 client assign --name host1 --partition app >/dev/null
expect "slots of both HSMs" 0 "\\(0x100000001\\)" -- $T -L
[ "$(grep -c '^Slot' "$work/out")" = 2 ] && ok "two slots" || bad "slot count"

# --- an HSM restarted in the middle of a run: the other goes on, it comes back
kill "${pids[1]}"; wait "${pids[1]}" 2>/dev/null
expect "B away: A's slot only" 0 "softfm partition app" -- $T -L
[ "$(grep -c '^Slot' "$work/out")" = 1 ] && ok "one slot while B is away" || bad "slot count while away"
start 2 "$B"
expect "B back" 0 "\\(0x100000001\\)" -- $T -L

# --- revoke, reinstate, delete, unassign
expect "revoke" 0 "revoked" -- hsm 1 client revoke --name host1
expect "revoked: A's slots gone" 0 "\\(0x100000001\\)" -- $T -L
[ "$(grep -c '^Slot' "$work/out")" = 1 ] && ok "only B's slot while revoked on A" || bad "revoked slot count"
grep -q "client host1 is revoked" "$work/d1.log" && ok "revoked client logged" || bad "revoked log"
expect "client list shows it" 0 "^host1 +REVOKED$" -- hsm 1 client list
expect "reinstate" 0 "reinstated" -- hsm 1 client reinstate --name host1
expect "unassign" 0 "taken from" -- hsm 2 client unassign --name host1 --partition app
expect "unassigned on B" 0 "" -- $T -L
[ "$(grep -c '^Slot' "$work/out")" = 1 ] && ok "B shows nothing once unassigned" || bad "unassigned count"
expect "delete" 0 "deleted" -- hsm 2 client delete host1
expect "deleted: gone from the list" 0 "no clients registered" -- hsm 2 client list
expect "audit has the registry" 0 "client register host1" -- hsm 1 audit show

# --- zeroize and init: a new certificate, served at once; the old pin refuses it
hsm 2 hsm zeroize --force >/dev/null
expect "zeroized: no certificate" 1 "no certificate" -- hsm 2 hsm server-cert --out "$work/gone.crt"
hsm 2 hsm init --label again >/dev/null
fpB2=$(hsm 2 hsm show | sed -n 's/^  SHA-256 *//p')
[ -n "$fpB2" ] && [ "$fpB2" != "$fpB" ] && ok "a new certificate after zeroize" || bad "certificate after zeroize"
expect "the HSM serves the new certificate" 0 "SHA-256 $fpB2" -- \
  "$SOFTFM_BIN" client setup --server "$B" --dir "$work/c2" --fingerprint "$fpB2"
hsm 2 client register --name host1 --cert "$work/c/client.crt" >/dev/null
hsm 2 partition create --name app >/dev/null
hsm 2 client assign --name host1 --partition app >/dev/null
expect "the old pin refuses it" 0 "" -- $T -L
[ "$(grep -c '^Slot' "$work/out")" = 1 ] && ok "only A's slot with B's old pin" || bad "old pin accepted"

echo "network: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
