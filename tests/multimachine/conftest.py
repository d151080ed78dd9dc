"""A real S3-compatible server for the tests of several machines: moto's standalone server.

It is started once per session as a subprocess on a free port of 127.0.0.1; boto3 and
django-storages talk HTTP to it as they would to any S3-compatible service, nothing of
boto is mocked. Each test gets a bucket of its own.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from config.settings import artifact_s3_storage
from tests.processes import free_port, process_stop

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
# moto accepts any credentials; real ones must never reach a test server.
ACCESS_KEY, SECRET_KEY = "multimachine-test", "multimachine-test-secret"


@dataclass(frozen=True)
class Bucket:
    """One bucket of the S3-compatible server, and how the project's settings reach it."""

    endpoint: str
    name: str

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def object_keys(self) -> set[str]:
        """Every object key in the bucket."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.name)
        return {entry["Key"] for page in pages for entry in page.get("Contents", ())}

    def environment(self, *, endpoint: str | None = None) -> dict[str, str]:
        """The ``ARTIFACT_S3_*`` variables config.settings reads."""
        return {
            "ARTIFACT_S3_BUCKET": self.name,
            "ARTIFACT_S3_ENDPOINT_URL": endpoint or self.endpoint,
            "ARTIFACT_S3_REGION": REGION,
            "ARTIFACT_S3_ACCESS_KEY_ID": ACCESS_KEY,
            "ARTIFACT_S3_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def storage(self, *, endpoint: str | None = None) -> dict[str, Any]:
        """The ``STORAGES`` entry config.settings builds from :meth:`environment`."""
        return artifact_s3_storage(self.environment(endpoint=endpoint))


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a moto server running for the whole session."""
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"moto server exited:\n{log.read_text()[-4000:]}")
            try:
                requests.get(f"{endpoint}/moto-api/", timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    pytest.fail(f"moto server did not answer:\n{log.read_text()[-4000:]}")
                time.sleep(0.1)
        yield endpoint
    finally:
        process_stop(process)


@pytest.fixture
def bucket(s3_endpoint: str) -> Bucket:
    """A new, empty bucket."""
    created = Bucket(s3_endpoint, f"artifacts-{uuid.uuid4().hex[:12]}")
    created.client().create_bucket(Bucket=created.name)
    return created
