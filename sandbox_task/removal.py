"""Removing the trees a run left behind, as the run's own uid, whatever their depth or modes.

Used by the teardown helper (teardown.py) once every process of the run's uid is dead. The
walk is iterative and descriptor-relative: no recursion, no path longer than one name, no
link ever followed (`O_NOFOLLOW`, and `..` only to climb back to a directory whose device and
inode it recorded on the way down). It holds at most `_OPEN_DIRECTORIES` descriptors however
deep the tree is, so a 40,000-level chain costs time proportional to its size and nothing
else.

Each directory is emptied as its owner: the run can take away its own rights (mode 0) and
another run of the same host may have planted directories of its uid inside this run's tree
(a run that made its scratch world-writable and passed its path over an abstract socket).
The helper may act as any run uid for that (`Identity`); it never acts as root or any other
user, so it can only ever remove what some run itself could have removed. Entries of any
other owner stop the removal of their ancestors, and the caller reports the failure.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field

_OPEN_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_PATH = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# Directory descriptors kept open on the way down; deeper ones are closed and found again
# through "..", checked against the recorded inode.
_OPEN_DIRECTORIES = 64
# A directory is listed again when it is not empty after its listing was removed (something
# still alive wrote into it meanwhile: only a run of another uid can); not forever.
_RELISTS = 16
# The mode a directory gets before it is emptied unless its mode already allows the same:
# its owner may list and unlink, nobody else may write into it any more.
_WORKING_MODE = 0o700
_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


class RemovalError(Exception):
    """Something below a tree could not be removed (its owner is not a run uid, or it moved)."""


class _Unremovable(RemovalError):
    """A directory whose owner the removal may not act as."""


class Identity:
    """Which uid the removal acts as, and which other uids it may switch to.

    A teardown helper keeps root as its saved uid only for this: to switch its effective uid
    between run uids, it passes through root for two system calls, touching no file there.
    """

    def __init__(self, uid: int, may_act_as: Callable[[int], bool] | None = None) -> None:
        self.home = uid
        self.current = uid
        self._may_act_as = may_act_as

    def allows(self, uid: int) -> bool:
        """Whether files owned by `uid` may be handled as `uid`."""
        return uid == self.current or (self._may_act_as is not None and self._may_act_as(uid))

    def become(self, uid: int) -> None:
        """Act as `uid` from now on (a no-op when already so)."""
        if uid == self.current:
            return
        if not self.allows(uid):
            raise RemovalError(f"not allowed to act as uid {uid}")
        os.setresuid(-1, 0, -1)
        os.setresuid(-1, uid, -1)
        self.current = uid

    def go_home(self) -> None:
        """Act as the uid the removal is for again."""
        self.become(self.home)


@dataclass
class _Directory:
    """One directory on the walk's stack."""

    name: str  # its name in the directory below it on the stack (or the top directory)
    fd: int | None  # None once closed to bound the descriptors held
    device: int
    inode: int
    owner: int
    subdirectories: list[str] = field(default_factory=list)
    relists: int = 0
    failed: bool = False


def remove_tree(parent_fd: int, name: str, identity: Identity) -> None:
    """Remove `name` in `parent_fd` and everything below it, never following a link.

    `identity` must currently be a uid that may remove `name` from `parent_fd`; it is
    current again on return.

    Raises:
        RemovalError: something below could not be removed; the rest was.
    """
    with contextlib.suppress(FileNotFoundError, IsADirectoryError):
        os.unlink(name, dir_fd=parent_fd)
        return
    top_owner = identity.current
    stack: list[_Directory] = []
    failures: list[str] = []
    try:
        try:
            top = _enter(parent_fd, name, identity)
        except _Unremovable as error:
            failures.append(str(error))
            top = None
        if top is not None:
            stack.append(top)
        while stack:
            directory = stack[-1]
            if directory.subdirectories:
                _descend(stack, directory, identity, failures)
            else:
                _leave(stack, parent_fd, top_owner, identity, failures)
    finally:
        for directory in stack:
            if directory.fd is not None:
                os.close(directory.fd)
        identity.become(top_owner)
    if failures:
        raise RemovalError("; ".join(failures[:3]))


def _descend(
    stack: list[_Directory], directory: _Directory, identity: Identity, failures: list[str]
) -> None:
    """Enter the next subdirectory of the top of the stack."""
    identity.become(directory.owner)
    directory_fd = _reopen(stack, len(stack) - 1, identity)
    try:
        child = _enter(directory_fd, directory.subdirectories.pop(), identity)
    except _Unremovable as error:
        failures.append(str(error))
        directory.failed = True
        return
    if child is None:
        return
    stack.append(child)
    if len(stack) > _OPEN_DIRECTORIES:
        kept_open_too_long = stack[-_OPEN_DIRECTORIES - 1]
        if kept_open_too_long.fd is not None:
            os.close(kept_open_too_long.fd)
            kept_open_too_long.fd = None


