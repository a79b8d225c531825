"""Sessions: tests, lint (ruff), typing (mypy --strict), imports (import-linter), docs (mkdocs), bench (opt-in)."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typing", "imports"]
nox.options.reuse_existing_virtualenvs = True

def _install(session: nox.Session, *groups: str) -> None:
    session.install("pip>=25.1")  # dependency groups (PEP 735) need a recent pip
    session.install("-e", ".[all]")
    for group in groups:
        session.install("--group", group)


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite on the current interpreter (needs redis-server on PATH for the Redis tests).

    Other versions: ``nox -s tests --python 3.12`` where that interpreter is installed.
    """
    _install(session, "tests")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")


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
