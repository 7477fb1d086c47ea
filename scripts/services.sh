#!/usr/bin/env bash
# The local stack's backing services: PostgreSQL, Redis, Cassandra 5.0 (one node, or a cluster of
# CASSANDRA_NODES nodes on 127.0.0.1, .2, .3...) and the nginx load balancer, with data, logs and
# pid files under $CHAT_VAR_DIR.
#
#   scripts/services.sh start|stop|status [postgres|redis|cassandra|cassandra-<i>|nginx|all]
#
# Every action is idempotent: starting what runs, or stopping what is stopped, does nothing.
# A missing Debian package is installed; a service that cannot start fails with its name and the
# end of its log.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT_DIR"

VAR="$CHAT_VAR_DIR"
RUN="$VAR/run"
LOG="$VAR/log"
mkdir -p "$RUN" "$LOG"

say() { printf '[services] %s\n' "$*"; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

gone() { ! kill -0 "$1" 2>/dev/null; }

wait_gone() {  # wait_gone <what> <pid> <seconds>: until the process has exited, SIGKILL past the limit
  local what="$1" pid="$2" limit="$3" i=0
  until gone "$pid"; do
    i=$((i + 1))
    if [ "$i" -eq "$((limit * 2))" ]; then say "$what (pid $pid) still running after $limit s: SIGKILL"; kill -9 "$pid" 2>/dev/null || true; fi
    [ $((i % 20)) -eq 0 ] && [ "$i" -lt "$((limit * 2))" ] && say "waiting for $what (pid $pid) to exit"
    sleep 0.5
  done
}

wait_for() {  # wait_for <what> <seconds> <command...>
  local what="$1" limit="$2" i=0; shift 2
  until "$@"; do
    i=$((i + 1))
    [ "$i" -ge "$((limit * 2))" ] && return 1
    sleep 0.5
  done
}

apt_install() {  # apt_install <package...>
  command -v apt-get >/dev/null || die "apt-get not found: install $* by hand"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  say "installing Debian packages: $*"
  if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >"$LOG/apt.log" 2>&1; then
    $sudo apt-get update >>"$LOG/apt.log" 2>&1 || true
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >>"$LOG/apt.log" 2>&1 \
      || die "could not install $* (see $LOG/apt.log)"
  fi
}

# ---------------------------------------------------------------- PostgreSQL
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
PGDATA="$VAR/postgres"
PG_SOCK="$RUN/pg"
PG_LOG="$LOG/postgres/postgres.log"

as_pg() {  # PostgreSQL refuses to run as root: run as the postgres user then
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

postgres_running() { [ -n "$(pg_bin)" ] && as_pg "$(pg_bin)/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; }

postgres_start() {
  [ -x "$(pg_bin)/postgres" ] || apt_install postgresql
  local bin; bin="$(pg_bin)"
  [ -x "$bin/postgres" ] || die "PostgreSQL server binary not found under /usr/lib/postgresql"
  if postgres_running; then say "postgres already running"; return; fi
  if port_open "$POSTGRES_HOST" "$POSTGRES_PORT"; then
    die "postgres: port $POSTGRES_HOST:$POSTGRES_PORT is taken by another process"
  fi
  mkdir -p "$PGDATA" "$PG_SOCK" "$(dirname "$PG_LOG")"
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$PGDATA" "$PG_SOCK" "$(dirname "$PG_LOG")"; fi
  chmod 700 "$PGDATA"
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    say "postgres: initdb in $PGDATA"
    as_pg "$bin/initdb" -D "$PGDATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >"$LOG/postgres-initdb.log" 2>&1 \
      || { rm -rf "${PGDATA:?}"/*; die "postgres initdb failed (see $LOG/postgres-initdb.log)"; }
  fi
  as_pg "$bin/pg_ctl" -D "$PGDATA" -l "$PG_LOG" -w -t 60 \
    -o "-h $POSTGRES_HOST -p $POSTGRES_PORT -k $PG_SOCK -c fsync=on -c max_connections=200" start >/dev/null \
    || { tail -n 20 "$PG_LOG" >&2; die "postgres did not start (see $PG_LOG)"; }
  # role and database of the application (idempotent)
  local psql=("$bin/psql" -h "$PG_SOCK" -p "$POSTGRES_PORT" -U postgres -v ON_ERROR_STOP=1 -qAt)
  as_pg "${psql[@]}" -d postgres -c "DO \$\$BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$POSTGRES_USER') THEN
        CREATE ROLE \"$POSTGRES_USER\" LOGIN CREATEDB PASSWORD '$POSTGRES_PASSWORD';
      ELSE ALTER ROLE \"$POSTGRES_USER\" LOGIN CREATEDB PASSWORD '$POSTGRES_PASSWORD'; END IF; END\$\$;" >/dev/null
  if [ -z "$(as_pg "${psql[@]}" -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$POSTGRES_DB'")" ]; then
    as_pg "${psql[@]}" -d postgres -c "CREATE DATABASE \"$POSTGRES_DB\" OWNER \"$POSTGRES_USER\"" >/dev/null
  fi
  say "postgres started on $POSTGRES_HOST:$POSTGRES_PORT"
}

postgres_stop() {
  if postgres_running; then as_pg "$(pg_bin)/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null; say "postgres stopped"
  else say "postgres not running"; fi
}

postgres_status() { postgres_running && echo "postgres: running on $POSTGRES_HOST:$POSTGRES_PORT" || echo "postgres: stopped"; }

# ---------------------------------------------------------------- Redis
REDIS_PID="$RUN/redis.pid"

redis_cli() { redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ${REDIS_PASSWORD:+--no-auth-warning -a "$REDIS_PASSWORD"} "$@"; }

redis_pong() { [ "$(redis_cli ping 2>/dev/null)" = PONG ]; }

redis_ours() {  # the pid of a Redis on our port that keeps its data in this var/ (one left running without its pid file)
  [ "$(redis_cli config get dir 2>/dev/null | sed -n 2p)" = "$VAR/redis" ] || return 1
  redis_cli info server | sed -n 's/^process_id:\([0-9]*\).*/\1/p'
}

redis_start() {
  command -v redis-server >/dev/null || apt_install redis-server
  if pid_alive "$REDIS_PID"; then say "redis already running"; return; fi
  local pid
  if port_open "$REDIS_HOST" "$REDIS_PORT"; then
    pid="$(redis_ours)" || die "redis: port $REDIS_HOST:$REDIS_PORT is taken by another process"
    echo "$pid" >"$REDIS_PID"; say "redis of this var/ already running (pid $pid): using it"; return
  fi
  mkdir -p "$VAR/redis"
  # appendonly: the Celery broker's queues survive a Redis restart (DESIGN.md §5)
  redis-server --bind "$REDIS_HOST" --port "$REDIS_PORT" --dir "$VAR/redis" --daemonize yes \
    --pidfile "$REDIS_PID" --logfile "$LOG/redis.log" --appendonly yes --appendfsync everysec \
    --save "" --protected-mode no || die "redis did not start (see $LOG/redis.log)"
  # PONG only once the append-only file is loaded (until then PING answers LOADING)
  wait_for redis 300 redis_pong || { tail -n 20 "$LOG/redis.log" >&2; die "redis did not answer PING"; }
  say "redis started on $REDIS_HOST:$REDIS_PORT"
}

redis_stop() {
  local pid=""
  if pid_alive "$REDIS_PID"; then pid="$(cat "$REDIS_PID")"; elif port_open "$REDIS_HOST" "$REDIS_PORT"; then pid="$(redis_ours)" || pid=""; fi
  if [ -n "$pid" ]; then
    # SHUTDOWN flushes the append-only file first, which takes a while behind a large backlog:
    # wait until the process has really exited before the pid file goes (5 minutes, then SIGKILL)
    redis_cli shutdown >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
    wait_gone redis "$pid" 300
    rm -f "$REDIS_PID"; say "redis stopped"
  else rm -f "$REDIS_PID"; say "redis not running"; fi
}

redis_status() { pid_alive "$REDIS_PID" && echo "redis: running on $REDIS_HOST:$REDIS_PORT" || echo "redis: stopped"; }

# ---------------------------------------------------------------- Cassandra
# CASSANDRA_NODES nodes (default 1). Node i listens on the i-th address of CASSANDRA_HOSTS (or
# 127.0.0.<i> when the list is shorter: every 127/8 address is the loopback on Linux), all on the
# same ports, each with its data under var/cassandra (node 1) or var/cassandra-<i>, its pid file
# and its logs; the first node is the seed. `cassandra` acts on every node, `cassandra-<i>` on one.
CASS_NODES="${CASSANDRA_NODES:-1}"
case "$CASS_NODES" in [1-9]) ;; *) die "CASSANDRA_NODES must be 1 to 9, not '$CASS_NODES'" ;; esac
CASS_LIB="$VAR/cassandra/lib"
CASS_POM="$ROOT_DIR/deploy/cassandra/pom.xml"

cass_home() { if [ "$1" -eq 1 ]; then echo "$VAR/cassandra"; else echo "$VAR/cassandra-$1"; fi; }
cass_pidfile() { if [ "$1" -eq 1 ]; then echo "$RUN/cassandra.pid"; else echo "$RUN/cassandra-$1.pid"; fi; }
cass_logdir() { if [ "$1" -eq 1 ]; then echo "$LOG/cassandra"; else echo "$LOG/cassandra-$1"; fi; }
cass_out() { if [ "$1" -eq 1 ]; then echo "$LOG/cassandra.out"; else echo "$LOG/cassandra-$1.out"; fi; }
cass_name() { if [ "$CASS_NODES" -eq 1 ]; then echo cassandra; else echo "cassandra-$1"; fi; }

cass_host() {  # the address of node <i>
  local hosts
  IFS=, read -r -a hosts <<<"$CASSANDRA_HOSTS"
  if [ "${#hosts[@]}" -ge "$1" ]; then echo "${hosts[$(($1 - 1))]}"; else echo "127.0.0.$1"; fi
}

cass_token() {  # node <i>'s one token: the ring cut into CASSANDRA_NODES equal parts, node 1 at 0
  # (2^64 / N steps; the multiplication wraps around past 2^63 into the negative half, as the ring does)
  echo $(( ($1 - 1) * (9223372036854775807 / CASS_NODES) * 2 ))
}

cassandra_version() { sed -n 's:.*<cassandra.version>\(.*\)</cassandra.version>.*:\1:p' "$CASS_POM"; }

cassandra_fetch() {  # the nodes' jars, from Maven Central through Maven's local repository
  local stamp="$CASS_LIB/.version-$(cassandra_version)"
  [ -f "$stamp" ] && return
  command -v java >/dev/null || die "cassandra: java not found (Java 17 is required)"
  command -v mvn >/dev/null || apt_install maven
  say "cassandra: fetching cassandra-all $(cassandra_version) and its dependencies with Maven"
  rm -rf "$CASS_LIB"; mkdir -p "$CASS_LIB"
  mvn -q -B -f "$CASS_POM" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$CASS_LIB" >"$LOG/cassandra-maven.log" 2>&1 \
    || { tail -n 20 "$LOG/cassandra-maven.log" >&2; die "cassandra: Maven could not fetch cassandra-all $(cassandra_version)"; }
  touch "$stamp"
}

cassandra_ready() {  # cassandra_ready <i> [<peers>]: node <i> answers CQL and knows that many other nodes
  "$ROOT_DIR/.venv/bin/python" "$ROOT_DIR/scripts/cql_ready.py" "$(cass_host "$1")" "$CASSANDRA_PORT" "${2:-0}" >/dev/null 2>&1
}

cassandra_ours() {  # the pid of node <i> of this var/ (one left running without its pid file)
  local proc home; home="$(cass_home "$1")"
  for proc in /proc/[0-9]*; do
    if tr '\0' ' ' 2>/dev/null <"$proc/cmdline" | grep -q -- "-Dcassandra.storagedir=$home .*CassandraDaemon"; then
      echo "${proc#/proc/}"; return 0
    fi
  done
  return 1
}

cassandra_launch() {  # start node <i> without waiting; returns 1 when it already runs
  local i="$1" name home pidfile host pid
  name="$(cass_name "$i")"; home="$(cass_home "$i")"; pidfile="$(cass_pidfile "$i")"; host="$(cass_host "$i")"
  if pid_alive "$pidfile"; then say "$name already running"; return 1; fi
  if pid="$(cassandra_ours "$i")"; then echo "$pid" >"$pidfile"; say "$name of this var/ already running (pid $pid): using it"; return 1; fi
  port_open "$host" "$CASSANDRA_PORT" && die "$name: port $host:$CASSANDRA_PORT is taken by another process"
  [ -x "$ROOT_DIR/.venv/bin/python" ] || die "cassandra: .venv missing (run make venv first): it checks readiness over CQL"
  cassandra_fetch
  mkdir -p "$home/conf" "$(cass_logdir "$i")"
  sed -e "s#@VAR@#$home#g" -e "s#@HOST@#$host#g" -e "s#@PORT@#$CASSANDRA_PORT#g" \
      -e "s#@STORAGE_PORT@#$CASSANDRA_STORAGE_PORT#g" -e "s#@SEED@#$(cass_host 1)#g" \
      -e "s#@TOKEN@#$(cass_token "$i")#g" \
      "$ROOT_DIR/deploy/cassandra/cassandra.yaml.in" >"$home/conf/cassandra.yaml"
  cp "$ROOT_DIR/deploy/cassandra/logback.xml" "$home/conf/logback.xml"
  local opts=()
  while IFS= read -r line; do
    case "$line" in ''|'#'*) continue ;; esac
    opts+=("$line")
  done <"$ROOT_DIR/deploy/cassandra/jvm17-server.options"
  # in a cluster, a node other than the seed first asks the seed for the ring ("shadow round") and
  # gives up after the ring delay: let it wait 10 s for the seed instead of the single node's 0
  # (it waits only as long as the seed takes to answer; a later -D wins over the options file's)
  if [ "$CASS_NODES" -gt 1 ]; then opts+=("-Dcassandra.ring_delay_ms=10000"); fi
  # the daemon is started directly (no bin/cassandra script: see deploy/cassandra/pom.xml); it has
  # no root check of its own, which is what the distribution's -R flag would switch off
  setsid nohup java "${opts[@]}" \
    "-Xms$CASSANDRA_MAX_HEAP_SIZE" "-Xmx$CASSANDRA_MAX_HEAP_SIZE" "-Xmn$CASSANDRA_HEAP_NEWSIZE" \
    "-Dcassandra.config=file://$home/conf/cassandra.yaml" \
    "-Dcassandra.storagedir=$home" "-Dcassandra.logdir=$(cass_logdir "$i")" \
    "-Dlogback.configurationFile=$home/conf/logback.xml" \
    "-Dcassandra-foreground=yes" \
    -cp "$home/conf:$CASS_LIB/*" org.apache.cassandra.service.CassandraDaemon \
    >"$(cass_out "$i")" 2>&1 </dev/null &
  echo $! >"$pidfile"
  say "$name $(cassandra_version): starting (pid $(cat "$pidfile")) on $host:$CASSANDRA_PORT"
}

