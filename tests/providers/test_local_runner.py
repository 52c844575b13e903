"""LocalRunner.sync_up: an in-place copy that behaves like `rsync -a --delete`."""

from __future__ import annotations

import os

from skyhop.providers.runner import LocalRunner


def test_sync_updates_in_place_and_prunes(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "a.py").write_text("a")
    (src / "old.txt").write_text("old")
    runner = LocalRunner()
    runner.sync_up(str(src), str(dst), delete=True)
    inode = os.stat(dst).st_ino
    (dst / "output.log").write_text("written by a job")
    (dst / "__pycache__").mkdir()
    (src / "old.txt").unlink()
    (src / "new.txt").write_text("new")
    (src / "pkg" / "a.py").write_text("a2")
    runner.sync_up(str(src), str(dst), delete=True)
    assert sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*")) == ["__pycache__", "new.txt", "pkg", "pkg/a.py"]
    assert (dst / "pkg" / "a.py").read_text() == "a2"
    assert os.stat(dst).st_ino == inode  # a job running in dst keeps its working directory


def test_bytecode_travels_only_when_asked(tmp_path):
    src = tmp_path / "src"
    (src / "__pycache__").mkdir(parents=True)
    (src / "a.py").write_text("a")
    (src / "__pycache__" / "a.cpython-311.pyc").write_text("bytecode")
    LocalRunner().sync_up(str(src), str(tmp_path / "plain"), delete=True)
    LocalRunner().sync_up(str(src), str(tmp_path / "agent"), delete=True, bytecode=True)
    assert not (tmp_path / "plain" / "__pycache__").exists()
    assert (tmp_path / "agent" / "__pycache__" / "a.cpython-311.pyc").read_text() == "bytecode"
    assert os.stat(tmp_path / "agent" / "a.py").st_mtime_ns == os.stat(src / "a.py").st_mtime_ns  # what a .pyc is checked against


def test_sync_without_delete_keeps_extras_and_copies_files(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    runner = LocalRunner()
    runner.sync_up(str(tmp_path / "f.txt"), str(tmp_path / "deep" / "dir" / "f.txt"))
    assert (tmp_path / "deep" / "dir" / "f.txt").read_text() == "x"


def test_sync_honours_skyignore_else_gitignore_and_keeps_symlinked_dirs(tmp_path):
    from sync_cases import EXPECTED, listing, make_workdir

    from skyhop.execution.sync import ignore_file

    src = make_workdir(tmp_path / "src")
    dst = tmp_path / "dst"
    runner = LocalRunner()
    for _ in range(2):  # the second pass prunes: the link and excluded names must survive it
        runner.sync_up(str(src), str(dst), delete=True, exclude_from=ignore_file(str(src)))
        assert listing(dst) == sorted(EXPECTED + ["gitonly.tmp"])  # .skyignore wins: .gitignore is not read
    assert os.readlink(dst / "data-link") == "data"
    (src / ".skyignore").unlink()
    runner.sync_up(str(src), str(tmp_path / "git"), delete=True, exclude_from=ignore_file(str(src)))
    assert "gitonly.tmp" not in listing(tmp_path / "git") and "secret.env" in listing(tmp_path / "git")
