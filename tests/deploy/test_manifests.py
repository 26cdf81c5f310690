"""Checks of deploy/: the image, the compose stack and the Kubernetes manifests.

Docker is not available where these tests run, so the deployment files are checked as data:
they parse, they start the right processes, they give every process the settings it needs
(verified by loading the real settings module with exactly that environment), they commit
no secret, and they keep beat single and every container unprivileged.
No database is touched.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet
from eth_account import Account

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
SETTINGS = ROOT / "gateway" / "settings.py"

# What gateway/settings.py refuses to start without when GATEWAY_DEMO is off.
REQUIRED = ("DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DATABASE_URL", "BLIND_INDEX_KEY")
# Values that must never be committed with a value, anywhere under deploy/.
SECRETS = (*REQUIRED, "CELERY_BROKER_URL", "POSTGRES_PASSWORD")
APP_SERVICES = ("migrate", "web", "worker", "beat")
# Variables the processes read that are not Django settings (gunicorn, compose).
PROCESS_VARIABLES = {"WEB_CONCURRENCY", "WORKER_CONCURRENCY", "WEB_PORT", "GATEWAY_IMAGE",
                     "POSTGRES_PASSWORD", "POSTGRES_USER", "POSTGRES_DB"}
APP_UID = 10001
# The containers' only writable directory (a path inside them, not one used by these tests).
CONTAINER_TMP = "/tmp"  # noqa: S108


# --- loading -------------------------------------------------------------------------------

def yaml_files() -> list[Path]:
    return sorted([*DEPLOY.glob("*.yaml"), *K8S.glob("*.yaml")])


def load_yaml(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def k8s_objects() -> list[dict]:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    return [doc for name in listed for doc in load_yaml(K8S / name)]


def k8s_by_kind(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in k8s_objects() if doc["kind"] == kind}


def workloads() -> dict[str, dict]:
    """Deployments and Jobs, by name."""
    return {**k8s_by_kind("Deployment"), **k8s_by_kind("Job")}


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def all_containers(workload: dict) -> list[dict]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def env_file_values(path: Path) -> dict[str, str]:
    """NAME=value lines of a dotenv file; commented-out lines are documentation, not values."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def env_file_mentions(path: Path) -> set[str]:
    """Every NAME that the file sets or documents as `# NAME=...`."""
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", path.read_text(), flags=re.MULTILINE))


