#!/usr/bin/env bash
# Set up iroko_gym on a Debian/Ubuntu machine: system packages, a virtual environment with the
# package installed, the C traffic manager, the Go traffic generator and the C++ client of the
# remote service (build/cpp). Idempotent: every step checks what is already there and says what
# it does.
#
#   ./install.sh            core + remote service (PyTorch CPU, gRPC) + live cache (Redis) + test tools
#                           + box2d (LunarLander, for the RL4Sys example)
#   ./install.sh --ray      also Ray RLlib (the scale-out extra)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV="$ROOT/.venv"
WITH_RAY=0
for arg in "$@"; do
  case "$arg" in
    --ray) WITH_RAY=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

if [ "$(id -u)" -eq 0 ]; then SUDO=(); elif command -v sudo >/dev/null; then SUDO=(sudo); else
  echo "install.sh: run as root (no sudo here): su -c ./install.sh" >&2; exit 1; fi

# -- system packages ------------------------------------------------------------------------
APT_PKGS=(mininet iproute2 ethtool libnl-3-dev libnl-route-3-dev pkg-config gcc make golang-go
          python3 python3-venv python3-dev sudo redis-server
          cmake g++ libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  "${SUDO[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -q "${missing[@]}"
else
  say "system packages present (${APT_PKGS[*]})"
fi

# -- Python environment -----------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "creating virtual environment $VENV (Debian's /usr/bin/python3)"
  /usr/bin/python3 -m venv "$VENV"
else
  say "virtual environment $VENV exists"
fi
PY="$VENV/bin/python"
SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
MN_DIR=$(/usr/bin/python3 -c 'import mininet, os; print(os.path.dirname(mininet.__file__))')
if [ "$(readlink "$SITE/mininet" 2>/dev/null)" != "$MN_DIR" ]; then
  say "linking Debian's Mininet module ($MN_DIR) into the venv"
  ln -sfn "$MN_DIR" "$SITE/mininet"
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1
if ! "$PY" -c 'import torch' 2>/dev/null; then
  say "pip install torch==2.13.0 (CPU build)"
  "$PY" -m pip install -q torch==2.13.0
fi
EXTRAS="remote,test,xcache,box2d"
[ "$WITH_RAY" -eq 1 ] && EXTRAS="$EXTRAS,ray"
say "pip install -e .[$EXTRAS]"
"$PY" -m pip install -q -e ".[$EXTRAS]"

# -- native helpers ---------------------------------------------------------------------------
say "building the traffic manager (make -C traffic_managers)"
make -s -C traffic_managers
say "building the traffic generator (go build in goben/)"
(cd goben && GOFLAGS=-mod=mod GOCACHE="${GOCACHE:-$ROOT/.cache/go-build}" go build -trimpath -o goben .)
say "building the C++ client (cmake clients/cpp -> build/cpp; a no-op when nothing changed)"
cmake -S clients/cpp -B build/cpp -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/cpp -j2

say "ready: smoke test:  sudo -E $VENV/bin/python run_basic.py"
say "       tests:       sudo -E $VENV/bin/python -m pytest"
