"""Landlock (Linux >= 5.13) through its three system calls, with ctypes: the kernel's ABI
version (`landlock_abi`), and `restrict`, which confines the calling process for good to a
list of (path, rights) rules: every filesystem right the ABI knows is denied outside them,
and, from ABI 4, TCP bind and connect everywhere; from ABI 6, abstract unix sockets and
signals outside the sandbox. Rights an ABI lacks are dropped from the rules.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import stat
import sys
from functools import cache

# System call numbers of the generic table, which these machines share.
SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
GENERIC_SYSCALL_MACHINES = {"x86_64", "amd64", "aarch64", "arm64", "riscv64", "loongarch64"}
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
MAKE_CHAR, MAKE_BLOCK = 1 << 6, 1 << 11
TRUNCATE, IOCTL_DEV = 1 << 14, 1 << 15
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # all a rule on a file may hold
READ = READ_FILE | READ_DIR
RX = READ | EXECUTE
TMP_RIGHTS = (1 << 16) - 1 & ~(MAKE_CHAR | MAKE_BLOCK | IOCTL_DEV)
NET_TCP = 0b11  # bind and connect
SCOPES = 0b11  # abstract unix sockets and signals


def fs_rights(abi: int) -> int:
    """Every filesystem right the ABI knows: 13 in ABI 1, REFER in 2, TRUNCATE in 3, IOCTL_DEV in 5."""
    return (1 << (13 if abi < 2 else 14 if abi < 3 else 15 if abi < 5 else 16)) - 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]  # fmt: skip


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class SandboxUnavailable(RuntimeError):
    """This system cannot confine a plugin (no Landlock); the message says why."""


@cache
def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    libc.prctl.restype = ctypes.c_int
    return libc


def die_with_parent() -> None:
    """SIGKILL this process when the thread that started it ends."""
    _libc().prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(9), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))


def _os_error(what: str) -> OSError:
    e = ctypes.get_errno()
    return OSError(e, f"{what}: {os.strerror(e)}")


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; SandboxUnavailable naming the reason where it has none."""
    if sys.platform != "linux":
        raise SandboxUnavailable(f"Landlock is a Linux feature and this is {sys.platform}")
    if platform.machine().lower() not in GENERIC_SYSCALL_MACHINES:
        raise SandboxUnavailable(f"Landlock's system call numbers are not known here for {platform.machine()}")
    abi = _libc().syscall(ctypes.c_long(SYS_CREATE_RULESET), None, ctypes.c_size_t(0),
                          ctypes.c_uint32(CREATE_RULESET_VERSION))  # fmt: skip
    if abi < 1:
        e = ctypes.get_errno()
        why = {errno.ENOSYS: "the kernel has no Landlock (Linux < 5.13, or built without it)",
               errno.EOPNOTSUPP: "Landlock is disabled in this kernel (not in its lsm= list)"}  # fmt: skip
        raise SandboxUnavailable(why.get(e, f"Landlock cannot be used here ({os.strerror(e)})"))
    return int(abi)


def restrict(rules: list[tuple[str, int]]) -> int:
    """Confine this process (its one thread and everything it starts) to `rules` (path,
    rights), for good; returns the ABI applied. Rights the ABI lacks are dropped from a rule;
    a path that does not exist is skipped."""
    abi = landlock_abi()
    libc, handled = _libc(), fs_rights(abi)
    attr = _RulesetAttr(handled, NET_TCP if abi >= 4 else 0, SCOPES if abi >= 6 else 0)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = libc.syscall(ctypes.c_long(SYS_CREATE_RULESET), ctypes.byref(attr), ctypes.c_size_t(size),
                           ctypes.c_uint32(0))  # fmt: skip
    if ruleset < 0:
        raise _os_error("landlock_create_ruleset")
    try:
        for path, rights in rules:
            _add_rule(libc, int(ruleset), path, rights & handled)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0),
                      ctypes.c_ulong(0)) != 0:  # fmt: skip
            raise _os_error("prctl(PR_SET_NO_NEW_PRIVS)")
        if libc.syscall(ctypes.c_long(SYS_RESTRICT_SELF), ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            raise _os_error("landlock_restrict_self")
    finally:
        os.close(ruleset)
    return abi


def _add_rule(libc: ctypes.CDLL, ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= FILE_RIGHTS
        attr = _PathBeneath(rights, fd)
        if rights and libc.syscall(ctypes.c_long(SYS_ADD_RULE), ctypes.c_int(ruleset), ctypes.c_int(RULE_PATH_BENEATH),
                                   ctypes.byref(attr), ctypes.c_uint32(0)) != 0:  # fmt: skip
            raise _os_error(f"landlock_add_rule {path}")
    finally:
        os.close(fd)
