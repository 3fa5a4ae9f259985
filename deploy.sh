#!/usr/bin/env bash
# deploy.sh: run the H->ZZ*->4l pipeline on the current Kubernetes cluster (Docker Desktop's),
# from a fresh clone to the plot in the browser, then clean up.
#
#   bash deploy.sh [--yes] [--keep] [--scaling-demo] [--dataset URL|DIR] [--samples a,b]
#                  [--chunk-size N] [--min-workers N] [--max-workers N] [--cpu-target PCT]
#                  [--keda] [--timeout S]
#   bash deploy.sh --delete          # delete what an earlier --keep left running
#
# Steps: check prerequisites -> build the images -> make sure the metrics API is served ->
# apply k8s/ in namespace hzz (with hzz-monitor, which records the scaling every 5 s for as
# long as the namespace lives) -> follow the run (chunks done/total) -> check the page and
# results.json through the NodePort -> (--scaling-demo: wait for the scale-down) -> write the
# scaling report (CSV, PNG, scaling.md) -> print the URL -> wait for Enter -> delete
# everything it created (also on Ctrl-C or an error; --keep leaves it running). See
# docs/kubernetes.md.
set -euo pipefail
# Git Bash on Windows rewrites arguments that look like paths (/data/output) before
# calling kubectl.exe; the paths here are the containers', so switch that off.
export MSYS_NO_PATHCONV=1

usage() {
  cat <<'EOF'
Usage: bash deploy.sh [options]

Builds the images, deploys the pipeline on the current kubectl context (namespace hzz),
follows the run until it is complete, writes the plot, results.json and the scaling logs
into output_plots/, shows the page at http://localhost:30080, and deletes everything it
created when you press Enter (or at once with --yes or without a terminal).

Options:
  --scaling-demo      a workload long enough to watch the autoscaler scale up and down,
                      offline: 4,000,000 generated llll events (made once, in Docker, into
                      .cache/) in 2,000 small tasks; waits for the scale-down before the
                      report (output_plots/scaling.md, scaling.png). With --dataset DIR, that
                      folder's files in small tasks instead
  --dataset URL|DIR   where the ROOT files are: an https:// URL, or a local folder laid out
                      like the server (Data/<name>.4lep.root, MC/mc_<DSID>.<name>.4lep.root),
                      mounted read-only into the pods (default: the ATLAS Open Data server)
  --profile 2020|2025 the release to analyse (default: $HZZ_PROFILE, else 2020)
  --samples a,b,...   samples to process (default: all of the profile's release)
  --chunk-size N      entries per task (default: 250000; 2000 with --scaling-demo)
  --min-workers N     fewest worker pods (default: 1)
  --max-workers N     most worker pods (default: 4)
  --cpu-target PCT    HPA target, percent of a worker's CPU request (default: 50)
  --keda              scale on the task queue's length with KEDA instead of CPU (needs
                      KEDA installed in the cluster; otherwise the CPU HPA is used)
  --timeout S         give up if the run is not complete after S seconds (default: 3600)
  --yes, -y           do not wait for Enter before cleaning up
  --keep              leave everything running, the scaling record included (delete it
                      later with: bash deploy.sh --delete)
  --delete            write the final scaling report, then delete what an earlier --keep
                      left running (namespace hzz, the output PV, a metrics-server it added)
  -h, --help          this help
EOF
}

# ----------------------------------------------------------------------------- settings
NAMESPACE=hzz
NODE_PORT=30080                      # fixed in k8s/webserver.yaml
URL="http://localhost:$NODE_PORT"
SERVICES="producer worker aggregator webserver"
IMAGE_PREFIX=hzz-pipeline            # images: hzz-pipeline/<service>:<version>

# The defaults of shared/data_vars.py (tests/test_k8s_static.py checks they agree).
DEFAULT_DATASET=https://atlas-opendata.web.cern.ch/atlas-opendata/samples/2020/4lep/
DEFAULT_SAMPLES=data_A,data_B,data_C,data_D,Zee,Zmumu,ttbar_lep,llll,ggH125_ZZ4lep,VBFH125_ZZ4lep,WH125_ZZ4lep,ZH125_ZZ4lep

