"""The offline planner's phrasings, its refusals, and the command template planner."""

from __future__ import annotations

import sys

import pytest

from horizon.agent.exceptions import PlanError
from horizon.agent.planner import SHELL, CommandPlanner, OfflinePlanner

GRADING_TASK = (
    "Clone the public repository at `https://github.com/git/git.git` and run "
    "`git log -n 5 --oneline`."
)


def test_clone_then_run_inside_the_clone() -> None:
    steps = OfflinePlanner().plan(GRADING_TASK)
    assert steps[0].argv == (
        "git",
        "clone",
        "--progress",
        "--",
        "https://github.com/git/git.git",
        "git",
    )
    assert steps[0].enters == "git"
    assert steps[1].argv == (SHELL, "-c", "git log -n 5 --oneline")
    assert len(steps) == 2


def test_clone_without_backticks_and_trailing_period() -> None:
    steps = OfflinePlanner().plan("Clone https://example.org/team/my-repo.git.")
    assert steps[0].argv[-2:] == ("https://example.org/team/my-repo.git", "my-repo")


def test_quoted_commands_run_in_order() -> None:
    steps = OfflinePlanner().plan("Run \"echo one\" and then 'echo two'")
    assert [s.argv[-1] for s in steps] == ["echo one", "echo two"]


def test_word_count_of_urls() -> None:
    steps = OfflinePlanner().plan("Count the words in https://example.com/a and https://x.org")
    assert [s.argv for s in steps] == [
        (sys.executable, "-m", "horizon.agent.wordcount", "https://example.com/a"),
        (sys.executable, "-m", "horizon.agent.wordcount", "https://x.org"),
    ]


def test_plain_shell_command() -> None:
    assert OfflinePlanner().plan("ls -la | wc -l")[0].argv == (SHELL, "-c", "ls -la | wc -l")


@pytest.mark.parametrize(
    "task",
    [
        "Please tidy up the repository.",
        "Summarize the latest news",
        "Clone the repository for me",  # no URL
        "Count the words please",  # no URL
        "",
        "Say 'hello'",  # a quoted word, but nothing asks to run it
    ],
)
def test_unknown_phrasings_fail_with_a_reason(task: str) -> None:
    with pytest.raises(PlanError) as raised:
        OfflinePlanner().plan(task)
    assert str(raised.value)


def test_command_template_passes_the_task_as_one_argument() -> None:
    steps = CommandPlanner("my-agent --print {task}").plan("do it; rm -rf /")
    assert steps[0].argv == ("my-agent", "--print", "do it; rm -rf /")


@pytest.mark.parametrize("template", ["", "my-agent --print", "my-agent 'unclosed"])
def test_bad_command_templates_fail(template: str) -> None:
    with pytest.raises(PlanError):
        CommandPlanner(template).plan("x")


def test_a_whole_backticked_multiline_command_with_quotes() -> None:
    task = '`python3 -c "print(1)\nprint(2)"`'
    assert OfflinePlanner().plan(task)[0].argv == (SHELL, "-c", 'python3 -c "print(1)\nprint(2)"')
