"""Shared helpers of the benchmarks: seeded inputs, timing, peak memory, tables.

A benchmark prints what it measured; it never asserts a timing. Everything here
runs inside the benchmark's own process, so methods compared with these helpers
share one interpreter, one set of inputs and one machine state.

All coordinates are RD New (EPSG:28992) metres. The inputs are **generated**
(see :mod:`partition.demo`): no real address or person appears in them.
"""

from __future__ import annotations

import ctypes
import gc
import math
import os
import platform
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata

import numpy as np
import pandas as pd

from partition.demo import make_demo_municipality
from partition.geocode import RegisterGeocoder

REGISTRATIONS_PER_ADDRESS = 0.2
"""Registrations per generated address: one household in five takes part."""

TOWN_MAX_ADDRESSES = 1_000_000
"""Largest generated municipality; larger inputs place several side by side."""

TOWN_GAP_M = 5_000.0
"""East-west gap between municipalities placed side by side (m)."""

MEMBER_COLUMNS = [
    "address_key",
    "x",
    "y",
    "woonplaats",
    "openbare_ruimte",
    "postcode",
    "buurtcode",
    "wijkcode",
]
"""Columns of the benchmark members (geocoded registrations)."""

BUSY_MACHINE_CORES = 0.25
"""Mean cores used by other processes above which a time is flagged as disturbed."""

PEAK_MEMORY_DEFINITION = (
    "peak MB = highest resident set size (VmRSS) of the benchmark process while "
    "the method ran, sampled every 20 ms from /proc/self/status and combined with "
    "the kernel's high-water mark VmHWM (reset through /proc/self/clear_refs just "
    "before the method, so spikes between samples count), minus VmRSS just before "
    "the method started; memory the process already held and reused is not "
    "counted."
)

_SPARE = 1.03  # registrations generated per wanted member (1 % stay unmatched)
_SAMPLE_S = 0.02
_MIN_WINDOW_S = 0.5
_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


# --- inputs ------------------------------------------------------------------


