#!/usr/bin/env bash
# Installs what FluidSynth rendering and MP3 export need: libfluidsynth3, a General MIDI SoundFont
# (fluid-soundfont-gm) and ffmpeg. Idempotent: does nothing when they are already there.
set -euo pipefail

have_lib() { ldconfig -p 2>/dev/null | grep -q "libfluidsynth.so" || ls /usr/lib/*/libfluidsynth.so* >/dev/null 2>&1; }
have_sf2() { ls /usr/share/sounds/sf2/*.sf2 >/dev/null 2>&1 || ls /usr/share/soundfonts/*.sf2 >/dev/null 2>&1; }
have_ffmpeg() { command -v ffmpeg >/dev/null 2>&1; }

if [ "$(uname -s)" = "Darwin" ]; then
  if ! have_ffmpeg || ! command -v fluidsynth >/dev/null 2>&1; then
    echo "On macOS run: brew install fluid-synth ffmpeg  (and put a GM SoundFont such as FluidR3_GM.sf2 in app/sf2/)"
  fi
  exit 0
fi

if have_lib && have_sf2 && have_ffmpeg; then
  exit 0
fi

packages="libfluidsynth3 fluid-soundfont-gm ffmpeg"
if [ "$(id -u)" -eq 0 ]; then
  echo "installing system packages: $packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo apt-get update -qq
  sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
else
  echo "missing system packages; run:"
  echo "  sudo apt-get update && sudo apt-get install -y $packages"
  exit 1
fi
