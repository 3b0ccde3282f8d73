"""Planners: turn a task's text into steps.

`OfflinePlanner` needs no model and understands documented phrasings only:
- a repository URL to clone ("Clone the repository at `https://…/x.git`"): `git clone` into
  the scratch directory, and later steps run inside the clone;
- commands in backticks or quotes ("… and run `git log -n 5 --oneline`");
- counting the words in the HTML <body> of URLs ("Count the words on https://example.com");
- a plain shell command given as the task ("ls -la", "git --version").
Anything else raises `PlanError` with the reason: a task is never guessed at.

`CommandPlanner` hands the whole task to an external agent CLI through a template from the
settings, e.g. `my-agent --task {task}`; the task becomes one argument, never shell text.
"""

from __future__ import annotations

import re
import shlex
import shutil
import sys
from typing import Protocol
from urllib.parse import urlparse

from horizon.agent.exceptions import PlanError
from horizon.agent.models import Step

SHELL = "/bin/sh"
_URL = re.compile(r"(?:https?|file|git|ssh)://[^\s`'\"<>)]+|git@[\w.-]+:[^\s`'\"<>)]+")
_QUOTED = re.compile(r"`([^`]+)`|\"([^\"]+)\"|'([^']+)'")
_CLONE = re.compile(r"\bclone\b", re.IGNORECASE)
_WORDS = re.compile(r"\bcount(?:ing)?\b.*\bwords?\b|\bwords?\b.*\bcount\b", re.IGNORECASE)
# A quoted HTML tag ("the words in the `<body>` tag") names a part of a page, not a command.
_HTML_TAG = re.compile(r"</?[A-Za-z][\w-]*\s*/?>")
_RUN = re.compile(r"\b(?:run|execute|then)\b", re.IGNORECASE)
SUPPORTED = (
    "clone a repository URL, run commands given in backticks or quotes, count the words "
    "in the HTML body of URLs, or give a plain shell command"
)


class Planner(Protocol):
    def plan(self, task: str) -> list[Step]:
        """Return the steps for `task`. Raises PlanError when it cannot."""
        ...


def _clone_dir(url: str) -> str:
    path = urlparse(url).path if "://" in url else url.split(":", 1)[-1]
    name = path.rstrip("/").rsplit("/", 1)[-1]
    name = name.removesuffix(".git") or "repository"
    return re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "repository"


def _strip_url_punctuation(url: str) -> str:
    return url.rstrip(".,;:!?")


def urls_in(text: str) -> list[str]:
    """Return the URLs (of any scheme the planner knows) a task's text names, in order."""
    return [_strip_url_punctuation(url) for url in _URL.findall(text)]


WORDCOUNT_MODULE = "horizon.agent.wordcount"


class OfflinePlanner:
    """The planner without a model (see the module's docstring for what it understands).

    Args:
        wordcount_options: options put before the URL of each word-counting step
            (the batch worker's `--web-only --timeout S`).
    """

    def __init__(self, wordcount_options: tuple[str, ...] = ()) -> None:
        self._wordcount_options = wordcount_options

    def plan(self, task: str) -> list[Step]:
        """Return the steps for `task`.

        Raises:
            PlanError: the phrasing is not one the planner knows, with the reason.
        """
        text = task.strip()
        if not text:
            raise PlanError("the task is empty")
        quoted = [
            next(group for group in match.groups() if group) for match in _QUOTED.finditer(text)
        ]
        urls = urls_in(text)
        commands = [
            part.strip()
            for part in quoted
            if part.strip()
            and not _URL.fullmatch(part.strip())
            and not _HTML_TAG.fullmatch(part.strip())
        ]
        steps: list[Step] = []
        if _CLONE.search(text):
            if not urls:
                raise PlanError("the task asks to clone but names no repository URL")
            url = urls[0]
            directory = _clone_dir(url)
            steps.append(
                Step(
                    ("git", "clone", "--progress", "--", url, directory), f"clone {url}", directory
                )
            )
            urls = urls[1:]
        if _WORDS.search(text):
            if not urls:
                raise PlanError("the task asks to count words but names no URL")
            steps += [
                Step(
                    (sys.executable, "-m", WORDCOUNT_MODULE, *self._wordcount_options, url),
                    f"count words of {url}",
                )
                for url in urls
            ]
        # The whole task is one quoted command: `ls -la`.
        whole = len(commands) == 1 and text[:1] in "`'\"" and text[1:-1].strip() == commands[0]
        if commands and (steps or whole or _RUN.search(text)):
            steps += [Step((SHELL, "-c", command), f"run {command}") for command in commands]
        if steps:
            return steps
        return [self._plain_command(text)]

    @staticmethod
    def _plain_command(text: str) -> Step:
        if "\n" in text:
            raise PlanError(f"could not understand the task; supported: {SUPPORTED}")
        try:
            words = shlex.split(text)
        except ValueError as error:
            raise PlanError(
                f"could not understand the task ({error}); supported: {SUPPORTED}"
            ) from error
        # A plain command starts with a program on PATH and reads like one: a sentence
        # ("Please tidy up the repo.") does not become a guess at a command.
        if not words or shutil.which(words[0]) is None or text.endswith("."):
            raise PlanError(f"could not understand the task; supported: {SUPPORTED}")
        return Step((SHELL, "-c", text), f"run {text}")


class CommandPlanner:
    """Runs an external agent CLI: `template` with `{task}` replaced by the task, as one argv.

    Args:
        template: e.g. `my-agent --print {task}`; split like a shell would, never run by one.

    Raises:
        PlanError: (from `plan`) the template is empty or has no `{task}`.
    """

    def __init__(self, template: str) -> None:
        self._template = template

    def plan(self, task: str) -> list[Step]:
        try:
            parts = shlex.split(self._template)
        except ValueError as error:
            raise PlanError(f"the agent command template is malformed: {error}") from error
        if not parts or not any("{task}" in part for part in parts):
            raise PlanError("the agent command template must contain {task}")
        argv = tuple(part.replace("{task}", task) for part in parts)
        return [Step(argv, f"agent {parts[0]}")]
