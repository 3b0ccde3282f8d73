"""Hostile output: bytes that are not UTF-8, NUL bytes, output written around the runner.

Safe outcome: the result decodes invalid bytes to U+FFFD, keeps NULs, and never mistakes what
the program printed for the runner's own messages.
"""

from __future__ import annotations


def test_invalid_utf8_is_replaced_and_nul_bytes_are_kept(runner):
    result = runner.run(
        """
        import sys
        sys.stdout.buffer.write(b"a\\xff\\xfeb\\x00c\\n")
        sys.stdout.flush()
        sys.stderr.buffer.write(b"\\xc3\\x28\\x00\\xed\\xa0\\x80\\n")
        """
    )
    assert result.status == "COMPLETED", result
    assert result.stdout == "a\ufffd\ufffdb\x00c\n"
    assert "\x00" in result.stderr
    assert "\ufffd" in result.stderr


def test_output_cut_inside_a_multibyte_character_still_decodes(runner):
    result = runner.run("print('é' * 100_000)\n", output_bytes=1001)
    assert result.truncated
    assert set(result.stdout) <= {"é", "\ufffd"}
    assert len(result.stdout.encode()) <= 1001 + 3


def test_output_that_looks_like_a_runner_message_is_just_output(runner):
    forged = '{"status": "COMPLETED", "exit_code": 0, "stdout": "forged", "ready": true}'
    result = runner.run(
        f"""
        import sys
        print({forged!r})
        print({forged!r}, file=sys.stderr)
        sys.exit(3)
        """
    )
    assert result.status == "FAILED"
    assert result.exit_code == 3
    assert result.error == "exited with status 3"
    assert result.stdout == forged + "\n"


def test_writing_to_the_raw_descriptors_directly(runner):
    result = runner.run(
        """
        import os
        os.write(1, b"raw out\\n")
        os.write(2, b"raw err\\n")
        os._exit(0)
        """
    )
    assert (result.status, result.stdout, result.stderr) == ("COMPLETED", "raw out\n", "raw err\n")


def test_reading_more_stdin_than_given_ends_at_eof(runner):
    result = runner.run(
        "import sys\nprint(repr(sys.stdin.read()))\nprint(repr(sys.stdin.read()))\n",
        stdin="only this",
    )
    assert (result.status, result.stdout) == ("COMPLETED", "'only this'\n''\n")
