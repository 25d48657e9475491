#!/usr/bin/env bash
# Builds a Debian package of peercall: the binary, its desktop entry and its icons.
#   scripts/build-deb.sh                 # builds the release binary first
#   scripts/build-deb.sh --binary PATH   # packages that binary instead
#   --out DIR                            # where the .deb goes (default: target/debian)
#   --fast                               # light compression (tests package a debug binary)
# Install it with `sudo apt install ./target/debian/peercall_VERSION_ARCH.deb`.
set -euo pipefail
cd "$(dirname "$0")/.."

binary=""
out="target/debian"
compression=(-Zxz)
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --fast) compression=(-Zgzip -z1); shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if [ -z "$binary" ]; then
  cargo build --release --bin peercall
  binary="${CARGO_TARGET_DIR:-target}/release/peercall"
fi

version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
arch="$(dpkg --print-architecture)"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT

install -Dm755 "$binary" "$root/usr/bin/peercall"
install -Dm644 assets/peercall.desktop "$root/usr/share/applications/peercall.desktop"
install -Dm644 assets/icons/peercall.svg "$root/usr/share/icons/hicolor/scalable/apps/peercall.svg"
for size in 48 128 256; do
  install -Dm644 "assets/icons/peercall-$size.png" \
    "$root/usr/share/icons/hicolor/${size}x${size}/apps/peercall.png"
done
install -Dm644 README.md "$root/usr/share/doc/peercall/README.md"

mkdir -p "$root/DEBIAN"
cat > "$root/DEBIAN/control" <<CONTROL
Package: peercall
Version: $version
Architecture: $arch
Maintainer: peercall developers <peercall@localhost>
Depends: libc6, libgcc-s1, libvpx7, libasound2, libwebrtc-audio-processing1
Recommends: pulseaudio | pipewire-pulse, dbus-user-session
Section: net
Priority: optional
Description: Peer-to-peer video calls on the desktop
 Dial a peer ID and see and hear each other: another peercall or a browser.
 Camera and microphone are captured natively, encoded VP8 and Opus, and sent
 peer to peer (WebRTC); the signaling server is built in.
CONTROL

mkdir -p "$out"
deb="$out/peercall_${version}_${arch}.deb"
dpkg-deb --root-owner-group "${compression[@]}" --build "$root" "$deb" >/dev/null
echo "$deb"