def settings_variables() -> set[str]:
    """Names of the environment variables that gateway/settings.py reads."""
    source = SETTINGS.read_text()
    names = set(re.findall(r'\benv(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]*)"', source))
    names |= set(re.findall(r'_required\(\s*"([A-Z][A-Z0-9_]*)"', source))
    return names


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error}, and $$ for a literal $."""

    def substitute(match: re.Match) -> str:
        name, operator, argument = match.group(1), match.group(2), match.group(3)
        current = variables.get(name, "")
        if operator == ":-":
            return current or argument
        if operator == ":?" and not current:
            raise ValueError(f"compose would refuse to start: {argument}")
        return current

    value = re.sub(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)(?:(:[-?])([^}]*))?\}", substitute, value)
    return value.replace("$$", "$")


def command_of(service: dict) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def normalised(arguments: list[str]) -> list[str]:
    """`--option value` and `--option=value` compared alike."""
    result: list[str] = []
    index = 0
    while index < len(arguments):
        argument = arguments[index]
        following = arguments[index + 1] if index + 1 < len(arguments) else None
        if (argument.startswith("--") and "=" not in argument and following is not None
                and not following.startswith("--")):
            result.append(f"{argument}={following}")
            index += 2
        else:
            result.append(argument)
            index += 1
    return result


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in (DEPLOY / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        keyword, _, arguments = pending.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def load_settings(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    """Import gateway.settings in a fresh interpreter with exactly this environment.

    Nothing of the test run's own environment leaks in (tests.settings fills in defaults).
    """
    probe = (
        "import json, django\n"
        "django.setup()\n"
        "from django.conf import settings as s\n"
        "print(json.dumps({'demo': s.DEMO, 'debug': s.DEBUG, 'hosts': s.ALLOWED_HOSTS,"
        " 'engine': s.DATABASES['default']['ENGINE'],"
        " 'db_host': s.DATABASES['default']['HOST'], 'broker': s.CELERY_BROKER_URL,"
        " 'keys': len(s.FIELD_ENCRYPTION_KEYS)}))\n"
    )
    clean = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "gateway.settings",  # as the image sets it
        "GATEWAY_VAR_DIR": str(tmp_path),
        **env,
    }
    return subprocess.run([sys.executable, "-c", probe], env=clean, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)


def signer_keystore() -> tuple[str, str]:
    """A hot-wallet keystore file and its password, as an operator mounts them."""
    directory = Path(tempfile.mkdtemp(prefix="gateway-test-keystore-"))
    path = directory / "hot-wallet.json"
    path.write_text(json.dumps(Account.encrypt(Account.create().key, "pw", kdf="pbkdf2",
                                               iterations=2)))
    return str(path), "pw"


def filled_secrets() -> dict[str, str]:
    """Stand-ins of the right shape for the secrets that an operator fills in."""
    keystore_path, keystore_password = signer_keystore()
    return {
        "CHAIN_SIGNER_KEYSTORE_PATH": keystore_path,
        "CHAIN_SIGNER_KEYSTORE_PASSWORD": keystore_password,
        "DJANGO_SECRET_KEY": "x" * 50,
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "BLIND_INDEX_KEY": "y" * 43,
        "DATABASE_URL": "postgres://gateway:pw@db.internal:5432/gateway",
        "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
        "POSTGRES_PASSWORD": "0123456789abcdef",
    }


def compose_environment(service: str, dotenv: dict[str, str]) -> dict[str, str]:
    """What a compose service's container gets: env_file, then environment on top."""
    definition = compose()["services"][service]
    env_files = definition.get("env_file", [])
    env_files = [env_files] if isinstance(env_files, str) else env_files
    result: dict[str, str] = {}
    if ".env" in env_files:
        result.update(dotenv)
    for name, value in (definition.get("environment") or {}).items():
        result[name] = interpolate(str(value), dotenv)
    return result


# --- every file parses ---------------------------------------------------------------------

def test_every_yaml_file_parses():
    files = yaml_files()
    assert DEPLOY / "compose.yaml" in files
    assert K8S / "kustomization.yaml" in files
    for path in files:
        documents = load_yaml(path)
        assert documents, f"{path} is empty"
        for document in documents:
            assert isinstance(document, dict), f"{path} holds a non-mapping document"


def test_every_k8s_manifest_has_kind_and_name():
    for path in K8S.glob("*.yaml"):
        if path.name == "kustomization.yaml":
            continue
        for document in load_yaml(path):
            assert document.get("apiVersion"), path
            assert document.get("kind"), path
            assert document.get("metadata", {}).get("name"), path


def test_kustomization_lists_every_manifest_but_the_secret_template():
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    present = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(listed) == present - {"secret.template.yaml"}
    # Applying the template would overwrite the real Secret with empty values.
    assert "secret.template.yaml" not in listed


# --- compose: the processes and their order --------------------------------------------------

def test_compose_has_the_whole_stack():
    services = compose()["services"]
    assert {"postgres", "redis", *APP_SERVICES, "sandbox"} <= set(services)
    assert services["postgres"]["image"].split(":")[1].startswith("15")
    assert services["redis"]["image"].split(":")[1].startswith("7")
    # The simulators are for staging only: off unless the profile is asked for.
    assert services["sandbox"]["profiles"] == ["sandbox"]
    for name in ("postgres", "redis", *APP_SERVICES):
        assert "profiles" not in services[name], name


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        ("web", ["python", "-m", "gunicorn", "gateway.wsgi"]),
        ("worker", ["python", "-m", "celery", "-A", "gateway", "worker"]),
        ("beat", ["python", "-m", "celery", "-A", "gateway", "beat"]),
        ("migrate", ["python", "-m", "django", "migrate", "--noinput"]),
        ("sandbox", ["python", "-m", "django", "sandbox"]),
    ],
)
def test_compose_commands_start_the_right_process(service, expected):
    command = command_of(compose()["services"][service])
    assert command[: len(expected)] == expected


