#!/bin/sh
# A plain script build: writes an output folder and one artifact.
set -eu
mkdir -p out dist
echo "Hello from script-hello" > out/hello.txt
printf 'script-hello %s\n' "${AUTOBUILDER_BUILD_NUMBER:-local}" > out/build-info.txt
tar -czf dist/script-hello.tar.gz -C out .
echo "built out/hello.txt and dist/script-hello.tar.gz"
