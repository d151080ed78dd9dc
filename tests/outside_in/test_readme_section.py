"""The README's "Add to your Django project" section stays runnable by run.sh (fast checks).

The full proof, a fresh project built from the wheel by these blocks, is
tests/outside_in/run.sh (in CI after the suite).
"""

from __future__ import annotations

from tests.outside_in.readme_host import README, block_kind, pip_line, readme_blocks

BLOCKS = readme_blocks(README.read_text())


def test_every_block_of_the_section_is_carried_out_by_a_rule():
    kinds = [block_kind(block) for block in BLOCKS]

    assert {"commands", "shell", "python file", "template"} <= set(kinds)
    assert len(BLOCKS) >= 10


def test_the_section_installs_the_distribution_with_both_extras():
    assert pip_line(BLOCKS)[:2] == ["pip", "install"]


def test_every_python_block_compiles():
    for block in BLOCKS:
        if block.language == "python":
            compile(block.body, f"README.md line {block.line}", "exec")


def test_the_celery_blocks_import_what_they_use():
    celery = "".join(block.body for block in BLOCKS if "celery" in block.extras)

    assert "from celery import Celery" in celery
    assert "from celery.schedules import crontab" in celery
    assert "recommendations.tasks.training_run_task" in celery
