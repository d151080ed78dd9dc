"""Copy the CiaoDVD files out of a git mirror of a public repository into a cache folder.

    python benchmarks/ciaodvd_extract.py MIRROR_GIT_DIR [--out ~/.cache/ciaodvd]

``MIRROR_GIT_DIR`` is a bare git directory of ``npxiaoying/Social-Recommendation`` (the
files live under ``dataset/CiaoDVD``). The data is never committed to this repository;
see benchmarks/README.md for its source and terms.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

FILES = ("movie-ratings.txt", "trusts.txt", "readme.txt")
FOLDER = "dataset/CiaoDVD"


def extract(mirror: Path, out: Path, *, revision: str = "HEAD") -> list[Path]:
    """Write each file of :data:`FILES` from ``revision`` of the mirror into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in FILES:
        blob = subprocess.run(
            ["git", f"--git-dir={mirror}", "show", f"{revision}:{FOLDER}/{name}"],
            check=True,
            capture_output=True,
        ).stdout
        path = out / name
        path.write_bytes(blob)
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mirror", type=Path, help="bare git directory of the mirror")
    parser.add_argument("--out", type=Path, default=Path("~/.cache/ciaodvd").expanduser())
    parser.add_argument("--revision", default="HEAD")
    args = parser.parse_args()
    for path in extract(args.mirror, args.out, revision=args.revision):
        print(f"{path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
