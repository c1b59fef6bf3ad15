#!/usr/bin/env bash
# `make lab`: JupyterLab on the stage notebooks, on loopback only (headless machines: open the printed URL
# through an SSH tunnel). Extra arguments go to `jupyter lab`.
set -euo pipefail
cd "$(dirname "$0")/.."
args=(--ServerApp.root_dir=notebooks --no-browser --ip=127.0.0.1)
# jupyter refuses to start as root without it; containers and CI machines often run as root.
if [ "$(id -u)" -eq 0 ]; then args+=(--allow-root); fi
exec .venv/bin/jupyter lab "${args[@]}" "$@"
