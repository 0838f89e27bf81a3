# SPDX-License-Identifier: MIT
"""gdb support for libfiber: see the fibers, not only the threads.

gdb knows threads.  A libfiber program has a few threads (Ms) and many
fibers, most of them parked: their registers are not in any thread but
saved on their own stack by fiber_context_switch().  This script adds

  info fibers              one line per live fiber
  fiber N CMD              run gdb command CMD "inside" fiber N (N is an
                           id, or any expression that gdb evaluates to one)
  fiber apply all CMD      the same, for every live fiber

Load it with `source libfiber-gdb.py`; libfiber also asks gdb to load it
by itself (docs/debugging.md, "gdb").

How `fiber N bt` shows a parked fiber's stack.  The obvious way, writing
the fiber's saved registers into $sp and $pc for the duration of the
command, does not work on a core file (its registers cannot be written)
and, on a live process, leaves the thread broken if the command fails
half way.  Instead, while a fiber is selected, an unwinder (gdb's Python
unwinder API) claims the innermost frame of the selected thread and says
that its caller's registers are those saved on the fiber's stack.  From
there on gdb's ordinary DWARF unwinding walks up the fiber's stack.
Frame #0 is still the thread's own, so a frame filter hides it from
backtraces while the fiber is selected (`bt -no-filters` shows it).
Nothing is written to the inferior, so the same code serves a live
process and a core file.

A fiber that is running, or in a system call, is on an M: the command
runs on that M's thread instead (found as the M whose curg is the fiber,
on sched.allm, and the thread whose LWP is the M's tid).
"""

import contextlib
import struct
import time

import gdb

try:
    import gdb.unwinder
    _HAVE_UNWINDER = True
except ImportError:          # gdb built without it (before 7.10)
    _HAVE_UNWINDER = False

# enum fiber_status (libfiber/runtime.h).
_STATUS_NAMES = ("idle", "runnable", "running", "syscall", "waiting", "dead")
FIBER_IDLE, FIBER_RUNNABLE, FIBER_RUNNING, FIBER_SYSCALL, FIBER_WAITING, \
    FIBER_DEAD = range(6)

# A corrupted list (a core of a program that scribbled over the heap) must
# not hang gdb: stop after this many fibers, or at the first loop.
_MAX_FIBERS = 10000000
_MAX_MS = 100000

# CLOCK_MONOTONIC_COARSE, the clock of struct fiber's waitsince; Python's
# time module does not name it.
_CLOCK_MONOTONIC_COARSE = 6


class FiberError(Exception):
    """Something about the inferior's fibers that the user should read."""


# ---- finding libfiber's state -----------------------------------------------

def _lookup_var(name, filename, type_name):
    """libfiber's global or file-static NAME, defined in FILENAME.

    Found by name first, as any program's; but a program may have its own
    variable called `sched` (libfiber.a hides its names from the linker,
    not from the debug info), so a symbol of another type is passed over
    for gdb's 'FILE'::NAME, which looks in libfiber's source file only.
    """
    candidates = []
    sym = gdb.lookup_static_symbol(name)
    if sym is not None:
        candidates.append(sym)
        objfile = sym.symtab.objfile if sym.symtab else None
    else:
        objfile = None
    stats = gdb.lookup_static_symbol("allfibers")
    if stats is not None and stats.symtab is not None:
        objfile = stats.symtab.objfile
    if objfile is not None:
        for look in (objfile.lookup_global_symbol, objfile.lookup_static_symbol):
            s = look(name)
            if s is not None:
                candidates.append(s)
    s = gdb.lookup_global_symbol(name)
    if s is not None:
        candidates.append(s)
    for s in candidates:
        if s.type is not None and type_name in str(s.type.strip_typedefs()):
            return s.value()
    try:
        v = gdb.parse_and_eval("'%s'::%s" % (filename, name))
        if type_name in str(v.type.strip_typedefs()):
            return v
    except gdb.error:
        pass
    raise FiberError("no libfiber in this program (or it is not loaded yet, "
                     "or has no debug info): %s not found" % name)


