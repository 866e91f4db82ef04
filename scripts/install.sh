#!/usr/bin/env bash
# Builds tailflow in release mode and puts the binary on the PATH.
#   scripts/install.sh              # installs to /usr/local/bin (PREFIX=/usr/local)
#   PREFIX=$HOME/.local scripts/install.sh
# The first build compiles every dependency: about 5-10 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${PREFIX:-/usr/local}
scripts/install-deps.sh
swift build -c release --product tailflow
mkdir -p "$prefix/bin"
install -m 0755 .build/release/tailflow "$prefix/bin/tailflow"
echo "installed $prefix/bin/tailflow"
case ":$PATH:" in
*":$prefix/bin:"*) ;;
*) echo "add it to your PATH: export PATH=\"$prefix/bin:\$PATH\"" ;;
esac
