#!/usr/bin/env python3
"""Writes a benchmark's result table as Markdown and, for tables of numbers, as a PNG bar chart.

Not a benchmark itself (bench/run.sh skips files that start with '_'). Used as a module by the
Python benchmarks, or from a shell benchmark:

  _report.py TITLE OUT_BASENAME CSV [--plot COLUMN] [--ylabel TEXT]

CSV: a header row, then one row per tokenizer/program; the first column names the row.
Writes OUT_BASENAME.md (the table) and, with --plot, OUT_BASENAME.png (COLUMN per row; skipped
with a note when matplotlib is not installed)."""
import csv
import os
import sys


def markdown_table(header, rows):
    def cell(v):
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |",
             "|" + "|".join(" --- " if i == 0 else " ---: " for i in range(len(header))) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(cell(v) for v in r) + " |")
    return "\n".join(lines) + "\n"


def write_markdown(path, title, header, rows, notes=()):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(f"## {title}\n\n")
        f.write(markdown_table(header, rows))
        for n in notes:
            f.write(f"\n{n}\n")
    os.replace(tmp, path)


def write_bar_chart(path, title, labels, values, ylabel):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"_report: matplotlib is not installed, no plot {path} "
              "(scripts/install-bench-deps.sh installs it)", file=sys.stderr)
        return False
    fig, ax = plt.subplots(figsize=(max(4.0, 1.4 * len(labels) + 1.5), 3.6), dpi=120)
    bars = ax.bar(labels, values, color=["#2b6cb0" if i == 0 else "#a0aec0" for i in range(len(labels))])
    ax.bar_label(bars, labels=[f"{v:.3g}" for v in values], padding=2, fontsize=9)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_ylim(0, max(values) * 1.18 if values and max(values) > 0 else 1)
    fig.tight_layout()
    tmp = path + ".tmp.png"
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
    return True


def main(argv):
    args = argv[1:]
    plot_col = ylabel = None
    for flag in ("--plot", "--ylabel"):
        if flag in args:
            i = args.index(flag)
            if i + 1 >= len(args):
                print(f"_report: {flag} needs a value", file=sys.stderr)
                return 2
            if flag == "--plot":
                plot_col = args[i + 1]
            else:
                ylabel = args[i + 1]
            del args[i:i + 2]
    if len(args) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    title, base, csv_path = args
    with open(csv_path, newline="", encoding="utf-8") as f:
        table = list(csv.reader(f))
    header, rows = table[0], table[1:]
    write_markdown(base + ".md", title, header, rows)
    print(f"_report: wrote {base}.md")
    if plot_col:
        if plot_col not in header:
            print(f"_report: no column '{plot_col}' in {csv_path} (columns: {', '.join(header)})",
                  file=sys.stderr)
            return 2
        k = header.index(plot_col)
        if write_bar_chart(base + ".png", title, [r[0] for r in rows], [float(r[k]) for r in rows],
                           ylabel or plot_col):
            print(f"_report: wrote {base}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
