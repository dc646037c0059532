#!/bin/sh
# init-run.sh: PID 1 of the SGLang helper container (seed 000).
#
# One container lifetime = one run. In order, it:
#   1. generates CONTAINER_RUN_ID=container-run-<UTC timestamp>-<random id>;
#   2. tees all of its output (and the payload's) into /telemetry/logs/<run>.log;
#   3. starts the exporters that are present (nv-hostengine, dcgm-exporter,
#      node_exporter, Prometheus, Jaeger), Prometheus and Jaeger with per-run storage;
#   4. writes the manifest /telemetry/container_runs/<run>.json atomically (temp + mv),
#      its `warnings` using only the seed's taxonomy strings;
#   5. runs INIT_RUN_HOOK as the unprivileged user (a failing hook ends the run);
#   6. writes /telemetry/container_run_meta.env with ONLY the manifest pointers, and
#      prints them: the host's `servedeck container start` waits for this file, so it
#      reports ready once the hook is done and reports a failed hook with the log tail;
#   7. execs the payload (default `sleep infinity`) as the unprivileged user.
# POSIX sh on purpose: it also runs under busybox (the tests' image).

TELEMETRY_ROOT=${TELEMETRY_ROOT:-/telemetry}
PROFILES_ROOT=${PROFILES_ROOT:-/profiles}
MODELS_ROOT=${MODELS_ROOT:-/models}
RUN_USER=${RUN_USER:-devuser}
LISTEN_HOST=${EXPORTER_LISTEN_HOST:-0.0.0.0}
GRACE=${EXPORTER_GRACE_S:-1}
SGLANG_PORT=${SGLANG_PORT:-30000}
PROMETHEUS_PORT=${PROMETHEUS_PORT:-9090}
NODE_EXPORTER_PORT=${NODE_EXPORTER_PORT:-9100}
DCGM_EXPORTER_PORT=${DCGM_EXPORTER_PORT:-9400}
JAEGER_UI_PORT=${JAEGER_UI_PORT:-16686}
JAEGER_OTLP_GRPC_PORT=${JAEGER_OTLP_GRPC_PORT:-4317}
JAEGER_OTLP_HTTP_PORT=${JAEGER_OTLP_HTTP_PORT:-4318}
DCGM_EXPORTER_BIN=${DCGM_EXPORTER_BIN:-$(command -v dcgm-exporter || echo /usr/bin/dcgm-exporter)}
NV_HOSTENGINE_BIN=${NV_HOSTENGINE_BIN:-$(command -v nv-hostengine || echo /usr/bin/nv-hostengine)}
NODE_EXPORTER_BIN=${NODE_EXPORTER_BIN:-$(command -v node_exporter || command -v prometheus-node-exporter || echo /usr/bin/node_exporter)}
PROMETHEUS_BIN=${PROMETHEUS_BIN:-$(command -v prometheus || echo /usr/bin/prometheus)}
JAEGER_BIN=${JAEGER_BIN:-$(command -v jaeger-all-in-one || command -v jaeger || echo /usr/bin/jaeger-all-in-one)}
export PYTHONPATH=${PYTHONPATH:-/workspaces/sglang/python}

# -- 1. run id and per-run paths ------------------------------------------------------
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAND=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
CONTAINER_RUN_ID=${CONTAINER_RUN_ID:-container-run-$STAMP-$RAND}
export CONTAINER_RUN_ID
STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
STARTED_EPOCH=$(date -u +%s)
RUNS_DIR=$TELEMETRY_ROOT/container_runs
LOG_FILE=$TELEMETRY_ROOT/logs/$CONTAINER_RUN_ID.log
PROM_DIR=$TELEMETRY_ROOT/prometheus/$CONTAINER_RUN_ID
JAEGER_DIR=$TELEMETRY_ROOT/jaeger/$CONTAINER_RUN_ID/badger
MANIFEST=$RUNS_DIR/$CONTAINER_RUN_ID.json
META=$TELEMETRY_ROOT/container_run_meta.env
HOST_TELEMETRY=${HOST_STORAGE_ROOT:+$HOST_STORAGE_ROOT/telemetry}
HOST_RUNS=${HOST_MANIFEST_ROOT:-${HOST_TELEMETRY:+$HOST_TELEMETRY/container_runs}}
mkdir -p "$RUNS_DIR" "$TELEMETRY_ROOT/logs" "$PROM_DIR" "$JAEGER_DIR/key" "$JAEGER_DIR/data"

