#!/bin/sh
# Configures a qemu-ga-only build in ./build; arguments are passed to QEMU's configure.
set -e
mkdir -p build
cd build
exec ../configure "$@"
