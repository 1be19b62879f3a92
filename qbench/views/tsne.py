"""Data views (PROTOCOL 4.6, the paper's Fig 1b): a t-SNE map of a task's training set in three
panels: clean, label flipping at alpha, feature randomization at alpha, corrupted points marked.

What is embedded. The model-independent real view of each training vector, ``task.encode(x, 'real')``
(MNIST: the normalized 1024-pixel vector; XXZ: [Re, Im] of the ground state, as the MLP sees it).

One embedding for all three panels. scikit-learn's t-SNE (Barnes-Hut, perplexity 30, ``random_state`` = the
run seed, PCA initialization) is run once on the *union* of the clean training set and the k random
vectors that feature randomization puts in place of k of its samples; the result is cached (an
``.npz`` in the qbench cache directory, keyed by task, data seed, corruption, alpha, run seed,
perplexity, scikit-learn version and a hash of the embedded array). Every clean point therefore has
the same position in every panel: the clean and label-flipping panels draw the n clean points (only
colours and markers change), the feature-randomization panel draws the n - k untouched clean points
and the k random vectors at their own positions (the samples they replaced are no longer in that
training set and are not drawn). Why the union and not two embeddings: a random unit vector is
nearly orthogonal to every data vector and to every other random one, so under any perplexity its
affinity to clean points is negligible and the clean points' neighbourhoods (the input similarities
P) are almost unchanged by adding it; two separate runs (or a second run initialized from the first
with ``init=``) would re-optimize every point and move the clean structure between panels.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from qbench.errors import QbenchError
from qbench.files import WriteError, atomic_write

PERPLEXITY = 30.0
DPI = 150
CLASS_COLORS = ("#1f77b4", "#ff7f0e")  # label 0, label 1
TSNE_VERSION = 1  # bump when what is embedded or how changes: old cache files are ignored


@dataclass(frozen=True)
class TsneView:
    """Everything one figure needs, as arrays (no task or model objects)."""

    task: str
    alpha: float
    seed: int
    y: np.ndarray  # clean labels (n,)
    pos: np.ndarray  # positions of the n clean points (n, 2)
    flip_idx: np.ndarray  # samples whose label label flipping changed
    y_flipped: np.ndarray  # labels as trained under label flipping (n,)
    rand_idx: np.ndarray  # samples feature randomization replaced
    rand_pos: np.ndarray  # positions of their random vectors (k, 2)
    class_names: tuple[str, str] = ("label 0", "label 1")
    phase: str | None = None  # the xxz global-phase rule of the data shown (None: a task without one)


def _sklearn_version() -> str:
    import sklearn

    return sklearn.__version__


def embed(x: np.ndarray, *, perplexity: float = PERPLEXITY, random_state: int = 0,
          cache_file: str | os.PathLike | None = None) -> np.ndarray:
    """2-D t-SNE positions of the rows of ``x`` (float64), read from or written to ``cache_file``."""
    from sklearn.manifold import TSNE

    x = np.ascontiguousarray(x, dtype=np.float64)
    if perplexity >= len(x):
        raise QbenchError(f"t-SNE perplexity {perplexity:g} must be below the number of points ({len(x)})")
    digest = hashlib.sha256(x.tobytes()).hexdigest()[:16]
    meta = {"version": TSNE_VERSION, "sklearn": _sklearn_version(), "perplexity": float(perplexity),
            "random_state": int(random_state), "shape": list(x.shape), "data_sha256": digest}
    path = Path(cache_file) if cache_file is not None else None
    if path is not None and path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                if json.loads(str(z["meta"])) == meta:
                    return z["positions"]
        except (OSError, ValueError, KeyError):
            pass  # unreadable or stale: recompute
    tsne = TSNE(n_components=2, perplexity=float(perplexity), init="pca", learning_rate="auto",
                random_state=int(random_state))
    pos = tsne.fit_transform(x)
    if path is not None:
        try:
            atomic_write(path, lambda fh: np.savez(fh, positions=pos, meta=json.dumps(meta)), prefix=f".{path.stem}.")
        except WriteError:
            pass  # a read-only cache costs time, not correctness
    return pos


def class_names(task) -> tuple[str, str]:
    info = getattr(task, "info", {}) or {}
    if "digits" in info:
        return (f"digit {info['digits']['0']}", f"digit {info['digits']['1']}")
    if str(getattr(task, "name", "")).startswith("xxz"):
        return ("gapless (Δ ≤ 1)", "gapped (Δ > 1)")
    return ("label 0", "label 1")


def build_view(task, *, alpha: float = 0.2, seed: int = 0, perplexity: float = PERPLEXITY,
               cache_dir: str | os.PathLike | None = None, data_seed: int = 0) -> TsneView:
    """Corrupt ``task``'s training set both ways (run ``seed``), embed clean + random vectors once."""
    from qbench.corruption import check_alpha, corrupt

    check_alpha(alpha)
    x, y = task.x_train, task.y_train
    flipped = corrupt(x, y, "label_flip", alpha, seed)
    randomized = corrupt(x, y, "feature_randomization", alpha, seed)
    extra = randomized.x[randomized.indices]
    clean = task.encode_train(x, "real")
    union = np.concatenate([clean, task.encode_train(extra, "real", randomized.indices)]) if len(extra) else clean
    from qbench.tasks.xxz import default_cache_dir  # --cache-dir, else $QBENCH_CACHE_DIR, else the user cache

    phase = (task.info or {}).get("phase")
    name = (f"tsne-{task.name}-d{data_seed}{'-ph' + phase if phase else ''}-fr{alpha:g}-s{seed}-p{perplexity:g}"
            f"-sk{_sklearn_version()}-v{TSNE_VERSION}.npz")
    cache_file = default_cache_dir(cache_dir) / "tsne" / name
    pos = embed(union, perplexity=perplexity, random_state=seed, cache_file=cache_file)
    n = len(x)
    return TsneView(task=task.name, alpha=float(alpha), seed=int(seed), y=np.asarray(y), pos=pos[:n],
                    flip_idx=flipped.indices, y_flipped=flipped.y, rand_idx=randomized.indices,
                    rand_pos=pos[n:], class_names=class_names(task), phase=phase)


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "legend.fontsize": 8})
    return plt


