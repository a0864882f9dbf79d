"""Scheduling the weekly run: a cron line or a systemd user timer, and listing past runs.

Both run ``creditlab run weekly ... --email`` under ``flock -n`` on a lock file, so two runs never
overlap (a second one exits at once), append their output to a log file, and read SMTP settings
from an environment file kept outside the repository (``~/.config/creditlab/smtp.env``), never
from the schedule itself. The systemd timer has ``Persistent=true``: a run missed while the machine
was off happens at the next boot.
"""

from __future__ import annotations

import dataclasses
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from creditlab.errors import ConfigError
from creditlab.ledger.schema import OPEN_AR
from creditlab.run.folder import MANIFEST_FILE, WORK_DIR, RunLock, interrupted_manifest
from creditlab.run.manifest import read_manifest

__all__ = ["ScheduleSpec", "cron_line", "install", "list_runs", "systemd_units"]

DAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 0}
UNIT = "creditlab-weekly"


@dataclasses.dataclass(frozen=True)
class ScheduleSpec:
    """What to run, when (``day`` of week and ``time`` HH:MM, local time), and where."""

    params: Path
    out: Path
    day: str = "mon"
    time: str = "06:00"
    email: bool = True
    env_file: str = "~/.config/creditlab/smtp.env"

    def __post_init__(self) -> None:
        if self.day.lower()[:3] not in DAYS:
            raise ConfigError(f"--day: expected one of {list(DAYS)}, got {self.day!r}")
        hh, _, mm = self.time.partition(":")
        if not (hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
            raise ConfigError(f"--time: expected HH:MM, got {self.time!r}")

    @property
    def lock(self) -> Path:
        """The lock file that keeps two scheduled runs of these params apart."""
        return self.out / ".creditlab-weekly.lock"

    @property
    def log(self) -> Path:
        """The log file scheduled runs append to."""
        return self.out / "creditlab-weekly.log"

    def command(self) -> list[str]:
        """The locked weekly run: ``flock -n LOCK creditlab run weekly ...``."""
        exe = shutil.which("creditlab") or str(Path(sys.executable).with_name("creditlab"))
        cmd = [exe, "run", "weekly", "--params", str(self.params), "--out", str(self.out)]
        return ["flock", "-n", str(self.lock), *cmd, *(["--email"] if self.email else [])]


def cron_line(spec: ScheduleSpec) -> str:
    """A crontab line: environment file sourced if present, output appended to the log."""
    hh, mm = (int(x) for x in spec.time.split(":"))
    env = '"' + spec.env_file.replace("~/", "$HOME/", 1) + '"'
    run = " ".join(shlex.quote(c) for c in spec.command())
    return (
        f"{mm} {hh} * * {DAYS[spec.day.lower()[:3]]} "
        f"set -a; [ -f {env} ] && . {env}; set +a; {run} >> {shlex.quote(str(spec.log))} 2>&1"
    )


def systemd_units(spec: ScheduleSpec) -> dict[str, str]:
    """``creditlab-weekly.service`` and ``.timer`` for ``systemctl --user``."""
    day = spec.day.capitalize()[:3]
    env = spec.env_file.replace("~/", "%h/", 1)
    service = (
        "[Unit]\nDescription=creditlab weekly portfolio run\n\n"
        "[Service]\nType=oneshot\n"
        f"EnvironmentFile=-{env}\n"
        f"ExecStart={' '.join(shlex.quote(c) for c in spec.command())}\n"
        f"StandardOutput=append:{spec.log}\nStandardError=append:{spec.log}\n"
    )
    timer = (
        "[Unit]\nDescription=Run the creditlab weekly report\n\n"
        f"[Timer]\nOnCalendar={day} *-*-* {spec.time}:00\nPersistent=true\n\n"
        "[Install]\nWantedBy=timers.target\n"
    )
    return {f"{UNIT}.service": service, f"{UNIT}.timer": timer}


def install(spec: ScheduleSpec, kind: str, home: Path | None = None) -> list[str]:
    """Install for the current user; returns what was done, a line each."""
    home = home or Path.home()
    spec.out.mkdir(parents=True, exist_ok=True)
    if kind == "systemd":
        folder = home / ".config" / "systemd" / "user"
        folder.mkdir(parents=True, exist_ok=True)
        done = []
        for name, text in systemd_units(spec).items():
            (folder / name).write_text(text)
            done.append(f"wrote {folder / name}")
        if shutil.which("systemctl"):
            for args in (["daemon-reload"], ["enable", "--now", f"{UNIT}.timer"]):
                result = subprocess.run(
                    ["systemctl", "--user", *args], capture_output=True, text=True
                )
                done.append(
                    f"systemctl --user {' '.join(args)}: "
                    + ("ok" if result.returncode == 0 else result.stderr.strip())
                )
        else:
            done.append(
                "systemctl not found: enable it with systemctl --user enable --now creditlab-weekly.timer"
            )
        return done
    if not shutil.which("crontab"):
        raise ConfigError(
            "crontab is not installed here; use --systemd, or add the printed line by hand"
        )
    current = subprocess.run(["crontab", "-l"], capture_output=True, text=True)
    lines = [line for line in current.stdout.splitlines() if "creditlab run weekly" not in line]
    subprocess.run(
        ["crontab", "-"], input="\n".join([*lines, cron_line(spec)]) + "\n", text=True, check=True
    )
    return ["installed the crontab line (replacing an earlier creditlab line)"]


def list_runs(out: Path) -> pd.DataFrame:
    """Every run under ``out`` (failed ones included, and the runs of a batch of portfolios in
    ``out/<portfolio>/``), newest first, from their manifests. A run still in its work folder is
    ``running`` while its process lives and ``interrupted`` when none holds it any more (killed
    mid-way; the next run of that folder moves it to ``failed/``)."""
    rows = []
    patterns = ("*/", "*/*/", "*/failed/*/", f"{WORK_DIR}/*/", f"*/{WORK_DIR}/*/")
    found = sorted(
        {path for pattern in patterns for path in Path(out).glob(pattern + MANIFEST_FILE)}
    )
    for path in found:
        parts = path.relative_to(out).parts[:-1]
        in_work = WORK_DIR in parts
        if any(p == "latest" or (p.startswith(".") and p != WORK_DIR) for p in parts):
            continue
        try:
            m = read_manifest(path.parent)
        except ConfigError:
            continue
        if in_work and m.get("status") == "running" and not RunLock.held(path.parent):
            m.update(interrupted_manifest(m, path.parent))
        sent = [d for d in m.get("delivery", []) if d.get("kind") == "report"]
        k = m.get("kpis", {})
        rows.append(
            {
                "run_id": m.get("run_id"),
                "report": m.get("report"),
                "status": m.get("status"),
                "as_of": m.get("as_of"),
                "portfolio": (m.get("params") or {}).get("portfolio"),
                OPEN_AR: k.get(OPEN_AR),
                "dso": k.get("dso"),
                "alerts": None  # not computed (no decisions stage in that run)
                if (alerts := (m.get("decisions") or {}).get("alerts")) is None
                else sum(alerts.values()),
                "delivery": sent[-1]["status"] if sent else "not sent",
                "failed_step": m.get("failed_step", ""),
            }
        )
    frame = pd.DataFrame(rows, columns=["run_id", "report", "status", "as_of", "portfolio", OPEN_AR,
                                        "dso", "alerts", "delivery", "failed_step"])  # fmt: skip
    return frame.sort_values("run_id", ascending=False).reset_index(drop=True)
