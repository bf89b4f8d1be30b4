"""``snakemake`` whose checkpoint update drops every job after the checkpoint (a test stand-in).

Snakemake has known bugs of this family (a checkpoint's update of the job graph losing the jobs
downstream of it; docs/resume.md): the run then ends "100% done" with its results missing.
This runs the real Snakemake with that failure forced, so that tests/test_resume_guard.py can
check what the workflow does about it. Usage: ``python snakemake_dropping_jobs.py ARGS``.
"""

from __future__ import annotations

import sys


def drop_jobs_after_checkpoints() -> None:
    """Make every checkpoint's update of the job graph drop the jobs still to run."""
    import snakemake.dag as dag_module

    update = dag_module.DAG.update_checkpoint_dependencies

    async def dropping_update(self, jobs=None):
        updated = await update(self, jobs)
        if updated and jobs is not None:  # after a checkpoint job finished
            for job in list(self.needrun_jobs()):
                self._needrun.discard(job)
            self._ready_jobs.clear()
            self._len = len(self._finished)
        return updated

    dag_module.DAG.update_checkpoint_dependencies = dropping_update


if __name__ == "__main__":
    from snakemake.cli import main  # first: it imports snakemake.dag in its own order

    drop_jobs_after_checkpoints()
    sys.argv[0] = "snakemake"
    main()
