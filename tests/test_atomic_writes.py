"""The atomic writer's policy on what already sits at the path (issue 12): symlinks are
followed, special files and read-only files are refused, long names work, and a writer
killed half way leaves no temporary file behind for good. (Modes and failed writes:
tests/test_files.py.)"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap

import pytest

from picograd._files import write_atomically


def test_a_symlink_is_followed_and_its_target_replaced(tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to("real.json")
    write_atomically(link, "new")
    assert link.is_symlink() and os.readlink(link) == "real.json"
    assert target.read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["link.json", "real.json"]


def test_a_dangling_symlink_creates_its_target(tmp_path):
    (tmp_path / "sub").mkdir()
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "sub" / "model.json")
    write_atomically(link, "new")
    assert link.is_symlink() and (tmp_path / "sub" / "model.json").read_text() == "new"
    assert os.listdir(tmp_path / "sub") == ["model.json"]


def test_a_fifo_is_refused_and_left_alone(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="is a FIFO .*not a regular file") as caught:
        write_atomically(fifo, "new")
    assert str(fifo) in str(caught.value)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and os.listdir(tmp_path) == ["pipe"]


def test_a_device_is_refused_even_through_a_symlink(tmp_path):
    # (a link to /dev/null, so that no version of the writer can touch the device)
    link = tmp_path / "out.png"
    link.symlink_to(os.devnull)
    with pytest.raises(OSError, match="is a device, not a regular file") as caught:
        write_atomically(link, b"picture")
    assert str(link) in str(caught.value)
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode) and link.is_symlink()
    assert os.listdir(tmp_path) == ["out.png"]


def test_a_directory_is_refused_with_its_name(tmp_path):
    folder = tmp_path / "model.json"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match="is a directory, not a file") as caught:
        write_atomically(folder, "new")
    assert caught.value.filename == str(folder)
    assert folder.is_dir() and os.listdir(tmp_path) == ["model.json"]


def test_a_read_only_file_is_refused_even_as_root(tmp_path):
    path = tmp_path / "model.json"
    path.write_text("old")
    path.chmod(0o444)
    with pytest.raises(PermissionError, match=r"read-only \(mode 0444\).*chmod u\+w"):
        write_atomically(path, "new")
    assert path.read_text() == "old" and stat.S_IMODE(path.stat().st_mode) == 0o444
    assert os.listdir(tmp_path) == ["model.json"]


@pytest.mark.parametrize("length", [241, 242, 250, 255])
def test_names_up_to_255_bytes_work(tmp_path, length):
    name = "m" * (length - 5) + ".json"
    write_atomically(tmp_path / name, "first")
    write_atomically(tmp_path / name, "second")
    assert (tmp_path / name).read_text() == "second"
    assert os.listdir(tmp_path) == [name]


def test_a_long_name_of_multibyte_characters_works(tmp_path):
    name = "é" * 125 + ".json"  # 255 bytes in UTF-8
    write_atomically(tmp_path / name, "new")
    assert os.listdir(tmp_path) == [name]


KILLED = """
import os, signal, sys
sys.path.insert(0, {root!r})
from picograd import _files
os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)  # killed while syncing
_files.write_atomically({path!r}, "half")
"""


def _killed_writer(path) -> None:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__import__("picograd").__file__)))
    code = textwrap.dedent(KILLED.format(root=root, path=str(path)))
    done = subprocess.run([sys.executable, "-c", code])
    assert done.returncode == -signal.SIGKILL


def test_a_writer_killed_during_fsync_leaves_a_temporary_file_the_next_write_removes(tmp_path):
    path = tmp_path / "model.json"
    path.write_text("old")
    (tmp_path / "other.json").write_text("another file")
    _killed_writer(path)
    strays = sorted(set(os.listdir(tmp_path)) - {"model.json", "other.json"})
    assert len(strays) == 1 and strays[0].startswith(".model.json.")  # recognizable
    assert path.read_text() == "old"  # the kill changed nothing
    write_atomically(tmp_path / "other.json", "new")  # another path's write leaves it
    assert strays[0] in os.listdir(tmp_path)
    write_atomically(path, "new")
    assert sorted(os.listdir(tmp_path)) == ["model.json", "other.json"]
    assert path.read_text() == "new"


def test_a_live_writers_temporary_file_is_left_alone(tmp_path):
    path = tmp_path / "model.json"
    _killed_writer(path)
    (stray,) = os.listdir(tmp_path)
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as alive:
        try:  # the same name with a running process's id: a write in progress
            busy = stray.replace(f".{stray.split('.')[-3]}.", f".{alive.pid}.")
            os.rename(tmp_path / stray, tmp_path / busy)
            write_atomically(path, "new")
            assert sorted(os.listdir(tmp_path)) == sorted([busy, "model.json"])
        finally:
            alive.kill()


def test_errors_name_the_path_asked_for_not_the_temporary_file(tmp_path):
    with pytest.raises(FileNotFoundError) as caught:
        write_atomically(tmp_path / "missing" / "model.json", "new")
    assert caught.value.filename == str(tmp_path / "missing" / "model.json")
    too_long = tmp_path / ("m" * 256)
    with pytest.raises(OSError, match="too long") as caught:
        write_atomically(too_long, "new")
    assert caught.value.filename == str(too_long) and os.listdir(tmp_path) == []