def _leave(
    stack: list[_Directory],
    top_fd: int,
    top_owner: int,
    identity: Identity,
    failures: list[str],
) -> None:
    """The top of the stack is emptied (or given up): remove it from its parent."""
    directory = stack[-1]
    if len(stack) > 1:
        _reopen(stack, len(stack) - 2, identity)
    parent_fd = stack[-2].fd if len(stack) > 1 else top_fd
    parent_owner = stack[-2].owner if len(stack) > 1 else top_owner
    assert parent_fd is not None and directory.fd is not None
    if directory.failed:
        _pop(stack, failed=True)
        return
    identity.become(parent_owner)
    try:
        os.rmdir(directory.name, dir_fd=parent_fd)
    except FileNotFoundError:
        pass
    except OSError as error:
        if error.errno != errno.ENOTEMPTY or directory.relists >= _RELISTS:
            failures.append(f"{directory.name}: {error.strerror}")
            _pop(stack, failed=True)
            return
        # Written into while we emptied it: list it again.
        directory.relists += 1
        identity.become(directory.owner)
        _list_and_unlink(directory)
        return
    _pop(stack, failed=False)


def _pop(stack: list[_Directory], *, failed: bool) -> None:
    directory = stack.pop()
    if directory.fd is not None:
        os.close(directory.fd)
    if failed and stack:
        stack[-1].failed = True


def _reopen(stack: list[_Directory], index: int, identity: Identity) -> int:
    """The descriptor of stack[index], opened again through ".." of the one above if closed.

    Raises:
        RemovalError: ".." is no longer the directory recorded on the way down.
    """
    directory = stack[index]
    if directory.fd is not None:
        return directory.fd
    child = stack[index + 1]
    assert child.fd is not None
    # Climbing needs search permission on the child (its owner has it), listing the parent
    # its owner's rights: through an O_PATH handle, as each in turn.
    identity.become(child.owner)
    path_fd = os.open("..", _OPEN_PATH, dir_fd=child.fd)
    try:
        identity.become(directory.owner)
        fd = os.open(".", _OPEN_DIRECTORY, dir_fd=path_fd)
    finally:
        os.close(path_fd)
    info = os.fstat(fd)
    if (info.st_dev, info.st_ino) != (directory.device, directory.inode):
        os.close(fd)
        raise RemovalError("a directory was moved during the removal")
    directory.fd = fd
    return fd


def _enter(parent_fd: int, name: str, identity: Identity) -> _Directory | None:
    """Open the directory `name` as its owner, make it ours alone, unlink its non-directories.

    Returns None when there is nothing to enter: it vanished, or it was not a directory (then
    it is unlinked).

    Raises:
        _Unremovable: its owner is not one we may act as.
    """
    try:
        fd = os.open(name, _OPEN_DIRECTORY, dir_fd=parent_fd)
    except FileNotFoundError:
        return None
    except PermissionError:
        fd = _open_without_rights(parent_fd, name, identity)
    except OSError as error:
        if error.errno not in (errno.ENOTDIR, errno.ELOOP):
            raise
        # Replaced by a link or a file since it was listed: unlink that instead.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=parent_fd)
        return None
    info = os.fstat(fd)
    if not identity.allows(info.st_uid):
        os.close(fd)
        raise _Unremovable(f"{name}: owned by uid {info.st_uid}")
    identity.become(info.st_uid)
    if not _is_ours_alone(info.st_mode):
        os.fchmod(fd, _WORKING_MODE)
    directory = _Directory(
        name=name, fd=fd, device=info.st_dev, inode=info.st_ino, owner=info.st_uid
    )
    _list_and_unlink(directory)
    return directory


def _open_without_rights(parent_fd: int, name: str, identity: Identity) -> int:
    """Open a directory its mode closes to us: as its owner, who may give the rights back.

    O_PATH needs no permission on the directory itself; chmod through /proc/self/fd then
    changes exactly that inode, never whatever a path might name by then.
    """
    path_fd = os.open(name, _OPEN_PATH, dir_fd=parent_fd)
    try:
        owner = os.fstat(path_fd).st_uid
        if not identity.allows(owner):
            raise _Unremovable(f"{name}: owned by uid {owner}")
        identity.become(owner)
        os.chmod(f"/proc/self/fd/{path_fd}", _WORKING_MODE)
        return os.open(".", _OPEN_DIRECTORY, dir_fd=path_fd)
    finally:
        os.close(path_fd)


def _is_ours_alone(mode: int) -> bool:
    """Whether the owner may list and change the directory and nobody else may change it.

    Changing the mode only when needed saves an inode write per directory (the default 0755
    of a run's directories needs none).
    """
    return mode & stat.S_IRWXU == stat.S_IRWXU and not mode & _OTHERS_WRITE


def _list_and_unlink(directory: _Directory) -> None:
    """Unlink every non-directory of `directory`, remove its empty subdirectories and note
    the others.

    The caller acts as the directory's owner. The file type comes from the directory entry
    itself: no stat per file, one unlink (or rmdir) each.
    """
    assert directory.fd is not None
    subdirectories = []
    for entry in os.scandir(directory.fd):
        try:
            is_directory = entry.is_dir(follow_symlinks=False)
        except OSError:
            is_directory = False
        if is_directory:
            if not _removed_if_empty(directory.fd, entry.name):
                subdirectories.append(entry.name)
            continue
        try:
            os.unlink(entry.name, dir_fd=directory.fd)
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            subdirectories.append(entry.name)
    directory.subdirectories = subdirectories


def _removed_if_empty(parent_fd: int, name: str) -> bool:
    """rmdir, which needs no rights on the directory itself: one call for an empty leaf."""
    try:
        os.rmdir(name, dir_fd=parent_fd)
    except FileNotFoundError:
        return True
    except OSError:  # not empty (or a mount point, or...): walked into instead
        return False
    return True
