#!/usr/bin/env bash
# Checks the origin's module boundaries against ARCHITECTURE.md: lists the `crate::` edges
# between the top-level modules of origin/src, and fails on an arrow the table there does not
# allow, on a cycle, on a module the table does not name, or on a file over the size limit.
# `--list` prints the edges (with the files that make them) and checks nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

SRC=origin/src
DOC=ARCHITECTURE.md
MAX_LINES=500

# "from to file" for every `crate::to` a file of module `from` names outside a comment.
edges() {
  find "$SRC" -name '*.rs' ! -path "$SRC/main.rs" ! -path "$SRC/lib.rs" | sort | while read -r file; do
    rel=${file#"$SRC"/}
    from=${rel%%/*}
    from=${from%.rs}
    sed -e 's#//.*$##' "$file" | { grep -oE 'crate::[a-z_]+' || true; } | sort -u | while read -r path; do
      to=${path#crate::}
      if [ "$to" != "$from" ]; then echo "$from $to $file"; fi
    done
  done
}

# "from to" for every arrow the table in ARCHITECTURE.md allows, between its markers.
allowed() {
  awk '/<!-- arrows:begin -->/ { on = 1; next } /<!-- arrows:end -->/ { on = 0 }
       on && $2 == "->" { for (i = 3; i <= NF; i++) print $1, $i; if (NF == 2) print $1, "-" }' "$DOC"
}

EDGES=$(edges)
if [ "${1:-}" = "--list" ]; then
  echo "$EDGES" | awk '{ files[$1 " -> " $2] = files[$1 " -> " $2] " " $3 } END { for (e in files) print e ":" files[e] }' | sort
  exit 0
fi

ALLOWED=$(allowed)
[ -n "$ALLOWED" ] || { echo "check-modules: no arrows table in $DOC" >&2; exit 1; }

status=0
# `use crate::{a, b}` would hide its arrows from the listing above.
if grouped=$(grep -rln 'crate::{' "$SRC"); then
  echo "check-modules: write one \`use crate::module::…\` per module, not \`crate::{…}\`: $grouped" >&2; status=1
fi
# A top-level module the table does not name, or an arrow it does not allow.
while read -r from to file; do
  [ -n "$from" ] || continue
  if ! grep -q "^$from " <<<"$ALLOWED"; then
    echo "check-modules: $file is in module '$from', which $DOC does not name" >&2; status=1
  elif ! grep -qx "$from $to" <<<"$ALLOWED"; then
    echo "check-modules: forbidden arrow $from -> $to (in $file)" >&2; status=1
  fi
done <<<"$EDGES"

# A cycle among the edges that exist: peel off modules that nothing left depends on or that
# depend on nothing left (Kahn, both ways); what cannot be peeled lies on a cycle.
cycle=$(echo "$EDGES" | awk 'NF { e[$1 " " $2] = 1; n[$1] = 1; n[$2] = 1 }
  END {
    do {
      removed = 0
      for (m in n) {
        out = 0; in_ = 0
        for (k in e) { split(k, p, " "); if (p[1] == m) out = 1; if (p[2] == m) in_ = 1 }
        if (!out || !in_) {
          delete n[m]; removed = 1
          for (k in e) { split(k, p, " "); if (p[1] == m || p[2] == m) delete e[k] }
        }
      }
    } while (removed)
    for (m in n) printf "%s ", m
  }')
if [ -n "$cycle" ]; then
  echo "check-modules: these modules import each other in a cycle: $cycle" >&2; status=1
fi

# No file a newcomer must scroll.
while read -r lines file; do
  if [ "$file" != total ] && [ "$lines" -gt "$MAX_LINES" ]; then
    echo "check-modules: $file has $lines lines (limit $MAX_LINES)" >&2; status=1
  fi
done < <(find "$SRC" -name '*.rs' -exec wc -l {} + | sort -n)

[ "$status" -eq 0 ] && echo "check-modules: $(echo "$EDGES" | awk 'NF { print $1, $2 }' | sort -u | wc -l) arrows between $(echo "$ALLOWED" | awk '{ print $1 }' | sort -u | wc -l) modules, all allowed, no cycle, no file over $MAX_LINES lines"
exit "$status"