# The scaling demo's workload: one generated sample in tasks small enough to be many (each
# still decompresses its file's 250 000-entry basket, ~0.1 s of CPU), so that one worker
# alone needs minutes; and how long to wait for the scale-down afterwards.
DEMO_SAMPLES=llll DEMO_EVENTS=4000000 DEMO_CHUNK_SIZE=2000 DEMO_SEED=5 SCALE_DOWN_TIMEOUT=420
#: The containers' user (docker/base.Dockerfile); the output folder must be writable for it.
POD_UID=10001
#: Seconds between two samples of hzz-monitor (k8s/monitor.yaml).
MONITOR_INTERVAL=5

yes=0 keep=0 keda=0 demo=0 demo_generate=0 delete_only=0 chunk_size_given=0 dataset='' samples='' chunk_size=250000
profile=${HZZ_PROFILE:-2020}
min_workers=1 max_workers=4 cpu_target=50 timeout_s=3600

say() { printf '%s\n' "$*"; }
warn() { printf 'deploy.sh: warning: %s\n' "$*" >&2; }
die() { printf 'deploy.sh: error: %s\n' "$*" >&2; exit 1; }
step() { printf '\n[%s] == %s\n' "$(date +%H:%M:%S)" "$*"; }
now() { date +%s; }

# need_value OPTION VALUE: refuse an option given without its value.
need_value() { [[ -n ${2:-} && ${2:0:2} != -- ]] || die "$1 needs a value (see --help)"; }
# whole_number NAME VALUE: refuse anything but digits.
whole_number() { [[ $2 =~ ^[0-9]+$ ]] || die "$1 wants a whole number, got '$2'"; }

while [[ $# -gt 0 ]]; do
  case $1 in
    -y | --yes) yes=1 ;;
    --keep) keep=1 ;;
    --keda) keda=1 ;;
    --scaling-demo) demo=1 ;;
    --delete) delete_only=1 ;;
    --profile | --dataset | --samples | --chunk-size | --min-workers | --max-workers | --cpu-target | --timeout)
      need_value "$1" "${2:-}"
      case $1 in
        --profile) profile=$2 ;;
        --dataset) dataset=$2 ;;
        --samples) samples=$2 ;;
        --chunk-size) chunk_size=$2 chunk_size_given=1 ;;
        --min-workers) min_workers=$2 ;;
        --max-workers) max_workers=$2 ;;
        --cpu-target) cpu_target=$2 ;;
        --timeout) timeout_s=$2 ;;
      esac
      shift
      ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
  shift
done
case $profile in
  2020) ;;
  # The 2025 release: its own public location, and all of its samples unless told otherwise.
  2025) DEFAULT_DATASET=https://opendata.cern.ch/eos/opendata/atlas/rucio/opendata/ DEFAULT_SAMPLES=all ;;
  *) die "--profile must be 2020 or 2025, not '$profile'" ;;
esac
((!delete_only || !keep)) || die "--delete and --keep contradict each other"
if ((demo)); then
  ((chunk_size_given)) || chunk_size=$DEMO_CHUNK_SIZE
  [[ -n $samples || -n $dataset ]] || samples=$DEMO_SAMPLES
  case $dataset in
    http://* | https://*) die "--scaling-demo reads local files: give --dataset a folder, or no --dataset (generated data)" ;;
  esac
fi
whole_number --chunk-size "$chunk_size"
whole_number --min-workers "$min_workers"
whole_number --max-workers "$max_workers"
whole_number --cpu-target "$cpu_target"
whole_number --timeout "$timeout_s"
((chunk_size >= 1)) || die "--chunk-size must be at least 1"
((min_workers >= 1)) || die "--min-workers must be at least 1"
((max_workers >= min_workers)) || die "--max-workers ($max_workers) is below --min-workers ($min_workers)"
((cpu_target >= 1)) || die "--cpu-target must be at least 1 (percent)"