def test_web_listens_on_all_interfaces_everywhere():
    web = normalised(command_of(compose()["services"]["web"]))
    assert "--bind=0.0.0.0:8000" in web
    sandbox = normalised(command_of(compose()["services"]["sandbox"]))
    assert "--host=0.0.0.0" in sandbox, "the simulators must be reachable from other containers"


def test_web_command_is_the_same_in_image_compose_and_k8s():
    image_cmd = next(json.loads(args) for keyword, args in dockerfile_instructions()
                     if keyword == "CMD")
    compose_cmd = command_of(compose()["services"]["web"])
    k8s_cmd = workloads()["gateway-web"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert normalised(image_cmd) == normalised(compose_cmd) == normalised(k8s_cmd)


def test_compose_start_order():
    services = compose()["services"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
        assert depends["migrate"]["condition"] == "service_completed_successfully", name


def test_compose_healthchecks():
    services = compose()["services"]
    for name in ("postgres", "redis", "web", "worker"):
        assert services[name]["healthcheck"].get("test"), name
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "healthcheck.py" in " ".join(services["web"]["healthcheck"]["test"])
    # The image's HTTP check means nothing for processes that serve no HTTP: overridden.
    assert "inspect ping" in " ".join(services["worker"]["healthcheck"]["test"])
    assert services["beat"]["healthcheck"] == {"disable": True}
    assert services["migrate"]["healthcheck"] == {"disable": True}


def test_compose_worker_check_pings_its_own_node():
    test = " ".join(compose()["services"]["worker"]["healthcheck"]["test"])
    # $$ is compose's escape: the container's shell, not compose, expands HOSTNAME.
    assert "celery@$${HOSTNAME}" in test
    assert interpolate(test, {}).count("${HOSTNAME}") == 1


def test_compose_app_containers_are_locked_down():
    services = compose()["services"]
    for name in (*APP_SERVICES, "sandbox"):
        service = services[name]
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
        assert CONTAINER_TMP in service["tmpfs"], name


# --- the environment each process gets -------------------------------------------------------

def test_settings_variables_are_found():
    # Guards the parser below: if settings.py changes style, this fails instead of passing empty.
    assert {*REQUIRED, "CELERY_BROKER_URL", "DJANGO_ALLOWED_HOSTS", "GATEWAY_DEMO"} <= (
        settings_variables()
    )


def test_env_example_documents_every_setting():
    missing = settings_variables() - env_file_mentions(DEPLOY / "env.example")
    assert not missing, f"deploy/env.example does not document {sorted(missing)}"


@pytest.mark.parametrize("service", APP_SERVICES)
def test_compose_gives_every_app_service_the_required_variables(service):
    dotenv = env_file_values(DEPLOY / "env.example")
    environment = compose_environment(service, {**dotenv, **filled_secrets()})
    for name in REQUIRED:
        assert environment.get(name), f"{service} gets no {name}"
    assert environment["CELERY_BROKER_URL"].startswith("redis://redis:")
    assert environment["GATEWAY_DEMO"] == "false"


def test_compose_refuses_to_start_without_the_postgres_password():
    dotenv = env_file_values(DEPLOY / "env.example")
    assert dotenv["POSTGRES_PASSWORD"] == ""
    with pytest.raises(ValueError, match="POSTGRES_PASSWORD"):
        compose_environment("web", dotenv)


def test_compose_database_url_matches_the_postgres_service():
    dotenv = {**env_file_values(DEPLOY / "env.example"), **filled_secrets()}
    url = compose_environment("web", dotenv)["DATABASE_URL"]
    postgres = {name: interpolate(str(value), dotenv)
                for name, value in compose()["services"]["postgres"]["environment"].items()}
    assert url == (f"postgres://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}"
                   f"@postgres:5432/{postgres['POSTGRES_DB']}")


def test_settings_load_from_the_compose_environment(tmp_path):
    dotenv = {**env_file_values(DEPLOY / "env.example"), **filled_secrets()}
    result = load_settings(compose_environment("web", dotenv), tmp_path)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["demo"] is False
    assert loaded["debug"] is False
    assert loaded["engine"] == "django.db.backends.postgresql"
    assert loaded["db_host"] == "postgres"
    assert loaded["broker"] == "redis://redis:6379/0"
    assert loaded["keys"] == 1


def test_settings_refuse_the_unfilled_env_example(tmp_path):
    # Copied and not filled in, env.example must stop the gateway rather than run it.
    dotenv = env_file_values(DEPLOY / "env.example")
    environment = compose_environment("web", {**dotenv, "POSTGRES_PASSWORD": "pw"})
    result = load_settings(environment, tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr


def k8s_environment(secret_values: dict[str, str]) -> dict[str, str]:
    config = k8s_by_kind("ConfigMap")["gateway-config"]["data"]
    return {**config, **secret_values}


def test_every_k8s_container_gets_config_and_secrets():
    for name, workload in workloads().items():
        for container in all_containers(workload):
            sources = container.get("envFrom", [])
            assert {"configMapRef": {"name": "gateway-config"}} in sources, (name, container)
            assert {"secretRef": {"name": "gateway-secrets"}} in sources, (name, container)


def test_k8s_secret_template_and_configmap_provide_the_required_variables():
    secret = load_yaml(K8S / "secret.template.yaml")[0]
    assert secret["kind"] == "Secret"
    assert secret["metadata"]["name"] == "gateway-secrets"
    config = k8s_by_kind("ConfigMap")["gateway-config"]["data"]
    provided = set(secret["stringData"]) | set(config)
    assert set(REQUIRED) <= provided
    assert {"CELERY_BROKER_URL", "DJANGO_ALLOWED_HOSTS", "GATEWAY_PUBLIC_BASE_URL"} <= provided
    # Secrets and credential-bearing URLs stay out of the ConfigMap.
    assert not set(SECRETS) & set(config)
    assert config["GATEWAY_DEMO"] == "false"
    assert config["DJANGO_DEBUG"] == "false"


def test_k8s_variables_are_known_to_the_settings():
    # A misspelt name would be silently ignored by the gateway: catch it here.
    secret = load_yaml(K8S / "secret.template.yaml")[0]
    config = k8s_by_kind("ConfigMap")["gateway-config"]["data"]
    unknown = (set(secret["stringData"]) | set(config)) - settings_variables() - PROCESS_VARIABLES
    assert not unknown


def test_settings_load_from_the_k8s_environment(tmp_path):
    secrets = {name: value for name, value in filled_secrets().items()
               if name in load_yaml(K8S / "secret.template.yaml")[0]["stringData"]}
    result = load_settings(k8s_environment(secrets), tmp_path)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["demo"] is False
    assert loaded["debug"] is False
    assert loaded["db_host"] == "db.internal"
    assert loaded["hosts"] == ["gateway.example.com"]


@pytest.mark.parametrize("missing", REQUIRED)
def test_settings_refuse_to_start_without_each_required_variable(missing, tmp_path):
    secrets = {name: value for name, value in filled_secrets().items() if name != missing}
    result = load_settings(k8s_environment(secrets), tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr


# --- no secret is committed ------------------------------------------------------------------

def test_env_example_leaves_every_secret_empty():
    values = env_file_values(DEPLOY / "env.example")
    for name in SECRETS:
        assert values.get(name, "") == "", f"env.example fills in {name}"
    assert "GATEWAY_DEMO" not in values


def test_secret_template_holds_placeholders_only():
    secret = load_yaml(K8S / "secret.template.yaml")[0]
    assert "data" not in secret, "base64 data would hide what is committed"
    assert all(value == "" for value in secret["stringData"].values())


def test_compose_sets_no_secret_literally():
    for name, service in compose()["services"].items():
        environment = service.get("environment") or {}
        for variable, value in environment.items():
            if variable in ("DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "BLIND_INDEX_KEY",
                            "POSTGRES_PASSWORD"):
                assert str(value).startswith("${"), f"{name} sets {variable} literally"
            if variable == "DATABASE_URL":
                assert "${POSTGRES_PASSWORD" in str(value)


SECRET_SHAPES = {
    "Fernet key": re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}=(?![A-Za-z0-9_=-])"),
    "PEM private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "EVM private key": re.compile(r"\b0x[0-9a-fA-F]{64}\b"),
    # user:password@ in a URL, unless the password is a placeholder: the word "password",
    # <something>, or a ${VARIABLE} that compose fills in.
    "password in a URL": re.compile(
        r"://[^:/@\s]+:(?!(?i:password)@|<[^>]*>@|\$\{[^}]*\}@)[^@\s/]+@"
    ),
}


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"FIELD_ENCRYPTION_KEYS={Fernet.generate_key().decode()}", True),
        ("-----BEGIN EC PRIVATE KEY-----", True),
        ("PRIVATE_KEY=0x" + "ab" * 32, True),
        ("postgres://gateway:s3cr3t@db:5432/gateway", True),
        ("postgres://user:password@host:5432/db", False),
        ("postgres://gateway:<POSTGRES_PASSWORD>@postgres:5432/gateway", False),
        ("postgres://gateway:${POSTGRES_PASSWORD}@postgres:5432/gateway", False),
        ("FIELD_ENCRYPTION_KEYS=", False),
    ],
)
def test_secret_shapes_are_recognised(text, secret):
    found = any(pattern.search(text) for pattern in SECRET_SHAPES.values())
    assert found is secret