def make_members(n: int, *, seed: int = 0) -> pd.DataFrame:
    """Return ``n`` geocoded registrations of generated municipalities.

    One demo municipality (:func:`partition.demo.make_demo_municipality`) with
    ``n / REGISTRATIONS_PER_ADDRESS`` addresses supplies the registrations; above
    ``TOWN_MAX_ADDRESSES`` addresses several are generated with derived seeds and
    placed side by side from west to east, ``TOWN_GAP_M`` apart. Each is geocoded
    on its own with :class:`partition.geocode.RegisterGeocoder`.

    Parameters
    ----------
    n
        Number of members wanted (exact), at least 1.
    seed
        Seed of the first municipality; municipality ``i`` uses
        ``seed * 1000 + i``.

    Returns
    -------
    members
        ``MEMBER_COLUMNS`` on a ``RangeIndex``, ``x``/``y`` in EPSG:28992 metres.
        With several municipalities their woonplaats names get a suffix
        (``"Demodorp 2"``) and their ``address_key`` a prefix (``"2/"``), so
        both stay distinct: the generated postcodes repeat between
        municipalities.
    """
    towns = max(1, math.ceil(n / (REGISTRATIONS_PER_ADDRESS * TOWN_MAX_ADDRESSES)))
    shares = np.full(towns, n // towns) + (np.arange(towns) < n % towns)
    parts = []
    east = None
    for i, n_town in enumerate(shares.tolist()):
        town, west_edge, east_edge = _town_members(n_town, seed=seed * 1000 + i)
        shift = 0.0 if east is None else east + TOWN_GAP_M - west_edge
        town["x"] += shift
        east = east_edge + shift
        if towns > 1:
            town["woonplaats"] = town["woonplaats"] + f" {i + 1}"
            town["address_key"] = f"{i + 1}/" + town["address_key"]
        parts.append(town)
    return pd.concat(parts, ignore_index=True)


def _town_members(n: int, *, seed: int) -> tuple[pd.DataFrame, float, float]:
    """Geocoded members of one generated municipality and its x extent (m)."""
    n_addresses = max(10, math.ceil(n / REGISTRATIONS_PER_ADDRESS))
    n_registrations = min(math.ceil(n * _SPARE) + 5, int(0.4 * n_addresses))
    demo = make_demo_municipality(
        seed=seed, n_addresses=n_addresses, n_registrations=n_registrations
    )

    # the geocoder reads x/y; the geometry column is not needed
    register = pd.DataFrame(demo.addresses.drop(columns="geometry"))
    geocoded = RegisterGeocoder(register).geocode(demo.registrations)
    matched = geocoded[geocoded["match_quality"].ne("unmatched")]
    if len(matched) < n:
        msg = (
            f"the demo municipality (seed {seed}) geocoded {len(matched)} "
            f"registrations, fewer than the {n} wanted; raise `_SPARE`."
        )
        raise RuntimeError(msg)

    # registrations come in random order, so the first n are a random subset
    members = matched.iloc[:n][MEMBER_COLUMNS].reset_index(drop=True)
    members = members.astype({"x": float, "y": float})
    return members, float(register["x"].min()), float(register["x"].max())


# --- measuring ---------------------------------------------------------------


class BudgetExceeded(BaseException):  # noqa: N818 - reads as an event, not a bug
    """Raised by the SIGALRM guard when a method runs past its time budget.

    A ``BaseException`` so that a library's ``except Exception`` cannot swallow
    it. Python delivers it only between bytecodes: a long call into compiled code
    finishes first.
    """


@dataclass
class Measurement:
    """Wall time and peak memory of one call, with its result or its failure."""

    seconds: float
    peak_mb: float
    result: object = None
    timed_out: bool = False
    error: str | None = None
    others_cpu_s: float = 0.0  # CPU seconds other processes used meanwhile
    window_s: float = 0.0  # wall seconds over which others_cpu_s was counted

    @property
    def ok(self) -> bool:
        """True when the call returned a result."""
        return not self.timed_out and self.error is None

    @property
    def others_cores(self) -> float | None:
        """Mean cores other processes kept busy meanwhile; None below 0.5 s.

        /proc/stat counts in ticks of 10 ms, so a shorter window says nothing.
        """
        if self.window_s < _MIN_WINDOW_S:
            return None
        return self.others_cpu_s / self.window_s


def measure(fn: Callable[[], object], *, budget_s: float | None = None) -> Measurement:
    """Call ``fn()`` and measure its wall time and peak memory.

    Parameters
    ----------
    fn
        The work to measure, without arguments.
    budget_s
        Seconds after which a SIGALRM interrupts the call (raising
        :class:`BudgetExceeded` inside it); None for no limit. Only works in the
        main thread.

    Returns
    -------
    Measurement
        Seconds of wall time (``time.perf_counter``) and peak MB as defined in
        ``PEAK_MEMORY_DEFINITION``. An exception inside ``fn`` is recorded in
        ``error`` as its type and a short message, not raised.
    """
    # start from a settled heap, so freed memory of earlier calls is not reused
    gc.collect()
    _trim_heap()
    baseline = _rss_bytes()
    hwm_ok = _reset_high_water_mark()
    sampler = _PeakSampler()
    sampler.start()

    armed = budget_s is not None and budget_s > 0
    running = [True]

    def on_alarm(signum: int, frame: object) -> None:  # noqa: ARG001 - signal API
        # an alarm that lands after fn returned must not escape this function
        if running[0]:
            raise BudgetExceeded

    previous = signal.getsignal(signal.SIGALRM)
    if armed:
        signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, float(budget_s))
    busy_before, own_before = _busy_cpu_s(), time.process_time()
    started = time.perf_counter()
    result, timed_out, error = None, False, None
    try:
        result = fn()
        running[0] = False
    except BudgetExceeded:
        timed_out = True
    except Exception as exc:  # a peer failing is a result of the benchmark
        error = f"{type(exc).__name__}: {_short(str(exc))}"
    finally:
        running[0] = False
        if armed:
            signal.setitimer(signal.ITIMER_REAL, 0.0)
            signal.signal(signal.SIGALRM, previous)
    seconds = time.perf_counter() - started
    own = time.process_time() - own_before
    others = max(0.0, _busy_cpu_s() - busy_before - own)

    # the sampler sees spikes it can wake up for, VmHWM the ones in between
    peak = sampler.stop()
    if hwm_ok:
        peak = max(peak, _status_bytes("VmHWM"))
    peak_mb = max(0.0, peak - baseline) / 2**20
    return Measurement(
        seconds, peak_mb, result, timed_out, error, others, window_s=seconds
    )


