#!/bin/sh
# install_deps.sh - install the Debian packages deltabench needs, only those missing.
# Run by `make deps` (and by the targets that need the libraries). Needs root or sudo for apt-get.
# Open MPI (libopenmpi-dev, openmpi-bin) is optional for the build: the Makefile detects mpicc and builds
# the singleton communicator without it (core/comm.h).
set -e
PKGS="build-essential pkg-config libopenblas-openmp-dev libhdf5-dev hdf5-tools libcmocka-dev libjpeg62-turbo-dev
libpng-dev libcjson-dev libexpat1-dev libzip-dev libmatio-dev gnuplot-nox libopenmpi-dev openmpi-bin"
[ -n "$DB_EXTRA_PKGS" ] && PKGS="$PKGS $DB_EXTRA_PKGS"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "deps: all Debian packages present"
    exit 0
fi
echo "deps: installing$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
