"""One run: its params, its folder and manifest, its stages, and the orchestration that runs them.

Read top-down: :mod:`~creditlab.run.params` (what a run is asked to do), :mod:`~.folder` (every
file it writes), :mod:`~.prepare` (the validated ledger frozen into the folder), :mod:`~.stages`
(KPIs, PD, payments, decisions), :mod:`~.orchestrate` (the whole run, notebooks included),
:mod:`~.queries` (questions asked of a finished run) and :mod:`~.batch` (many portfolios on Dask).
"""
