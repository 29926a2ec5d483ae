# Helpers of bench/run.sh and bench/plan_cold.sh.

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# cold_ms N SQL: the median milliseconds of SQL run first in each of N fresh
# sessions (wall clock, between two statements of the session)
cold_ms() {
    local -a t=()
    for _ in $(seq 1 "$1"); do
        t+=("$(psql -X -q -At -v sql="$2" <<'SQL'
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
:sql \g /dev/null
SELECT round(((extract(epoch FROM clock_timestamp()) - :t0) * 1000)::numeric, 1);
SQL
)")
    done
    median "${t[@]}"
}
