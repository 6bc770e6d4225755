# The cluster step of loadtest/run.sh (`--only cluster`), sourced by it: status and enter
# throughput with 1, 2 and 3 frontrow instances on one Redis and on a 3-master Redis
# Cluster, in the same run, with wrk (one wrk per instance, all at once, summed).
#   status        GET /queue/status, 1,000 fans of one concert (answered from each
#                 instance's view: Redis is read once per interval, not per poll)
#   enter         POST /concerts/{id}/queue, 1,000 fans of one concert (one script call
#                 per request on the concert's shard; first a new place, then "already
#                 waiting")
#   enter-spread  the same over three concerts, one per shard of the cluster
# Writes loadtest/results/<ts>-cluster.{json,md}. Uses run.sh's start_server, api, jget,
# new_concert, free_port, $BIN, $DB_URL, $WORK, $RAW, $OUT (set below when missing).

cluster_step() {
  local d=$CL_D users=$CL_USERS conn=$CL_CONN
  local dir="$WORK/cluster"; mkdir -p "$dir"
  local cluster_urls=$FRONTROW_TEST_REDIS_CLUSTER_URLS
  local rows="$dir/rows.jsonl"; : >"$rows"

  # wrk scripts: rotate over the fans' tokens (one per line in a file).
  cat >"$dir/enter.lua" <<'EOF'
local tokens, concerts, i = {}, {}, 0
function init(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
  for c in string.gmatch(args[2], "[^,]+") do concerts[#concerts + 1] = c end
  i = math.random(#tokens)
end
function request()
  i = i % #tokens + 1
  local c = concerts[(i % #concerts) + 1]
  return wrk.format("POST", "/api/v1/concerts/" .. c .. "/queue",
    { ["Authorization"] = "Bearer " .. tokens[i] }, nil)
end
EOF
  cat >"$dir/status.lua" <<'EOF'
local tokens, i = {}, 0
function init(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
  i = math.random(#tokens)
end
function request()
  i = i % #tokens + 1
  return wrk.format("GET", "/api/v1/queue/status", { ["X-Queue-Token"] = tokens[i] }, nil)
end
EOF

  # Fans: users shared by every run (the database is shared).
  log "cluster: creating $users users"
  seq 1 "$users" | xargs -P 8 -I{} curl -fsS -H 'Content-Type: application/json' \
    -d "{\"name\":\"cl-{}\",\"email\":\"cl-{}-$$-$(date +%s)@load.test\",\"password\":\"load-test-password\"}" "$BASE_URL/api/v1/users" | jget_lines 'd["access_token"]' >"$dir/users.txt"
  [ "$(wc -l <"$dir/users.txt")" = "$users" ] || { echo "cluster: user creation failed" >&2; return 1; }

  local backend n
  for backend in single cluster; do
    for n in 1 2 3; do
      local pids=() ports=() p
      for _ in $(seq 1 "$n"); do
        p=$(free_port)
        if [ "$backend" = cluster ]; then
          LT_REDIS_URL=$cluster_urls LT_REDIS_CLUSTER=true start_server "$p" "$dir/server-$backend-$n-$p.log"
        else
          start_server "$p" "$dir/server-$backend-$n-$p.log"
        fi
        pids+=("$STARTED_PID"); ports+=("$p")
      done
      local base="http://127.0.0.1:${ports[0]}"
      # Concerts: one for status and enter; three for enter-spread (on the cluster, the
      # first concerts whose slots cover the three masters).
      local one spread; one=$(new_concert "cluster bench $backend $n" 1 10 1000 | cut -d' ' -f1)
      spread=$(cluster_spread_concerts "$backend" "$n")
      for c in $one ${spread//,/ }; do
        BASE_URL=$base api PUT "/admin/concerts/$c/queue-policy" \
          '{"max_active":1000,"admit_per_second":1,"active_ttl_seconds":600,"paused":true}' >/dev/null
      done
      # Queue tokens for the status run (every fan enters the first concert once).
      xargs -P 8 -I{} curl -fsS -X POST -H "Authorization: Bearer {}" \
        "$base/api/v1/concerts/$one/queue" <"$dir/users.txt" | jget_lines 'd["token"]' >"$dir/qtokens.txt"
      local scenario
      for scenario in status enter enter-spread; do
        local lua=enter.lua args=("$dir/users.txt" "$one")
        case "$scenario" in
          status) lua=status.lua; args=("$dir/qtokens.txt") ;;
          enter-spread) args=("$dir/users.txt" "$spread") ;;
        esac
        local outs=() i=0
        for p in "${ports[@]}"; do
          wrk -t1 -c"$conn" -d"$d" --latency -s "$dir/$lua" "http://127.0.0.1:$p" -- "${args[@]}" \
            >"$dir/wrk-$backend-$n-$scenario-$i.txt" 2>&1 &
          outs+=("$!"); i=$((i + 1))
        done
        for w in "${outs[@]}"; do wait "$w" || true; done
        python3 - "$backend" "$n" "$scenario" "$dir"/wrk-"$backend"-"$n"-"$scenario"-*.txt >>"$rows" <<'EOF'
import json, re, sys
backend, n, scenario, files = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
rps = non2xx = errors = timeouts = 0.0
p99 = []
for f in files:
    t = open(f).read()
    m = re.search(r"Requests/sec:\s+([\d.]+)", t); rps += float(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", t); non2xx += int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
    if m:
        errors += sum(map(int, m.groups()[:3]))
        timeouts += int(m.group(4))
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", t)
    if m: p99.append(float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)])
print(json.dumps({"backend": backend, "instances": n, "scenario": scenario, "rps": round(rps),
                  "non2xx": int(non2xx), "socket_errors": int(errors), "timeouts": int(timeouts),
                  "p99_ms": round(max(p99), 2) if p99 else None}))
EOF
        log "cluster: $(tail -1 "$rows")"
        sleep 1
      done
      for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
      for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    done
  done

  python3 - "$rows" "$OUT/$CL_TS-cluster.json" "$OUT/$CL_TS-cluster.md" "$d" "$conn" "$users" \
    "$(provenance_md "${LT_COMMAND:-loadtest/run.sh --only cluster}")" <<'EOF'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
d, conn, users = sys.argv[4], sys.argv[5], sys.argv[6]
json.dump(rows, open(sys.argv[2], "w"), indent=1)
by = {(r["backend"], r["instances"], r["scenario"]): r for r in rows}
out = ["# Redis Cluster vs one Redis: status and enter throughput, 1-3 instances (same run)", "",
       sys.argv[7], "",
       f"wrk per instance: 1 thread, {conn} connections, {d}; all instances at once, summed. "
       f"{users} fans. Machine: {os.cpu_count()} cores, shared with other builds and test runs "
       "while this ran: compare figures of this run with each other, not with other runs.", "",
       "| scenario | instances | one Redis req/s | cluster req/s | cluster / one | non-2xx (one, cluster) | p99 ms (one, cluster) |",
       "|---|---|---|---|---|---|---|"]
for sc in ["status", "enter", "enter-spread"]:
    for n in [1, 2, 3]:
        a, b = by.get(("single", n, sc)), by.get(("cluster", n, sc))
        if not a or not b: continue
        ratio = b["rps"] / a["rps"] if a["rps"] else 0
        out.append(f"| {sc} | {n} | {a['rps']} | {b['rps']} | {ratio:.2f} | {a['non2xx']}, {b['non2xx']} | {a['p99_ms']}, {b['p99_ms']} |")
out += ["", "Scaling with instances (req/s of n instances / req/s of 1, same backend):", "",
        "| scenario | backend | 2 / 1 | 3 / 1 |", "|---|---|---|---|"]
for sc in ["status", "enter", "enter-spread"]:
    for be in ["single", "cluster"]:
        one = by.get((be, 1, sc))
        if not one or not one["rps"]: continue
        r = [by.get((be, n, sc), {}).get("rps", 0) / one["rps"] for n in (2, 3)]
        out.append(f"| {sc} | {be} | {r[0]:.2f} | {r[1]:.2f} |")
bad = [r for r in rows if r["non2xx"] or r["socket_errors"]]
out += ["", "Non-2xx answers or socket errors: " + ("none" if not bad else json.dumps(bad))]
slow = [r for r in rows if r.get("timeouts")]
out += ["", "Requests wrk gave up on after its 2 s timeout (the load generator and the instances "
        "starved of CPU, not errors of the server): " + ("none" if not slow else
        ", ".join(f"{r['backend']} x{r['instances']} {r['scenario']}: {r['timeouts']}" for r in slow))]
open(sys.argv[3], "w").write("\n".join(out) + "\n")
print("\n".join(out))
EOF
}

# One JSON document per line on stdin (curl -fsS outputs, concatenated): prints `expr`.
jget_lines() {
  python3 -c '
import json, sys
dec, buf = json.JSONDecoder(), sys.stdin.read()
i = 0
while i < len(buf):
    while i < len(buf) and buf[i].isspace(): i += 1
    if i >= len(buf): break
    d, i = dec.raw_decode(buf, i)
    print(eval(sys.argv[1], {"d": d}))' "$1"
}

# Three concerts, comma-separated: on the cluster, one per master (by the slot of
# `{concert:ID}`); on one Redis, any three.
cluster_spread_concerts() {
  local backend=$1 n=$2 found=() owners=() c slot owner k p
  p=${FRONTROW_TEST_REDIS_CLUSTER_URLS%%,*}; p=${p##*:}
  for k in $(seq 1 64); do
    c=$(new_concert "spread $backend $n $k" 1 10 1000 | cut -d' ' -f1)
    if [ "$backend" = single ]; then
      found+=("$c")
    else
      slot=$(redis-cli -p "$p" cluster keyslot "{concert:$c}")
      owner=$(redis-cli -p "$p" cluster nodes | awk -v s="$slot" '$3 ~ /master/ {
        for (i = 9; i <= NF; i++) { split($i, r, "-"); if (r[2] == "") r[2] = r[1];
          if (s >= r[1] && s <= r[2]) print $1 } }')
      if ! printf '%s\n' "${owners[@]+"${owners[@]}"}" | grep -qx "$owner"; then
        found+=("$c"); owners+=("$owner")
      fi
    fi
    [ ${#found[@]} -ge 3 ] && break
  done
  (IFS=,; echo "${found[*]}")
}