def test_no_file_under_deploy_contains_something_shaped_like_a_secret():
    for path in sorted(DEPLOY.rglob("*")):
        if not path.is_file() or path.name == ".env":
            continue
        text = path.read_text()
        for shape, pattern in SECRET_SHAPES.items():
            match = pattern.search(text)
            assert match is None, f"{path.relative_to(ROOT)} holds a {shape}: {match.group(0)}"


def test_local_env_file_is_ignored_by_git_and_docker():
    assert ".env" in (DEPLOY / ".gitignore").read_text().split()
    dockerignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    # Everything is excluded first; deploy/.env is not re-included.
    assert dockerignore[[line.startswith("#") for line in dockerignore].index(False)] == "**"
    assert not any(line.startswith("!deploy") and ".env" in line for line in dockerignore)


# --- beat: exactly one -----------------------------------------------------------------------

def test_exactly_one_beat_in_k8s():
    beats = [workload for workload in workloads().values()
             if any("beat" in container.get("command", [])
                    for container in workload["spec"]["template"]["spec"]["containers"])]
    assert len(beats) == 1
    beat = beats[0]
    assert beat["kind"] == "Deployment"
    assert beat["spec"]["replicas"] == 1
    # A rolling update would run the old and the new beat side by side.
    assert beat["spec"]["strategy"]["type"] == "Recreate"
    autoscaled = {doc["spec"]["scaleTargetRef"]["name"]
                  for doc in k8s_objects() if doc["kind"] == "HorizontalPodAutoscaler"}
    assert beat["metadata"]["name"] not in autoscaled


