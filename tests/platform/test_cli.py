"""The command line (``python -m raycourse``): one function per sub-command, found in one table."""

import pytest

from raycourse import __main__ as cli


def _subcommands() -> set[str]:
    parser = cli._parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    return set(sub.choices)


def test_every_sub_command_has_its_function_and_every_function_its_sub_command():
    assert set(cli.COMMANDS) == _subcommands()
    assert all(callable(fn) for fn in cli.COMMANDS.values())


def test_a_usage_error_exits_2_and_says_what_to_do(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["standins", "--roles", "vit"])
    assert exited.value.code == 2
    assert "--roles and --cache go with --full-size" in capsys.readouterr().err


def test_a_sub_command_s_exit_status_and_output_come_back(capsys):
    assert cli.main(["pins"]) == 0
    out = capsys.readouterr().out
    assert "licence:" in out and "in the Hugging Face cache after `make prefetch`" in out


def test_a_course_error_is_one_line_and_status_1(capsys, monkeypatch):
    from raycourse.errors import CourseError

    def fails(parser, args):
        raise CourseError("The thing is broken.", "Mend it.")

    monkeypatch.setitem(cli.COMMANDS, "info", fails)
    assert cli.main(["info"]) == 1
    assert capsys.readouterr().err.startswith("error: The thing is broken.")
