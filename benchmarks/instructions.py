"""Instructions per shopper of the first and second list, against an older revision.

Wall and CPU times on a shared machine move by a tenth from one run to the next, which
hides a change of a few per cent in the serving path. Instructions do not: this script
runs ``cold_lists.py`` under Valgrind's callgrind (Debian package ``valgrind``), which
counts the instructions the process executed, the same for the same code and data
whatever else the machine does. For each tree (this checkout, and a temporary worktree
of ``--against``) it runs ``cold_lists.py --customers N`` twice: once with the requests
(each customer's first list, then their second) and once ``--sign-in-only``; the
difference is what the requests cost. Prints it per customer and the ratio of the two
trees. Slow: about 50 times the process's normal speed (some 2 minutes per run).

Needs the demo database with a trained model (the environment of ``http_load.py``:
``VAR_DIR``, ``SQLITE_PATH``, ``MEDIA_ROOT``; ``CACHE_URL`` as for ``cold_lists.py``,
default ``locmem://``). Usage::

    python benchmarks/instructions.py --against 825be01 [--customers 200]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLLECTED = re.compile(r"Collected : (\d+)")


def instructions(tree: Path, customers: int, *, requests: bool) -> int:
    """Instructions of one ``cold_lists.py`` process serving with ``tree``'s code."""
    with tempfile.TemporaryDirectory(prefix="callgrind-") as folder:
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={folder}/out",
            sys.executable,
            str(ROOT / "benchmarks" / "cold_lists.py"),
            "--tree",
            str(tree),
            "--customers",
            str(customers),
            *([] if requests else ["--sign-in-only"]),
        ]
        env = {**os.environ, "CACHE_URL": os.environ.get("CACHE_URL", "locmem://")}
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        found = COLLECTED.search(done.stderr)
        if done.returncode != 0 or found is None:
            raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
        return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", required=True, help="the git revision to compare with")
    parser.add_argument("--customers", type=int, default=200)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind).")
    older = Path(tempfile.mkdtemp(prefix="instructions-")) / "tree"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(older), args.against],
        check=True,
    )
    per_customer = {}
    try:
        for label, tree in (("this checkout", ROOT), (args.against, older)):
            served = instructions(tree, args.customers, requests=True)
            signed_in = instructions(tree, args.customers, requests=False)
            per_customer[label] = (served - signed_in) / args.customers
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(older)], check=False
        )
        shutil.rmtree(older.parent, ignore_errors=True)
    print(f"{args.customers} customers, a first and a second list each (cold_lists.py)")
    print("| code | instructions per customer (millions) |")
    print("|---|---|")
    for label, count in per_customer.items():
        print(f"| {label} | {count / 1e6:.2f} |")
    this, other = per_customer.values()
    print(f"\nthis checkout / {args.against}: {this / other:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
