"""Copy a social data set's files out of a git mirror of a public repository.

    python benchmarks/social_extract.py MIRROR_GIT_DIR [--dataset ciaodvd] [--out DIR]

``MIRROR_GIT_DIR`` is a bare git directory of the repository holding the data set:

- ``ciaodvd``: ``npxiaoying/Social-Recommendation`` (under ``dataset/CiaoDVD``);
- ``lastfm``: ``Coder-Yu/QRec`` (HetRec 2011 ``hetrec2011-lastfm-2k``, under
  ``dataset/lastfm-2k`` at the commit that added it; later commits removed it);
- ``yelp``: ``rahmanidashti/LBSNDatasets`` (``Yelp/Yelp_3``: 1,000 users of the Yelp
  check-in set of Liu et al., VLDB 2017, with their dated visits and friendships);
- ``ciao``: ``yangjiera/LibMF`` (``dataset/Ciao``: a text export of Tang et al.'s Ciao,
  WSDM 2012, with dated product ratings and the trust network);
- ``gowalla``: ``rahmanidashti/LBSNDatasets`` (``Gowalla``: the visits of ``Gowalla_3``, the
  first 1,000 users of ``Gowalla_1``, whose own visit file the mirror lacks, and
  ``Gowalla_1``'s friendships);
- ``filmtrust``: ``npxiaoying/Social-Recommendation`` (under ``dataset/Filmtrust``);
- ``ciao_full``: ``PyGDebias-Team/data`` (``2023-7-26/Epinion&Ciao/ciao``: the whole of
  that data set, as Tang et al.'s MATLAB files).

The data is never committed to this repository; see benchmarks/README.md for the
sources and terms. ``--out`` defaults to ``~/.cache/<dataset>``.
"""

from __future__ import annotations

import argparse
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Source:
    """Where a data set lives in its mirror: folder, files (paths under it; each is
    written under its own name) and the revision to read."""

    folder: str
    files: tuple[str, ...]
    revision: str = "HEAD"


DATASETS = {
    "ciaodvd": Source("dataset/CiaoDVD", ("movie-ratings.txt", "trusts.txt", "readme.txt")),
    "lastfm": Source(
        "dataset/lastfm-2k",
        ("user_taggedartists.dat", "user_friends.dat", "readme.txt"),
        revision="734bcdb59796020fa0f0825ef8ae85703c774967",
    ),
    "yelp": Source(
        "Yelp/Yelp_3",
        ("Yelp_check_ins.txt", "Yelp_social_relations.txt"),
        revision="528cb091aad84fae380fc595f8dce1c42d34d5a7",
    ),
    "ciao": Source(
        "dataset/Ciao",
        ("rating.txt", "trust.txt", "README.txt"),
        revision="9549a7d3d3efb39f1c492d1abfb11a6d732dd996",
    ),
    "gowalla": Source(
        "Gowalla",
        ("Gowalla_3/Gowalla_checkins.txt", "Gowalla_1/Gowalla_social_relations.txt"),
        revision="b55cccad6ad49684705cabeed81472ce03ddb2df",
    ),
    "filmtrust": Source(
        "dataset/Filmtrust",
        ("ratings.txt", "trust.txt", "readme.txt"),
        revision="2d91842555aa25ab8a5d539e1334a63d9829610f",
    ),
    "ciao_full": Source(
        "2023-7-26/Epinion&Ciao/ciao",
        ("rating_with_timestamp.mat", "trust.mat"),
        revision="49bf889c1aa5879c7f9f98a3f1638f317b0fc669",
    ),
}


def extract(mirror: Path, out: Path, source: Source, *, revision: str | None = None) -> list[Path]:
    """Write each file of ``source`` from ``revision`` (its own by default) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in source.files:
        blob = subprocess.run(
            [
                "git",
                f"--git-dir={mirror}",
                "show",
                f"{revision or source.revision}:{source.folder}/{name}",
            ],
            check=True,
            capture_output=True,
        ).stdout
        path = out / Path(name).name
        path.write_bytes(blob)
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mirror", type=Path, help="bare git directory of the mirror")
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="ciaodvd")
    parser.add_argument("--out", type=Path, help="folder to write (~/.cache/<dataset>)")
    parser.add_argument("--revision", help="commit to read (the data set's own by default)")
    args = parser.parse_args()
    out = args.out or Path(f"~/.cache/{args.dataset}").expanduser()
    for path in extract(args.mirror, out, DATASETS[args.dataset], revision=args.revision):
        print(f"{path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
