#!/usr/bin/env bash
# The web UI's files as compiled into the binary: every file under web-ui/ is
# served at /ui/<path> byte for byte with the Content-Type of its extension,
# index.html also at /; each answer carries an ETag (304 to If-None-Match,
# also inside a list and as a weak tag), no-cache, nosniff and a
# Content-Security-Policy that allows only this origin; no page or module
# names another origin (no CDN) or turns strings into HTML or code; an
# unknown file is a 404; HEAD works; a dot segment cannot climb out of /ui/.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need curl
W=$TB_WORK
ui="$TB_SOURCE_DIR/web-ui"

P=$(free_port)
cat > t.lua <<EOF
core { data_dir = "$W/data" }
listen { name = "http", address = "127.0.0.1", port = $P, tls = false }
if dns then dns { enabled = false } end
if dap then dap { enabled = false } end
if acme then acme { enabled = false } end
EOF
tb_start t.lua
base="http://127.0.0.1:$P"

type_of() {
	case "$1" in
	*.html) echo "text/html; charset=utf-8" ;;
	*.css) echo "text/css; charset=utf-8" ;;
	*.js | *.mjs) echo "text/javascript; charset=utf-8" ;;
	*.svg) echo "image/svg+xml" ;;
	*.json) echo "application/json" ;;
	*.png) echo "image/png" ;;
	*) echo "?" ;;
	esac
}

n=0
while IFS= read -r f; do
	rel=${f#"$ui"/}
	curl -s -D h.txt -o body "$base/ui/$rel" || { fail "GET /ui/$rel"; continue; }
	tr -d '\r' < h.txt > hh.txt
	cmp -s body "$f" || fail "/ui/$rel differs from web-ui/$rel"
	grep -qix "content-type: $(type_of "$rel")" hh.txt || fail "/ui/$rel: Content-Type $(grep -i '^content-type' hh.txt)"
	grep -qi "^content-security-policy: default-src 'self';" hh.txt || fail "/ui/$rel: no self-only CSP"
	grep -qix "x-content-type-options: nosniff" hh.txt || fail "/ui/$rel: no nosniff"
	grep -qix "cache-control: no-cache" hh.txt || fail "/ui/$rel: not no-cache"
	etag=$(sed -n 's/^[Ee][Tt][Aa][Gg]: //p' hh.txt)
	[ -n "$etag" ] || fail "/ui/$rel: no ETag"
	code=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$base/ui/$rel")
	[ "$code" = 304 ] || fail "/ui/$rel with its ETag: $code, want 304"
	n=$((n + 1))
done < <(find "$ui" -type f ! -name '.*' | sort)
[ "$n" -ge 10 ] && ok "$n files under web-ui/ served byte for byte with their types, CSP and ETag" || fail "only $n files"

curl -s -D h.txt -o index "$base/" && tr -d '\r' < h.txt > hh.txt
cmp -s index "$ui/index.html" && ok "/ is web-ui/index.html" || fail "/ is not web-ui/index.html"
expect "the page's CSP" "$(tr A-Z a-z < hh.txt)" "^content-security-policy: default-src 'self'; .*frame-ancestors 'none'"
etag=$(sed -n 's/^[Ee][Tt][Aa][Gg]: //p' hh.txt)
code=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: \"x\", W/$etag" "$base/")
[ "$code" = 304 ] && ok "a weak tag in a list matches (304)" || fail "If-None-Match list: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'If-None-Match: "0000"' "$base/")
[ "$code" = 200 ] && ok "another tag gets the page (200)" || fail "other ETag: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -I "$base/ui/js/app.js")
[ "$code" = 200 ] && ok "HEAD /ui/js/app.js" || fail "HEAD: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$base/ui/nope.js")
[ "$code" = 404 ] && ok "an unknown file is 404" || fail "unknown file: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' --path-as-is "$base/ui/../api/v1/status")
[ "$code" = 400 ] && ok "a dot segment under /ui/ is 400" || fail "dot segment: $code"

# No CDN, nothing from elsewhere: no absolute URL in the page, the stylesheet or a module
# (the recipes build theirs from the status document at run time).
if grep -rnE '(src|href)="(https?:)?//|import[^;]*from "(https?:)?//|url\((https?:)?//' "$ui"; then
	fail "a UI file loads something from another origin"
else
	ok "no UI file loads anything from another origin"
fi

# Text from the server only ever goes in as text: no HTML parsing, no code from strings.
if grep -rnE 'innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function' "$ui"; then
	fail "a UI file parses strings as HTML or code"
else
	ok "no UI file parses strings as HTML or code"
fi

tb_stop || fail "exit status"
ok "SIGTERM -> exit 0"
finish
