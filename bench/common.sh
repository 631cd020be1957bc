# Shared by bench/queue and bench/rtp-relay (sourced, not run).
#
# The caller sets `packages` (Debian packages it needs) and `build_careline`
# (1 to build careline-server) and then calls `bench_enter_netns "$@"`: the
# first time through, this installs what is missing, builds the server and
# re-executes the script inside a private network namespace with only
# loopback up; the second time it returns and the script goes on there.

say() { printf '==> %s\n' "$*" >&2; }

bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/careline-target}
# CARELINE_BIN=/path/to/careline-server runs that build (an A/B comparison
# of two commits) instead of building this checkout.
server_bin=${CARELINE_BIN:-$CARGO_TARGET_DIR/release/careline-server}

bench_enter_netns() {
  [[ -z ${CARELINE_BENCH_NETNS:-} ]] || return 0
  as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo -n "$@"; fi; }
  local missing=() pkg
  for pkg in "${packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if [[ ${build_careline:-0} == 1 && -z ${CARELINE_BIN:-} ]]; then
    say "building careline-server (release)"
    (cd "$bench_root" && cargo build --release -p careline-server)
  fi
  local netns=(unshare --net)
  [[ $(id -u) -eq 0 ]] || netns=(unshare --map-root-user --net)
  exec "${netns[@]}" env CARELINE_BENCH_NETNS=1 bash -c 'ip link set lo up && exec "$0" "$@"' "$0" "$@"
}

# Processes this script started; `stop_pid` and the exit trap end only these.
pids=()

stop_pid() {
  local pid=$1 i
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# Installs the exit trap: stops what this script started, and removes the
# work directory unless something failed or BENCH_KEEP is set.
bench_cleanup_on_exit() {
  work=$1
  trap bench_cleanup EXIT
}
bench_cleanup() {
  local status=$? pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if ((status == 0)) && [[ -z ${BENCH_KEEP:-} ]]; then rm -rf "$work"; else say "files kept in $work"; fi
}

# Waits (at most $2 seconds) until something listens on UDP port $1,
# while process $3 lives.
wait_udp() {
  local port=$1 limit=$2 pid=$3 i
  for ((i = 0; i < limit * 10; i++)); do
    [[ -n $(ss -Hlun "sport = :$port") ]] && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# Waits (at most $2 seconds) until nothing listens on UDP port $1.
wait_udp_free() {
  local port=$1 limit=$2 i
  for ((i = 0; i < limit * 10; i++)); do
    [[ -z $(ss -Hlun "sport = :$port") ]] && return 0
    sleep 0.1
  done
  return 1
}

# Waits (at most $2 seconds) until GET /health on port $1 answers.
wait_health() {
  local port=$1 limit=$2 pid=$3 i
  for ((i = 0; i < limit * 10; i++)); do
    curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# One column of the last row of a SIPp -trace_stat file.
stat_column() {
  [[ -s $1 ]] || { echo "?"; return; }
  awk -F';' -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) col = i }
    NF > 1 && col { last = $col } END { print (last == "" ? "?" : last) }' "$1"
}

# CPU time (clock ticks, user + system) of process $1 and its direct
# children (Kamailio forks its workers; Careline is one process).
cpu_ticks() {
  local root=$1 f line rest total=0
  for f in /proc/[0-9]*/stat; do
    line=
    read -r line 2>/dev/null <"$f" || true
    [[ -n $line ]] || continue
    rest=${line##*) }
    # rest: state ppid pgrp ... ; utime and stime are fields 12 and 13 of it
    set -- $rest
    if [[ ${f//[^0-9]/} == "$root" || $2 == "$root" ]]; then
      total=$((total + ${12} + ${13}))
    fi
  done
  echo "$total"
}
clk_tck=$(getconf CLK_TCK)

# Percentile $2 (0-100) of the numbers in file $1, one a line.
percentile() {
  sort -g "$1" | awk -v p="$2" '{ v[NR] = $1 } END {
    if (NR == 0) { print "?"; exit }
    i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR
    printf "%.1f", v[i] }'
}

machine_line() {
  echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)," \
    "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -sr); $(date -u +%Y-%m-%dT%H:%MZ)"
}

sipp_version() {
  { sipp -v 2>/dev/null || true; } | grep -o 'v[0-9][0-9.]*[0-9]' | head -1
}

# ------------------------------------------- agents, as bench/queue and
# bench/rtp-relay set them up. Globals used: work, agents, first_ext,
# agent_port, agent_media_port, http_port, api_token.

# The agents' phone: one SIPp answering every INVITE at once with 200 and
# an A-law answer (mirroring Record-Route, so that in-dialog requests
# cross a proxy), then answering the BYE. No 180: a proxy with several
# workers may pass a 180 on after the 200, which SIPp counts as an
# unexpected message and a failed call.
write_agent_scenario() {
  cat >"$1" <<'XML'
<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="agent">
  <recv request="INVITE"/>
  <send retrans="500">
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_Record-Route:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:agent@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=agent 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8
      a=rtpmap:8 PCMA/8000
      a=sendrecv

    ]]>
  </send>
  <recv request="ACK"/>
  <recv request="BYE"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
</scenario>
XML
}

