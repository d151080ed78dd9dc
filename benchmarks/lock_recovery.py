"""Lock recovery time: how long after ``kill -9`` of a training a new one can start.

Starts ``manage.py train_recommendations`` on a fresh SQLite file (the demo store's
settings with a small shop, tests/recommendations/faults_settings.py), waits until it
holds the training lock, kills it with SIGKILL and then tries to take the lock every
10 ms from this process, timing from the kill to the first success. Two cases:

- same machine: the lock names a process that is gone, so it is taken over at once;
- another machine: the lock's process is blanked (as if it ran elsewhere), so only its
  heartbeat tells, and the lock is taken once ``TRAINING_LOCK_STALE_AFTER`` has passed
  since the last beat.

    python benchmarks/lock_recovery.py                    # default 120 s stale window
    python benchmarks/lock_recovery.py --stale-after 10   # a shorter window
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stale-after", type=float, default=120.0)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="lock-recovery-"))
    url = f"sqlite:///{folder / 'db.sqlite3'}"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="tests.recommendations.faults_settings",
        DATABASE_URL=url,
        FAULTS_ARTIFACT_ROOT=str(folder / "var"),
        FAULTS_STALE_AFTER=str(args.stale_after),
        LOG_LEVEL="ERROR",
    )
    import django

    django.setup()
    from recommendations.models import TrainingLock
    from recommendations.services import TrainingLocked, training_lock
    from tests.recommendations import processes

    env = processes.process_env(folder, database_url=url, FAULTS_STALE_AFTER=str(args.stale_after))
    processes.manage(env, "migrate", "--no-input", check=True)
    seed = "from tests.recommendations.test_training import make_small_shop; make_small_shop()"
    processes.manage(env, "shell", "-c", seed, check=True)

    print(f"TRAINING_LOCK_STALE_AFTER = {args.stale_after:g} s")
    for case in ("same machine", "another machine"):
        marker = folder / f"holding-{case.replace(' ', '-')}"
        training = processes.start_blocked_training(env, marker)
        os.kill(training.pid, signal.SIGKILL)
        killed = time.monotonic()
        training.wait()
        if case == "another machine":
            TrainingLock.objects.update(process="")
        attempts = 0
        while True:
            attempts += 1
            try:
                with training_lock():
                    break
            except TrainingLocked:
                time.sleep(0.01)
        elapsed = time.monotonic() - killed
        print(f"{case:>16}: a new training starts {elapsed:.2f} s after kill -9, try {attempts}")


if __name__ == "__main__":
    main()
