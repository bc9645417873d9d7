#!/usr/bin/env bash
# The services a team's server uses, started on 127.0.0.1 for the scaleout tests:
# PostgreSQL (the run store), a local Ray head (the job backend) and moto_server (an
# S3-compatible object store for models).
#
#   .ci/services.sh start STATE_DIR   # starts them; writes STATE_DIR/env.sh (source it)
#   .ci/services.sh stop STATE_DIR    # stops whatever was started (safe to call twice)
#
# Every port is a free one picked just before the service binds it; a start that fails
# (say another process took the port in between) is retried with new ports, and a start
# that still fails prints its log here, so CI's output says why. Every file lives in
# STATE_DIR. Debian's postgresql package is installed when its binaries are missing. Ray
# and moto come from the `scaleout` extra.
set -euo pipefail

cmd=${1:?usage: services.sh start|stop STATE_DIR}
state=${2:?usage: services.sh start|stop STATE_DIR}
mkdir -p "$state"
state=$(cd "$state" && pwd)

free_port() {
    python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

fail_with_log() {  # fail_with_log WHAT LOGFILE: say which service failed and show its log
    echo "services.sh: $1 did not start; the end of $2:" >&2
    tail -n 40 "$2" >&2 2>/dev/null || true
    return 1
}

retry() {  # retry WHAT FUNCTION: up to 3 tries, each picking its ports anew
    local what=$1 fn=$2 try
    for try in 1 2 3; do
        "$fn" && return 0
        echo "services.sh: $what start failed (try $try of 3)" >&2
    done
    return 1
}

as_pg() {  # PostgreSQL refuses to run as root: run as the postgres user then
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_bin() {
    for dir in /usr/lib/postgresql/*/bin; do
        [ -x "$dir/initdb" ] && { echo "$dir"; return; }
    done
    command -v initdb >/dev/null && dirname "$(command -v initdb)"
}

install_postgres() {
    if [ -z "$(pg_bin)" ]; then
        echo "Installing Debian's postgresql for the scaleout tests"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq postgresql >/dev/null
    fi
}

try_postgres() {
    local bin port data
    bin=$(pg_bin)
    port=$(free_port)
    data="$state/pgdata"
    rm -rf "$data"
    mkdir -p "$data"
    if [ "$(id -u)" = 0 ]; then chown postgres "$data" "$state"; fi
    as_pg "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >"$state/initdb.log" 2>&1 \
        || { fail_with_log "initdb" "$state/initdb.log"; return 1; }
    echo "$bin" >"$state/pg_bin"
    if ! as_pg "$bin/pg_ctl" -D "$data" -l "$state/postgres.log" -w -o \
        "-c listen_addresses=127.0.0.1 -p $port -k $data -c max_connections=200" \
        start >/dev/null; then
        fail_with_log "PostgreSQL on port $port" "$state/postgres.log"
        return 1
    fi
    as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres dashcore || return 1
    echo "export DASHCORE_TEST_PG=postgresql://postgres@127.0.0.1:$port/dashcore" >>"$state/env.sh"
    echo "PostgreSQL on 127.0.0.1:$port"
}

try_ray() {
    local port dash token
    port=$(free_port); dash=$(free_port)
    token=$(python -c 'import secrets; print(secrets.token_hex(32))')
    export RAY_AUTH_MODE=token RAY_AUTH_TOKEN=$token RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
    # Credentials live on the hosts, as on a real cluster: jobs inherit the head's
    # environment, so the S3 settings of moto are exported before the head starts.
    # shellcheck disable=SC1091
    source "$state/env.sh"
    # --temp-dir keeps this head's sockets and logs apart from any other Ray on the box.
    ray start --head --node-ip-address=127.0.0.1 --port="$port" \
        --dashboard-host=127.0.0.1 --dashboard-port="$dash" \
        --ray-client-server-port="$(free_port)" --dashboard-agent-listen-port="$(free_port)" \
        --dashboard-agent-grpc-port="$(free_port)" --metrics-export-port="$(free_port)" \
        --runtime-env-agent-port="$(free_port)" --node-manager-port="$(free_port)" \
        --object-manager-port="$(free_port)" --min-worker-port=0 --max-worker-port=0 \
        --num-cpus=2 --num-gpus=1 --disable-usage-stats --temp-dir="$state/ray" \
        >"$state/ray-start.log" 2>&1 || {
        python "$(dirname "$0")/kill_marked.py" "$state/ray" >/dev/null || true
        fail_with_log "the Ray head" "$state/ray-start.log"
        return 1
    }
    touch "$state/ray.started"
    echo "127.0.0.1:$port" >"$state/ray.gcs"
    {
        echo "export RAY_ADDRESS=http://127.0.0.1:$dash"
        echo "export RAY_AUTH_MODE=token RAY_AUTH_TOKEN=$token"
        echo "export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0"
        echo "export DASHCORE_TEST_RAY=http://127.0.0.1:$dash"
    } >>"$state/env.sh"
    echo "Ray head on 127.0.0.1:$port, Jobs API on http://127.0.0.1:$dash"
}

try_moto() {
    local port pid
    port=$(free_port)
    nohup moto_server -H 127.0.0.1 -p "$port" >"$state/moto.log" 2>&1 &
    pid=$!
    echo "$pid" >"$state/moto.pid"
    if ! python - "$port" "$pid" <<'EOF'
import os, sys, time, boto3
port, pid = sys.argv[1], int(sys.argv[2])
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
for _ in range(150):
    try:
        s3.create_bucket(Bucket="dashcore-ci")
        break
    except Exception:
        try:
            os.kill(pid, 0)  # still starting: wait; gone (port taken): give up this try
        except OSError:
            sys.exit(1)
        time.sleep(0.1)
else:
    sys.exit(1)
EOF
    then
        kill "$pid" 2>/dev/null || true
        rm -f "$state/moto.pid"
        fail_with_log "moto_server on port $port" "$state/moto.log"
        return 1
    fi
    {
        echo "export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1"
        echo "export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$port"
        echo "export DASHCORE_TEST_S3=s3://dashcore-ci/artifacts"
    } >>"$state/env.sh"
    echo "moto_server (S3) on 127.0.0.1:$port, bucket dashcore-ci"
}

stop_all() {
    if [ -f "$state/ray.started" ]; then
        # Not `ray stop`: that ends every Ray on the machine, not just this head.
        python "$(dirname "$0")/kill_marked.py" "$state/ray" >/dev/null || true
        # The head's client server is not under --temp-dir; it names the GCS address.
        if [ -f "$state/ray.gcs" ]; then
            python "$(dirname "$0")/kill_marked.py" --argument-ends "$(cat "$state/ray.gcs")" \
                >/dev/null || true
        fi
        rm -f "$state/ray.started" "$state/ray.gcs"
    fi
    if [ -f "$state/moto.pid" ]; then
        kill "$(cat "$state/moto.pid")" 2>/dev/null || true
        rm -f "$state/moto.pid"
    fi
    if [ -f "$state/pg_bin" ]; then
        as_pg "$(cat "$state/pg_bin")/pg_ctl" -D "$state/pgdata" -m immediate stop \
            >/dev/null 2>&1 || true
        rm -f "$state/pg_bin"
    fi
    rm -rf "$state/pgdata" "$state/ray"
}

case "$cmd" in
    start)
        : >"$state/env.sh"
        install_postgres
        retry PostgreSQL try_postgres
        retry moto_server try_moto
        retry "the Ray head" try_ray
        ;;
    stop) stop_all ;;
    *) echo "usage: services.sh start|stop STATE_DIR" >&2; exit 2 ;;
esac