def test_exactly_one_beat_in_compose():
    services = compose()["services"]
    beats = [name for name, service in services.items()
             if "command" in service and "beat" in command_of(service)]
    assert beats == ["beat"]
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1
    assert services["beat"].get("scale", 1) == 1


# --- Kubernetes workloads --------------------------------------------------------------------

def test_k8s_workloads_start_the_right_processes():
    commands = {name: " ".join(pod_spec(workload)["containers"][0]["command"])
                for name, workload in workloads().items()}
    assert commands["gateway-web"].startswith("python -m gunicorn gateway.wsgi")
    assert commands["gateway-worker"].startswith("python -m celery -A gateway worker")
    assert commands["gateway-beat"].startswith("python -m celery -A gateway beat")
    assert commands["gateway-migrate"] == "python -m django migrate --noinput"


def test_k8s_pods_run_unprivileged():
    for name, workload in workloads().items():
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] == APP_UID, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec["automountServiceAccountToken"] is False, name
        for container in all_containers(workload):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, (name, container["name"])
            assert context["readOnlyRootFilesystem"] is True, (name, container["name"])
            assert context["capabilities"]["drop"] == ["ALL"], (name, container["name"])
            mounts = {mount["mountPath"] for mount in container.get("volumeMounts", [])}
            assert CONTAINER_TMP in mounts, (name, container["name"])


