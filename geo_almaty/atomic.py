"""All-or-nothing output: files are written to temporary names, commands to a staging folder.

Two levels:

- :func:`atomic_path` / :func:`write_text_atomic`: one file is written under a
  temporary name beside its target and renamed onto it, so a crash never leaves a
  half-written GeoPackage, CSV or HTML file.
- :func:`staged_output`: what a whole command writes goes to a hidden staging
  folder next to ``--out`` and is moved into place only when everything
  succeeded. Every command that writes uses it, so an output folder (or a set of
  output files) appears complete or not at all, and a re-run never leaves stale
  files of the previous run beside the new ones.

The rules, the same for every command:

- ``--out`` that does not exist is created (with its parent folders).
- ``--out`` that exists (other than an empty folder) is refused unless
  ``overwrite`` (``--overwrite``); then it is replaced *as a whole*. A folder is
  only replaced when it was written by geo_almaty (it holds
  :data:`OUTPUT_MARKER`): a folder of the user's own files is never deleted.
- The staging folder is created *before* any work, so an unwritable place fails
  at once with one line, not after minutes of scoring.
- On an error, Ctrl-C or SIGTERM the staging folder is removed and ``--out`` is
  left as it was. A process killed outright (SIGKILL, power cut) leaves a hidden
  ``.<name>.staging-<pid>-*`` folder; the next command writing to the same
  ``--out`` removes it (and puts back a previous output caught mid-replacement).
"""
from __future__ import annotations

import errno
import logging
import os
import secrets
import shutil
import signal
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from . import __version__
from .errors import OutputError

log = logging.getLogger(__name__)

#: File that marks a folder as a geo_almaty output (so ``--overwrite`` may replace it as a whole).
OUTPUT_MARKER = ".geo-almaty-output"
_STAGING = "staging"
_OLD = "old"
#: errno values that mean "this place cannot be written" rather than a bug.
_WRITE_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR, errno.EEXIST, errno.EISDIR,
                 errno.ENAMETOOLONG}


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path in ``target``'s folder; on success rename it onto ``target``.

    The temporary path does not exist yet, so writers that refuse to overwrite
    (GDAL drivers) work. On any exception the temporary file is removed and
    ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        _remove_quietly(tmp)
        raise
    finally:
        # GDAL may leave sidecar files (-wal, -shm, .aux.xml) next to the temporary file.
        for sidecar in tmp.parent.glob(tmp.name + "*"):
            _remove_quietly(sidecar)


def write_text_atomic(target: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``target`` atomically and return the path."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding=encoding)
    return Path(target)


@contextmanager
def staged_output(target: str | Path, *, overwrite: bool = False, files: Sequence[str] | None = None,
                  command: str = "geo-almaty") -> Iterator[Path]:
    """Stage a command's output beside ``target`` and move it into place only if the block succeeds.

    Yields an empty staging folder on the same file system as ``target``.

    - ``files=None``: ``target`` is an output *folder*. Write into the staging
      folder exactly what ``target`` should hold; on success the staging folder
      (with :data:`OUTPUT_MARKER` added) replaces ``target`` as a whole.
    - ``files=[names]``: ``target`` is the folder that receives these files
      (e.g. ``map.html``, or ``osm.gpkg`` with its ``.catalog.yaml``). Write them
      by name into the staging folder; on success each is moved onto
      ``target/name``, and a listed file the block did not write is removed from
      ``target`` (no stale companion of an earlier run). Other files in
      ``target`` are never touched. List the file that refers to the others last.

    Existing outputs are refused without ``overwrite``; a problem with the place
    (a file where a folder is expected, no permission, read-only disk, disk full)
    raises a one-line :class:`~geo_almaty.errors.OutputError`. ``command`` is
    written into the marker.
    """
    target = Path(target).absolute()
    names = list(files) if files is not None else None
    _recover_stale(target if names is None else None, target if names is not None else target.parent, names)
    _check_target(target, names, overwrite)
    created = _make_parents(target if names is not None else target.parent)
    try:
        staging = _new_folder(target if names is not None else target.parent, _prefix(target, names, _STAGING))
    except OSError as exc:
        _remove_created(created)
        raise _output_error(exc, target if names is not None else target.parent) from None
    committed = False
    try:
        yield staging
        with _signals_deferred():
            if names is None:
                (staging / OUTPUT_MARKER).write_text(_marker_text(command), encoding="utf-8")
                _replace_folder(staging, target)
            else:
                _move_files(staging, target, names)
            committed = True
    except OSError as exc:
        if exc.errno in _WRITE_ERRNOS and _written_here(exc, staging, target):
            raise _output_error(exc, target) from None
        raise
    finally:
        if not committed:
            shutil.rmtree(staging, ignore_errors=True)
            _remove_created(created)
        elif staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def staged_path(staging: Path, target: str | Path, path: Path) -> Path:
    """Where ``path`` (inside ``staging``) ends up once the output is in place under ``target``."""
    return Path(target) / Path(path).relative_to(staging)


# --- checks before any work -------------------------------------------------------------------

def _check_target(target: Path, names: list[str] | None, overwrite: bool) -> None:
    hint = "a new path, or --overwrite to replace the previous output as a whole"
    if names is None:
        if target.exists() and not target.is_dir():
            raise OutputError("exists and is a file, not a folder", file=target, column="--out", expected="a folder path (new, or a previous geo-almaty output)")
        if target.is_dir() and any(target.iterdir()):  # an empty folder is simply used
            if not overwrite:
                raise OutputError("the output folder already exists", file=target, column="--out", expected=hint)
            if not (target / OUTPUT_MARKER).is_file():
                raise OutputError(f"the folder is not empty and was not written by geo-almaty (no {OUTPUT_MARKER}); it is not replaced", file=target,
                                  column="--out", expected="a new folder, an empty one, or a previous geo-almaty output folder")
        return
    if target.exists() and not target.is_dir():
        raise OutputError("the folder for the output files is a file", file=target, column="--out", expected="a path in an existing or new folder")
    for name in names:
        path = target / name
        if path.is_dir():
            raise OutputError("exists and is a folder, not a file", file=path, column="--out", expected="a file path")
        if path.exists() and not overwrite:
            raise OutputError("the output file already exists", file=path, column="--out", expected=hint)


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return the ones created (deepest last)."""
    missing = []
    for parent in [folder, *folder.parents]:
        if parent.exists():
            break
        missing.append(parent)
    created = []
    for parent in reversed(missing):
        try:
            parent.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            _remove_created(created)
            raise _output_error(exc, parent) from None
        created.append(parent)
    return created


def _remove_created(created: list[Path]) -> None:
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            break


def _written_here(exc: OSError, staging: Path, target: Path) -> bool:
    """True when a failed operation was on the output (not, say, on an input file being read)."""
    if exc.filename is None:
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    path = Path(os.fsdecode(exc.filename)).absolute()
    return any(path == place or place in path.parents for place in (staging, target))


def _output_error(exc: OSError, where: Path) -> OutputError:
    reason = exc.strerror or type(exc).__name__
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        expected = "a folder you can write to (check its permissions, or choose another --out)"
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
        expected = "free disk space, or another --out on a disk with room"
    else:
        expected = "a writable path for --out"
    return OutputError(f"cannot write: {reason}", file=exc.filename or where, column="--out", expected=expected)


# --- moving into place ---------------------------------------------------------------------------

def _prefix(target: Path, names: list[str] | None, kind: str) -> str:
    stem = target.name if names is None else (names[-1] if names else "output")
    return f".{stem}.{kind}-{os.getpid()}-"


def _new_folder(parent: Path, prefix: str) -> Path:
    """A new folder ``parent/<prefix><random>`` with the user's usual permissions (mkdtemp would make it private)."""
    for _ in range(100):
        path = parent / f"{prefix}{secrets.token_hex(4)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free staging folder name", str(parent))


