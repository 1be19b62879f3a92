"""Figures from records: PNG files with names that depend only on what is plotted; suites without records
skipped."""

from tests.report_records import results, run_cli, sweep_record, write_records  # noqa: F401  (fixture)

EXPECTED_PNGS = ["capacity_xxz-12.png", "landscape_mnist-1v9_lrr.png", "resilience_xxz-12.png",
                 "unlearning_xxz-12_forget_acc.png", "unlearning_xxz-12_val_acc.png"]



def test_figures_are_png_files_with_expected_names(capsys, tmp_path, results):
    import matplotlib.image as mpimg

    out = tmp_path / "figures"
    code, stdout, _ = run_cli(capsys, "plot", "--results", results, "--out", out)
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == EXPECTED_PNGS
    for name in EXPECTED_PNGS:
        img = mpimg.imread(out / name)
        assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300



def test_plot_skips_suites_without_records(capsys, tmp_path):
    recs = [sweep_record("capacity", "qnn", "label_flip", a, s, 0.9, size="n4-d5") for a in (0.0, 0.3) for s in (0, 1)]
    write_records(tmp_path / "r", recs)
    code, stdout, _ = run_cli(capsys, "plot", "--results", tmp_path / "r", "--out", tmp_path / "f")
    assert code == 0
    assert "unlearning: no records, figure skipped" in stdout
    assert "landscape: no records, figure skipped" in stdout
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == ["capacity_xxz-4.png"]
    # a suite whose units all failed has records, none successful
    write_records(tmp_path / "r", recs + [sweep_record("resilience", "mlp", "label_flip", 0.0, 0, 0.9, status="failed")])
    code, stdout, _ = run_cli(capsys, "plot", "--results", tmp_path / "r", "--out", tmp_path / "f")
    assert code == 0 and "resilience: no successful records, figure skipped" in stdout
    assert "unlearning: no records, figure skipped" in stdout

