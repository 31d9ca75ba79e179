"""A seccomp filter through libseccomp (ctypes): what Landlock does not cover.

Refused with EACCES/EPERM: sockets other than AF_UNIX (so UDP too, which Landlock cannot see),
ptrace and cross-process memory access, bpf, mounting, namespaces, keyrings, kernel modules,
io_uring (a second path to the network), userfaultfd, perf events, and changing CPU affinity,
scheduling policy or priority. clone3 answers ENOSYS,
so libc falls back to clone, whose namespace flags can be inspected.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_ERRNO_BASE = 0x00050000
SCMP_CMP_NE, SCMP_CMP_MASKED_EQ = 1, 7
AF_UNIX = 1
CLONE_NAMESPACE_FLAGS = (
    0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
)  # NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET

DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "bpf", "mount", "umount2", "pivot_root",
    "chroot", "unshare", "setns", "keyctl", "add_key", "request_key", "init_module",
    "finit_module", "delete_module", "kexec_load", "kexec_file_load", "io_uring_setup",
    "userfaultfd", "perf_event_open", "open_by_handle_at", "name_to_handle_at", "quotactl",
    "swapon", "swapoff", "reboot", "settimeofday", "clock_settime", "acct",
    # A worker stays on its lane's core at its priority: moving to another lane's core, or
    # real-time scheduling, would slow another student's timing.
    "sched_setaffinity", "sched_setscheduler", "sched_setparam", "sched_setattr", "setpriority",
)  # fmt: skip


class ScmpArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def load_library() -> ctypes.CDLL:
    name = ctypes.util.find_library("seccomp") or "libseccomp.so.2"
    library = ctypes.CDLL(name, use_errno=True)
    library.seccomp_init.restype = ctypes.c_void_p
    library.seccomp_init.argtypes = [ctypes.c_uint32]
    library.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    library.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(ScmpArgCmp)
    ]  # fmt: skip
    library.seccomp_load.argtypes = [ctypes.c_void_p]
    library.seccomp_release.argtypes = [ctypes.c_void_p]
    return library


def install() -> None:
    """Load the filter into this process; inherited by every process it starts."""
    library = load_library()
    context = library.seccomp_init(SCMP_ACT_ALLOW)
    if not context:
        raise OSError("seccomp_init failed")
    try:
        refuse = SCMP_ACT_ERRNO_BASE | errno.EPERM
        for name in DENIED:
            _rule(library, context, refuse, name, [])
        _rule(library, context, SCMP_ACT_ERRNO_BASE | errno.ENOSYS, "clone3", [])
        not_unix = ScmpArgCmp(0, SCMP_CMP_NE, AF_UNIX, 0)
        _rule(library, context, SCMP_ACT_ERRNO_BASE | errno.EACCES, "socket", [not_unix])
        namespaces = ScmpArgCmp(0, SCMP_CMP_MASKED_EQ, CLONE_NAMESPACE_FLAGS, 0)
        _rule_each_flag(library, context, refuse, namespaces)
        if library.seccomp_load(context) != 0:
            raise OSError("seccomp_load failed")
    finally:
        library.seccomp_release(context)


def _rule_each_flag(library: ctypes.CDLL, context: int, action: int, mask: ScmpArgCmp) -> None:
    """Refuse clone() with any namespace flag: one masked comparison per flag bit."""
    flags = mask.datum_a
    for bit in range(64):
        flag = 1 << bit
        if flags & flag:
            _rule(
                library, context, action, "clone", [ScmpArgCmp(0, SCMP_CMP_MASKED_EQ, flag, flag)]
            )


def _rule(
    library: ctypes.CDLL, context: int, action: int, name: str, args: list[ScmpArgCmp]
) -> None:
    number = library.seccomp_syscall_resolve_name(name.encode())
    if number < 0:
        return  # not a syscall on this architecture
    array = (ScmpArgCmp * max(len(args), 1))(*args)
    result = library.seccomp_rule_add_array(context, action, number, len(args), array)
    if result != 0:
        raise OSError(-result, f"seccomp rule for {name} failed")
