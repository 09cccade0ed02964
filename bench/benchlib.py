"""What the benchmarks print, shared by bench/bench_*.py: sections, notes, and each figure beside
its reference with its goal and verdict (the verdicts are counted in ``verdicts``), and the
timing of work done by several threads at once."""

import contextlib
import threading
import time
import traceback

verdicts = []


def section(title):
    print(f"\n-- {title}", flush=True)


def report(label, value, ref_label, ref_value, unit, goal=None, at_most=False, fmt="8.1f", ratio=None):
    """One figure beside its reference: the ratio (``value / ref_value`` unless given), and
    against ``goal`` the verdict."""
    if ratio is None:
        ratio = value / ref_value if ref_value else float("inf")
    text = f"{label:<26} {value:{fmt}} {unit} | {ref_label:<28} {ref_value:{fmt}} {unit} | ratio {ratio:5.2f}"
    if goal is None:
        text += " | for information"
    else:
        met = ratio <= goal if at_most else ratio >= goal
        verdicts.append(met)
        text += f" | goal {'<=' if at_most else '>='} {goal:.2f} | {'PASS' if met else 'MISS'}"
    print(text, flush=True)


def note(text):
    print(f"   {text}", flush=True)


def timed_threads(tasks, name="bench", timeout=60):
    """Run each of ``tasks`` in a thread of its own and time them together: a task is called
    with ``ready``, a function it calls once set up (connections open), then does the timed
    work and returns its result. The clock starts when every task is ready and stops when the
    last one ends. The first task's failure is raised (the others are released at once).

    :return: (seconds, [result of each task, in their order])
    """
    barrier = threading.Barrier(len(tasks) + 1, timeout=timeout)
    results, failures = [None] * len(tasks), []

    def run(index, task):
        try:
            results[index] = task(barrier.wait)
        except Exception:  # raised by the caller, with its trace
            failures.append(traceback.format_exc())
            barrier.abort()

    threads = [threading.Thread(target=run, args=item, name=f"{name}_{item[0]}") for item in enumerate(tasks)]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a task failed setting up: raised below
        barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{name}: a thread failed:\n" + "\n".join(failures))
    return elapsed, results