def _marker_text(command: str) -> str:
    return (f"This folder was written by {command} (geo_almaty {__version__}) as a whole.\n"
            "Running the command again with --overwrite replaces the folder as a whole; do not keep your own files here.\n")


def _replace_folder(staging: Path, target: Path) -> None:
    """Put ``staging`` at ``target``; an existing ``target`` is moved aside first and removed after."""
    old = None
    if target.exists():
        old = _new_folder(target.parent, _prefix(target, None, _OLD))
        old.rmdir()
        os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        if old is not None:
            os.rename(old, target)
        raise
    if old is not None:
        try:
            old.unlink() if old.is_symlink() else shutil.rmtree(old)
        except OSError as exc:
            log.warning("could not remove all of the previous output moved to %s (%s); delete it by hand", old, exc)


def _move_files(staging: Path, target: Path, names: list[str]) -> None:
    written = {p.name for p in staging.iterdir()}
    unexpected = sorted(written - set(names))
    if unexpected:
        raise ValueError(f"staged output wrote undeclared files {unexpected}; declare them in files=")
    for name in names:
        if name in written:
            os.replace(staging / name, target / name)
        elif (target / name).exists():
            (target / name).unlink()
            log.info("removed %s: the new output has no such file", target / name)


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while the output is moved into place (the renames are then never split)."""
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None:
        yield
        return
    blocked = {signal.SIGINT, signal.SIGTERM}
    previous = mask(signal.SIG_BLOCK, blocked)
    try:
        yield
    finally:
        mask(signal.SIG_SETMASK, previous)


# --- leftovers of killed processes ---------------------------------------------------------------

def _recover_stale(target_folder: Path | None, parent: Path, names: list[str] | None) -> None:
    """Remove staging folders of dead processes; put back a previous output a killed process had moved aside."""
    if not parent.is_dir():
        return
    stem = target_folder.name if target_folder is not None else (names[-1] if names else "output")
    for kind in (_STAGING, _OLD):
        for leftover in sorted(parent.glob(f".{stem}.{kind}-*-*")):
            pid = _pid_of(leftover.name, kind)
            if pid is None or _alive(pid):
                continue
            if kind == _OLD and target_folder is not None and not target_folder.exists():
                os.rename(leftover, target_folder)
                log.warning("restored the previous output %s, left aside by an interrupted process", target_folder)
                continue
            shutil.rmtree(leftover, ignore_errors=True)
            log.info("removed %s, left by an interrupted process", leftover)


def _pid_of(name: str, kind: str) -> int | None:
    try:
        return int(name.rsplit(f".{kind}-", 1)[1].split("-", 1)[0])
    except (IndexError, ValueError):
        return None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        import psutil

        return psutil.pid_exists(pid)
    except ImportError:  # pragma: no cover - psutil is a dependency
        return True


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