# A relative --dataset folder means relative to where deploy.sh was called from.
case $dataset in
  '' | http://* | https://*) ;;
  *) [[ ! -d ${dataset#file://} ]] || dataset=$(cd "${dataset#file://}" && pwd -P) ;;
esac

cd "$(dirname "$0")"
REPO=$(pwd -P)
OUT=$REPO/output_plots
# shellcheck source=k8s/lib.sh
source "$REPO/k8s/lib.sh"

# The project version tags every image (never `latest`, which Kubernetes would try to pull).
VERSION=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' pyproject.toml | head -n 1)
[[ -n $VERSION ]] || die "cannot read the project version from pyproject.toml"

random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# ----------------------------------------------------------------------------- cleanup
# What this run created, so that the trap deletes exactly that.
created_namespace=0 created_pv=0 installed_metrics=0 cleaned=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/hzz-deploy.XXXXXX")

kc() { kubectl -n "$NAMESPACE" "$@"; }

# Shown on failure, before the namespace (and with it the pods and their logs) is deleted.
diagnostics() {
  say "---- diagnostics: pods, events and the last log lines ----"
  kc get pods,jobs,hpa -o wide 2>&1 || true
  kc get events --sort-by=.lastTimestamp 2>&1 | tail -n 25 || true
  local what
  for what in job/hzz-producer deployment/hzz-worker deployment/hzz-aggregator deployment/hzz-webserver deployment/hzz-rabbitmq deployment/hzz-monitor; do
    say "---- kubectl -n $NAMESPACE logs $what --tail=20"
    kc logs "$what" --all-containers --tail=20 2>&1 || true
  done
  say "----"
}

delete_everything() {
  step "cleaning up: deleting what deploy.sh created (a minute or two: workers finish their chunk)"
  local ok=1
  if ((created_namespace)); then
    # Deleting the namespace deletes everything in it (hzz-monitor, and with it the scaling
    # record, stops here); it waits for the workers to finish their current chunk
    # (terminationGracePeriodSeconds).
    kubectl delete namespace "$NAMESPACE" --wait=true --timeout=180s || ok=0
  fi
  if ((created_pv)); then
    # Retain policy: the files stay in output_plots/, only the PV object goes.
    kubectl delete persistentvolume hzz-output --ignore-not-found --wait=true --timeout=60s || ok=0
  fi
  if ((installed_metrics)); then
    kubectl delete -f "$REPO/components.yaml" --ignore-not-found --wait=false >/dev/null || ok=0
  fi
  if ((ok)); then
    say "deleted. Your results stay in output_plots/; the images stay in Docker (docker image ls $IMAGE_PREFIX/*)."
  else
    warn "not everything could be deleted; finish by hand: kubectl delete namespace $NAMESPACE; kubectl delete persistentvolume hzz-output"
  fi
}

cleanup() {
  local rc=$?
  trap - EXIT
  trap '' INT # a second Ctrl-C would leave half-deleted resources behind
  set +e
  ((cleaned)) && exit "$rc"
  cleaned=1
  if ((rc != 0)); then
    say ""
    say "deploy.sh failed (exit $rc)."
    if [[ -s $WORK/build.log ]]; then
      say "---- last lines of the image build log"
      tail -n 30 "$WORK/build.log"
    fi
    ((created_namespace)) && diagnostics
  fi
  if ((keep)); then
    ((created_namespace)) && say "
--keep: everything stays up, and hzz-monitor goes on recording the scaling every ${MONITOR_INTERVAL} s
(the scale-down too) into output_plots/pod_scaling.log and hpa_metrics.log. The page: $URL
When you are done, write the final report and delete it all with:
  bash deploy.sh --delete
(To stop only the recording: kubectl -n $NAMESPACE scale deployment hzz-monitor --replicas=0)"
  elif ((created_namespace || created_pv || installed_metrics)); then
    delete_everything
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ----------------------------------------------------------------------------- steps
# cluster_reachable: docker and kubectl on PATH, Docker running, a context whose cluster answers.
cluster_reachable() {
  local missing='' cmd
  for cmd in docker kubectl curl; do
    command -v "$cmd" >/dev/null 2>&1 || missing="$missing $cmd"
  done
  [[ -z $missing ]] || die "not found on PATH:$missing. Install Docker Desktop (it brings docker and kubectl) and curl; see docs/kubernetes.md"
  docker info >/dev/null 2>&1 || die "Docker is not running (docker info fails): start Docker Desktop"
  CONTEXT=$(kubectl config current-context 2>/dev/null) ||
    die "kubectl has no current context: enable Kubernetes in Docker Desktop (Settings > Kubernetes), or pick one with kubectl config use-context"
  kubectl get nodes --request-timeout=15s >/dev/null 2>&1 ||
    die "cannot reach the cluster of kubectl context '$CONTEXT' (kubectl get nodes fails): is Kubernetes running?"
}

check_prerequisites() {
  step "1/7 checking prerequisites"
  cluster_reachable
  say "docker $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'); kubectl context '$CONTEXT'; project version $VERSION"
  case $CONTEXT in
    docker-desktop) ;;
    *) say "note: written for Docker Desktop; on context '$CONTEXT' the node must see the images built here and this machine's folders (a single local node)" ;;
  esac

  HOST_SYSTEM=$(detect_host_system)
  mkdir -p "$OUT"
  # The containers run as user 10001, not as you: on a Linux host that user needs the output
  # folder (Docker Desktop on macOS and Windows maps ownership itself). It gets this folder
  # only, never a world-writable one.
  if [[ $HOST_SYSTEM == linux ]]; then
    give_folder_to_user "$OUT" "$POD_UID" ||
      die "cannot give the pods' user ($POD_UID) the folder $OUT: run 'sudo chown $POD_UID $OUT' once, or install setfacl (package acl)"
  fi
  OUTPUT_HOST_PATH=$(host_path_for_cluster "$OUT" "$HOST_SYSTEM")

  if ((demo)) && [[ -z $dataset ]]; then
    # Generated by build_images (it needs the image); a folder of this repository, so that
    # Docker Desktop shares it like output_plots/.
    dataset=$REPO/.cache/scaling-demo-$DEMO_SAMPLES-$DEMO_EVENTS
    demo_generate=1
    [[ $samples == "$DEMO_SAMPLES" ]] ||
      die "--scaling-demo generates only the sample $DEMO_SAMPLES; for --samples $samples give --dataset DIR too"
  fi
  DATASET_HOST_PATH=''
  case $dataset in
    '' | http://* | https://*) DATASET_IN_PODS=${dataset:-$DEFAULT_DATASET} ;;
    *)
      if ((!demo_generate)); then
        [[ -d $dataset ]] || die "--dataset $dataset: no such folder (or give an https:// URL)"
        [[ -d $dataset/Data || -d $dataset/MC ]] || compgen -G "$dataset/*.root" >/dev/null ||
          die "--dataset $dataset: expected the server layout (Data/ and/or MC/ inside, or the 2025 release's *.root files)"
      fi
      DATASET_HOST_PATH=$(host_path_for_cluster "$dataset" "$HOST_SYSTEM")
      DATASET_IN_PODS=/data/dataset # where worker.yaml and producer-job.yaml mount it
      ;;
  esac
  say "output folder: $OUT (hostPath $OUTPUT_HOST_PATH)"
  if [[ -n $DATASET_HOST_PATH ]]; then
    say "dataset: local folder $dataset (hostPath $DATASET_HOST_PATH, read-only in the pods)"
  else
    say "dataset: $DATASET_IN_PODS"
  fi
}

build_images() {
  step "2/7 building images $IMAGE_PREFIX/{base,${SERVICES// /,}}:$VERSION (the first time takes a few minutes)"
  local t svc
  t=$(now)
  say "base image: python + the project's dependencies and code (docker/base.Dockerfile)"
  docker build -f docker/base.Dockerfile -t "$IMAGE_PREFIX/base:$VERSION" . >"$WORK/build.log" 2>&1 ||
    die "docker build of $IMAGE_PREFIX/base:$VERSION failed; the end of its log follows"
  for svc in $SERVICES; do
    say "$svc image ($svc/Dockerfile)"
    docker build -f "$svc/Dockerfile" --build-arg "HZZ_VERSION=$VERSION" -t "$IMAGE_PREFIX/$svc:$VERSION" . >>"$WORK/build.log" 2>&1 ||
      die "docker build of $IMAGE_PREFIX/$svc:$VERSION failed; the end of its log follows"
  done
  : >"$WORK/build.log" # built: nothing to show on a later failure
  say "built in $(($(now) - t)) s"
  ((!demo_generate)) || generate_demo_dataset
}

# The scaling demo's files, generated once with the project's own generator in the worker
# image (no Python needed here, no network in the container), kept in .cache/ for next time.
generate_demo_dataset() {
  if [[ -f $dataset/.complete ]]; then
    say "scaling demo: reusing $DEMO_EVENTS generated $DEMO_SAMPLES events in ${dataset#"$REPO"/}"
    return
  fi
  say "scaling demo: generating $DEMO_EVENTS $DEMO_SAMPLES events into ${dataset#"$REPO"/} (once, about a minute)"
  rm -rf "$dataset"
  mkdir -p "$dataset"
  # As you, so that the files are yours; umask 022 keeps them readable for the pods' user.
  docker run --rm --network none --user "$(id -u):$(id -g)" -e HOME=/tmp \
    -v "$DATASET_HOST_PATH:/data/demo" "$IMAGE_PREFIX/worker:$VERSION" \
    sh -c 'umask 022 && exec python -m hzz.devtools.samplegen --out /data/demo --samples "$1" --events "$2" --seed "$3" --quiet' \
    generate "$DEMO_SAMPLES" "$DEMO_EVENTS" "$DEMO_SEED" >"$WORK/generate.log" 2>&1 || {
    cat "$WORK/generate.log" >&2
    die "generating the scaling demo's dataset failed (above)"
  }
  touch "$dataset/.complete"
}

metrics_api_available() {
  [[ $(kubectl get apiservice v1beta1.metrics.k8s.io -o 'jsonpath={.status.conditions[?(@.type=="Available")].status}' 2>/dev/null) == True ]]
}

ensure_metrics_api() {
  step "3/7 metrics API (the HPA reads the workers' CPU from it)"
  if metrics_api_available; then
    say "served already (v1beta1.metrics.k8s.io Available): components.yaml not needed"
    return
  fi
  # Delete it again at the end only if it was not there at all before.
  kubectl -n kube-system get deployment metrics-server >/dev/null 2>&1 || installed_metrics=1
  say "not served: applying components.yaml (metrics-server v0.7.2 with --kubelet-insecure-tls)"
  kubectl apply -f components.yaml
  local _
  for _ in $(seq 1 40); do
    metrics_api_available && { say "metrics API available"; return; }
    sleep 3
  done
  warn "the metrics API is still not available after 2 min; the HPA shows <unknown> and will not scale (docs/kubernetes.md, Troubleshooting)"
}

apply() { render_manifest "k8s/$1" | kubectl apply -f -; }

wait_available() {
  local name
  for name in "$@"; do
    kc wait --for=condition=available "deployment/$name" --timeout=300s
  done
}

# The files a run leaves in output_plots/: removed before a new run, since the previous run's
# would make this one look complete at once.
RUN_FILES="results.json hzz_m4l.png hzz_m4l.svg .checkpoint.json pod_scaling.log hpa_metrics.log
pod_scaling.csv hpa_metrics.csv worker_pods.csv scaling.png scaling.md fetched"

deploy() {
  step "4/7 deploying to namespace $NAMESPACE"
  if kubectl get namespace "$NAMESPACE" >/dev/null 2>&1; then
    [[ $(kubectl get namespace "$NAMESPACE" -o 'jsonpath={.metadata.labels.app\.kubernetes\.io/managed-by}') == hzz-deploy ]] ||
      die "namespace $NAMESPACE exists and was not made by deploy.sh; delete it or use another cluster"
    say "namespace $NAMESPACE is left from an earlier run (--keep?): deleting it first for a fresh start"
    kubectl delete namespace "$NAMESPACE" --wait=true --timeout=180s
    kubectl delete persistentvolume hzz-output --ignore-not-found --wait=true --timeout=60s
  fi
  local name
  for name in $RUN_FILES; do
    rm -rf "${OUT:?}/$name"
  done

  # The values render_manifest fills into the ${HZZ_...} placeholders of k8s/*.yaml.
  HZZ_VERSION=$VERSION
  HZZ_OUTPUT_HOST_PATH=$OUTPUT_HOST_PATH
  HZZ_DATASET=$DATASET_IN_PODS
  HZZ_DATASET_HOST_PATH=$DATASET_HOST_PATH
  HZZ_PROFILE=$profile
  HZZ_SAMPLES=${samples:-$DEFAULT_SAMPLES}
  HZZ_CHUNK_SIZE=$chunk_size
  HZZ_MIN_WORKERS=$min_workers
  HZZ_MAX_WORKERS=$max_workers
  HZZ_CPU_TARGET=$cpu_target
  # Fixed here, so that a retried producer pod republishes the same run.
  HZZ_RUN_ID=$(date -u +%Y%m%d-%H%M%S)-$(random_hex 3)
  export HZZ_VERSION HZZ_OUTPUT_HOST_PATH HZZ_DATASET HZZ_DATASET_HOST_PATH HZZ_PROFILE HZZ_SAMPLES \
    HZZ_CHUNK_SIZE HZZ_MIN_WORKERS HZZ_MAX_WORKERS HZZ_CPU_TARGET HZZ_RUN_ID
  say "run $HZZ_RUN_ID: profile $HZZ_PROFILE; samples $HZZ_SAMPLES; chunks of $chunk_size entries; workers $min_workers..$max_workers"

  created_namespace=1
  apply namespace.yaml
  # Remembered on the namespace, so that `deploy.sh --delete` after --keep removes it too.
  if ((installed_metrics)); then
    kubectl annotate namespace "$NAMESPACE" hzz-pipeline/installed-metrics-server=true --overwrite >/dev/null
  fi
  # RabbitMQ credentials: a fresh random password for each deployment, never guest/guest. The
  # broker reads them from its configuration file, the other pods from the keys beside it;
  # and the key that signs every message, as fresh (producer, workers and aggregator share it).
  local password
  password=$(random_hex 16)
  kc create secret generic hzz-rabbitmq \
    --from-literal=username=hzz \
    --from-literal=password="$password" \
    --from-literal=signing-key="$(random_hex 32)" \
    --from-literal=management-url="http://hzz:$password@hzz-rabbitmq.$NAMESPACE.svc.cluster.local:15672/" \
    --from-literal=rabbitmq.conf="$(rabbitmq_conf hzz "$password")" \
    --dry-run=client -o yaml | kubectl apply -f -
  apply configmap.yaml
  created_pv=1
  apply pv-pvc.yaml
  apply network-policy.yaml
  # First the monitor, so that the scaling record starts before there is anything to scale.
  apply monitor.yaml
  apply rabbitmq.yaml
  say "waiting for RabbitMQ"
  wait_available hzz-rabbitmq

  apply aggregator.yaml
  apply webserver.yaml
  apply worker.yaml
  SCALER=cpu
  if ((keda)); then
    if kubectl get crd scaledobjects.keda.sh >/dev/null 2>&1; then
      SCALER=keda
      apply worker-keda.yaml
    else
      say "KEDA is not installed in this cluster (no CRD scaledobjects.keda.sh): using the CPU HPA instead"
    fi
  fi
  [[ $SCALER == keda ]] || apply worker-hpa.yaml
  say "waiting for the aggregator, the webserver, the workers and the scaling monitor"
  wait_available hzz-aggregator hzz-webserver hzz-worker hzz-monitor
  say "scaling record: hzz-monitor appends to output_plots/pod_scaling.log and hpa_metrics.log every ${MONITOR_INTERVAL} s"
}

# json_number KEY JSON / json_string KEY JSON: the first "KEY": value in JSON (enough for
# /api/status and results.json, whose keys we read are unique; no jq or python needed).
json_number() { printf '%s' "$2" | grep -o "\"$1\": *[0-9][0-9]*" | head -n 1 | grep -o '[0-9]*$' || true; }
json_string() { printf '%s' "$2" | grep -o "\"$1\": *\"[^\"]*\"" | head -n 1 | sed 's/.*"\([^"]*\)"$/\1/' || true; }

# The run's status: the webserver's /api/status through the NodePort, or else results.json
# in output_plots/ (the same data, through the hostPath volume).
fetch_status() {
  curl -fsS --max-time 5 "$URL/api/status" 2>/dev/null || cat "$OUT/results.json" 2>/dev/null || true
}

run_and_follow() {
  step "5/7 running: the producer publishes the tasks, the workers process them"
  apply producer-job.yaml
  local t0 status state total done_ failed workers line last='' last_t=0 t
  t0=$(now)
  while true; do
    status=$(fetch_status)
    # Until this run's manifest has arrived, the page shows the newest earlier run in
    # output_plots/runs/ (the aggregator resumes it): that one is not this run's progress.
    [[ $(json_string run_id "$status") == "$HZZ_RUN_ID" ]] || status=''
    state=$(json_string state "$status")
    total=$(json_number total "$status")
    done_=$(json_number "done" "$status")
    failed=$(json_number failed "$status")
    workers=$(kc get deployment hzz-worker -o 'jsonpath={.status.readyReplicas}' 2>/dev/null || true)
    line="${state:-waiting}: chunks ${done_:-0}/${total:-?} done, ${failed:-0} failed; worker pods ready: ${workers:-0}"
    t=$(now)
    # A line when something changed, and one every 30 s as a sign of life.
    if [[ $line != "$last" ]] || ((t - last_t >= 30)); then
      printf '  %4d s  %s\n' $((t - t0)) "$line"
      last=$line last_t=$t
    fi
    case $state in
      complete | complete_with_failures) break ;;
    esac
    if [[ $(kc get job hzz-producer -o 'jsonpath={.status.conditions[?(@.type=="Failed")].status}' 2>/dev/null) == True ]]; then
      die "the producer Job failed (kubectl -n $NAMESPACE logs job/hzz-producer)"
    fi
    ((t - t0 < timeout_s)) || die "the run is not complete after $timeout_s s (--timeout)"
    sleep 5
  done
  RUN_SECONDS=$(($(now) - t0))
  RUN_STATE=$state
  say "run $state in $RUN_SECONDS s: ${done_:-0}/${total:-?} chunks done, ${failed:-0} failed"
  ((${failed:-0} == 0)) || warn "$failed chunk(s) failed: see failed_chunks in output_plots/results.json and the page"
}