def _fibers():
    """Every fiber on allfibers (libfiber/stats.c), newest first.

    The list is pushed at the head only and never unlinked, so a walk
    from the head a stopped program holds sees a consistent list.
    """
    g = _lookup_var("allfibers", "stats.c", "fiber")
    seen = set()
    while int(g) != 0:
        addr = int(g)
        if addr in seen:
            raise FiberError("the fiber list loops at 0x%x" % addr)
        if len(seen) >= _MAX_FIBERS:
            raise FiberError("more than %d fibers on the list: corrupted?"
                             % _MAX_FIBERS)
        seen.add(addr)
        yield g.dereference()
        g = g["allnext"]


def _ms():
    """Every M on sched.allm (libfiber/sched.c)."""
    m = _lookup_var("sched", "sched.c", "fiber_sched")["allm"]
    n = 0
    while int(m) != 0:
        n += 1
        if n > _MAX_MS:
            raise FiberError("the M list is too long: corrupted?")
        yield m.dereference()
        m = m["allnext"]


def _status(g):
    return int(g["status"])


def _live(g):
    return _status(g) not in (FIBER_IDLE, FIBER_DEAD)


def _find_fiber(fid):
    """The live fiber with id FID (or the newest dead one, for a message)."""
    dead = None
    for g in _fibers():
        if int(g["id"]) == fid:
            if _live(g):
                return g
            dead = dead or g
    if dead is not None:
        raise FiberError("fiber %d is %s" % (fid, _STATUS_NAMES[_status(dead)]))
    raise FiberError("no fiber %d" % fid)


def _m_running(g):
    """The M whose current fiber is G, or None."""
    for m in _ms():
        if int(m["curg"]) == int(g.address) and not bool(m["dead"]):
            return m
    return None


def _thread_of_tid(tid):
    """gdb's thread whose LWP is TID (live process and core alike)."""
    for t in gdb.selected_inferior().threads():
        if t.ptid[1] == tid:
            return t
    return None


def _current_fiber_addr():
    """Address of the fiber running on the selected thread, or 0."""
    t = gdb.selected_thread()
    if t is None:
        return 0
    for m in _ms():
        if int(m["tid"]) == t.ptid[1] and not bool(m["dead"]):
            return int(m["curg"])
    return 0


def _string(p):
    if int(p) == 0:
        return ""
    # At most 80 bytes, and byte by byte where the string ends near an
    # unmapped page: a garbage pointer must not stop the listing.
    inf = gdb.selected_inferior()
    out = b""
    try:
        while len(out) < 80:
            c = inf.read_memory(int(p) + len(out), 1).tobytes()
            if c == b"\0":
                break
            out += c
        return out.decode("utf-8", "replace")
    except gdb.MemoryError:
        return "<0x%x?>" % int(p)


def _describe_pc(pc):
    """A return address as `function (file:line)`."""
    if pc == 0:
        return "?"
    where = pc - 1          # inside the call, not after it
    try:
        block = gdb.block_for_pc(where)
        while block is not None and block.function is None:
            block = block.superblock
        name = block.function.print_name if block is not None else None
    except RuntimeError:
        name = None
    if name is None:
        s = gdb.execute("info symbol 0x%x" % pc, to_string=True).strip()
        return s.split(" in section")[0] if not s.startswith("No symbol") \
            else "0x%x" % pc
    sal = gdb.find_pc_line(where)
    if sal.symtab is not None:
        return "%s (%s:%d)" % (name, sal.symtab.filename.split("/")[-1],
                               sal.line)
    return name