def draw_view(view: TsneView):
    """The figure: three panels side by side (clean, label flipping, feature randomization), one legend."""
    from matplotlib.lines import Line2D

    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(12.6, 4.6), sharex=True, sharey=True, layout="constrained")
    n = len(view.y)
    dot = dict(s=9, linewidths=0, alpha=0.75)
    cross = dict(s=46, marker="X", edgecolors="black", linewidths=0.7, zorder=3)

    def scatter(ax, pos, labels, **kw):
        for c in (0, 1):
            m = labels == c
            if m.any():
                ax.scatter(pos[m, 0], pos[m, 1], c=CLASS_COLORS[c], **kw)

    # clean
    scatter(axes[0], view.pos, view.y, **dot)
    axes[0].set_title(f"clean (n = {n})")
    # label flipping: same points, labels as trained; flipped ones crossed
    keep = np.ones(n, bool)
    keep[view.flip_idx] = False
    scatter(axes[1], view.pos[keep], view.y_flipped[keep], **dot)
    scatter(axes[1], view.pos[view.flip_idx], view.y_flipped[view.flip_idx], **cross)
    axes[1].set_title(f"label flipping, α = {view.alpha:g} ({len(view.flip_idx)} flipped)")
    # feature randomization: untouched clean points, and the random vectors that replaced the others
    keep = np.ones(n, bool)
    keep[view.rand_idx] = False
    scatter(axes[2], view.pos[keep], view.y[keep], **dot)
    scatter(axes[2], view.rand_pos, view.y[view.rand_idx], **cross)
    axes[2].set_title(f"feature randomization, α = {view.alpha:g} ({len(view.rand_idx)} replaced)")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("t-SNE 1")
    axes[0].set_ylabel("t-SNE 2")

    handles = [Line2D([], [], linestyle="", marker="o", markersize=5, color=CLASS_COLORS[c],
                      label=f"{view.class_names[c]} (label {c} as trained)") for c in (0, 1)]
    handles.append(Line2D([], [], linestyle="", marker="X", markersize=7, markerfacecolor="white",
                          markeredgecolor="black", label="corrupted sample (fill: its label as trained)"))
    fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False)
    phase = f", {view.phase} global phase" if view.phase else ""
    fig.suptitle(f"t-SNE of the {view.task} training set{phase} (one embedding for all panels; run seed {view.seed})")
    return fig


def plot_view(view: TsneView, path: str | os.PathLike) -> str:
    """:func:`draw_view` saved as one PNG (150 dpi); returns the path."""
    plt = _plt()
    fig = draw_view(view)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    return str(path)


def tsne_filename(task: str, alpha: float, seed: int, phase: str | None = None) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in task)
    # the protocol's (random) phase keeps the plain name; the ablation's figure says its rule
    return f"tsne_{safe}_a{alpha:g}_s{seed}{'_phase-' + phase if phase not in (None, 'random') else ''}.png"


def tsne_figures(tasks: Sequence[str], out_dir: str, *, alpha: float = 0.2, seed: int = 0,
                 perplexity: float = PERPLEXITY, data_dir: str | None = None, cache_dir: str | None = None,
                 data_seed: int = 0, phase: str | None = None) -> list[str]:
    """``qbench plot tsne``: one figure per task; every task is loaded (and checked) before any is drawn.
    ``phase``: the xxz global-phase rule (default the protocol's, random); ignored by tasks without one."""
    from qbench.corruption import check_alpha
    from qbench.experiment import load_task
    from qbench.tasks import check_task_name

    check_alpha(alpha)
    if seed < 0:
        raise QbenchError(f"--seed must be >= 0, got {seed}")
    if not perplexity > 0:
        raise QbenchError(f"--perplexity must be > 0, got {perplexity}")
    for t in tasks:
        check_task_name(t)
    from qbench.tasks import check_task_options, default_task_options

    def options(t: str) -> tuple:
        opts = default_task_options(t)
        if phase is not None and "phase" in opts:
            opts.update(check_task_options(t, {"phase": phase}))
        return tuple(sorted(opts.items()))

    loaded = [load_task(t, data_seed, data_dir, cache_dir, options(t)) for t in tasks]
    written = []
    for task in loaded:
        view = build_view(task, alpha=alpha, seed=seed, perplexity=perplexity, cache_dir=cache_dir, data_seed=data_seed)
        written.append(plot_view(view, Path(out_dir) / tsne_filename(task.name, alpha, seed, view.phase)))
    return written
