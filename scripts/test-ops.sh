#!/usr/bin/env bash
# npm run test:ops — the tests that need real outside servers from Debian's packages (never npm,
# never mocks): installs what they need (as root: apt-get), then runs jest on test/ops/.
# `npm test` leaves these out and names them (test/reporters/summary.js). Each package a test
# needs is listed in test/ops/packages.txt, one per line, with the test that needs it.
# Arguments go to jest: `npm run test:ops -- test/ops/pgbackrest.test.ts`.
#
# Made for CI (.ci/run), which runs it as root on a fresh Debian 12 machine: it installs only
# what is missing (apt-get update first), lets no package start a system-wide service (each test
# starts its own servers in a temp folder, on free loopback ports), and touches nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t packages < <(grep -vE '^\s*(#|$)' test/ops/packages.txt | awk '{print $1}' | sort -u)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# apt-get, three tries (a mirror's passing hiccup is no test failure), waiting for dpkg's lock
apt() {
  local try
  for try in 1 2 3; do
    apt-get -o DPkg::Lock::Timeout=300 "$@" && return 0
    echo "test:ops: apt-get $* failed (try $try of 3)" >&2
    sleep $((try * 5))
  done
  return 1
}

if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "test:ops: these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
    echo "test:ops: sudo apt-get install ${missing[*]}   (then run npm run test:ops again)" >&2
    exit 1
  fi
  echo "test:ops: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # the server packages must not start system-wide services: the tests start their own. An
  # existing policy-rc.d is the machine's own: left as it is.
  ours=false
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    ours=true
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt update -qq
  apt install -y -qq --no-install-recommends "${missing[@]}"
  if $ours; then
    rm -f /usr/sbin/policy-rc.d
    trap - EXIT
  fi
fi

for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || {
    echo "test:ops: $p is still not installed" >&2
    exit 1
  }
done
echo "test:ops: Debian packages present: ${packages[*]}"

# the project's Node (the `node` devDependency), also when this script is run without npm
node=node_modules/.bin/node
[ -x "$node" ] || node=node
status=0
"$node" --experimental-vm-modules node_modules/jest/bin/jest.js --config jest.ops.config.js "$@" ||
  status=$?
exit "$status"