def _clock_now():
    """Now on the inferior's coarse monotonic clock, or None.

    Only a native (local, live) process shares our clock: a core file has
    no "now", and a remote target's clock is another machine's.
    """
    inf = gdb.selected_inferior()
    conn = getattr(inf, "connection", None)
    if inf.pid == 0 or conn is None or conn.type != "native":
        return None
    try:
        return time.clock_gettime_ns(_CLOCK_MONOTONIC_COARSE)
    except OSError:
        return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def _duration(ns):
    if ns < 0:
        ns = 0
    if ns < 1000000:
        return "%dus" % (ns // 1000)
    if ns < 10 * 1000000000:
        return "%dms" % (ns // 1000000)
    if ns < 3600 * 1000000000:
        return "%ds" % (ns // 1000000000)
    return "%dh%02dm" % (ns // 3600000000000, ns // 60000000000 % 60)


# ---- the saved context -------------------------------------------------------

class _Context:
    """A parked fiber's registers, as fiber_context_switch() saved them.

    x86-64 (libfiber/context_x86_64.S), 64 bytes from ctx.sp up:
        +0   mxcsr (4 bytes), x87 control word (2), padding (2)
        +8   r15    +16 r14    +24 r13    +32 r12    +40 rbx    +48 rbp
        +56  return address: the pc the fiber resumes at
        +64  the caller's stack pointer (the switch "returns" with sp here)

    aarch64 (libfiber/context_aarch64.S), 176 bytes from ctx.sp up:
        +0   d8 .. d15 (8 bytes each)
        +64  x19 .. x28
        +144 x29 (frame pointer)   +152 x30 (return address: the pc)
        +160 fpcr, padding
        +176 the caller's stack pointer
    """

    def __init__(self, arch, sp):
        self.sp = sp
        inf = gdb.selected_inferior()
        if arch.startswith("i386:x86-64"):
            w = struct.unpack("<8Q", inf.read_memory(sp, 64).tobytes())
            self.regs = {"r15": w[1], "r14": w[2], "r13": w[3], "r12": w[4],
                         "rbx": w[5], "rbp": w[6], "rip": w[7],
                         "rsp": sp + 64}
        elif arch.startswith("aarch64"):
            w = struct.unpack("<22Q", inf.read_memory(sp, 176).tobytes())
            self.regs = {"x%d" % (19 + i): w[8 + i] for i in range(10)}
            self.regs.update({"x29": w[18], "x30": w[19], "pc": w[19],
                              "sp": sp + 176})
            for i in range(8):      # only the low halves are callee-saved
                self.regs["d%d" % (8 + i)] = w[i]
        else:
            raise FiberError("no fiber unwinder for architecture %s" % arch)
        self.pc = self.regs.get("rip", self.regs.get("pc"))


class _Selection:
    """The parked fiber the unwinder stands in for, on one thread."""

    def __init__(self, thread_num, ctx):
        self.thread_num = thread_num
        self.ctx = ctx


_selected = None


class _FrameId:
    """What create_unwind_info() wants: a frame's stack and code address."""

    def __init__(self, sp, pc):
        # gdb 13 takes gdb.Value here, not int.
        u64 = gdb.lookup_type("unsigned long long")
        self.sp = gdb.Value(sp).cast(u64)
        self.pc = gdb.Value(pc).cast(u64)


if _HAVE_UNWINDER:
    class FiberContextUnwinder(gdb.unwinder.Unwinder):
        """While a fiber is selected: frame #0's caller is the fiber.

        Claims only the innermost frame of the thread the fiber was
        selected on, and only while a `fiber` command runs.  The frame id
        it gives frame #0 uses the fiber's saved sp as the stack address:
        gdb refuses a caller whose frame is "inner" (lower) than its
        callee's, and the fiber's stack may lie below the thread's.
        """

        def __init__(self):
            super().__init__("libfiber")

        def __call__(self, pending_frame):
            sel = _selected
            if sel is None or pending_frame.level() != 0:
                return None
            t = gdb.selected_thread()
            if t is None or t.num != sel.thread_num:
                return None
            pc_name = "rip" if "rip" in sel.ctx.regs else "pc"
            pc = pending_frame.read_register(pc_name)
            info = pending_frame.create_unwind_info(
                _FrameId(sel.ctx.sp, int(pc)))
            u64 = gdb.lookup_type("unsigned long long")
            for name, value in sel.ctx.regs.items():
                info.add_saved_register(name, gdb.Value(value).cast(u64))
            return info

    gdb.unwinder.register_unwinder(None, FiberContextUnwinder(), replace=True)


class _HideThreadFrame:
    """A frame filter: drop frame #0 (the thread's) while a fiber is selected."""

    def __init__(self):
        self.name = "libfiber"
        self.priority = 100
        self.enabled = True

    def filter(self, frames):
        if _selected is None:
            return frames
        return (f for f in frames if f.inferior_frame().level() != 0)


gdb.frame_filters["libfiber"] = _HideThreadFrame()


@contextlib.contextmanager
def _select_parked(g):
    """Make the selected thread's backtrace the parked fiber G's."""
    global _selected
    if not _HAVE_UNWINDER:
        raise FiberError("this gdb has no Python unwinder API")
    t = gdb.selected_thread()
    if t is None:
        raise FiberError("no thread to show the fiber on")
    arch = gdb.selected_inferior().architecture().name()
    sp = int(g["ctx"]["sp"])
    try:
        ctx = _Context(arch, sp)
    except gdb.MemoryError:
        raise FiberError("fiber %d: its saved context at 0x%x cannot be read"
                         % (int(g["id"]), sp))
    if ctx.pc == 0:
        # Seen in cores written by gdb's gcore on Linux 6.13+: a stack
        # arena with MADV_GUARD_INSTALL guards is not copied past its
        # first guard, and reads as zeros (docs/debugging.md).
        raise FiberError("fiber %d: its saved context at 0x%x reads as zeros "
                         "(is its stack missing from the core?)"
                         % (int(g["id"]), sp))
    _selected = _Selection(t.num, ctx)
    gdb.invalidate_cached_frames()
    try:
        yield
    finally:
        _selected = None
        gdb.invalidate_cached_frames()


@contextlib.contextmanager
def _on_thread(thread):
    """Run on THREAD, then go back to the thread and frame selected before."""
    old = gdb.selected_thread()
    try:
        old_frame = gdb.selected_frame().level()
    except gdb.error:
        old_frame = None
    thread.switch()
    try:
        yield
    finally:
        if old is not None and old.is_valid():
            old.switch()
            if old_frame:
                gdb.execute("frame %d" % old_frame, to_string=True)


def _run_in_fiber(g, command):
    """Run gdb COMMAND with fiber G's stack as the selected thread's."""
    st = _status(g)
    if st in (FIBER_RUNNING, FIBER_SYSCALL):
        m = _m_running(g)
        if m is None:
            raise FiberError("fiber %d is %s but on no M (switching?)"
                             % (int(g["id"]), _STATUS_NAMES[st]))
        thread = _thread_of_tid(int(m["tid"]))
        if thread is None:
            raise FiberError("fiber %d runs on M%d, LWP %d, which gdb does "
                             "not know" % (int(g["id"]), int(m["id"]),
                                           int(m["tid"])))
        with _on_thread(thread):
            gdb.execute(command)
        return
    with _select_parked(g):
        gdb.execute(command)


# ---- commands ------------------------------------------------------------------

class InfoFibers(gdb.Command):
    """List libfiber's live fibers.

Columns: the id ('*' marks the fiber on the selected thread); its state;
why it waits; how long it has waited (live process: now minus when it
parked; core file: how long before the most recent park of any fiber it
parked, marked '+', since a core has no "now"); the M (and thread LWP) it
runs on or is locked to; and the fiber that started it, with where."""

    def __init__(self):
        super().__init__("info fibers", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        try:
            self._list()
        except (FiberError, gdb.MemoryError) as e:
            raise gdb.GdbError("libfiber: %s" % e)

    def _list(self):
        rows, current, running_on = [], 0, {}
        try:
            current = _current_fiber_addr()
            running_on = {int(m["curg"]): m for m in _ms()
                          if not bool(m["dead"]) and int(m["curg"])}
            for g in _fibers():
                st = _status(g)
                if st in (FIBER_IDLE, FIBER_DEAD):
                    continue
                rows.append((g, st))
        except FiberError:
            self._print(rows, current, running_on)
            raise
        except gdb.MemoryError as e:
            # Print what was read, then say where the list went wrong.
            self._print(rows, current, running_on)
            raise FiberError("the fiber list is unreadable after %d "
                             "fibers: %s" % (len(rows), e))
        self._print(rows, current, running_on)

    def _print(self, rows, current, running_on):
        now = _clock_now()
        newest = max((int(g["waitsince"]) for g, st in rows
                      if st == FIBER_WAITING), default=0)
        print("  %-6s %-9s %-16s %-8s %-20s %s" % (
            "Id", "State", "Wait reason", "For", "Thread", "Created by"))
        for g, st in reversed(rows):           # oldest first
            mark = "*" if int(g.address) == current else " "
            reason = _string(g["wait_reason"]) if st == FIBER_WAITING else ""
            since = ""
            if st == FIBER_WAITING and int(g["waitsince"]):
                if now is not None:
                    since = _duration(now - int(g["waitsince"]))
                else:
                    since = "+" + _duration(newest - int(g["waitsince"]))
            thread = ""
            m = running_on.get(int(g.address))
            if int(g["lockedm"]):
                lm = g["lockedm"].dereference()
                thread = "locked M%d/%d" % (int(lm["id"]), int(lm["tid"]))
            elif m is not None:
                thread = "M%d/%d" % (int(m["id"]), int(m["tid"]))
            if int(g["created_pc"]) == 0:
                creator = "fiber_main"      # the main fiber has no creator
            else:
                creator = "fiber %d at %s" % (
                    int(g["parent_id"]), _describe_pc(int(g["created_pc"])))
            print("%s %-6d %-9s %-16s %-8s %-20s %s" % (
                mark, int(g["id"]), _STATUS_NAMES[st] if st < 6 else "?%d" % st,
                reason, since, thread, creator))


class FiberCommand(gdb.Command):
    """Run a gdb command in a fiber's context: fiber N CMD, fiber apply all CMD.

N is a fiber id as `info fibers` shows it, or an expression gdb evaluates
to one.  A parked fiber's stack is shown on the selected thread (its
frame #0, the thread's own, is left out of backtraces); a running fiber's
command runs on the thread of its M.  Examples: fiber 17 bt;
fiber 17 bt full; fiber apply all bt."""

    def __init__(self):
        super().__init__("fiber", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        words = arg.split(None, 1)
        if len(words) < 2:
            raise gdb.GdbError("usage: fiber N COMMAND, fiber apply all COMMAND")
        try:
            if words[0] == "apply":
                self._apply(words[1])
            else:
                fid = int(gdb.parse_and_eval(words[0]))
                _run_in_fiber(_find_fiber(fid), words[1])
        except (FiberError, gdb.MemoryError) as e:
            raise gdb.GdbError("libfiber: %s" % e)

    def _apply(self, rest):
        words = rest.split(None, 1)
        if len(words) < 2 or words[0] != "all":
            raise gdb.GdbError("usage: fiber apply all COMMAND")
        fibers = [g for g in _fibers() if _live(g)]
        for g in reversed(fibers):
            st = _status(g)
            reason = _string(g["wait_reason"]) if st == FIBER_WAITING else ""
            print("\nFiber %d (%s%s):" % (int(g["id"]), _STATUS_NAMES[st],
                                          ", " + reason if reason else ""))
            try:
                _run_in_fiber(g, words[1])
            except (FiberError, gdb.error) as e:
                print("libfiber: %s" % e)


InfoFibers()
FiberCommand()