def test_k8s_containers_have_requests_and_limits():
    for name, workload in workloads().items():
        for container in all_containers(workload):
            resources = container["resources"]
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[kind]), (name, container["name"])


def test_k8s_app_pods_wait_for_migrations():
    for name in ("gateway-web", "gateway-worker", "gateway-beat"):
        init = pod_spec(workloads()[name])["initContainers"]
        assert any("migrate --check" in " ".join(c["command"]) for c in init), name


def test_k8s_web_probes():
    web = pod_spec(workloads()["gateway-web"])["containers"][0]
    assert web["readinessProbe"]["exec"]["command"] == ["python", "/app/healthcheck.py"]
    assert web["livenessProbe"]["tcpSocket"]["port"] == "http"
    assert {"name": "http", "containerPort": 8000} in web["ports"]
    worker = pod_spec(workloads()["gateway-worker"])["containers"][0]
    assert "inspect ping" in " ".join(worker["livenessProbe"]["exec"]["command"])


def test_k8s_web_service_pdb_and_ingress_select_the_web_pods():
    web_labels = workloads()["gateway-web"]["spec"]["template"]["metadata"]["labels"]
    service = k8s_by_kind("Service")["gateway-web"]
    assert service["spec"]["selector"].items() <= web_labels.items()
    pdb = k8s_by_kind("PodDisruptionBudget")["gateway-web"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= web_labels.items()
    assert pdb["spec"]["minAvailable"] == 1
    assert workloads()["gateway-web"]["spec"]["replicas"] > pdb["spec"]["minAvailable"]
    backend = k8s_by_kind("Ingress")["gateway-web"]["spec"]["rules"][0]["http"]["paths"][0]
    assert backend["backend"]["service"]["name"] == "gateway-web"
    assert backend["backend"]["service"]["port"]["name"] == service["spec"]["ports"][0]["name"]


def test_k8s_deployment_selectors_match_their_pods():
    for name, workload in k8s_by_kind("Deployment").items():
        selector = workload["spec"]["selector"]["matchLabels"]
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), name


def test_k8s_namespace_enforces_restricted_pods():
    namespace = k8s_by_kind("Namespace")["offramp-gateway"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == "offramp-gateway"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_builds():
    built = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True,
                           timeout=60, check=False)
    assert built.returncode == 0, built.stderr
    objects = [doc for doc in yaml.safe_load_all(built.stdout) if doc]
    kinds = {doc["kind"] for doc in objects}
    assert {"Namespace", "ConfigMap", "Deployment", "Job", "Service",
            "PodDisruptionBudget"} <= kinds
    assert "Secret" not in kinds
    for doc in objects:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "offramp-gateway", doc["metadata"]["name"]
        if doc["kind"] in ("Deployment", "Job"):
            for container in all_containers(doc):
                assert ":" in container["image"], "kustomize did not pin the image"


def test_k8s_manifests_match_the_api_schemas():
    # Optional: kubernetes-validate bundles the API's JSON schemas; strict mode rejects unknown
    # fields, so a misspelt key (replica: for replicas:) fails here instead of in the cluster.
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in load_yaml(path):
            # The oldest Kubernetes release these manifests are meant for.
            kubernetes_validate.validate(document, "1.29.0", strict=True)


# --- the image -------------------------------------------------------------------------------

def test_dockerfile_is_multi_stage_on_python_311_slim():
    froms = [args for keyword, args in dockerfile_instructions() if keyword == "FROM"]
    assert len(froms) >= 2
    base = next(args for keyword, args in dockerfile_instructions()
                if keyword == "ARG" and args.startswith("PYTHON_IMAGE="))
    assert base.split("=", 1)[1].startswith("python:3.11-slim")