# -- 2. tee everything into the run log --------------------------------------------------
: >>"$LOG_FILE"  # exists (and is the user's, for the server's output) before tee opens it
chown "$RUN_USER" "$LOG_FILE" 2>/dev/null || chmod a+w "$LOG_FILE"
FIFO=/tmp/init-run-$CONTAINER_RUN_ID.fifo
mkfifo "$FIFO"
tee -a "$LOG_FILE" <"$FIFO" &
TEE_PID=$!
exec >"$FIFO" 2>&1
rm -f "$FIFO"
echo "init-run: CONTAINER_RUN_ID=$CONTAINER_RUN_ID"
echo "init-run: logging to $LOG_FILE"

# finish STATUS: close our end of the tee and let it drain before PID 1 exits (the kernel
# kills every process of the container when PID 1 ends, so the last lines would be lost).
# The exporters hold the pipe open too, so they are stopped first; the wait is bounded.
finish() {
    for pid in $PID_hostengine $PID_dcgm $PID_node $PID_prometheus $PID_jaeger; do
        kill -TERM "$pid" 2>/dev/null
    done
    exec >&- 2>&-
    (sleep 3; kill "$TEE_PID" 2>/dev/null) &
    wait "$TEE_PID" 2>/dev/null
    exit "$1"
}

WARNINGS=""
warn() {
    echo "WARNING: $1"
    WARNINGS="$WARNINGS$(json_str "$1"),"
}
json_str() { printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | tr '\n\t' '  ')"; }

# start NAME BIN ARGS...: runs BIN in the background if present; sets STATUS_<NAME>
# to running, failed (exited within the grace period) or absent.
start() {
    name=$1; bin=$2; shift 2
    if [ ! -x "$bin" ]; then
        eval "STATUS_$name=absent"
        echo "init-run: $name not present at $bin"
        return 1
    fi
    "$bin" "$@" &
    pid=$!
    sleep "$GRACE"
    if kill -0 "$pid" 2>/dev/null; then
        eval "STATUS_$name=running PID_$name=$pid"
        echo "init-run: $name started (pid $pid)"
        return 0
    fi
    eval "STATUS_$name=failed"
    echo "init-run: $name exited during startup"
    return 1
}

# -- 3. exporters ----------------------------------------------------------------------
if [ ! -x "$DCGM_EXPORTER_BIN" ]; then
    warn "dcgm-exporter binary not found at $DCGM_EXPORTER_BIN; skipping capability grant"
elif ! command -v setcap >/dev/null 2>&1; then
    warn "setcap not available; ensure dcgm-exporter has cap_sys_admin"
elif ! setcap cap_sys_admin+ep "$DCGM_EXPORTER_BIN" 2>/dev/null; then
    warn "unable to set cap_sys_admin on $DCGM_EXPORTER_BIN; start container with --cap-add SYS_ADMIN"
elif command -v getcap >/dev/null 2>&1 && ! getcap "$DCGM_EXPORTER_BIN" | grep -q cap_sys_admin; then
    warn "dcgm-exporter capability self-check failed; profiling metrics may be unavailable"
fi

HOSTENGINE_PIDS=$(pidof nv-hostengine 2>/dev/null | tr ' ' ',')
if [ -n "$HOSTENGINE_PIDS" ]; then
    warn "nv-hostengine already running (pids: $HOSTENGINE_PIDS)"
    STATUS_hostengine=running
