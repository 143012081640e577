"""picograd._files.write_atomically: permissions as for any new file, nothing half-written."""

from __future__ import annotations

import os

import pytest

from picograd._files import write_atomically


@pytest.fixture
def umask():
    """Set the process umask for one test, then put the old one back."""
    old = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_new_file_gets_0o666_less_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    write_atomically(tmp_path / "a.txt", "héllo\n")
    assert (tmp_path / "a.txt").read_bytes() == "héllo\n".encode()
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == mode


def test_overwriting_keeps_the_existing_files_mode(tmp_path, umask):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")
    for mode in (0o644, 0o640, 0o755):
        os.chmod(path, mode)
        umask(0o077)  # the umask does not matter for a file that exists
        write_atomically(str(path), b"new")
        assert path.read_bytes() == b"new"
        assert path.stat().st_mode & 0o777 == mode
    assert os.listdir(tmp_path) == ["a.bin"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "a.txt"
    path.write_text("old")

    def crash(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="No space left"):
        write_atomically(path, "new")
    monkeypatch.undo()
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["a.txt"]

    with pytest.raises(FileNotFoundError):  # a missing directory: nothing is written
        write_atomically(tmp_path / "missing" / "a.txt", "new")
    assert os.listdir(tmp_path) == ["a.txt"]
