"""`qbench plot tsne` (PROTOCOL 4.6): three panels from one cached embedding, corrupted points marked."""

from pathlib import Path

import numpy as np
import pytest

from qbench.cli import main
from qbench.tasks.base import TaskData

PNG = b"\x89PNG\r\n\x1a\n"


def tiny_task(n=40, d=16, seed=0) -> TaskData:
    g = np.random.default_rng(seed)
    y = np.repeat([0, 1], n // 2).astype(np.int64)
    x = g.normal(size=(n, d)).astype(np.float32) + 3.0 * y[:, None]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return TaskData(name="tiny", n_qubits=4, x_train=x, y_train=y, x_val=x[:4], y_val=y[:4], info={})


def test_three_panels_one_embedding_and_a_cache(tmp_path, monkeypatch):
    from qbench.views import tsne

    task = tiny_task()
    view = tsne.build_view(task, alpha=0.2, seed=0, perplexity=5, cache_dir=tmp_path)
    n, k = 40, 8  # alpha 0.2 of 40
    assert view.pos.shape == (n, 2) and view.rand_pos.shape == (k, 2)
    assert len(view.flip_idx) == k and len(view.rand_idx) == k
    assert np.array_equal(view.y_flipped[view.flip_idx], 1 - task.y_train[view.flip_idx])
    cached = list((tmp_path / "tsne").glob("*.npz"))
    assert len(cached) == 1
    # a second view comes from the cache: t-SNE is not run again, positions identical
    from sklearn.manifold import TSNE

    monkeypatch.setattr(TSNE, "fit_transform", lambda *a, **kw: pytest.fail("t-SNE ran again"))
    again = tsne.build_view(task, alpha=0.2, seed=0, perplexity=5, cache_dir=tmp_path)
    assert np.array_equal(again.pos, view.pos) and np.array_equal(again.rand_pos, view.rand_pos)

    fig = tsne.draw_view(view)
    assert len(fig.axes) == 3
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("clean") and "label flipping" in titles[1] and "feature randomization" in titles[2]
    # panel 1: every clean point; panel 2: the same points (flipped ones crossed); panel 3: n - k clean + k random
    counts = [sum(len(c.get_offsets()) for c in ax.collections) for ax in fig.axes]
    assert counts == [n, n, n]
    p2 = np.concatenate([c.get_offsets() for c in fig.axes[1].collections])
    def rows(a):
        a = np.asarray(a, np.float64)
        return a[np.lexsort(a.T[::-1])]

    assert np.allclose(rows(p2), rows(view.pos))  # label flipping moves no point
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("corrupted" in t for t in legend) and any("label 0" in t for t in legend)
    path = tsne.plot_view(view, tmp_path / "fig" / "t.png")
    assert Path(path).read_bytes()[:8] == PNG


def test_cli_tsne_on_a_small_task(tmp_path, cache_dir, capsys):
    out = tmp_path / "figs"
    code = main(["plot", "tsne", "--task", "xxz-4", "--perplexity", "10", "--out", str(out), "--cache-dir", cache_dir])
    text = capsys.readouterr().out
    assert code == 0 and "tsne_xxz-4_a0.2_s0.png" in text
    assert (out / "tsne_xxz-4_a0.2_s0.png").read_bytes()[:8] == PNG
    assert list(Path(cache_dir, "tsne").glob("tsne-xxz-4-*.npz"))


@pytest.mark.parametrize("args, message", [
    (["plot", "tsne", "--task", "nope"], "unknown task"),
    (["plot", "tsne", "--task", "xxz-4", "--alpha", "1.5"], "alpha"),
    (["plot", "tsne", "--task", "xxz-4", "--perplexity", "0"], "perplexity"),
    (["plot", "--task", "xxz-4"], "qbench plot tsne"),
])
def test_cli_tsne_bad_input_exits_2_and_writes_nothing(tmp_path, cache_dir, capsys, args, message):
    out = tmp_path / "figs"
    code = main([*args, "--out", str(out), "--cache-dir", cache_dir] if "tsne" in args else [*args, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not out.exists()
