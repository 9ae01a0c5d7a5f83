#!/usr/bin/env bash
# Installs the system packages webgpu-hmm needs on a bare Debian bookworm machine:
#   - a Vulkan loader and Mesa lavapipe (from bookworm-backports: bookworm's own
#     Mesa 22.3 is too old for Dawn) so that Node + Dawn finds a WebGPU adapter;
#   - Debian's Chromium, for the browser tests (Playwright drives it; it never
#     downloads a browser of its own).
# Idempotent: every step is skipped when what it installs is already there.
# Needs root (apt-get). Usage: bash scripts/setup.sh
set -euo pipefail

log() { printf '[setup] %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then exec sudo -E bash "$0" "$@"; fi
  echo "[setup] needs root for apt-get; run it as root" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
updated=0
apt_update() { if [ "$updated" -eq 0 ]; then apt-get update -qq; updated=1; fi; }

# Mesa's lavapipe ICD from backports reports version 25.x; bookworm's 22.3 does not work with Dawn.
lavapipe_ok() {
  local v
  v=$(dpkg-query -W -f='${Status} ${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  case "$v" in "install ok installed "2[5-9]*|"install ok installed "[3-9][0-9]*) return 0 ;; esac
  return 1
}

if ! grep -rqs '^Suites:.*bookworm-backports' /etc/apt/sources.list.d/ \
   && ! grep -qs 'bookworm-backports' /etc/apt/sources.list 2>/dev/null; then
  src=/etc/apt/sources.list.d/debian.sources
  if [ -f "$src" ]; then
    log "adding the bookworm-backports suite (copied from $src)"
    awk 'BEGIN{RS="";ORS="\n"} NR==1{print}' "$src" \
      | sed 's/^Suites:.*/Suites: bookworm-backports/' > /etc/apt/sources.list.d/backports.sources
  else
    echo "[setup] no $src to copy the backports suite from; add bookworm-backports to apt by hand" >&2
    exit 1
  fi
fi

if ! dpkg-query -W -f='${Status}' libvulkan1 2>/dev/null | grep -q 'install ok installed'; then
  apt_update; log "installing libvulkan1"; apt-get install -y -qq libvulkan1
else log "libvulkan1: present"; fi

if ! lavapipe_ok; then
  apt_update; log "installing mesa-vulkan-drivers from bookworm-backports"
  apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers
else log "mesa-vulkan-drivers (lavapipe) >= 25: present"; fi

if [ "${SKIP_CHROMIUM:-0}" != "1" ]; then
  if ! command -v chromium >/dev/null 2>&1; then
    apt_update; log "installing chromium"; apt-get install -y -qq chromium
  else log "chromium: present"; fi
fi
log "done"
