"""The production files, checked as far as a machine without Docker can check them.

Docker does not run here, so these tests read the Dockerfile, compose.yaml, .dockerignore and
config.production.properties and hold them to the repository: every stage, path, module, command-line flag and
setting they name must exist, and the production TorchServe configuration must keep its doors shut.
"""
from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from api.core.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
INSTRUCTIONS = {"FROM", "ARG", "ENV", "RUN", "COPY", "ADD", "WORKDIR", "USER", "EXPOSE", "CMD", "ENTRYPOINT",
                "HEALTHCHECK", "LABEL", "VOLUME", "SHELL", "STOPSIGNAL", "ONBUILD"}


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) pairs: comment lines dropped and continuation lines joined, as Docker does."""
    lines = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined.splitlines() if line.strip()]


def stages() -> list[str]:
    return [m.group(1) for op, args in dockerfile() if op == "FROM" and (m := re.search(r"\bAS\s+(\S+)", args, re.I))]


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def properties(path: Path) -> dict[str, str]:
    """A Java properties file: `key=value`, `#` comments, a trailing backslash continues the line."""
    text = re.sub(r"\\\n\s*", "", path.read_text())
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def dockerignored(relative: str) -> bool:
    patterns = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")]
    parts = Path(relative).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(fnmatch.fnmatch(prefix, pattern.rstrip("/")) for pattern in patterns for prefix in prefixes)


def commands() -> list[list[str]]:
    """Every command the images and services run: exec-form CMDs, `python -m` RUN steps, compose commands."""
    found: list[list[str]] = []
    for op, args in dockerfile():
        if op in ("CMD", "ENTRYPOINT"):
            found.append(json.loads(args))
        elif op == "RUN":
            found += [shlex.split(step) for step in re.split(r"&&|;", args) if step.strip().startswith("python -m")]
    for service in compose()["services"].values():
        if "command" in service:
            found.append(service["command"])
    return found


def test_dockerfile_parses_into_known_instructions_and_named_stages() -> None:
    ops = [op for op, _ in dockerfile()]
    assert set(ops) <= INSTRUCTIONS, set(ops) - INSTRUCTIONS
    assert ops[0] in ("ARG", "FROM")
    assert {"deps", "archives", "torchserve", "app"} <= set(stages())
    assert stages()[-1] == "app", "the default target (the last stage) is the API/worker image"


def test_the_services_run_unprivileged() -> None:
    current, user_of = None, {}
    for op, args in dockerfile():
        if op == "FROM":
            current = args.split()[-1]
        elif op == "USER":
            user_of[current] = args.strip()
    assert user_of.get("torchserve") == user_of.get("app") not in (None, "root", "0")


def test_every_copy_source_exists_and_reaches_the_build_context() -> None:
    names = stages()
    for op, args in dockerfile():
        if op not in ("COPY", "ADD"):
            continue
        words = args.split()
        source_stage = next((w.split("=", 1)[1] for w in words if w.startswith("--from=")), None)
        sources = [w for w in words if not w.startswith("--")][:-1]
        if source_stage:
            assert source_stage in names[: names.index(source_stage) + 1], f"COPY --from={source_stage}: no such stage"
            continue
        for source in sources:
            assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which is not in the repository"
            assert not dockerignored(source.rstrip("/")), f"{source} is excluded by .dockerignore"


def test_secrets_and_local_state_stay_out_of_the_build_context() -> None:
    for path in (".git", ".venv", ".env", "var/indexes", "model_store/fashion-attributes.mar", "web/node_modules"):
        assert dockerignored(path), f"{path} would be sent into the image build"
    assert not dockerignored("handlers/images.py") and not dockerignored("checkpoints")
    assert not dockerignored("kalas/dataset.py")


def test_every_package_the_project_installs_is_copied_into_the_image() -> None:
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    copied = {args.split()[0].rstrip("/") for op, args in dockerfile() if op == "COPY" and "--from=" not in args}
    packages = [pattern.rstrip("*") for pattern in include]
    assert "kalas" in packages
    for package in packages:
        assert package in copied, f"the Dockerfile does not copy {package}/, which the project installs"
        assert (ROOT / package / "__init__.py").is_file(), f"{package} is not a package"


def test_cuda_is_a_build_argument_that_swaps_in_faiss_gpu() -> None:
    run = " ".join(args for op, args in dockerfile() if op == "RUN")
    assert re.search(r"ARG ACCELERATOR=cpu", (ROOT / "Dockerfile").read_text())
    assert "cuda)" in run and "pip uninstall -y faiss-cpu" in run and "FAISS_GPU_PACKAGE" in run


@pytest.mark.parametrize("argv", commands(), ids=lambda argv: " ".join(argv[:3]))
def test_every_command_exists_and_accepts_its_flags(argv: list[str]) -> None:
    if argv[:2] == ["python", "-m"]:
        module = argv[2]
        assert importlib.util.find_spec(module) is not None, f"python -m {module}: no such module"
        program = [sys.executable, "-m", module]
        flags = argv[3:]
    else:
        assert (BIN / argv[0]).is_file(), f"{argv[0]} is not installed by the project's dependencies"
        program, flags = [str(BIN / argv[0])], argv[1:]
    options = [flag.split("=")[0] for flag in flags if flag.startswith("--")]
    if not options:
        return
    help_text = subprocess.run([*program, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120).stdout
    for option in options:
        assert re.search(rf"{re.escape(option)}\b", help_text), f"{' '.join(argv[:3])} has no option {option}"
    if argv[0] == "uvicorn" and "--factory" in flags:
        module, _, factory = next(a for a in flags if ":" in a).partition(":")
        assert callable(getattr(importlib.import_module(module), factory))


def test_compose_runs_the_four_services_from_the_dockerfiles_stages() -> None:
    services = compose()["services"]
    assert set(services) == {"mongo", "torchserve", "api", "worker"}
    for name in ("torchserve", "api", "worker"):
        assert services[name]["build"]["target"] in stages(), name
    assert [s for s, spec in services.items() if spec.get("ports")] == ["api"], "only the API is published"
    declared = set(compose()["volumes"])
    for spec in services.values():
        for volume in spec.get("volumes", []):
            assert volume.split(":")[0] in declared, volume


def test_the_gpu_override_gives_torchserve_the_hosts_nvidia_gpus() -> None:
    """compose.gpu.yaml over compose.yaml (docs/operations.md): a service compose.yaml runs, reserving GPUs."""
    override = yaml.safe_load((ROOT / "compose.gpu.yaml").read_text())
    assert set(override["services"]) == {"torchserve"} <= set(compose()["services"])
    [device] = override["services"]["torchserve"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]


def test_compose_runs_two_api_replicas_that_share_no_disk() -> None:
    services = compose()["services"]
    assert services["api"]["deploy"]["replicas"] >= 2
    assert re.fullmatch(r"\$\{KALAS_API_PORTS:-(\d+)-(\d+)\}:8000", services["api"]["ports"][0])
    for name in ("api", "worker"):
        environment = services[name]["environment"]
        assert environment["KALAS_IMAGE_STORE"] == "gridfs" and environment["KALAS_LIMITS_STORE"] == "database"
        mounted = {volume.split(":")[1] for volume in services[name].get("volumes", [])}
        assert environment["KALAS_INDEX_DIR"] not in mounted, f"{name}: an index directory is a replica's own cache"


def test_the_api_replicas_believe_the_load_balancers_forwarded_addresses() -> None:
    """Behind a load balancer every request comes from its address: uvicorn reads the client's from X-Forwarded-For
    only when told the balancer's addresses, or one client's failed log-ins would block every shop's."""
    api = compose()["services"]["api"]
    assert "--proxy-headers" in api["command"]
    assert re.fullmatch(r"\$\{KALAS_FORWARDED_ALLOW_IPS:-[^}]+\}", api["environment"]["FORWARDED_ALLOW_IPS"])
    assert "KALAS_FORWARDED_ALLOW_IPS" in (ROOT / ".env.example").read_text()


