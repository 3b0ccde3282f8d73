"""(b) Peak memory of ingesting big files: flat, whatever the file's size.

A moto server runs in its own process; each ingest runs in a child process through the real
reader, validator and service, and reports its own peak RSS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from typing import Any

import boto3

from bench.data import write_file
from bench.moto_server import moto_server
from local.provision import provision

MB = 1024 * 1024


def run(sizes_mb: tuple[int, ...] = (50, 100), timeout_s: float = 900) -> dict[str, Any]:
    """Ingest a generated file of each size; return peak RSS and time per size."""
    results: dict[str, Any] = {}
    with moto_server() as endpoint, tempfile.TemporaryDirectory() as folder:
        env = {
            **os.environ,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "WEBSOCKET_CALLBACK_URL": "http://127.0.0.1:9/unused",
            "INGEST_TIME_RESERVE_MS": "0",
        }
        clients = {
            name: boto3.client(
                name,
                endpoint_url=endpoint,
                region_name="us-east-1",
                aws_access_key_id="bench",
                aws_secret_access_key="bench",
            )
            for name in ("dynamodb", "sqs", "s3")
        }
        provisioned = provision(clients, prefix=f"bench{uuid.uuid4().hex[:6]}")
        env.update(provisioned.env)
        for size_mb in sizes_mb:
            path = os.path.join(folder, f"{size_mb}mb.jsonl")
            lines = write_file(path, size_mb * MB)
            size = os.path.getsize(path)
            job_id = uuid.uuid4().hex
            key = f"uploads/bench/{job_id}/{size_mb}mb.jsonl"
            clients["s3"].upload_file(path, provisioned.env["UPLOADS_BUCKET"], key)
            os.remove(path)
            child = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.ingest_child",
                    "--owner",
                    "bench",
                    "--job-id",
                    job_id,
                    "--key",
                    key,
                    "--size",
                    str(size),
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
            if child.returncode != 0:
                results[f"{size_mb}MB"] = {"error": child.stderr.strip().splitlines()[-5:]}
                continue
            report = json.loads(child.stdout.strip().splitlines()[-1])
            report["lines_generated"] = lines
            report["size_bytes"] = size
            report["lines_per_s"] = round(report["counts"]["lines"] / max(report["seconds"], 1e-9))
            results[f"{size_mb}MB"] = report
    results["goal_max_rss_mb"] = 150
    return results
