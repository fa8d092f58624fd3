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


def test_what_a_killed_process_left_is_removed_and_a_live_ones_kept(tmp_path):
    """kill -9 a writer mid-write: its hidden temporary sibling and scratch directory go at
    the next cleanup; a live writer's and every other entry stay."""
    import os
    import signal
    import subprocess
    import sys

    from common.files import OLD_MARK, TMP_MARK, remove_dead_writers

    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = writer.pid
    names = [f".quick-s1-abc{TMP_MARK}{dead}-1a2b", f".quick-s2-abc{OLD_MARK}{dead}-ff", f"{dead}-0123abcd"]
    for n in names:
        (tmp_path / n).mkdir()
        (tmp_path / n / "accounts.parquet").write_bytes(b"half")
    live = [f".quick-s3-abc{TMP_MARK}{os.getpid()}-aa", f"{os.getpid()}-89abcdef"]
    keep = ["quick-s0-0123456789abcdef", "2024-test-s0-aaaa", "notes.txt", "123-45678"]
    for n in live + keep[:-2]:
        (tmp_path / n).mkdir()
    for n in keep[-2:]:
        (tmp_path / n).write_text("mine")
    os.kill(dead, signal.SIGKILL)
    writer.wait()
    assert remove_dead_writers(tmp_path) == sorted(names[:2]), "hidden siblings only, outside scratch"
    assert remove_dead_writers(tmp_path, scratch=True) == [names[2]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(live + keep)
