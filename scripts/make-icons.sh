#!/usr/bin/env bash
# Draws the PNG icons (48, 128, 256 px) with ImageMagick's own primitives, the same shapes as
# assets/icons/peercall.svg (ImageMagick here has no SVG reader). Run after changing the icon.
set -euo pipefail
cd "$(dirname "$0")/../assets/icons"
convert -size 256x256 xc:none \
  -fill '#2e9d5b' -draw 'roundrectangle 8,8 247,247 52,52' \
  -fill '#ffffff' -draw 'roundrectangle 40,56 151,135 22,22' -draw 'polygon 64,132 64,166 96,134' \
  -fill '#d9f2e3' -draw 'roundrectangle 104,120 215,199 22,22' -draw 'polygon 192,196 192,228 160,198' \
  -fill '#2e9d5b' -draw 'circle 72,96 82,96' -draw 'circle 96,96 106,96' -draw 'circle 120,96 130,96' \
  -draw 'circle 136,160 146,160' -draw 'circle 160,160 170,160' -draw 'circle 184,160 194,160' \
  peercall-256.png
for size in 128 48; do
  convert peercall-256.png -resize "${size}x${size}" "peercall-$size.png"
done
