"""What the benchmarks print, shared by bench/bench_*.py: sections, notes, and each figure beside
its reference with its goal and verdict (the verdicts are counted in ``verdicts``)."""

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
