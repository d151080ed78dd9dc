"""Apply the README's "Add to your Django project" section to a fresh project, and check it.

Standard library only; the host runs in a virtualenv of its own, made here, with the
wheel installed as the README's ``pip install`` line says, first without the extras
(the base install), then with them, and nothing of this repository on its path. Every
fenced block of the section is used, or this fails:

- ``bash``: each command line runs in the project (``pip install`` in the virtualenv);
- ``python`` headed ``# <path>[, with the [api] extra]``: appended to that file;
- ``python`` headed ``# python manage.py shell``: run by ``manage.py shell``;
- ``django`` headed ``{# <path> #}``: written to that file.

Blocks that name an extra are left out of the base install. Then ``probe.py`` checks the
result from inside (tags, API, schema, Celery, rules, deletion, storage).

    python readme_host.py --wheel W --constraints C --work DIR \\
        [--postgres postgres://user@host:port]
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

HERE = Path(__file__).resolve().parent
README = HERE.parents[1] / "README.md"
SECTION = "## Add to your Django project"
DISTRIBUTION = "django-shop-recommendations"
EXTRAS = {"full": ("api", "celery"), "base": ()}


@dataclass(frozen=True)
class Block:
    language: str
    header: str
    body: str
    line: int

    @property
    def extras(self) -> set[str]:
        return set(re.findall(r"\[(\w+)\] extra", self.header))


def readme_blocks(text: str) -> list[Block]:
    """The fenced blocks of the section, with their first line as header."""
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end != -1 else len(text)]
    first_line = text[:start].count("\n") + 1
    blocks = []
    for match in re.finditer(r"^( *)```(\w+)\n(.*?)^\1```$", section, re.S | re.M):
        indent, language, body = match.groups()
        lines = [line.removeprefix(indent) for line in body.splitlines()]
        line = first_line + section[: match.start()].count("\n")
        blocks.append(Block(language, lines[0].strip(), "\n".join(lines) + "\n", line))
    if not blocks:
        raise SystemExit(f"no code blocks under {SECTION!r} in {README}")
    return blocks


def block_kind(block: Block) -> str:
    """How a README block is carried out; SystemExit for a block no rule covers."""
    if block.language == "bash":
        return "commands"
    if block.language == "python" and block.header == "# python manage.py shell":
        return "shell"
    if block.language == "python" and re.fullmatch(r"# [\w/]+\.py(, .*)?", block.header):
        return "python file"
    if block.language == "django" and re.fullmatch(r"\{# [\w/.]+\.html #\}", block.header):
        return "template"
    raise SystemExit(f"README line {block.line}: no rule for the block {block.header!r}")


def run(command: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    started = time.monotonic()
    result = subprocess.run(command, cwd=cwd, env=env, text=True, capture_output=True)
    print(f"$ {shlex.join(command)}  ({time.monotonic() - started:.1f} s)", flush=True)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise SystemExit(f"FAILED ({result.returncode}): {shlex.join(command)}\n{output}")
    return output


class Host:
    """One fresh project in its own folder, driven through one virtualenv."""

    def __init__(self, venv: Path, folder: Path, mode: str, database: dict[str, str]) -> None:
        self.venv, self.folder, self.mode, self.database = venv, folder, mode, database
        self.python = str(venv / "bin" / "python")
        self.seeded = False
        # Nothing of this repository: not the demo, not the app's source folder.
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"PYTHONPATH", "DJANGO_SETTINGS_MODULE", "DATABASE_URL"}
        }
        self.env["PATH"] = f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"

    def manage(self, *args: str) -> str:
        return run([self.python, "manage.py", *args], cwd=self.folder, env=self.env)

    def create(self) -> None:
        """``startproject``, the store app and the host's own settings (not the README's)."""
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        run([str(self.venv / "bin" / "django-admin"), "startproject", "mysite", "."],
            cwd=self.folder, env=self.env)  # fmt: skip
        shutil.copytree(HERE / "store", self.folder / "store")
        shutil.copy(HERE / "probe.py", self.folder / "outside_in_probe.py")
        own = ['INSTALLED_APPS += ["store"]']
        if self.database["ENGINE"].endswith("postgresql"):
            own.append(f"DATABASES = {{'default': {self.database!r}}}")
        self.append("mysite/settings.py", "\n".join(own) + "\n")
        self.append(
            "mysite/urls.py",
            "from store.views import product_detail\n\n"
            'urlpatterns += [path("products/<int:pk>/", product_detail)]\n',
        )
        self.manage("makemigrations", "store")

    def append(self, path: str, code: str) -> None:
        target = self.folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a") as handle:
            handle.write("\n" + code)

    def apply(self, block: Block) -> None:
        """Carry out one README block (a block for a missing extra is left out)."""
        if block.extras - set(EXTRAS[self.mode]):
            print(f"README line {block.line}: left out without {sorted(block.extras)}")
            return
        print(f"README line {block.line}: {block.language} {block.header}")
        kind = block_kind(block)
        if kind == "commands":
            for command in block.body.splitlines():
                self.command(command.strip())
        elif kind == "shell":
            self.manage("shell", "--command", block.body)
        elif kind == "python file":
            self.append(block.header[2:].split(",")[0], block.body)
        else:
            target = self.folder / block.header[3:-3]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.body)

    def command(self, line: str) -> None:
        if not line or line.startswith("#"):
            return
        words = shlex.split(line)
        if words[:2] == ["pip", "install"]:
            return  # done when the virtualenv was made
        if words[:2] != ["python", "manage.py"]:
            raise SystemExit(f"no rule for the README command {line!r}")
        if words[2] == "train_recommendations" and not self.seeded:
            run([self.python, "outside_in_probe.py", "seed"], cwd=self.folder, env=self.env)
            self.seeded = True
        print(self.manage(*words[2:])[-600:])

    def check(self) -> None:
        if not self.seeded:
            raise SystemExit("the README never trains (python manage.py train_recommendations)")
        print(run([self.python, "outside_in_probe.py", "check", self.mode],
                  cwd=self.folder, env=self.env))  # fmt: skip


def pip_line(blocks: list[Block]) -> list[str]:
    """The README's one ``pip install`` command, which must install both extras."""
    lines = [
        line.strip()
        for block in blocks
        if block.language == "bash"
        for line in block.body.splitlines()
        if line.strip().startswith("pip install")
    ]
    if len(lines) != 1:
        raise SystemExit(f"the README section must have one pip install line, has {lines}")
    words = shlex.split(lines[0])
    (spec,) = [word for word in words[2:] if word.startswith(DISTRIBUTION)]
    if set(re.findall(r"\w+", spec.removeprefix(DISTRIBUTION))) != set(EXTRAS["full"]):
        raise SystemExit(f"the README installs {spec!r}, not the [api,celery] extras")
    return words


