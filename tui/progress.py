"""Progress: per disk the step, a bar, rate and time left; a log pane below.

One thread worker per job drives appliance.jobs; the jobs post events, which come back
here as messages. Progress events are coalesced: the latest per disk is kept and the
panels are redrawn a few times a second.

During a firmware erase the drive works alone: the panel says "waiting for the drive"
with the elapsed time (its clock runs between two events), and the bar shows the drive's
own progress, its time estimate, or a moving block when it gives neither.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import RichLog, Static
from textual.worker import Worker, WorkerState

from appliance import jobs
from appliance.i18n import _, format_rate, format_size
from appliance.unattended import Heartbeat, heartbeat_document
from appliance.words import step_word
from tui.widgets.bar import AsciiBar
from tui.widgets.keybar import KeyBar

if TYPE_CHECKING:
    from tui.app import ArdoiseApp

REDRAW_SECONDS = 0.25


def step_name(step: str) -> str:
    return step_word(step)


def duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "--:--"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


@dataclass
class Panel:
    """What one disk's panel shows (kept so a language switch redraws the same state)."""

    title: str
    step: str = "planned"
    fraction: float = 0.0
    rate: float = 0.0
    eta: float | None = None
    finished: bool = False
    passed: bool = False
    basis: str = "bytes"  # see jobs.StepProgress: bytes | drive | estimate | none
    elapsed: float | None = None  # seconds the drive has been at work (firmware erase)
    elapsed_at: float = 0.0  # time.monotonic() when `elapsed` was reported

    @property
    def waiting(self) -> bool:
        return self.basis != "bytes" and not self.finished

    def elapsed_now(self, now: float) -> float:
        """The drive's working time, going on between two reports."""
        if self.elapsed is None:
            return 0.0
        return self.elapsed + max(0.0, now - self.elapsed_at)

    def start(self, step: str) -> None:
        self.step, self.fraction, self.rate, self.eta = step, 0.0, 0.0, None
        self.basis, self.elapsed = "bytes", None

    def apply(self, event: jobs.StepProgress, now: float) -> None:
        self.fraction = event.fraction
        self.rate = event.rate_bytes_per_s
        self.eta = event.eta_seconds
        self.basis = event.basis
        self.elapsed = event.elapsed_seconds
        self.elapsed_at = now


def step_line(panel: Panel, now: float) -> str:
    """The line under a disk's title while it works."""
    step = step_name(panel.step)
    if panel.waiting:
        elapsed = duration(panel.elapsed_now(now))
        if panel.basis in ("drive", "estimate") and panel.eta is not None:
            return _("{step} - waiting for the drive - {elapsed} elapsed, about {eta} "
                     "left").format(step=step, elapsed=elapsed, eta=duration(panel.eta))
        return _("{step} - waiting for the drive - {elapsed} elapsed").format(
            step=step, elapsed=elapsed)
    rate = format_rate(panel.rate) if panel.rate else "-"
    return _("{step}   {rate}   time left {eta}").format(step=step, rate=rate,
                                                         eta=duration(panel.eta))


class JobEvent(Message):
    def __init__(self, event: jobs.Event) -> None:
        super().__init__()
        self.event = event


class StopScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    StopScreen { align: center middle; }
    StopScreen > Vertical { width: 60; height: auto; border: ascii ansi_bright_yellow;
        background: ansi_black; padding: 0 1; }
    """
    BINDINGS = [Binding("y", "stop(True)", "yes"), Binding("o", "stop(True)", "oui"),
                Binding("n", "stop(False)", "no"), Binding("escape", "stop(False)", "no")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(_("Stop every disk now? Disks stopped early are reported "
                           "INCOMPLETE and must be erased again."), classes="warning")
            yield Static(_("Y: stop   N: go on"))

    def action_stop(self, stop: bool) -> None:
        self.dismiss(stop)


class ProgressScreen(Screen[None]):
    DEFAULT_CSS = """
    ProgressScreen #panels { height: auto; max-height: 70%; }
    ProgressScreen .panel { border: ascii ansi_white; height: auto; padding: 0 1; }
    ProgressScreen .panel.done-pass { border: ascii ansi_bright_green; }
    ProgressScreen .panel.done-fail { border: ascii ansi_bright_red; }
    ProgressScreen .line { height: 1; }
    ProgressScreen RichLog { border: ascii ansi_bright_black; height: 1fr; min-height: 4;
        overflow-x: hidden; }
    """
    BINDINGS = [Binding("escape", "stop", "stop")]
    clock = staticmethod(time.monotonic)  # the panels' running clocks (tests freeze it)

    def __init__(self, unattended: bool = False, launch: bool = True) -> None:
        super().__init__()
        self.unattended = unattended
        self.launch_jobs = launch  # False: the screen without work (training, tests)
        self.cancel = threading.Event()
        self.panels: dict[str, Panel] = {}
        self.log_lines: list[tuple[str, bool]] = []
        self._latest: dict[str, jobs.StepProgress] = {}
        self._steps: dict[str, str] = {}  # the step each job started last (sink order)
        self._lock = threading.Lock()
        self.run: jobs.Run | None = None
        self._jobs_left = 0
        self.problem: str | None = None
        self.heartbeat: Heartbeat | None = None

    @property
    def ardoise(self) -> ArdoiseApp:
        return self.app  # type: ignore[return-value]

    # --- drawing ------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        if self.run is None and self.problem is None:
            try:
                self.prepare()
            except Exception as exc:  # e.g. no data partition: nothing has been touched
                self.problem = str(exc) or type(exc).__name__
        yield Static(_("Erasing - do not switch the computer off"), classes="title")
        with VerticalScroll(id="panels"):
            for index, panel in enumerate(self.panels.values()):
                with Vertical(classes="panel", id=f"panel-{index}"):
                    yield Static(panel.title, classes="line", markup=False)  # [serial]
                    yield Static("", classes="line step")
                    yield AsciiBar(classes="line")
        log = RichLog(id="log", wrap=True, markup=False)
        for text, error in self.log_lines:  # kept across a language switch
            log.write(f"! {text}" if error else text)
        yield log
        yield KeyBar([("Esc", _("Stop"))])
        self.call_after_refresh(self.redraw)

    def on_mount(self) -> None:
        if self.problem is not None:
            from tui.error import ProblemScreen

            self.app.switch_screen(ProblemScreen(self.problem))
            return
        self.set_interval(REDRAW_SECONDS, self.apply_progress)
        if self.launch_jobs:
            self.launch()

    def redraw(self) -> None:
        now = self.clock()
        for index, panel in enumerate(self.panels.values()):
            try:
                box = self.query_one(f"#panel-{index}", Vertical)
            except Exception:
                continue
            step = box.query_one(".step", Static)
            if panel.finished:
                verdict = _("PASS") if panel.passed else _("FAIL")
                step.update(f"{verdict} - {step_name(panel.step)}")
                box.set_class(panel.passed, "done-pass")
                box.set_class(not panel.passed, "done-fail")
            else:
                step.update(step_line(panel, now))
            bar = box.query_one(AsciiBar)
            bar.fraction = panel.fraction
            waiting = panel.waiting and panel.basis == "none"
            bar.pulse = panel.elapsed_now(now) if waiting else None

    # --- driving the jobs -----------------------------------------------------------------
    def prepare(self) -> None:
        s = self.ardoise.survey
        claimed, self.ardoise.claimed = self.ardoise.claimed, None
        # rack mode: the enrolled session's journal (in RAM, mirrored to the ledger) and its
        # sink (heartbeats at every step) carry the run
        rack = self.ardoise.rack.session if self.ardoise.rack is not None else None
        self.run = jobs.Run(s.config, s.data_dir, s.targets,
                            rack.sink(self.sink) if rack is not None else self.sink,
                            self.cancel, s.host, claimed=claimed,
                            journal=rack.journal if rack is not None else None)
        for job in self.run.jobs:
            d = job.disk
            self.panels[job.job_id] = Panel(
                f"{d.path}  {d.model}  [{d.serial or '-'}]  {format_size(d.size_bytes)}  "
                f"{job.target.method}")

    def launch(self) -> None:
        assert self.run is not None
        run = self.run
        s = self.ardoise.survey
        rack = self.ardoise.rack.session if self.ardoise.rack is not None else None
        if rack is None and self.ardoise.uplink is not None:  # the rack view follows every disk
            self.heartbeat = Heartbeat(
                self.ardoise.uplink,
                lambda: heartbeat_document(s.data_dir, run.host, s.config.batch,
                                                      run.status()),
                s.config.ledger.heartbeat_seconds).start()
        self._jobs_left = len(self.run.jobs)
        for job in self.run.jobs:
            self.drive(job)

    @work(thread=True, exit_on_error=False, group="jobs")
    def drive(self, job: jobs.Job) -> None:
        job()

    def sink(self, event: jobs.Event) -> None:
        """Called from the job threads: progress is coalesced, the rest becomes messages.

        Events come in order: progress of a step older than the job's last StepStarted is
        stale and dropped here; progress of the newest step is kept until the screen has
        handled that StepStarted message (see apply_progress)."""
        with self._lock:
            if isinstance(event, jobs.StepProgress):
                if self._steps.get(event.job_id, event.step) == event.step:
                    self._latest[event.job_id] = event
                return
            if isinstance(event, jobs.StepStarted):
                self._steps[event.job_id] = event.step
                self._latest.pop(event.job_id, None)
        self.post_message(JobEvent(event))

    def apply_progress(self) -> None:
        applied = False
        with self._lock:
            for job_id, event in list(self._latest.items()):
                panel = self.panels.get(job_id)
                if panel is None or panel.finished:
                    del self._latest[job_id]
                elif event.step == panel.step:
                    panel.apply(event, self.clock())
                    del self._latest[job_id]
                    applied = True
                # else: its StepStarted message is still on its way: applied next time
        if applied or any(panel.waiting for panel in self.panels.values()):
            self.redraw()  # a drive at work: its clock goes on between events

    def on_job_event(self, message: JobEvent) -> None:
        event = message.event
        log = self.query_one(RichLog)
        if isinstance(event, jobs.StepStarted):
            panel = self.panels[event.job_id]
            panel.start(event.step)
            self.add_log(f"{self.short(event.job_id)}: {step_name(event.step)}", False, log)
        elif isinstance(event, jobs.LogLine):
            self.add_log(f"{self.short(event.job_id)}: {event.text}", event.error, log)
        elif isinstance(event, jobs.JobFinished):
            panel = self.panels[event.job_id]
            panel.finished, panel.passed, panel.fraction = True, event.result.passed, 1.0
        elif isinstance(event, jobs.RunFinished):
            from tui.results import ResultsScreen

            self.app.switch_screen(ResultsScreen(list(event.results), event.cancelled,
                                                 unattended=self.unattended))
            return
        self.redraw()

    def short(self, job_id: str) -> str:
        return self.panels[job_id].title.split()[0] if job_id in self.panels else job_id

    def add_log(self, text: str, error: bool, log: RichLog) -> None:
        self.log_lines.append((text, error))
        log.write(f"! {text}" if error else text)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "jobs" or event.state not in (
                WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            return
        self._jobs_left -= 1
        if self._jobs_left == 0 and self.run is not None:
            if self.heartbeat is not None:  # its last beat may wait on the network
                threading.Thread(target=self.heartbeat.stop, daemon=True).start()
            if self.ardoise.uplink is not None:
                self.ardoise.uplink.wake()  # new certificates in the spool
            self.run.finish()  # posts RunFinished through the sink

    def action_stop(self) -> None:
        def decided(stop: bool | None) -> None:
            if stop:
                self.cancel.set()
                self.add_log(_("stopping: every disk halts at a safe point"), True,
                             self.query_one(RichLog))
        self.app.push_screen(StopScreen(), decided)
