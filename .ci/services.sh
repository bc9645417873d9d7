#!/usr/bin/env bash
# The services a team's server uses, started on 127.0.0.1 for the scaleout tests:
# PostgreSQL (the run store), a local Ray head (the job backend) and moto_server (an
# S3-compatible object store for models).
#
#   .ci/services.sh start STATE_DIR   # starts them; writes STATE_DIR/env.sh (source it)
#   .ci/services.sh stop STATE_DIR    # stops whatever was started (safe to call twice)
#
# Every port is a free one picked at start; every file lives in STATE_DIR. Debian's
# postgresql package is installed when its binaries are missing. Ray and moto come from
# `pip install -e ".[scaleout]"`.
set -euo pipefail

cmd=${1:?usage: services.sh start|stop STATE_DIR}
state=${2:?usage: services.sh start|stop STATE_DIR}
mkdir -p "$state"
state=$(cd "$state" && pwd)

free_port() {
    python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
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

start_postgres() {
    if [ -z "$(pg_bin)" ]; then
        echo "Installing Debian's postgresql for the scaleout tests"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq postgresql >/dev/null
    fi
    local bin port data
    bin=$(pg_bin)
    port=$(free_port)
    data="$state/pgdata"
    mkdir -p "$data"
    [ "$(id -u)" = 0 ] && chown postgres "$data" "$state"
    as_pg "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >"$state/initdb.log"
    as_pg "$bin/pg_ctl" -D "$data" -l "$state/postgres.log" -w -o \
        "-c listen_addresses=127.0.0.1 -p $port -k $data -c max_connections=200" start >/dev/null
    as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres dashcore
    echo "$bin" >"$state/pg_bin"
    echo "export DASHCORE_TEST_PG=postgresql://postgres@127.0.0.1:$port/dashcore" >>"$state/env.sh"
    echo "PostgreSQL on 127.0.0.1:$port"
}

start_ray() {
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
        >"$state/ray-start.log" 2>&1
    touch "$state/ray.started"
    {
        echo "export RAY_ADDRESS=http://127.0.0.1:$dash"
        echo "export RAY_AUTH_MODE=token RAY_AUTH_TOKEN=$token"
        echo "export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0"
        echo "export DASHCORE_TEST_RAY=http://127.0.0.1:$dash"
    } >>"$state/env.sh"
    echo "Ray head on 127.0.0.1:$port, Jobs API on http://127.0.0.1:$dash"
}

start_moto() {
    local port
    port=$(free_port)
    nohup moto_server -H 127.0.0.1 -p "$port" >"$state/moto.log" 2>&1 &
    echo $! >"$state/moto.pid"
    python - "$port" <<'EOF'
import sys, time, boto3
port = sys.argv[1]
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
for _ in range(100):
    try:
        s3.create_bucket(Bucket="dashcore-ci")
        break
    except Exception:
        time.sleep(0.1)
else:
    sys.exit("moto_server did not answer")
EOF
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
        rm -f "$state/ray.started"
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
        start_postgres
        start_moto
        start_ray
        ;;
    stop) stop_all ;;
    *) echo "usage: services.sh start|stop STATE_DIR" >&2; exit 2 ;;
esac
