"""Run several sweeps side by side: each cell is a ``Sweep`` of its own (its own task or model
config), run with one worker process, ``workers`` cells at a time. Finished runs are reused
and killed ones resume, as in any sweep."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from fastweights.train.sweep import Sweep, execute


def run_cells(cells: dict[str, Sweep], workers: int) -> dict[str, list[dict]]:
    """Execute every sweep in ``cells`` (name -> sweep), ``workers`` at a time; return each
    cell's run summaries, in the order of ``cells``."""
    start = time.perf_counter()

    def one(name: str) -> list[dict]:
        results = execute(cells[name], quiet=True)
        for r in results:
            final = r["final"][f"test/{r['main_metric']}"]
            print(f"  {name:<34} {r['run']:<48} {r['main_metric']} {final:.3f} "
                  f"({r['steps']} steps, {r['time']:.0f} s; {time.perf_counter() - start:.0f} s "
                  f"elapsed)", flush=True)
        return results

    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        futures = {name: pool.submit(one, name) for name in cells}
        return {name: fut.result() for name, fut in futures.items()}


def best_by(results: list[dict], key: str) -> dict:
    """The run with the highest final ``key`` (e.g. ``test/accuracy``): the best learning rate
    and seed of a cell, as the field reports it."""
    return max(results, key=lambda r: r["final"][key])