def measure_best(
    fn: Callable[[], object],
    *,
    budget_s: float | None = None,
    repeat_below_s: float = 1.0,
    repeats: int = 5,
) -> Measurement:
    """Like :func:`measure`, repeating short calls and keeping the fastest time.

    A call that takes under ``repeat_below_s`` is run again, up to ``repeats``
    runs in all, as ``timeit`` does, because one run of a few milliseconds is
    mostly noise. The result is the first run's, the peak memory the highest of
    all runs and the other processes' CPU time the sum over all runs.
    """
    first = measure(fn, budget_s=budget_s)
    best, peak = first.seconds, first.peak_mb
    others, window = first.others_cpu_s, first.window_s
    for _ in range(repeats - 1):
        if not first.ok or best >= repeat_below_s:
            break
        again = measure(fn, budget_s=budget_s)
        if not again.ok:
            break
        best = min(best, again.seconds)
        peak = max(peak, again.peak_mb)
        others, window = others + again.others_cpu_s, window + again.window_s
    return Measurement(
        best, peak, first.result, first.timed_out, first.error, others, window
    )


def _short(text: str, width: int = 80) -> str:
    """First line of a message, at most ``width`` characters."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 3] + "..."


class _PeakSampler:
    """Thread recording the highest VmRSS every ``_SAMPLE_S`` seconds."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._peak = _rss_bytes()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        """Start sampling."""
        self._thread.start()

    def stop(self) -> int:
        """Stop sampling and return the highest VmRSS seen, in bytes."""
        self._stop.set()
        self._thread.join()
        return max(self._peak, _rss_bytes())

    def _run(self) -> None:
        while not self._stop.wait(_SAMPLE_S):
            self._peak = max(self._peak, _rss_bytes())


def _status_bytes(field_name: str) -> int:
    """One ``kB`` field of /proc/self/status, in bytes (0 when unavailable)."""
    try:
        with open(_STATUS, encoding="ascii") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def _busy_cpu_s() -> float:
    """CPU seconds all processes spent busy since boot (/proc/stat), 0 if unknown.

    Busy is user + nice + system + irq + softirq + steal; the difference with this
    process's own CPU time shows how much else ran on the machine meanwhile.
    """
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = stat.readline().split()
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
    ticks = user + nice + system + irq + softirq + steal
    return ticks / os.sysconf("SC_CLK_TCK")


def _rss_bytes() -> int:
    """Current resident set size of this process, in bytes."""
    return _status_bytes("VmRSS")


def _reset_high_water_mark() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False when not allowed."""
    try:
        with open(_CLEAR_REFS, "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def _trim_heap() -> None:
    """Return freed heap pages to the system (glibc), so RSS starts low."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        return


# --- time budget ---------------------------------------------------------------


def work(sizes: Sequence[int], exponent: float) -> float:
    """Work of a method whose time grows as ``size ** exponent`` per part.

    ``sizes`` are the registrations of the parts the method runs on one by one
    (one part for a whole-town method, one per woonplaats for a per-woonplaats
    one), so adding villages adds work linearly while growing one adds it by the
    power.
    """
    return float(sum(float(n) ** exponent for n in sizes))


@dataclass
class Budget:
    """Decide, before a run, whether a method can finish within the time budget.

    A method is skipped at a size when it ran out of budget (or failed) at a
    smaller size, or when its time at the previous size (or a reference time
    when it has not run yet), scaled by the ratio of the :func:`work`, exceeds
    the budget. After one projected skip the larger sizes are skipped too.
    """

    seconds: float
    _last: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    _stopped: dict[str, str] = field(default_factory=dict)

    def skip_reason(
        self,
        method: str,
        n: int,
        work_now: float,
        reference: tuple[int, float, float] | None = None,
    ) -> str | None:
        """Why ``method`` should not run at ``n``, or None when it should.

        Parameters
        ----------
        method
            The method's key.
        n
            Registrations at this size.
        work_now
            :func:`work` of the method at this size.
        reference
            ``(n, seconds, work)`` measured earlier, used to project when this
            run has not timed the method yet; without either the method runs and
            the SIGALRM guard is the only limit.
        """
        if method in self._stopped:
            return self._stopped[method]
        last = self._last.get(method, reference)
        if last is None:
            return None
        n_prev, seconds, work_prev = last
        projected = seconds * work_now / work_prev
        if projected > self.seconds:
            self._stopped[method] = f"skipped, projected over budget from {n:,}"
            return (
                f"skipped, projected {projected:,.0f} s "
                f"(from {seconds:.1f} s at {n_prev:,})"
            )
        return None

    def record(self, method: str, n: int, work_now: float, run: Measurement) -> None:
        """Remember how ``method`` did at ``n``, for the larger sizes."""
        if run.timed_out:
            self._stopped[method] = f"skipped, out of budget at {n:,}"
        elif run.error is not None:
            self._stopped[method] = f"skipped, failed at {n:,}"
        elif run.seconds > self.seconds:
            self._stopped[method] = f"skipped, over budget at {n:,}"
        else:
            self._last[method] = (n, run.seconds, work_now)


# --- machine and tables --------------------------------------------------------


def machine_lines(packages: Iterable[str]) -> list[str]:
    """Describe the machine and the library versions, one fact per line."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram_gb = _meminfo_kb("MemTotal") / 2**20
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
    versions = ", ".join(f"{name} {_version(name)}" for name in packages)
    threads = [f"{v}={os.environ[v]}" for v in _THREAD_VARIABLES if v in os.environ]
    return [
        f"CPU: {cpu}, {os.cpu_count()} cores ({usable} usable by this process)",
        f"RAM: {ram_gb:.1f} GiB",
        f"OS: {platform.platform()}",
        f"Python: {platform.python_version()} ({platform.python_implementation()})",
        f"Libraries: {versions}",
        f"Threads: {', '.join(threads) or 'library defaults (no *_NUM_THREADS set)'}",
    ]


def _meminfo_kb(field_name: str) -> int:
    """One field of /proc/meminfo in kB (0 when unavailable)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            for line in info:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        return 0
    return 0


def _version(package: str) -> str:
    """Installed version of a distribution, or ``"not installed"``."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


QUALITY_HEADER = [
    "groups",
    "max size",
    "contiguous %",
    "hull overlap %",
    "split streets %",
    "mean distance m",
]
"""Column names of :func:`quality_cells`."""


def quality_cells(quality: dict, *, metre_decimals: int = 0) -> list[str]:
    """Table cells of a :func:`partition.quality.partition_quality` summary."""
    return [
        str(quality["groups"]),
        str(quality["max_size"]),
        f"{quality['contiguous_pct']:.1f}",
        f"{quality['hull_overlap_pct']:.1f}",
        f"{quality['split_streets_pct']:.1f}",
        f"{quality['mean_distance_m']:.{metre_decimals}f}",
    ]


def markdown_table(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    right: Sequence[bool] | None = None,
) -> str:
    """Render a padded markdown table; ``right`` marks right-aligned columns."""
    right = list(right) if right is not None else [False] * len(columns)
    widths = [
        max(len(str(c)), *(len(str(r[i])) for r in rows)) if rows else len(str(c))
        for i, c in enumerate(columns)
    ]
    widths = [max(w, 3) for w in widths]

    def line(cells: Sequence[str]) -> str:
        padded = [
            str(c).rjust(w) if r else str(c).ljust(w)
            for c, w, r in zip(cells, widths, right, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = [
        "-" * (w - 1) + ":" if r else "-" * w
        for w, r in zip(widths, right, strict=True)
    ]
    return "\n".join(
        [line(columns), "| " + " | ".join(rule) + " |"] + [line(row) for row in rows]
    )


def fmt(value: object, digits: int = 1) -> str:
    """A number with thousands separators and ``digits`` decimals, ``-`` for none."""
    if value is None:
        return "-"
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "-"
    return f"{number:,.{digits}f}"
