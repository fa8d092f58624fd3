"""Output targets are checked before any work: a file where a directory must go is refused
with a message naming it (exit 2 at the CLI), never found by a crash after the work."""

import pytest

from common.files import OutputExistsError, check_target


def test_a_file_in_the_path_is_refused_naming_it(tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(OutputExistsError, match="afile is a file"):
        check_target(blocker / "sub" / "deeper", overwrite=False)
    with pytest.raises(OutputExistsError, match="exists and is not a directory"):
        check_target(blocker, overwrite=True)
    check_target(tmp_path / "new" / "sub", overwrite=False)  # missing directories are fine


def test_generate_under_a_file_exits_2_before_any_work(tmp_path):
    from typer.testing import CliRunner

    from bench.cli.app import app

    (tmp_path / "afile").write_text("x")
    r = CliRunner().invoke(app, ["generate", "--accounts", "1000", "--out", str(tmp_path / "afile" / "sub")])
    assert r.exit_code == 2 and "is a file" in r.output