elif ! start hostengine "$NV_HOSTENGINE_BIN" -n; then
    warn "nv-hostengine failed to start; dcgm metrics may be degraded"
fi

start dcgm "$DCGM_EXPORTER_BIN" -a "$LISTEN_HOST:$DCGM_EXPORTER_PORT" \
    || warn "dcgm-exporter failed to start"
start node "$NODE_EXPORTER_BIN" "--web.listen-address=$LISTEN_HOST:$NODE_EXPORTER_PORT" \
    || warn "node_exporter failed to start"

PROM_CONF=/tmp/prometheus-$CONTAINER_RUN_ID.yml
cat >"$PROM_CONF" <<CONF
global:
  scrape_interval: 5s
scrape_configs:
  - job_name: sglang
    static_configs: [{targets: ['127.0.0.1:$SGLANG_PORT']}]
  - job_name: node
    static_configs: [{targets: ['127.0.0.1:$NODE_EXPORTER_PORT']}]
  - job_name: dcgm
    static_configs: [{targets: ['127.0.0.1:$DCGM_EXPORTER_PORT']}]
CONF
start prometheus "$PROMETHEUS_BIN" "--config.file=$PROM_CONF" "--storage.tsdb.path=$PROM_DIR" \
    "--web.listen-address=$LISTEN_HOST:$PROMETHEUS_PORT" || true
SPAN_STORAGE_TYPE=badger BADGER_EPHEMERAL=false BADGER_DIRECTORY_KEY=$JAEGER_DIR/key \
    BADGER_DIRECTORY_VALUE=$JAEGER_DIR/data COLLECTOR_OTLP_ENABLED=true \
    start jaeger "$JAEGER_BIN" "--query.http-server.host-port=$LISTEN_HOST:$JAEGER_UI_PORT" || true

# -- 4. the manifest -------------------------------------------------------------------
surface() { printf '"%s": {"status": "%s", "port": %s}' "$1" "$2" "$3"; }
exporter() { printf '"%s": {"status": "%s", "binary": %s}' "$1" "${2:-absent}" "$(json_str "$3")"; }
profile() {
    present=false
    [ -n "$(ls -A "$PROFILES_ROOT/$2" 2>/dev/null | head -n 1)" ] && present=true
    printf '"%s": {"path": %s, "container_path": %s, "present": %s}' "$1" \
        "$(json_str "${HOST_STORAGE_ROOT:+$HOST_STORAGE_ROOT/}profiles/$2")" "$(json_str "$PROFILES_ROOT/$2")" "$present"
}
hostp() { json_str "${HOST_TELEMETRY:+$HOST_TELEMETRY/}$1"; }
TMP=$MANIFEST.tmp
cat >"$TMP" <<JSON
{
  "schema_version": 1,
  "run_id": "$CONTAINER_RUN_ID",
  "started": "$STARTED",
  "started_epoch": $STARTED_EPOCH,
  "container_hostname": $(json_str "$(hostname)"),
  "telemetry_surfaces": {
    $(surface sglang_metrics expected "$SGLANG_PORT"),
    $(surface tracing "${STATUS_jaeger:-absent}" "$JAEGER_OTLP_GRPC_PORT"),
    $(surface node_metrics "${STATUS_node:-absent}" "$NODE_EXPORTER_PORT"),
    $(surface dcgm_metrics "${STATUS_dcgm:-absent}" "$DCGM_EXPORTER_PORT")
  },
  "exporters": {
    $(exporter prometheus "$STATUS_prometheus" "$PROMETHEUS_BIN"),
    $(exporter jaeger "$STATUS_jaeger" "$JAEGER_BIN"),
    $(exporter node_exporter "$STATUS_node" "$NODE_EXPORTER_BIN"),
    $(exporter dcgm_exporter "$STATUS_dcgm" "$DCGM_EXPORTER_BIN"),
    $(exporter nv_hostengine "$STATUS_hostengine" "$NV_HOSTENGINE_BIN")
  },
  "paths": {
    "host": {
      "log_file": $(hostp "logs/$CONTAINER_RUN_ID.log"),
      "manifest": $(json_str "${HOST_RUNS:+$HOST_RUNS/}$CONTAINER_RUN_ID.json"),
      "prometheus": $(hostp "prometheus/$CONTAINER_RUN_ID"),
      "jaeger": $(hostp "jaeger/$CONTAINER_RUN_ID/badger"),
      "profiles": $(json_str "${HOST_STORAGE_ROOT:+$HOST_STORAGE_ROOT/}profiles"),
      "models": $(json_str "${HOST_STORAGE_ROOT:+$HOST_STORAGE_ROOT/}models")
    },
    "container": {
      "log_file": "logs/$CONTAINER_RUN_ID.log",
      "manifest": "container_runs/$CONTAINER_RUN_ID.json",
      "prometheus": "prometheus/$CONTAINER_RUN_ID",
      "jaeger": "jaeger/$CONTAINER_RUN_ID/badger"
    }
  },
  "profile_storage": {
    $(profile deep_gemm deep_gemm),
    $(profile flashinfer flashinfer),
    $(profile moe_configs moe_configs/configs),
    $(profile torchinductor torchinductor),
    $(profile triton triton)
  },
  "storage_roots": {
    "models": $(json_str "${HOST_STORAGE_ROOT:+$HOST_STORAGE_ROOT/}models"),
    "huggingface": $(json_str "${HOST_STORAGE_ROOT:+$HOST_STORAGE_ROOT/}models/huggingface"),
    "profiles": $(json_str "${HOST_STORAGE_ROOT:+$HOST_STORAGE_ROOT/}profiles")
  },
  "storage": {
    "log_file": "$LOG_FILE",
    "manifest": "$MANIFEST",
    "prometheus": "$PROM_DIR",
    "jaeger": "$JAEGER_DIR"
  },
  "warnings": [$(printf '%s' "$WARNINGS" | sed 's/,$//')]
}
JSON
mv "$TMP" "$MANIFEST"
echo "init-run: manifest $MANIFEST"

