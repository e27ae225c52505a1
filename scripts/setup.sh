#!/usr/bin/env bash
# Installs what camwire needs to build, run and test, when it is missing.
# Debian and Ubuntu; uses sudo when not root. Safe to run again.
set -euo pipefail

if ! command -v cargo >/dev/null; then
    echo "camwire needs Rust: install it with rustup, then run this again" >&2
    exit 1
fi

packages=(
    pkg-config nasm            # nokhwa's JPEG code (mozjpeg) builds with SIMD
    libx11-6 libxcursor1 libxkbcommon0   # the window (minifb loads these)
    xvfb xdotool x11-apps imagemagick    # window tests on a virtual screen
    iproute2                             # the slow-link test (ip netns, tc)
)

# nokhwa's V4L2 bindings run bindgen, which needs libclang.
if ! ldconfig -p | grep -q 'libclang[-.0-9]*\.so'; then
    if apt-cache policy libclang1-14 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        packages+=(libclang1-14)
    else
        packages+=(libclang-dev)
    fi
fi

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'ok installed' || missing+=("$package")
done
if ((${#missing[@]})); then
    sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    echo "installing: ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
