#!/bin/bash
# Join the parts of tools/gpu_bundle.py on the lent machine and install their wheels (docs/testing.md, "On a real
# GPU"): PARTS (default /tmp/parts) holds part-01 ... part-NN and manifest.txt, copied there one part per call;
# each part's sha256 is checked against the manifest, then the tar is unpacked and its wheels installed into SITE
# (default /tmp/site; put it first on PYTHONPATH). Exit 1, naming what is missing or broken, before installing.
set -u
PARTS=${PARTS:-/tmp/parts} SITE=${SITE:-/tmp/site} WORK=${WORK:-/tmp/bundle}
[ -f "$PARTS/manifest.txt" ] || { echo "no $PARTS/manifest.txt: copy the parts of .gpubundle there first"; exit 1; }
bad=0
while read -r part size sum; do
  if [ ! -f "$PARTS/$part" ]; then echo "missing $part ($size bytes): carry its folder of .gpubundle in a call"; bad=1
  elif [ "$(sha256sum "$PARTS/$part" | cut -d' ' -f1)" != "$sum" ]; then echo "broken $part: sha256 differs"; bad=1; fi
done < "$PARTS/manifest.txt"
[ $bad = 0 ] || exit 1
mkdir -p "$WORK" && cut -d' ' -f1 "$PARTS/manifest.txt" | sed "s|^|$PARTS/|" | xargs cat | tar -x -C "$WORK" \
  || { echo "the joined tar does not unpack"; exit 1; }
[ "${NO_INSTALL:-0}" = 1 ] && { ls "$WORK"; exit 0; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WORK"/*.whl \
  2>&1 | grep -v -i "warning" | tail -3
echo "installed $(ls "$WORK"/*.whl | wc -l) wheels into $SITE"
