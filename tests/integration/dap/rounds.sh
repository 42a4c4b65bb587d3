# Upload-and-collect rounds shared by the DAP integration scripts
# (test_dap_collect.sh, test_dap_two_process.sh). Source it after lib.sh; the
# script defines js (the divviup-ts client), collect (trustbox dap collect
# with the script's leader and batch interval), L and H.
#
#   dap_seed                  seeds $RANDOM from DAP_SEED or a fresh value, printed
#   make KIND                 N random measurements of count|sum|sumvec|histogram:
#                             M (the client's JSON array), WANT (the aggregate as collect prints it)
#   round NAME TASK CLIENT-VDAF KIND COLLECT-FLAGS...
#                             uploads N measurements, collects, expects exactly WANT
#   acked_add GOT             adds the measurements of M that GOT (the client's
#                             ok lines) acknowledged to acked and want (sum tasks)

N=${N:-6}

dap_seed() {
	seed=${DAP_SEED:-$RANDOM}
	echo "measurements from seed $seed (DAP_SEED=$seed repeats them)"
	RANDOM=$seed
}

make() {
	local i v k acc=(0 0 0 0 0 0 0 0 0 0) len=1 m=""
	case $1 in sumvec) len=5 ;; histogram) len=10 ;; esac
	for i in $(seq 1 "$N"); do
		case $1 in
		count) v=$((RANDOM % 2)); acc[0]=$((acc[0] + v)); if [ $v = 1 ]; then v=true; else v=false; fi ;;
		sum) v=$((RANDOM % 256)); acc[0]=$((acc[0] + v)) ;;
		sumvec) v=""
			for k in 0 1 2 3 4; do
				local e=$((RANDOM % 16)); acc[k]=$((acc[k] + e)); v="$v${v:+,}$e"
			done
			v="[$v]" ;;
		histogram) v=$((RANDOM % 10)); acc[v]=$((acc[v] + 1)) ;;
		esac
		m="$m${m:+,}$v"
	done
	M="[$m]"
	if [ $len = 1 ]; then WANT=${acc[0]}
	else WANT="[$(IFS=,; echo "${acc[*]:0:$len}")]"; fi
}

round() {
	local name=$1 t=$2 cv=$3 kind=$4 got; shift 4
	make "$kind"
	got=$(js upload "$L" "$H" "$t" "$cv" 3600 "$M")
	[ "$(printf '%s\n' "$got" | grep -c '^ok$')" = "$N" ] || { fail "$name: uploads: $got"; return; }
	got=$(collect "$t" "$@" --collector-credential-file cred.json 2> "$name.err") || true
	expect "$name: collect returns the sum of $M" "$got" "^\{\"report_count\":$N,.*\"aggregate\":$(printf '%s' "$WANT" | sed 's/[][]/\\&/g')\}$"
}

# Every acknowledged upload must count; a refused one must not.
acked_add() {
	local i=0 v
	for v in $(echo "$M" | tr -d '[]' | tr , ' '); do
		i=$((i + 1))
		[ "$(printf '%s\n' "$1" | sed -n "${i}p")" = ok ] && { acked=$((acked + 1)); want=$((want + v)); }
	done
	return 0
}