# From the host, as a user's browser would: the page, the status and results.json through
# the NodePort Service. Copies go to output_plots/fetched/ (the e2e test compares them).
check_from_host() {
  step "6/7 checking the page and results.json at $URL (from this machine, through the Service)"
  local dir=$OUT/fetched status
  mkdir -p "$dir"
  curl -fsS --max-time 20 "$URL/" -o "$dir/index.html" ||
    die "the page $URL/ does not answer; is port $NODE_PORT free and forwarded? (docs/kubernetes.md, Troubleshooting)"
  grep -qi '<html' "$dir/index.html" || die "$URL/ did not return an HTML page (saved in $dir/index.html)"
  curl -fsS --max-time 20 "$URL/api/status" -o "$dir/status.json" || die "$URL/api/status does not answer"
  status=$(cat "$dir/status.json")
  [[ $(json_string state "$status") == "$RUN_STATE" ]] || die "$URL/api/status says '$(json_string state "$status")', expected '$RUN_STATE'"
  curl -fsS --max-time 30 "$URL/files/results.json" -o "$dir/results.json" || die "$URL/files/results.json does not answer"
  [[ $(json_string run_id "$(cat "$dir/results.json")") == "$HZZ_RUN_ID" ]] ||
    die "$URL/files/results.json is not this run's ($HZZ_RUN_ID)"
  [[ -s $OUT/results.json ]] || die "output_plots/results.json is missing: the hostPath volume does not reach this folder (docs/kubernetes.md, Troubleshooting)"
  say "page, /api/status and results.json OK (copies in output_plots/fetched/); output_plots/results.json and the plot are on this machine"
}

