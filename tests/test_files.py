"""Files qbench writes get the user's default permissions (0666 less the umask), never mkstemp's 0600."""

import os
import stat

import numpy as np
import pytest

from qbench.files import new_temp_file


@pytest.fixture(params=[0o027, 0o002])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_temp_file_follows_the_umask_and_never_reuses_a_name(tmp_path, umask):
    fd, path = new_temp_file(tmp_path, prefix=".x~", suffix=".tmp")
    os.close(fd)
    assert mode(path) == 0o666 & ~umask
    assert os.path.basename(path).startswith(".x~") and path.endswith(".tmp")
    names = {new_temp_file(tmp_path)[1] for _ in range(50)}
    assert len(names) == 50


def test_every_file_qbench_writes_has_the_default_mode(tmp_path, umask):
    from qbench.artifacts import cached_params, clear_memory
    from qbench.records import RecordStore
    from qbench.records.build import new_record
    from qbench.report.leaderboard import regenerate
    from qbench.tasks.xxz import _save_atomic
    from qbench.views.tsne import embed

    expected = 0o666 & ~umask
    store = RecordStore(tmp_path / "run")
    rec = new_record(suite="resilience", scenario="s", unit_key="u", config={"seed": 0}, metrics={"val_acc": 0.5},
                     task="xxz-4", model="mlp", model_size="4x2", corruption="label_flip", alpha=0.0, seed=0)
    written = [store.write_unit("u", [rec])]
    clear_memory()
    cached_params(tmp_path / "run", {"spec": 1}, lambda: (np.zeros(3), {"val_acc": 0.5}))
    written += list((tmp_path / "run" / "models").glob("*.npz"))
    regenerate([str(tmp_path / "none")], str(tmp_path / "board.md"), missing_ok=True)
    written.append(tmp_path / "board.md")
    _save_atomic(tmp_path / "cache" / "states.npz", a=np.zeros(2))
    written.append(tmp_path / "cache" / "states.npz")
    embed(np.random.default_rng(0).normal(size=(20, 3)), perplexity=5, cache_file=tmp_path / "tsne.npz")
    written.append(tmp_path / "tsne.npz")
    assert len(written) == 5
    assert {str(p): oct(mode(p)) for p in written} == {str(p): oct(expected) for p in written}
    clear_memory()


def test_a_trained_model_is_shared_only_under_the_same_thread_count(tmp_path, monkeypatch):
    import qbench.threads as T
    from qbench.artifacts import cached_params, clear_memory

    calls = []

    def train():
        calls.append(1)
        return np.full(2, float(len(calls))), {"val_acc": 0.5}

    monkeypatch.setattr(T, "tf_threads", lambda: 1)
    p1, info1, fresh1 = cached_params(tmp_path, {"seed": 0}, train)
    p1b, _, fresh1b = cached_params(tmp_path, {"seed": 0}, train)
    clear_memory()
    p1c, _, fresh1c = cached_params(tmp_path, {"seed": 0}, train)  # from disk, same count
    assert (fresh1, fresh1b, fresh1c) == (True, False, False) and len(calls) == 1
    assert np.array_equal(p1, p1b) and np.array_equal(p1, p1c)
    assert info1["trained_by"]["tf_threads"] == 1 and info1["trained_by"]["git_revision"]
    monkeypatch.setattr(T, "tf_threads", lambda: 2)
    p2, info2, fresh2 = cached_params(tmp_path, {"seed": 0}, train)  # another count: trained again
    assert fresh2 and len(calls) == 2 and not np.array_equal(p1, p2)
    assert info2["trained_by"]["tf_threads"] == 2
    clear_memory()


def test_atomic_write_replaces_whole_or_leaves_the_old_file_and_no_temporary(tmp_path):
    import errno

    from qbench.files import WriteError, atomic_write

    path = tmp_path / "sub" / "f.txt"
    assert atomic_write(path, lambda fh: fh.write(b"one\n")) and path.read_bytes() == b"one\n"

    def full_disk(fh):
        fh.write(b"tw")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(WriteError, match=f"cannot write {path}: No space left on device"):
        atomic_write(path, full_disk)
    assert path.read_bytes() == b"one\n" and sorted(p.name for p in path.parent.iterdir()) == ["f.txt"]
    with pytest.raises(ZeroDivisionError):
        atomic_write(path, lambda fh: 1 / 0)
    assert sorted(p.name for p in path.parent.iterdir()) == ["f.txt"]
    # exclusive: the first writer wins, the second is told and leaves nothing
    assert atomic_write(path, lambda fh: fh.write(b"two\n"), exclusive=True) is False
    assert path.read_bytes() == b"one\n" and sorted(p.name for p in path.parent.iterdir()) == ["f.txt"]
    assert atomic_write(tmp_path / "new.txt", lambda fh: fh.write(b"x"), exclusive=True) is True


def test_no_hand_written_rename_outside_the_atomic_writer():
    """Every file qbench replaces goes through qbench.files.atomic_write (one cleanup, one fsync)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "qbench"
    users = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                   if "new_temp_file(" in p.read_text() and p.name != "files.py")
    assert users == []
