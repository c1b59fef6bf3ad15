"""Kernels for `qganb run`: the next stage's kernel starts while the current stage runs.

A Python kernel takes about 0.6 s to come up, and a run has eight stages. Starting each one ahead
hides that time behind the stage before it. Every stage still gets a kernel of its own, so no
state passes from one notebook to the next, as when each notebook is run by hand.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.utils import merge_kwargs, remove_args

ENGINE = "qganb-prestarted"
logger = logging.getLogger("papermill")


class PrestartedKernelEngine(NBClientEngine):
    """papermill's nbclient engine, executing in a kernel the runner started (`km=`). nbclient
    shuts it down afterwards, exactly as it does the kernels it starts itself."""

    @classmethod
    def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, log_output: bool = False,
                                 stdout_file: Any = None, stderr_file: Any = None, start_timeout: int = 60,
                                 execution_timeout: int | None = None, km: AsyncKernelManager | None = None,
                                 **kwargs: Any) -> Any:
        kwargs = remove_args(["input_path"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        final_kwargs = merge_kwargs(
            safe_kwargs, timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
            startup_timeout=start_timeout, kernel_name=kernel_name, log=logger, log_output=log_output,
            stdout_file=stdout_file, stderr_file=stderr_file)
        return PapermillNotebookClient(nb_man, km=km, **final_kwargs).execute(cleanup_kc=True)


papermill_engines.register(ENGINE, PrestartedKernelEngine)


class KernelsAhead:
    """Hands out started kernels, and starts the next one as soon as one is taken."""

    def __init__(self, sockets: Path, cwd: Path) -> None:
        self.sockets = sockets
        self.cwd = cwd
        self.started = 0
        self._next: AsyncKernelManager | None = None

    def _start(self) -> AsyncKernelManager:
        # Kernels talk over unix sockets rather than TCP on localhost (which ipykernel warns about on
        # every start). Each has its own socket prefix: two kernels come up at once, and ipc port
        # numbers are only unique per prefix. Paths stay short for the 107-byte socket limit.
        self.started += 1
        km = AsyncKernelManager(kernel_name="python3", transport="ipc", ip=str(self.sockets / f"k{self.started}"))
        run_sync(km.start_kernel)(cwd=str(self.cwd))
        return km

    def take(self, *, more: bool) -> AsyncKernelManager:
        """A started kernel for this stage; with `more`, the next stage's kernel starts now."""
        km = self._next if self._next is not None else self._start()
        self._next = self._start() if more else None
        return km

    @staticmethod
    def stop(km: AsyncKernelManager) -> None:
        """Shut `km` down if it still runs: papermill can fail before its engine takes it over."""
        if run_sync(km.is_alive)():
            run_sync(km.shutdown_kernel)(now=True)

    def close(self) -> None:
        """Shut down a kernel started for a stage that will not run (a failure stopped the run)."""
        if self._next is not None:
            km, self._next = self._next, None
            self.stop(km)