# The scaling demo records the scale-down too: wait until the autoscaler is back at the
# minimum and the extra pods are gone, then one more sample interval for the monitor to see it.
wait_for_scale_down() {
  step "waiting for the autoscaler to scale the workers back down to $min_workers (at most $SCALE_DOWN_TIMEOUT s)"
  local t0 t desired present line last=''
  t0=$(now)
  while true; do
    desired=$(kc get deployment hzz-worker -o 'jsonpath={.spec.replicas}' 2>/dev/null || true)
    present=$(kc get pods -l app=hzz-worker --no-headers 2>/dev/null | wc -l | tr -d ' ')
    t=$(now)
    line="worker pods desired: ${desired:-?}, present: $present"
    [[ $line == "$last" ]] || printf '  %4d s  %s\n' $((t - t0)) "$line"
    last=$line
    if [[ $desired == "$min_workers" && $present == "$min_workers" ]]; then
      sleep $((2 * MONITOR_INTERVAL))
      return
    fi
    if ((t - t0 >= SCALE_DOWN_TIMEOUT)); then
      warn "still $present worker pods ($desired desired) $SCALE_DOWN_TIMEOUT s after the run; the report shows the scale-down so far"
      return
    fi
    sleep 5
  done
}

# hzz.devtools.scaling_logs writes the CSVs, scaling.png and scaling.md, and prints a summary.
# It runs in the monitor's pod, which has the project and output_plots/ (no Python needed
# on this machine).
convert_scaling_logs() {
  local line
  if ! kc exec deployment/hzz-monitor -c monitor -- python -m hzz.devtools.scaling_logs --quiet /data/output >"$WORK/scaling.log" 2>&1; then
    cat "$WORK/scaling.log" >&2
    warn "could not write the scaling report; by hand: python -m hzz.devtools.scaling_logs output_plots"
    return 0
  fi
  while IFS= read -r line; do
    case $line in
      warning:*) warn "${line#warning: }" ;;
      *) say "$line" ;;
    esac
  done <"$WORK/scaling.log"
}

