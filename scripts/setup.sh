#!/usr/bin/env bash
# Everything Marionette needs on a fresh Debian machine: system packages, then a virtualenv in
# .venv with the package installed editable. Idempotent and quick when nothing is missing.
#   scripts/setup.sh          run-time needs
#   scripts/setup.sh --test   run-time needs plus what the test suite uses
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

# System packages (Debian names). The runtime needs ffmpeg (mp4 out) and espeak-ng (fallback voice).
# flite, festival (+ its kal voice) are the other phone-timed voices of core/speech.
# libportaudio2 + libasound2-plugins: microphone/speaker through sounddevice (ALSA, PulseAudio, PipeWire).
apt_pkgs=(ffmpeg espeak-ng flite festival festvox-kallpc16k libportaudio2 libasound2-plugins)
# Real recorded speech with transcripts (CC-BY-SA-3.0) for `corpus build` and `eval lipsync`.
apt_pkgs+=(asterisk-core-sounds-en-g722 asterisk-core-sounds-en)
if [[ $want_test == 1 ]]; then
    # A real OBS (headless under Xvfb) and a real browser for the OBS and control-panel tests.
    apt_pkgs+=(obs-studio xvfb xauth libgl1-mesa-dri fonts-dejavu-core chromium)
    # A user-space PulseAudio server: the virtual microphone and speaker of the live-engine tests.
    apt_pkgs+=(pulseaudio pulseaudio-utils)
fi
# Debian's python3 comes without ensurepip, so `python3 -m venv` fails until python3-venv is in.
[[ -x .venv/bin/python ]] || python3 -c "import ensurepip, venv" >/dev/null 2>&1 || apt_pkgs+=(python3-venv)

missing=()
for p in "${apt_pkgs[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if (( ${#missing[@]} )); then
    echo "setup: installing system packages: ${missing[*]}"
    SUDO=""; [[ $(id -u) != 0 ]] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
    echo "setup: creating .venv"
    python3 -m venv .venv
fi
extras=".[piper]"
# The tests run the agent-framework avatars (Pipecat, LiveKit, WebRTC, Ray Serve) for real.
[[ $want_test == 1 ]] && extras=".[test,piper,pipecat,livekit,webrtc,ray]"
echo "setup: installing marionette into .venv ($extras)"
.venv/bin/python -m pip install -q --disable-pip-version-check -e "$extras" 2>&1 | grep -vE '^(WARNING: Location|  |!!|$)' || true
.venv/bin/python -c "import marionette.core" || { echo "setup: marionette failed to import" >&2; exit 1; }
if [[ $want_test == 1 ]]; then
    # Real test portraits that come inside a PyPI source distribution (tests/faces.py says which).
    .venv/bin/python tests/faces.py >/dev/null || echo "setup: warning: could not fetch the test portraits" >&2
    # Recorded speech of unseen speakers for `eval articulation` (PyPI sdists; tests/speakers.py says which).
    .venv/bin/python tests/speakers.py >/dev/null || echo "setup: warning: could not fetch the articulation speech" >&2
fi
echo "setup: done"