cassandra_await() {  # wait until node <i> is ready (started <seconds since epoch>), knowing <peers> others
  local i="$1" started="$2" peers="$3" name pidfile n=0
  name="$(cass_name "$i")"; pidfile="$(cass_pidfile "$i")"
  until cassandra_ready "$i" "$peers"; do
    if ! pid_alive "$pidfile"; then
      tail -n 30 "$(cass_out "$i")" >&2; rm -f "$pidfile"
      die "$name exited during start (see $(cass_out "$i") and $(cass_logdir "$i")/system.log)"
    fi
    n=$((n + 1)); [ "$n" -ge 180 ] && die "$name: not ready within 180 s (see $(cass_logdir "$i")/system.log)"
    sleep 1
  done
  say "$name ready on $(cass_host "$i"):$CASSANDRA_PORT after $(( $(date +%s) - started )) s"
}

cassandra_start_nodes() {  # cassandra_start_nodes <peers> <i>...: start the nodes at once, then
  # wait until each answers CQL and knows <peers> other nodes
  local peers="$1" i started launched=()
  shift
  started=$(date +%s)
  for i in "$@"; do if cassandra_launch "$i"; then launched+=("$i"); fi; done
  for i in "${launched[@]}"; do cassandra_await "$i" "$started" "$peers"; done
}

