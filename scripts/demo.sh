#!/usr/bin/env bash
# The softfm demo: build, start an HSM, set it up with the admin shell, and
# use it through the PKCS#11 module with OpenSC's pkcs11-tool: objects,
# hashing, and an EC key pair made in the token that signs and verifies.
# Then an FM: the sample "hello" is built from the installed FM SDK with its
# own makefile, loaded into the HSM under the development policy (unsigned),
# and called by its host program through the MD library; then signed with a
# key made in the token (cmu, mkfm through PKCS#11), its certificate put in
# the Admin Token by the HSM SO, and loaded as a signed RELEASE image (ctfm).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null

work=$(mktemp -d /tmp/softfm-demo.XXXXXX)
export SOFTFM_SOCKET="$work/softfmd.sock"
export SOFTFM_SO_PIN=demo-so-pin
bin=build/src
module=$PWD/build/src/pkcs11/libsoftfm-pkcs11.so
stop() { [ -f "$work/data/softfmd.lock" ] && kill "$(head -n1 "$work/data/softfmd.lock")" 2>/dev/null || true; }
trap stop EXIT

run() { echo; echo "\$ $*"; "$@"; }

run $bin/server/softfmd --data "$work/data" --socket "$SOFTFM_SOCKET"
run $bin/tools/softfm/softfm hsm init --label demo-hsm
run $bin/tools/softfm/softfm partition create --name payments
run $bin/tools/softfm/softfm hsm show
run pkcs11-tool --module "$module" --slot 1 --init-token --label payments --so-pin 87654321
run pkcs11-tool --module "$module" --slot 1 --init-pin --so-pin 87654321 --pin 1234
echo "a secret note" > "$work/note.txt"
run pkcs11-tool --module "$module" --slot 1 --login --pin 1234 --write-object "$work/note.txt" \
    --type data --label note --private
run pkcs11-tool --module "$module" --slot 1 --login --pin 1234 --list-objects
run pkcs11-tool --module "$module" --slot 1 --login --pin 1234 --read-object --type data --label note
run pkcs11-tool --module "$module" --slot 1 --hash -m SHA256 -i "$work/note.txt" -o "$work/hash.bin"
xxd -p -c 64 "$work/hash.bin"
run pkcs11-tool --module "$module" --slot 1 --login --pin 1234 --keypairgen --key-type EC:prime256v1 \
    --label signer --id 01
run pkcs11-tool --module "$module" --slot 1 --login --pin 1234 --sign --id 01 -m ECDSA-SHA256 \
    --signature-format openssl -i "$work/note.txt" -o "$work/note.sig"
run pkcs11-tool --module "$module" --slot 1 --login --pin 1234 --verify --id 01 -m ECDSA-SHA256 \
    --signature-format openssl -i "$work/note.txt" --signature-file "$work/note.sig"
run $bin/tools/softfm/softfm slot list

# An FM, from the installed SDK to a call.
cmake --install build --prefix "$work/prefix" >/dev/null
cp -r "$work/prefix/share/softfm/fmsdk/samples/hello" "$work/hello"
run make -s -C "$work/hello" FMSDK="$work/prefix/share/softfm/fmsdk"
run $bin/tools/softfm/softfm policy set allow-unsigned-fms on
run $bin/tools/softfm/softfm fm load --dev "$work/hello/bin-$(uname -m)/hello.bin"
run $bin/tools/softfm/softfm smfs activate
run $bin/tools/softfm/softfm fm status
run "$work/hello/hello-host" upper "hello from the host"
run "$work/hello/hello-host" who
run $bin/tools/softfm/softfm fm trace hello

# The same FM, signed: a key pair made in the payments token (it never
# leaves it), a self-signed certificate the HSM SO puts in the Admin Token,
# a RELEASE image signed through PKCS#11, loaded with ctfm.
P="$work/prefix/bin"
export CMU_PIN=1234 MKFM_PIN=1234
run $bin/tools/softfm/softfm fm delete hello
run "$P/cmu" generatekeypair -token=payments -keyType=EC -curve=P-256 -label=fm-signer
run "$P/cmu" selfsign -token=payments -label=fm-signer -CN="demo FM signer" -O=softfm -days=30 \
    -outputFile="$work/fm-signer.pem"
run "$P/cmu" import -slot=0 -so -password="$SOFTFM_SO_PIN" -inputFile="$work/fm-signer.pem" \
    -label=fm-signer
run make -s -C "$work/hello" FMSDK="$work/prefix/share/softfm/fmsdk" sign \
    FM_KEY=payments/fm-signer FM_CERT="$work/fm-signer.pem"
run "$P/mkfm" --info -f "$work/hello/bin-$(uname -m)/hello.fm"
run $bin/tools/softfm/softfm policy set allow-unsigned-fms off
run "$P/ctfm" i -f "$work/hello/bin-$(uname -m)/hello.fm" -l fm-signer
run "$P/ctfm" q
run "$work/hello/hello-host" upper "signed and running"
run $bin/tools/softfm/softfm audit show
echo
echo "demo finished: the HSM state was in $work/data"
