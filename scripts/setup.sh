#!/usr/bin/env bash
# Installs what camwire needs to build, run and test, when it is missing.
# Debian and Ubuntu; uses sudo when not root. Safe to run again.
set -euo pipefail

if ! command -v cargo >/dev/null; then
    echo "camwire needs Rust: install it with rustup, then run this again" >&2
    exit 1
fi

packages=(
    pkg-config nasm                      # mozjpeg and OpenH264 build with their assembly (2.4x faster H.264)
    g++                                  # OpenH264 is C++
    libx11-6 libxcursor1 libxkbcommon0   # the window (minifb loads these)
    xvfb xdotool x11-apps imagemagick    # window tests on a virtual screen
    iproute2                             # the slow-link test (ip netns, tc)
)

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'ok installed' || missing+=("$package")
done
# nokhwa's V4L2 bindings run bindgen, which needs libclang.
need_clang=false
# (grep reads all of it: with pipefail, an early exit would look like a miss)
ldconfig -p | grep -c 'libclang[-.0-9]*\.so' >/dev/null || need_clang=true

if ((${#missing[@]})) || $need_clang; then
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    # Package lists first: on a fresh machine apt knows no candidates yet.
    $sudo apt-get update -qq
    if $need_clang; then
        if apt-cache policy libclang1-14 | grep -q 'Candidate: [0-9]'; then
            missing+=(libclang1-14)
        else
            missing+=(libclang-dev)
        fi
    fi
    echo "installing: ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
