#!/usr/bin/env bash
# Idempotent setup: npm dependencies, build, and a WebGPU adapter (installs Mesa's lavapipe where none is found).
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

say() { printf 'setup: %s\n' "$*" >&2; }

# 1. npm dependencies (reproducible from the lock file); skipped when already in place.
if [ ! -d node_modules/webgpu ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

# 2. build
say "building"
npx tsc -p tsconfig.json >&2

# 3. a WebGPU adapter
probe() { node dist/src/cli/probe-adapter.js >/dev/null 2>&1; }
if probe; then
  say "WebGPU adapter found"
  exit 0
fi

say "no WebGPU adapter found"
if [ -r /etc/debian_version ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  if [ "$codename" = bookworm ]; then
    # Debian 12's Mesa 22 lavapipe is refused by Dawn; backports carries Mesa 25.
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      say "adding bookworm-backports to apt's sources"
      cat > /etc/apt/sources.list.d/bookworm-backports.sources <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    fi
    say "installing Mesa's lavapipe (mesa-vulkan-drivers) from bookworm-backports"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -t bookworm-backports \
      mesa-vulkan-drivers libvulkan1 >&2
  else
    say "installing Mesa's lavapipe (mesa-vulkan-drivers)"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mesa-vulkan-drivers libvulkan1 >&2
  fi
  if probe; then
    say "WebGPU adapter found (lavapipe)"
    exit 0
  fi
  node dist/src/cli/probe-adapter.js >&2 || true
  say "lavapipe was installed but still no WebGPU adapter: check 'node dist/src/cli/probe-adapter.js' for Dawn's reason."
  exit 1
fi
say "no WebGPU adapter: install a Vulkan driver (a GPU's own, or Mesa >= 24 'mesa-vulkan-drivers' for the CPU) and libvulkan1, then rerun 'npm run setup'."
exit 1