cassandra_start() {
  # the seed first (alone, it knows no other node yet): a node that starts finds the cluster
  # through it; then the others together (each joins with its own token and nothing to stream,
  # so they need not take turns) until each knows all the others
  cassandra_start_nodes 0 1
  if [ "$CASS_NODES" -gt 1 ]; then
    # shellcheck disable=SC2046  # one argument per node
    cassandra_start_nodes "$((CASS_NODES - 1))" $(seq 2 "$CASS_NODES")
  fi
}

cassandra_node_stop() {
  local i="$1" name pidfile pid=""
  name="$(cass_name "$i")"; pidfile="$(cass_pidfile "$i")"
  if pid_alive "$pidfile"; then pid="$(cat "$pidfile")"; else pid="$(cassandra_ours "$i")" || pid=""; fi
  if [ -n "$pid" ]; then
    # SIGTERM: the node announces its shutdown through gossip, so the others mark it down at once
    kill "$pid" 2>/dev/null || true
    wait_gone "$name" "$pid" 60
    rm -f "$pidfile"; say "$name stopped"
  else rm -f "$pidfile"; say "$name not running"; fi
}

cassandra_stop() {
  local i
  for i in $(seq "$CASS_NODES" -1 1); do cassandra_node_stop "$i"; done
}

cassandra_node_status() {
  local i="$1" name
  name="$(cass_name "$i")"
  if pid_alive "$(cass_pidfile "$i")"; then
    cassandra_ready "$i" && echo "$name: running on $(cass_host "$i"):$CASSANDRA_PORT" \
      || echo "$name: process up, CQL not answering (or not yet in the cluster)"
  else echo "$name: stopped"; fi
}