def pip_install(venv: Path, words: list[str], mode: str, wheel: Path, constraints: Path,
                postgres: bool) -> None:  # fmt: skip
    """The README's pip line with the wheel for the name (no extras on the base install)."""
    requirement = f"{wheel}[{','.join(EXTRAS[mode])}]" if EXTRAS[mode] else str(wheel)
    options = [word for word in words[2:] if not word.startswith(DISTRIBUTION)]
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-compile"]
    drivers = ["psycopg[binary]"] if postgres else []
    run([*pip, "-c", str(constraints), *options, requirement, *drivers], cwd=venv)


def _postgres(url: str, venv: Path, name: str, *, drop_only: bool = False) -> dict[str, str]:
    parts = urlparse(url)
    database = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": parts.username or "postgres",
        "PASSWORD": parts.password or "",
        "HOST": parts.hostname or "127.0.0.1",
        "PORT": str(parts.port or 5432),
    }
    sql = f'DROP DATABASE IF EXISTS "{name}"' + (
        "" if drop_only else f'; CREATE DATABASE "{name}"'
    )
    script = (
        "import psycopg, sys\n"
        "with psycopg.connect(dbname='postgres', user=sys.argv[1], password=sys.argv[2],"
        " host=sys.argv[3], port=sys.argv[4], autocommit=True) as c:\n"
        "    for statement in sys.argv[5].split('; '):\n"
        "        c.execute(statement)\n"
    )
    run([str(venv / "bin" / "python"), "-c", script, database["USER"], database["PASSWORD"],
         database["HOST"], database["PORT"], sql], cwd=venv)  # fmt: skip
    return database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, required=True)
    parser.add_argument("--constraints", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument(
        "--postgres", help="also on this server, e.g. postgres://postgres@127.0.0.1:5432"
    )
    options = parser.parse_args()
    work = options.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    blocks = readme_blocks(README.read_text())
    words = pip_line(blocks)
    venv = work / "venv"
    if venv.exists():
        shutil.rmtree(venv)
    run([sys.executable, "-m", "venv", str(venv)], cwd=work)
    # The base install first; then the README's line adds the extras to the same
    # virtualenv, as a host that starts small would (and the heavy wheels unpack once).
    for mode in ("base", "full"):
        pip_install(venv, words, mode, options.wheel.resolve(), options.constraints.resolve(),
                    bool(options.postgres))  # fmt: skip
        databases = [("sqlite", {"ENGINE": "django.db.backends.sqlite3"})]
        if options.postgres:
            prefix = os.environ.get("OUTSIDE_IN_DATABASE", "outside_in")
            name = f"{prefix}_{mode}_{uuid.uuid4().hex[:8]}"
            databases.append(("postgres", _postgres(options.postgres, venv, name)))
        try:
            for label, database in databases:
                print(f"== {mode} install on {label} ==", flush=True)
                host = Host(venv, work / f"{mode}-{label}", mode, database)
                host.create()
                for block in blocks:
                    host.apply(block)
                host.check()
        finally:
            if options.postgres:
                _postgres(options.postgres, venv, databases[-1][1]["NAME"], drop_only=True)


if __name__ == "__main__":
    main()