# -- 5. the init hook, as the unprivileged user ----------------------------------------
as_user() {
    if [ "$(id -u)" != 0 ] || [ "$RUN_USER" = root ]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        runuser -u "$RUN_USER" -- "$@"
    else
        su -s /bin/sh "$RUN_USER" -c 'exec "$@"' init-run "$@"
    fi
}
if [ -n "$INIT_RUN_HOOK" ]; then
    echo "init-run: running INIT_RUN_HOOK as $RUN_USER: $INIT_RUN_HOOK"
    if [ -f "$INIT_RUN_HOOK" ] && [ -x "$INIT_RUN_HOOK" ]; then
        as_user "$INIT_RUN_HOOK"
    elif [ -f "$INIT_RUN_HOOK" ]; then
        as_user sh "$INIT_RUN_HOOK"
    else
        as_user sh -c "$INIT_RUN_HOOK"
    fi
    status=$?
    if [ "$status" != 0 ]; then
        echo "init-run: INIT_RUN_HOOK failed with status $status; stopping"
        finish "$status"
    fi
fi

# -- 6. the pointer: only the manifest locations ------------------------------------------
{
    echo "CONTAINER_RUN_META_JSON=$MANIFEST"
    [ -n "$HOST_RUNS" ] && echo "CONTAINER_RUN_META_JSON_HOST=$HOST_RUNS/$CONTAINER_RUN_ID.json"
} >"$META.tmp"
mv "$META.tmp" "$META"
cat "$META"

# -- 7. the payload ----------------------------------------------------------------------
[ "$#" -gt 0 ] || set -- sleep infinity
echo "init-run: ready; running payload as $RUN_USER: $*"
as_user "$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
wait "$child"
status=$?
while kill -0 "$child" 2>/dev/null; do wait "$child"; status=$?; done
echo "init-run: payload exited with status $status"
finish "$status"
