"""Many portfolios in one batch: one weekly run per params file, as tasks on a Dask cluster.

``creditlab run weekly --params A.yaml --params B.yaml --workers 2`` (or ``--params folder/``, or
``--scheduler tcp://host:8786`` for an existing cluster) submits one task per portfolio. Each task
runs :func:`creditlab.run.orchestrate.run_report` into its own folder ``<out>/<name>/`` (``name`` =
the params file's stem), so every portfolio has its own working folder, run folders, ``latest``
link and notebook kernels. Then ``<out>/index.html`` (self-contained) and ``<out>/index.json``
summarise the batch.

- A failure in one portfolio never stops the others: a params file that does not load, a ledger
  that does not validate, a notebook that fails are all recorded as that portfolio's failure.
- Transient failures (a notebook kernel that dies or does not start, a port race between kernels
  starting at the same moment) are retried by Dask (``retries``); mistakes are not retried.
- Threads are capped: each task gets ``cores // tasks per machine`` threads for BLAS and for the
  sampler's parallel chains (``CREDITLAB_MAX_CORES``), inherited by the notebook kernels, so
  workers x chains x BLAS threads never exceed the machine's cores. Chains and seeds are unchanged,
  so a portfolio's figures do not depend on how many workers ran the batch.
- Delivery (``email=True``) happens in the driver as each portfolio finishes, to that portfolio's
  own ``delivery.to`` (or a failure notice to its ``delivery.operators``): SMTP credentials never
  travel to the workers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import socket
import time
from collections.abc import Sequence
from pathlib import Path

from creditlab.deliver import SmtpSettings, deliver_outcome
from creditlab.errors import ConfigError, CreditlabError, DeliveryError
from creditlab.models.sampling import CORE_CAP_ENV
from creditlab.report.index_page import write_index
from creditlab.run.folder import FAILED_DIR, INDEX_FILE, MANIFEST_FILE
from creditlab.run.orchestrate import run_report
from creditlab.run.params import load_params

__all__ = [
    "PortfolioJob",
    "discover",
    "is_transient",
    "run_portfolio",
    "run_portfolios",
]

log = logging.getLogger(__name__)

_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


@dataclasses.dataclass(frozen=True)
class PortfolioJob:
    """One portfolio of a batch: its name (its folder under ``--out``) and params file."""

    name: str
    params_file: Path


def discover(paths: Sequence[str | Path]) -> list[PortfolioJob]:
    """The portfolios named by ``--params``: files, and folders of ``*.yaml`` / ``*.yml`` files.

    Raises
    ------
    ConfigError
        A path that does not exist, a folder with no params files, or two files with the same
        stem (their run folders would collide under ``--out``).
    """
    files: list[Path] = []
    for entry in map(Path, paths):
        if entry.is_dir():
            found = sorted([*entry.glob("*.yaml"), *entry.glob("*.yml")])
            if not found:
                raise ConfigError(f"{entry}: no params files (*.yaml, *.yml) in this folder")
            files += found
        elif entry.is_file():
            files.append(entry)
        else:
            raise ConfigError(f"{entry}: no such params file or folder")
    jobs: dict[str, PortfolioJob] = {}
    for path in files:
        name = path.stem
        if name in jobs and jobs[name].params_file.resolve() != path.resolve():
            raise ConfigError(
                f"two params files are both named {name!r} ({jobs[name].params_file} and {path}): "
                "each portfolio's runs land in <out>/<file name>, so names must differ"
            )
        jobs[name] = PortfolioJob(name, path.resolve())
    return list(jobs.values())


def is_transient(exc: BaseException) -> bool:
    """Whether a failure is worth retrying: the notebook kernel died or did not start, a port race,
    a timeout. Mistakes in params or data (``CreditlabError``) are not."""
    if isinstance(exc, CreditlabError):
        return False
    try:
        from nbclient.exceptions import CellTimeoutError, DeadKernelError
        from zmq import ZMQError
    except ImportError:  # pragma: no cover (both come with papermill)
        transient: tuple[type[BaseException], ...] = (TimeoutError, ConnectionError)
    else:
        transient = (DeadKernelError, CellTimeoutError, ZMQError, TimeoutError, ConnectionError)
    if isinstance(exc, transient):
        return True
    text = str(exc).lower()
    return (
        isinstance(exc, RuntimeError) and "kernel" in text and ("died" in text or "start" in text)
    )


class TransientRunError(RuntimeError):
    """A transient failure, raised out of the task so that Dask retries it."""


def _cap_threads(threads: int) -> dict[str, str | None]:
    """Set the thread caps for this process and the kernels it starts; returns the old values."""
    old = {key: os.environ.get(key) for key in (*_THREAD_ENV, CORE_CAP_ENV)}
    for key in _THREAD_ENV:
        os.environ[key] = str(threads)
    os.environ[CORE_CAP_ENV] = str(threads)
    return old


def _restore(old: dict[str, str | None]) -> None:
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _failed_runs(folder: Path, since: float) -> list[Path]:
    """Failed run folders of a portfolio written since ``since`` (this batch's failed attempts),
    oldest first."""
    found = (folder / FAILED_DIR).glob(f"*/{MANIFEST_FILE}")
    return sorted(p.parent for p in found if p.stat().st_mtime >= since)


def _failed(job: PortfolioJob, error: str, exit_code: int, attempts: int, run_dir=None) -> dict:
    """The result of a portfolio that did not succeed and whose task did not report it itself."""
    return {
        "name": job.name,
        "params_file": str(job.params_file),
        "status": "failed",
        "run_dir": str(run_dir) if run_dir else None,
        "error": error,
        "exit_code": exit_code,
        "attempts": attempts,
        "seconds": 0.0,
    }


def run_portfolio(
    job: PortfolioJob,
    *,
    out: str | Path,
    report: str = "weekly_portfolio",
    data: str | Path | None = None,
    as_of: str | None = None,
    threads: int | dict[str, int] = 1,
    started: float | None = None,
) -> dict:
    """Run one portfolio's report into ``<out>/<job.name>/`` (the Dask task; also runs in-process).

    ``threads`` is the cap for this task, or a mapping from Dask worker address to cap. Returns a
    plain dict: ``name``, ``status`` (``succeeded`` or ``failed``), ``run_dir``, ``error``,
    ``exit_code``, ``seconds``, ``attempts``, ``threads``, ``host``.

    Raises
    ------
    TransientRunError
        A transient failure (see :func:`is_transient`), for the scheduler to retry.
    """
    if isinstance(threads, dict):
        from distributed import get_worker

        threads = threads.get(get_worker().address, 1)
    folder = Path(out) / job.name
    started = time.time() if started is None else started
    result = {
        "name": job.name,
        "params_file": str(job.params_file),
        "threads": threads,
        "host": socket.gethostname(),
        "attempts": 1 + len(_failed_runs(folder, started)),
    }
    old = _cap_threads(threads)
    t0 = time.perf_counter()
    try:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=threads):
            outcome = run_report(job.params_file, report=report, data=data, as_of=as_of, out=folder)
    except Exception as exc:
        if is_transient(exc):
            log.warning("portfolio %s: transient failure, to be retried: %s", job.name, exc)
            raise TransientRunError(f"{type(exc).__name__}: {exc}") from exc
        failed = getattr(exc, "run_dir", None)
        return {
            **result,
            "status": "failed",
            "run_dir": str(failed) if failed else None,
            "error": str(exc)
            if isinstance(exc, CreditlabError)
            else f"{type(exc).__name__}: {exc}",
            "exit_code": getattr(exc, "exit_code", 1),
            "seconds": round(time.perf_counter() - t0, 1),
        }
    finally:
        _restore(old)
    return {
        **result,
        "status": "succeeded",
        "run_dir": str(outcome.run_dir),
        "error": None,
        "exit_code": 0,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def _threads_per_worker(client) -> dict[str, int]:
    """Each worker's thread cap: its machine's cores over the task slots on that machine."""
    cores = client.run(os.cpu_count)
    workers = client.scheduler_info(n_workers=-1)["workers"]
    slots: dict[str, int] = {}
    for info in workers.values():
        slots[info["host"]] = slots.get(info["host"], 0) + info["nthreads"]
    return {
        address: max(1, (cores.get(address) or 1) // slots[info["host"]])
        for address, info in workers.items()
    }


def run_portfolios(
    jobs: Sequence[PortfolioJob],
    *,
    out: str | Path = "reports",
    report: str = "weekly_portfolio",
    data: str | Path | None = None,
    as_of: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    retries: int = 2,
    email: bool = False,
    smtp: SmtpSettings | None = None,
) -> list[dict]:
    """Run every portfolio of ``jobs`` and write ``<out>/index.html`` and ``<out>/index.json``.

    With ``scheduler`` the tasks go to that Dask cluster; otherwise a ``LocalCluster`` of
    ``workers`` processes (one task at a time each) is started and stopped; ``workers=0`` runs the
    portfolios one after the other in this process, without Dask (the sequential baseline).
    Returns one result dict per portfolio (see :func:`run_portfolio`) with ``delivery`` added.
    """
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    started, t0 = time.time(), time.perf_counter()
    results: dict[str, dict] = {}
    runnable = []
    stores: dict[Path, str] = {}
    for job in jobs:  # params mistakes fail their own portfolio in seconds, not the batch
        try:
            params = load_params(job.params_file, data=data, as_of=as_of)
            if email and not params.delivery.to:
                raise DeliveryError(f"{job.params_file}: --email needs delivery.to in the params")
            if params.store is not None:
                store = params.store.resolve()
                if store in stores:
                    raise ConfigError(
                        f"{job.params_file}: store {store} is also the store of portfolio "
                        f"{stores[store]!r}; portfolios running at the same time need their own"
                    )
                stores[store] = job.name
        except CreditlabError as exc:
            results[job.name] = _failed(job, str(exc), exc.exit_code, attempts=0)
            continue
        runnable.append((job, params))
    operators = {job.name: params.delivery.operators for job, params in runnable}
    common = {"out": out, "report": report, "data": data, "as_of": as_of, "started": started}

    def finish(result: dict) -> None:
        if email:
            result["delivery"] = _deliver(result, operators.get(result["name"], ()), smtp)
        results[result["name"]] = result
        log.info("portfolio %s %s in %.0f s", result["name"], result["status"], result["seconds"])

    if workers == 0 and scheduler is None:
        cluster_note = "sequential, in one process"
        threads = os.cpu_count() or 1
        for job, _ in runnable:
            for attempt in range(retries + 1):
                try:
                    finish(run_portfolio(job, threads=threads, **common))
                    break
                except TransientRunError as exc:
                    if attempt == retries:
                        finish(_lost(job, exc, retries + 1, out, started))
    else:
        cluster_note = _run_on_dask(runnable, common, workers, scheduler, retries, finish)
    ordered = [results[job.name] for job in jobs if job.name in results]
    write_index(
        out,
        ordered,
        {
            "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "report": report,
            "cluster": cluster_note,
            "wall_s": round(time.perf_counter() - t0, 1),
        },
    )
    log.info("index of %d portfolios written to %s", len(ordered), out / INDEX_FILE)
    return ordered


def _lost(job: PortfolioJob, exc: BaseException, attempts: int, out: Path, since: float) -> dict:
    """The result of a portfolio whose task never returned (retries used up, worker lost); its
    newest failed run folder of this batch, when there is one, holds the record."""
    failed = _failed_runs(out / job.name, since)
    error = f"gave up after {attempts} attempt(s): {type(exc).__name__}: {exc}"
    return _failed(job, error, 1, attempts, failed[-1] if failed else None)


def _run_on_dask(runnable, common, workers, scheduler, retries, finish) -> str:
    from distributed import Client, LocalCluster, as_completed

    if scheduler:
        client, cluster = Client(scheduler), None
    else:
        workers = workers or 1
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            memory_limit=0,  # the sampler and DuckDB bound their own memory; no nanny restarts
        )
        client = Client(cluster)
    try:
        caps = _threads_per_worker(client)
        threads = sorted(set(caps.values()))
        note = (
            f"Dask scheduler {scheduler}, {len(caps)} worker(s)"
            if scheduler
            else f"local Dask cluster of {workers} worker process(es)"
        ) + f", {'/'.join(map(str, threads))} thread(s) per portfolio"
        futures = {
            client.submit(
                run_portfolio,
                job,
                threads=caps,
                **common,
                key=f"portfolio-{job.name}-{os.getpid()}-{int(common['started'])}",
                retries=retries,
                pure=False,
            ): job
            for job, _ in runnable
        }
        for future in as_completed(futures):
            job = futures[future]
            try:
                finish(future.result())
            except Exception as exc:  # retries used up, or the worker died
                finish(_lost(job, exc, retries + 1, common["out"], common["started"]))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return note


def _deliver(result: dict, operators: Sequence[str], smtp: SmtpSettings | None) -> str:
    """Send one finished portfolio's e-mail; a delivery failure is recorded, not raised."""
    if result.get("run_dir") is None:
        return "nothing to send (the run did not start)"
    try:
        return deliver_outcome(
            Path(result["run_dir"]), result["status"] == "succeeded", operators, smtp
        )
    except DeliveryError as exc:
        return f"delivery failed: {exc}"
