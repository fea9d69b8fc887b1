#!/usr/bin/env bash
# The FM integration tests that do not misbehave on purpose (samples,
# Cryptoki inside FMs), with every fmhost under valgrind: an FM's process
# must run clean. valgrind writes one log per fmhost; any error in them
# fails the test.
set -u
logs=$(mktemp -d /tmp/softfm-fmvg.XXXXXX)
trap 'rm -rf "$logs"' EXIT
export SOFTFM_FMHOST_WRAPPER="valgrind --quiet --error-exitcode=99 --leak-check=no --log-file=$logs/fmhost.%p"
rc=0
"$TEST_FM_SAMPLES" || rc=1
"$TEST_FM_CK" || rc=1
found=0
for f in "$logs"/fmhost.*; do
  [ -e "$f" ] || continue
  found=1
  if [ -s "$f" ]; then
    echo "valgrind reported on an fmhost:"; cat "$f"; rc=1
  fi
done
echo "fmhost logs: $(ls "$logs" | wc -l)"; [ "$found" = 1 ] || { echo "no fmhost ran under valgrind"; rc=1; }
exit $rc