def test_compose_settings_are_known_and_secrets_are_required() -> None:
    for name in ("api", "worker"):
        environment = compose()["services"][name]["environment"]
        for variable in environment:
            if variable.startswith(ENV_PREFIX):
                assert variable[len(ENV_PREFIX):].lower() in Settings.model_fields, f"{name}: unknown setting {variable}"
        assert environment["KALAS_ENVIRONMENT"] == "production"
        # `${VAR:?message}` makes compose refuse to start when the secret is unset or empty.
        assert re.fullmatch(r"\$\{KALAS_SECRET_KEY:\?[^}]+\}", environment["KALAS_SECRET_KEY"])
        assert "${MONGO_PASSWORD:?" in environment["KALAS_MONGO_URI"]
    example = (ROOT / ".env.example").read_text()
    assert re.search(r"(?m)^KALAS_SECRET_KEY=$", example) and re.search(r"(?m)^MONGO_PASSWORD=$", example)


def test_healthchecks_are_valid_python() -> None:
    for name, spec in compose()["services"].items():
        test = spec.get("healthcheck", {}).get("test", [])
        if test[1:3] == ["python", "-c"]:
            compile(test[3], f"{name} healthcheck", "exec")


def test_production_torchserve_turns_token_auth_on_and_restricts_the_model_api() -> None:
    production = properties(ROOT / "config.production.properties")
    assert production["disable_token_authorization"] == "false"
    assert production["enable_envvars_config"] == "false", "an environment variable could switch the checks off"
    # Registration stays possible for scripts/register_model.py, but only from inside the container, with the
    # management key, and only for archives already in the model store.
    assert re.fullmatch(r"https?://127\.0\.0\.1:\d+", production["management_address"])
    assert production["allowed_urls"] == f"file://{production['model_store']}/.*"
    assert production["install_py_dep_per_model"] == "false"
    assert "grpc_inference_address" in production and production["grpc_management_address"] == "127.0.0.1"


def test_production_serves_the_same_models_as_development() -> None:
    production, development = (properties(ROOT / name) for name in ("config.production.properties", "config.properties"))
    assert production["load_models"] == development["load_models"]
    assert json.loads(production["models"]) == json.loads(development["models"])
    copied = [args.split()[-1].rstrip("/") for op, args in dockerfile() if op == "COPY" and "model_store" in args]
    assert production["model_store"] in copied, "TorchServe's model store is where the Dockerfile puts the archives"
