"""Sessions: tests (every Python present), wheel_tests, lint, typing, imports, docs, bench (opt-in).

``nox -s tests`` runs the suite under coverage on each supported interpreter found (PATH, or
pyenv's ``$PYENV_ROOT/versions/3.X.*``); ``nox -s wheel_tests`` runs it against the built
wheel with the source tree out of the path.
"""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

import nox

nox.options.sessions = ["tests", "wheel_tests", "lint", "typing", "imports"]
nox.options.reuse_existing_virtualenvs = True

SUPPORTED = ("3.10", "3.11", "3.12", "3.13")  # the classifiers of pyproject.toml


def _present_pythons() -> list[str]:
    """The supported versions with an interpreter here; pyenv's own builds go first on PATH.

    pyenv's shims only run the versions that are globally selected, so the real ``bin``
    directories are put on PATH for nox to find ``python3.X`` (and a shim is never counted).
    """
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = []
    for version in SUPPORTED:
        builds = sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}"), reverse=True)
        if builds:
            os.environ["PATH"] = os.path.dirname(builds[0]) + os.pathsep + os.environ["PATH"]
        exe = shutil.which(f"python{version}")
        if exe and "/shims/" not in exe:
            found.append(version)
    return found


PYTHONS = _present_pythons()


def _install(session: nox.Session, *groups: str) -> None:
    session.install("pip>=25.1")  # dependency groups (PEP 735) need a recent pip
    session.install("-e", ".[all]", *(arg for group in groups for arg in ("--group", group)))  # one resolve


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The suite under coverage on one interpreter (redis-server on PATH for the Redis tests).

    ``fail_under`` (pyproject ``[tool.coverage.report]``) is checked on each interpreter.
    """
    _install(session, "tests", "coverage")
    session.run("coverage", "erase")
    # The fleet tests assert a throughput ratio, which tracing slows below its bound (0.68-0.92
    # measured; the cluster's hot key 0.42, 0.42 and 0.43 of its ceiling against a bound of 0.5,
    # three runs of three on a loaded 2-core machine): they run untraced in the README command
    # and in wheel_tests.
    untraced = [
        "--deselect",
        "tests/test_redis.py::test_several_processes_share_one_key",
        "--deselect",
        "tests/test_redis_cluster.py::test_fleet_on_a_three_node_cluster_zero_429s",
    ]
    session.run("coverage", "run", "-m", "pytest", *untraced, *session.posargs)
    session.run("coverage", "combine", "--quiet")
    session.run("coverage", "report")


@nox.session
def wheel_tests(session: nox.Session) -> None:
    """The suite against the built wheel, with the source tree out of the import path.

    The tests, examples and pytest configuration are copied to a temporary directory and run
    there, so ``import salescaling_async`` can only find the installed wheel.
    """
    session.install("pip>=25.1")
    tmp = Path(session.create_tmp()).resolve()
    dist, work = tmp / "dist", tmp / "work"
    for path in (dist, work):
        shutil.rmtree(path, ignore_errors=True)
    session.run("pip", "wheel", "--no-deps", "--wheel-dir", str(dist), ".")
    (wheel,) = dist.glob("salescaling_async-*.whl")
    session.install(f"{wheel}[all]")
    session.install("--force-reinstall", "--no-deps", str(wheel))  # same version, new build
    session.install("--group", "tests")
    work.mkdir()
    for name in ("tests", "examples"):
        shutil.copytree(name, work / name)
    shutil.copy("pyproject.toml", work / "pyproject.toml")
    with session.chdir(work):
        check = (
            "import pathlib, salescaling_async as p; f = pathlib.Path(p.__file__); "
            "assert 'site-packages' in f.parts, f; print('testing the wheel at', f.parent)"
        )
        session.run("python", "-c", check)
        session.run("python", "-m", "pytest", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", "salescaling_async", "tests", "benchmarks", "noxfile.py")


@nox.session
def imports(session: nox.Session) -> None:
    """The one-way layer contract of pyproject.toml ``[tool.importlinter]``."""
    _install(session, "lint")
    session.run("lint-imports")


@nox.session
def typing(session: nox.Session) -> None:
    _install(session, "typing")
    session.run("mypy", "--strict", "salescaling_async")
    # the public API as users type-check it
    session.run("mypy", "--strict", "tests/typing/api.py", "tests/typing/bulk.py")


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark against the simulator; writes benchmarks/results/RESULTS.md and throughput.png."""
    _install(session, "tests")
    session.run("python", "-m", "benchmarks.run_all")


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site (mkdocs-material + mkdocstrings), warnings as errors; output in site/."""
    _install(session, "docs")
    session.run("mkdocs", "build", "--strict", *session.posargs)