# Injection file for the agents' REGISTERs: extension, the digest keyword
# (SIPp does not expand [field] inside it), Expires.
write_agents_csv() {
  local i ext
  {
    echo SEQUENTIAL
    for ((i = 0; i < agents; i++)); do
      ext=$((first_ext + i))
      echo "$ext;[authentication username=$ext password=pw$ext];3600"
    done
  } >"$1"
}

# The CSV for `careline-server users import`.
write_import_csv() {
  local i
  {
    echo "ext,name,role,password"
    for ((i = 0; i < agents; i++)); do
      echo "$((first_ext + i)),Agent $((first_ext + i)),agent,pw$((first_ext + i))"
    done
  } >"$1"
}

# A Careline config: file $1, database $2, SIP port $3, media workers $4;
# queue 100 holds every agent, no wrap-up.
write_careline_config() {
  local list i
  list=$(for ((i = 0; i < agents; i++)); do printf '"%s", ' $((first_ext + i)); done)
  cat >"$1" <<TOML
[database]
url = "sqlite://$2"
durability = "${BENCH_DURABILITY:-full}"

[sip]
listen = ["udp://127.0.0.1:$3"]
domain = "127.0.0.1"

[registrar]
min_expires = "60s"
max_expires = "3600s"
default_expires = "3600s"
algorithms = ["MD5"]

[users]
min_password_length = 1

[media]
bind_ip = "127.0.0.1"
port_min = 20000
port_max = 59999
workers = $4
rtp_timeout = "10s"
latching = true

[http]
listen = "127.0.0.1:$http_port"
api_token = "$api_token"

[[queues]]
name = "bench"
number = "100"
agents = [${list%, }]
wrap_up = "0s"
agent_ring_time = "30s"
max_wait = "10m"
TOML
}

# Registers every agent at server port $1 with scenario $2 (a file in
# $work); the REGISTERs leave from $agent_port, where the answering SIPp
# will listen (Careline sends an agent's INVITE where its REGISTER came
# from; Kamailio to the Contact, which is the same address).
# Optional: $4 injection file (default $work/agents.csv), $5 how many.
register_agents() {
  local port=$1 scenario=$2 tag=$3 csv=${4:-$work/agents.csv} count=${5:-$agents} code=0 ok
  wait_udp_free "$agent_port" 10 || { say "port $agent_port still busy"; exit 1; }
  timeout --kill-after=5s $((count / 200 + 60)) \
    sipp "127.0.0.1:$port" -sf "$work/$scenario" -inf "$csv" \
    -m "$count" -r 500 -i 127.0.0.1 -p "$agent_port" -nostdin \
    -timeout "$((count / 200 + 40))s" -timeout_error \
    -trace_stat -stf "$work/register-$tag.csv" >"$work/register-$tag.log" 2>&1 || code=$?
  ok=$(stat_column "$work/register-$tag.csv" 'SuccessfulCall(C)')
  [[ $code -eq 0 && $ok == "$count" ]] ||
    { say "$tag: only $ok of $count agents registered (sipp exit $code)"; tail -20 "$work/register-$tag.log" >&2; exit 1; }
  say "$tag: $count agents registered from 127.0.0.1:$agent_port"
}

# Starts the answering SIPp on $agent_port (extra SIPp options after the
# tag) with the scenario $agent_scenario (default $work/agent.xml), under
# the command prefix generator_sched (none by default); sets agent_pid. Its
# statistics are rewritten every second.
generator_sched=()
agent_pid=
start_agents() {
  local tag=$1
  shift
  (cd "$work" && exec "${generator_sched[@]}" sipp -sf "${agent_scenario:-$work/agent.xml}" -i 127.0.0.1 -p "$agent_port" \
    -mi 127.0.0.1 -mp "$agent_media_port" -nostdin -buff_size 8388608 "$@" \
    -trace_stat -stf "$work/agent-$tag.csv" -fd 1 >"$work/agent-$tag.log" 2>&1) &
  agent_pid=$!
  pids+=("$agent_pid")
  wait_udp "$agent_port" 10 "$agent_pid" || { cat "$work/agent-$tag.log" >&2; exit 1; }
}

# The answering SIPp's cumulative failed calls and retransmissions.
agent_counters() {
  local f=$work/agent-$1.csv
  [[ -s $f ]] || { echo "0 0"; return; }
  echo "$(stat_column "$f" 'FailedCall(C)') $(stat_column "$f" 'Retransmissions(C)')"
}

# Careline: waits (at most $1 s) until every agent is available again (no
# call left hanging); prints how many are not.
agents_not_available() {
  local limit=$1 i busy=? body available
  for ((i = 0; i < limit * 2; i++)); do
    if body=$(curl -fsS -m 5 -H "Authorization: Bearer $api_token" "http://127.0.0.1:$http_port/api/agents"); then
      available=$(grep -o '"state":"available"' <<<"$body" | wc -l)
      busy=$((agents - available))
      [[ $busy == 0 ]] && break
    else
      busy="? (the API did not answer)"
    fi
    sleep 0.5
  done
  echo "$busy"
}