def test_dockerfile_runs_as_a_non_root_user():
    instructions = dockerfile_instructions()
    defaults = dict(args.split("=", 1) for keyword, args in instructions
                    if keyword == "ARG" and "=" in args)
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users, "the image would run as root"
    user = re.sub(r"\$\{(\w+)\}", lambda match: defaults[match.group(1)], users[-1])
    name, _, group = user.partition(":")
    assert name not in ("root", "0")
    assert group not in ("root", "0")
    # Numeric, and the uid the Kubernetes manifests name (runAsNonRoot needs a number).
    assert name == str(APP_UID)


def test_dockerfile_sets_no_secret():
    secretish = re.compile(r"SECRET|PASSWORD|TOKEN|KEYS?\b|DATABASE_URL|BROKER_URL")
    for keyword, arguments in dockerfile_instructions():
        if keyword in ("ENV", "ARG", "LABEL"):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", arguments) or [arguments.split()[0]]
            for name in names:
                assert not secretish.search(name), f"{keyword} {name} would bake a secret"


def test_dockerfile_build_only_values_live_in_the_collectstatic_run_alone():
    runs = [args for keyword, args in dockerfile_instructions() if keyword == "RUN"]
    carrying = [run for run in runs if "DJANGO_SECRET_KEY=" in run]
    assert len(carrying) == 1
    collect = carrying[0]
    assert "collectstatic --noinput" in collect
    for name in REQUIRED:
        assert f"{name}=" in collect
    # A throwaway key, and a database that does not outlive the command.
    assert "build-only" in collect
    assert "DATABASE_URL=sqlite://:memory:" in collect


def test_dockerfile_installs_the_project_and_serves_with_gunicorn():
    instructions = dockerfile_instructions()
    assert any(keyword == "RUN" and "pip install ." in args for keyword, args in instructions)
    healthcheck = next(args for keyword, args in instructions if keyword == "HEALTHCHECK")
    assert "/app/healthcheck.py" in healthcheck
    command = next(json.loads(args) for keyword, args in instructions if keyword == "CMD")
    assert command[:4] == ["python", "-m", "gunicorn", "gateway.wsgi"]
    environment = " ".join(args for keyword, args in instructions if keyword == "ENV")
    assert "DJANGO_SETTINGS_MODULE=gateway.settings" in environment
    assert "GATEWAY_VAR_DIR=/app/var" in environment


def test_dockerignore_keeps_what_the_dockerfile_copies():
    included = {line[1:].removesuffix("/**") for line in
                (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
                if line.startswith("!")}
    for keyword, arguments in dockerfile_instructions():
        if keyword == "COPY" and "--from=" not in arguments:
            *sources, _destination = arguments.split()
            for source in sources:
                assert source.rstrip("/") in included, f"{source} would be missing from the context"
                assert (ROOT / source).exists(), source


# --- the health check script -----------------------------------------------------------------

def healthcheck_module():
    spec = importlib.util.spec_from_file_location("deploy_healthcheck", DEPLOY / "healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("allowed", "host"),
    [
        ("gateway.example.com,localhost", "gateway.example.com"),
        (" .example.com , other", "example.com"),
        ("*", "localhost"),
        ("", "localhost"),
    ],
)
def test_healthcheck_host_header(allowed, host):
    assert healthcheck_module().host_header(allowed) == host


def test_healthcheck_against_a_server(monkeypatch):
    seen: list[tuple[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append((self.path, self.headers["Host"]))
            # Like Django: 400 for a host outside ALLOWED_HOSTS.
            self.send_response(200 if self.headers["Host"] == "gateway.example.com" else 400)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        module = healthcheck_module()
        port = server.server_address[1]
        monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", "gateway.example.com")
        assert module.check(port) is True
        monkeypatch.setenv("DJANGO_ALLOWED_HOSTS", "other.example.com")
        assert module.check(port) is False
    finally:
        server.shutdown()
        server.server_close()
    assert seen[0] == ("/api/schema/", "gateway.example.com")


def test_healthcheck_reports_a_closed_port():
    # A port that was just free: bound, then closed without listening.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert healthcheck_module().check(port, timeout=2) is False
