"""Collaborators that are passed in, or made on first use.

Services and stores take their clients and stores as optional constructor arguments (tests
and the local stack pass their own) and otherwise make them lazily, never at import time:

    class UploadService:
        jobs = Collaborator(JobStore)
        s3 = Collaborator(lambda: aws.client("s3"))

        def __init__(self, jobs: JobStore | None = None, s3: Any = None) -> None:
            self._jobs, self._s3 = jobs, s3
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")


class Collaborator(Generic[T]):
    """A descriptor reading `self._<name>`, filling it from `factory()` when it is None."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._slot = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = f"_{name}"

    @overload
    def __get__(self, instance: None, owner: type) -> Collaborator[T]: ...

    @overload
    def __get__(self, instance: object, owner: type) -> T: ...

    def __get__(self, instance: object | None, owner: type) -> Any:
        if instance is None:
            return self
        value = getattr(instance, self._slot, None)
        if value is None:
            value = self._factory()
            setattr(instance, self._slot, value)
        return value


def aws_client(service: str) -> Collaborator[Any]:
    """A collaborator that is the shared boto3 client of `service` unless one is passed in."""
    from horizon import aws  # late: keeps this module free of boto3 for its users' imports

    return Collaborator(lambda: aws.client(service))
