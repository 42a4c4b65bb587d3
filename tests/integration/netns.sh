# Sourced first (before lib.sh) by scripts that run inside a private network namespace of
# their own: re-runs the script there (as root: `unshare -n`), so that servers bind port 53
# on 127.x addresses and nothing the script starts can reach beyond the namespace's
# loopback. Exits 77 (skipped) where no namespace can be made. The script then brings
# lo up (`ip link set lo up`).
if [ -z "${TB_IN_NETNS:-}" ]; then
	command -v unshare >/dev/null 2>&1 || { echo "SKIP: unshare (util-linux) is not installed" >&2; exit 77; }
	unshare -n true 2>/dev/null || { echo "SKIP: cannot create a network namespace here" >&2; exit 77; }
	exec unshare -n env TB_IN_NETNS=1 bash "$0" "$@"
fi