cassandra_status() {
  local i
  for i in $(seq 1 "$CASS_NODES"); do cassandra_node_status "$i"; done
}

# ---------------------------------------------------------------- nginx (load balancer)
NGINX_PID="$RUN/nginx.pid"
NGINX_CONF="$VAR/nginx/nginx.conf"

nginx_bin() { command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true; }

nginx_render() {
  mkdir -p "$VAR/nginx/tmp" "$VAR/media" "$VAR/static"
  local upstream="" p
  for p in ${API_PORTS//,/ }; do upstream+="        server 127.0.0.1:$p max_fails=1 fail_timeout=2s;"$'\n'; done
  # chat-<i> on the i-th of CHAT_PORTS, as scripts/run.sh names them (its CHAT_SERVER_URL points here);
  # Host and Origin pass through unchanged, so the chat server checks the page's Origin itself
  local chats="" i=0
  for p in ${CHAT_PORTS//,/ }; do
    i=$((i + 1))
    chats+="        location = /ws/chat-$i/chat {
            proxy_pass http://127.0.0.1:$p/ws/chat;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            proxy_buffering off;
        }"$'\n'
  done
  sed -e "s#@VAR@#$VAR#g" -e "s#@LB_PORT@#$LB_PORT#g" -e "s#@RUN@#$RUN#g" -e "s#@LOG@#$LOG#g" \
      "$ROOT_DIR/deploy/nginx.conf.in" \
    | awk -v up="$upstream" -v chats="$chats" '{ if ($0 ~ /@API_UPSTREAM@/) printf "%s", up; else if ($0 ~ /@CHAT_LOCATIONS@/) printf "%s", chats; else print }' \
      >"$NGINX_CONF"
}

nginx_start() {
  [ -n "$(nginx_bin)" ] || apt_install nginx-light
  nginx_render
  if pid_alive "$NGINX_PID"; then "$(nginx_bin)" -c "$NGINX_CONF" -s reload; say "nginx already running (config reloaded)"; return; fi
  port_open 127.0.0.1 "$LB_PORT" && die "nginx: port 127.0.0.1:$LB_PORT is taken by another process"
  "$(nginx_bin)" -c "$NGINX_CONF" -t >"$LOG/nginx-check.log" 2>&1 || { cat "$LOG/nginx-check.log" >&2; die "nginx config invalid"; }
  "$(nginx_bin)" -c "$NGINX_CONF" || die "nginx did not start (see $LOG/nginx-error.log)"
  wait_for nginx 10 port_open 127.0.0.1 "$LB_PORT" || die "nginx not listening on $LB_PORT"
  say "nginx load balancer on 127.0.0.1:$LB_PORT -> API ports $API_PORTS, WebSockets /ws/chat-<i>/chat -> $CHAT_PORTS"
}

nginx_stop() {
  if pid_alive "$NGINX_PID"; then "$(nginx_bin)" -c "$NGINX_CONF" -s quit; wait_for nginx-stop 10 bash -c "! [ -f '$NGINX_PID' ]" || true; say "nginx stopped"
  else say "nginx not running"; fi
}

nginx_status() { pid_alive "$NGINX_PID" && echo "nginx: running on 127.0.0.1:$LB_PORT" || echo "nginx: stopped"; }

# ---------------------------------------------------------------- main
action="${1:-status}"; target="${2:-all}"
usage="usage: $0 start|stop|status [postgres|redis|cassandra|cassandra-<i>|nginx|all]"
case "$action" in start|stop|status) ;; *) die "$usage" ;; esac
case "$target" in
  all)
    if [ "$action" = stop ]; then order="nginx cassandra redis postgres"; else order="postgres redis cassandra nginx"; fi
    for s in $order; do "${s}_${action}"; done ;;
  postgres|redis|cassandra|nginx) "${target}_${action}" ;;
  cassandra-[1-9])
    node="${target#cassandra-}"
    [ "$node" -le "$CASS_NODES" ] || die "$target: CASSANDRA_NODES is $CASS_NODES"
    case "$action" in
      start) cassandra_start_nodes "$((CASS_NODES - 1))" "$node" ;;
      stop) cassandra_node_stop "$node" ;;
      status) cassandra_node_status "$node" ;;
    esac ;;
  *) die "unknown service '$target' (postgres, redis, cassandra, cassandra-<i>, nginx, all)" ;;
esac