summary() {
  step "7/7 scaling report and summary"
  convert_scaling_logs
  say "timings: images $BUILD_SECONDS s, deployment $DEPLOY_SECONDS s, run $RUN_SECONDS s ($RUN_STATE)"
  say "workers: min $min_workers, max $max_workers ($SCALER autoscaling)"
  say "files in output_plots/: results.json, hzz_m4l.png/.svg, scaling.md, scaling.png, pod_scaling.log/.csv, worker_pods.csv, hpa_metrics.log/.csv"
  if ((!keep && !demo)) && { ((yes)) || [[ ! -t 0 ]]; }; then
    say "note: everything is deleted now, so the record ends before the workers scale down (--scaling-demo waits for it; --keep goes on recording)"
  fi
  say ""
  say "  The page: $URL"
  say ""
}

# deploy.sh --delete: what an earlier --keep left running, after a last scaling report.
delete_kept_deployment() {
  step "deleting the deployment an earlier 'deploy.sh --keep' left running"
  cluster_reachable
  if ! kubectl get namespace "$NAMESPACE" >/dev/null 2>&1; then
    say "there is no namespace $NAMESPACE"
    # A PV left behind alone (an interrupted clean-up) is still deploy.sh's to remove.
    kubectl get persistentvolume hzz-output >/dev/null 2>&1 && created_pv=1
    ((created_pv)) || say "nothing to delete"
    return
  fi
  [[ $(kubectl get namespace "$NAMESPACE" -o 'jsonpath={.metadata.labels.app\.kubernetes\.io/managed-by}') == hzz-deploy ]] ||
    die "namespace $NAMESPACE was not made by deploy.sh; not deleting it"
  [[ $(kubectl get namespace "$NAMESPACE" -o 'jsonpath={.metadata.annotations.hzz-pipeline/installed-metrics-server}') != true ]] ||
    installed_metrics=1
  created_namespace=1 created_pv=1
  say "the final scaling report (output_plots/scaling.md, scaling.png):"
  convert_scaling_logs
}

# ----------------------------------------------------------------------------- main
if ((delete_only)); then
  delete_kept_deployment
  exit 0
fi
check_prerequisites
t=$(now)
build_images
BUILD_SECONDS=$(($(now) - t))
ensure_metrics_api
t=$(now)
deploy
DEPLOY_SECONDS=$(($(now) - t))
run_and_follow
check_from_host
((!demo)) || wait_for_scale_down
summary
if ((keep)); then
  exit 0
fi
if ((yes == 0)) && [[ -t 0 ]]; then
  # hzz-monitor goes on recording while you look at the page (the workers scale down); the
  # report is written again below.
  read -r -p "Press Enter to delete everything deploy.sh created (the files in output_plots/ stay) " _ || true
  convert_scaling_logs
fi
