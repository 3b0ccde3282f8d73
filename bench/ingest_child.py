"""Run one ingest in this process and print its peak RSS: `python -m bench.ingest_child`.

The environment points at the AWS plane and names the resources (as the Lambda's does); the
arguments name the job. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import bench  # noqa: F401 - puts the core layer on the path
from horizon.clock import now_iso
from horizon.ingest import IngestService
from horizon.jobs import Job, JobStore


class NoPublisher:
    def publish(self, job: Job) -> None:
        pass


def _rss_mb() -> float:
    """This process's peak RSS in MB.

    /proc's VmHWM is this process image's own high-water mark; ru_maxrss is not usable in a
    child: Linux carries the parent's peak over fork and exec into it.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--owner", required=True)
    parser.add_argument("--job-id", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--size", type=int, required=True)
    args = parser.parse_args()
    stamp = now_iso()
    JobStore().create(
        Job(
            owner=args.owner,
            job_id=args.job_id,
            file_name=args.key.rsplit("/", 1)[-1],
            size_bytes=args.size,
            object_key=args.key,
            created_at=stamp,
            updated_at=stamp,
        )
    )
    service = IngestService(publisher=NoPublisher())
    before = _rss_mb()
    started = time.perf_counter()
    outcome = service.run(args.owner, args.job_id, lambda: 10**9)
    seconds = time.perf_counter() - started
    job = JobStore().get(args.owner, args.job_id)
    print(
        json.dumps(
            {
                "outcome": outcome.value,
                "seconds": round(seconds, 1),
                "rss_before_ingest_mb": round(before, 1),
                "max_rss_mb": round(_rss_mb(), 1),
                "counts": job.counts.model_dump(),
            }
        )
    )


if __name__ == "__main__":
    main()
