"""Writing files atomically: a reader sees the old file or the new one, never half of one.

The policy (models, ``picograd graph --out``, the demo's pictures):

- A symlink is followed: its target is replaced atomically, and the link still
  points at it (a dangling link creates its target, as ``open()`` would).
- Anything that is not a regular file (a directory, a FIFO, a device such as
  /dev/null, a socket) is refused with an error naming it: replacing a device node
  by a file would destroy it.
- A read-only file (no write permission bit, or not writable by this user) is
  refused with a PermissionError, even as root, who would otherwise bypass it.
- The new data goes to a temporary file next to the target, is flushed to disk,
  then renamed over it. The temporary file's name is recognizable
  (``.NAME.<hash>.<pid>.<random>.pgtmp``) and always fits in 255 bytes, so names
  of any legal length work; if a writer is killed before the rename, the next
  write to the same path removes its temporary file (once that process is gone).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import stat

MAX_NAME = 255  # bytes in one file name on Linux, macOS and Windows file systems
SUFFIX = ".pgtmp"


def write_atomically(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` (text is UTF-8) to ``path`` through a temporary file next to it.

    The temporary file is flushed to disk, then renamed over ``path``, so a crash or an
    error leaves the old file (or none). The new file keeps an existing file's
    permissions; a new one gets 0o666 less the umask, as ``open()`` gives it
    (``tempfile.mkstemp`` would leave it private, 0o600). See the module docstring
    for symlinks, special files and read-only files.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    shown = os.fspath(path)
    target = os.path.realpath(shown)  # a symlink: replace what it points at
    mode = _existing_mode(target, shown)
    directory, name = os.path.split(target)
    _remove_stale_temporaries(directory, name)
    for _ in range(100):
        tmp = os.path.join(directory, _temporary_name(name))
        try:  # the kernel applies the umask to 0o666, as for any new file
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
        except OSError as e:
            raise _named(e, shown, " (creating a file beside it)") from None
    else:
        raise FileExistsError(errno.EEXIST, "no free temporary file name next to it", shown)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        try:
            os.replace(tmp, target)
        except OSError as e:
            raise _named(e, shown) from None
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _sync_directory(directory)


def _named(e: OSError, shown: str, how: str = "") -> OSError:
    """``e`` naming the path asked for, not the temporary file's."""
    if e.errno is None:
        return e
    return type(e)(e.errno, f"{e.strerror}{how}", shown)


def _existing_mode(target: str, shown: str) -> int | None:
    """The permission bits of the regular file at ``target``, None if there is none;
    an error for anything else there, or for a read-only file."""
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a file", shown)
    if not stat.S_ISREG(st.st_mode):
        raise FileExistsError(
            errno.EEXIST, f"is {_kind(st.st_mode)}, not a regular file; refusing to replace "
            "it (choose a file path)", shown)
    mode = stat.S_IMODE(st.st_mode)
    if not mode & 0o222 or not os.access(target, os.W_OK):
        raise PermissionError(
            errno.EACCES, f"is read-only (mode {mode:04o}); refusing to replace it (make it "
            "writable with chmod u+w, or choose another path)", shown)
    return mode


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISLNK(mode):
        return "a symlink that cannot be resolved (a loop)"
    return "not a file"


# ---- temporary files: named for their target, so a later write finds strays ------------

def _tag(name: str) -> str:
    return hashlib.sha256(os.fsencode(name)).hexdigest()[:8]


def _temporary_name(name: str) -> str:
    """``.NAME.<hash of NAME>.<pid>.<random>.pgtmp``, NAME shortened to fit 255 bytes."""
    tail = f".{_tag(name)}.{os.getpid()}.{secrets.token_hex(4)}{SUFFIX}"
    room = MAX_NAME - 1 - len(tail)
    prefix = os.fsencode(name)[:room].decode("utf-8", "ignore")  # whole characters only
    return f".{prefix}{tail}"


def _remove_stale_temporaries(directory: str, name: str) -> None:
    """Remove temporary files of earlier writes to ``name`` whose writer is gone (it
    was killed before renaming). A live writer's file is left alone."""
    pattern = re.compile(rf"\.{re.escape(_tag(name))}\.(\d+)\.[0-9a-f]{{8}}{re.escape(SUFFIX)}$")
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    for entry in entries:
        m = pattern.search(entry)
        if m is None or not entry.startswith(".") or _running(int(m[1])):
            continue
        if os.fsencode(name).startswith(os.fsencode(entry[1:m.start()])):  # NAME, maybe cut
            try:
                os.unlink(os.path.join(directory, entry))
            except OSError:
                pass


def _running(pid: int) -> bool:
    if pid == os.getpid() or os.name != "posix":  # (Windows' os.kill would end it)
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process (or not ours to judge): leave its file
    return True


def _sync_directory(directory: str) -> None:
    """Flush the rename itself to disk (where the system allows opening a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
