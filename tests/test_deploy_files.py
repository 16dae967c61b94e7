"""The deployment files: the Kustomize base renders and validates against a current
Kubernetes release's schemas; compose and the image are shaped to run unattended."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.paths import ROOT

DEPLOY = ROOT / "deploy"
KUBERNETES = "1.37.0"
SEGSYNC_SERVICES = ("worker", "beat", "receiver")


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is needed to render deploy/k8s (kubectl kustomize); install it"
    done = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / "k8s")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def test_every_rendered_object_validates_against_the_kubernetes_schemas(
    rendered: list[dict[str, Any]],
) -> None:
    for obj in rendered:
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        try:
            kubernetes_validate.validate(obj, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {exc.message} at {'.'.join(map(str, exc.path))}")
    kinds = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in rendered)
    assert kinds == [
        "ConfigMap/segsync-settings",
        "Deployment/segsync-beat",
        "Deployment/segsync-flower",
        "Deployment/segsync-receiver",
        "Deployment/segsync-worker",
        "Job/segsync-migrate",
        "Service/segsync-receiver",
    ]


def test_the_base_runs_unprivileged_with_limits_probes_and_referenced_secrets(
    rendered: list[dict[str, Any]],
) -> None:
    by_name = {o["metadata"]["name"]: o for o in rendered}
    beat = by_name["segsync-beat"]["spec"]
    assert beat["replicas"] == 1 and beat["strategy"] == {"type": "Recreate"}
    for obj in rendered:
        if obj["kind"] not in ("Deployment", "Job"):
            continue
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, obj["metadata"]["name"]
        for container in pod["containers"]:
            where = f"{obj['metadata']['name']}/{container['name']}"
            assert {"requests", "limits"} <= container["resources"].keys(), where
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, where
            if obj["kind"] == "Deployment":
                assert "livenessProbe" in container, where
            if container["image"].startswith("segsync"):
                assert container["image"] == "segsync:0.1.0", where
                sources = container["envFrom"]
                assert {"secretRef": {"name": "segsync-secrets"}} in sources, where
                assert container["securityContext"]["readOnlyRootFilesystem"] is True, where
                mounts = {m["mountPath"] for m in container["volumeMounts"]}
                assert "/data" in mounts, where  # the one writable folder
    receiver = by_name["segsync-receiver"]["spec"]["template"]["spec"]["containers"][0]
    assert receiver["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert receiver["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # Credentials are referenced, never shipped.
    assert not [o for o in rendered if o["kind"] == "Secret"]
    settings = by_name["segsync-settings"]["data"]
    assert not [k for k in settings if re.search(r"TOKEN|SECRET|PASSWORD|DATABASE_URL", k)]


def test_compose_runs_every_part_with_healthchecks_restarts_and_secrets_from_dotenv() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", "worker", "beat", "receiver", "flower"}
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    for name, service in services.items():
        if name != "migrate":
            assert service["restart"] == "unless-stopped", name
        if name not in ("migrate", "flower"):
            assert "test" in service["healthcheck"], name
    for name in SEGSYNC_SERVICES:
        service = services[name]
        assert service["env_file"] == ".env", name  # made by the admin, never tracked
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    receiver = services["receiver"]
    assert receiver["command"][-4:] == ["--host", "0.0.0.0", "--port", "8080"]
    assert receiver["ports"] == ["8080:8080"]
    # The example holds settings and empty secret slots only.
    example = (DEPLOY / "segsync.env.example").read_text()
    for line in example.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            if re.search(r"TOKEN|SECRET|PASSWORD|AUTH", key):
                assert value == "", f"{key} has a value in the tracked example"
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_the_image_runs_unprivileged_from_the_lock_with_a_data_volume_and_a_healthcheck() -> None:
    lines = [
        line.strip()
        for line in (DEPLOY / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    text = "\n".join(lines)
    assert "--require-hashes -r requirements/runtime.txt" in text
    assert re.search(r"^USER segsync$", text, re.M)
    assert "SEGSYNC_DATA_DIR=/data" in text and 'VOLUME ["/data"]' in text
    assert re.search(r"^HEALTHCHECK .*\n?.*segsync.*health", text, re.M)
    # The working directory stays root's: segsync writes to /data only.
    assert "chown segsync:segsync /data" in text and "chown -R" not in text
