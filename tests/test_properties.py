"""Properties over random input: the command line and the record loader either accept the input or
say what is wrong in one line (status 2, ``file:line``), never a traceback, never a partial result,
never a written output directory. No example trains anything (planning stops before execution)."""

import contextlib
import io
import json
import re
import string
import tempfile
from pathlib import Path
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qbench.cli import main
from qbench.errors import QbenchError
from qbench.records.build import new_record
from qbench.records.store import load_records
from qbench.suites import list_suites

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SUITES = list_suites() + ["all"]
TASKS = ["xxz-4", "xxz-6", "xxz-12", "mnist-1v9", "xxz-", "xxz-0", "mnist-1v1", "mnist-3v8"]

random_text = st.text(min_size=0, max_size=20)
number_text = st.lists(st.sampled_from(["0", "0.3", "1", "1.5", "-0.2", "nan", "inf", "1e-3", " ", "", "x", ".5"]),
                       max_size=4).map(",".join)
seed_text = st.one_of(st.from_regex(r"\A[0-9]{1,2}(-[0-9]{1,2})?\Z"), st.from_regex(r"\A[0-9]{1,2}(,[0-9]{1,2}){0,3}\Z"))
set_text = st.one_of(
    random_text,
    st.builds(lambda m, p, v: f"{m}.{p}={v}", st.sampled_from(["scrub", "finetune", "nope", "", "a.b"]),
              st.sampled_from(["lambda_fo", "kl", "bogus", "", "lr"]), st.sampled_from(["0.1", "study", "", "x", "-1"])),
)


@contextlib.contextmanager
def no_execution():
    """Plan, but never load data, execute a plan or train: ``run_units`` only counts its calls."""
    calls = []

    def fake_run_units(units, store, ctx, **kw):
        from qbench.runner import RunReport

        calls.append(len(units))
        return RunReport(skipped=[u.key for u in units])

    with mock.patch("qbench.runner.run_units", fake_run_units), \
            mock.patch("qbench.experiment.load_task", lambda *a, **k: None):
        yield calls


def run_main(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@SETTINGS
@given(
    suite=st.one_of(st.sampled_from(SUITES), st.sampled_from(SUITES), random_text),  # mostly real names
    task=st.one_of(st.none(), st.sampled_from(TASKS), st.sampled_from(TASKS), random_text),
    alphas=st.one_of(st.none(), number_text, random_text),
    seeds=st.one_of(st.none(), seed_text, random_text),
    sets=st.lists(set_text, max_size=2),
    model=st.sampled_from([None, "mlp", "qnn"]),
)
def test_run_arguments_parse_or_fail_in_one_line_and_write_nothing(suite, task, alphas, seeds, sets, model):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        argv = ["run", f"--suite={suite}", f"--out={out}", "--epochs=1", "--steps=1", "--no-progress"]
        argv += [f"--task={task}"] if task is not None else []
        argv += [f"--alphas={alphas}"] if alphas is not None else []
        argv += [f"--seeds={seeds}"] if seeds is not None else []
        argv += [f"--model={model}"] if model else []
        argv += [f"--set={s}" for s in sets]
        with no_execution() as calls:
            code, stdout, stderr = run_main(argv)
        assert "Traceback" not in stderr + stdout
        assert not out.exists()
        if code == 0:
            assert calls and stderr == ""
        else:
            assert code == 2 and not calls
            lines = stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("qbench: error: "), stderr


@SETTINGS
@given(argv=st.lists(st.one_of(random_text, st.sampled_from(["run", "--suite", "--seeds", "--alphas", "--set", "--task",
                                                             "--workers", "--executor", "local", "dask", "-1", "--"])),
                     max_size=6))
def test_random_argument_lists_never_raise(argv):
    """Whatever the words (help aside), the parser returns, or the CLI fails in one line with status 2."""
    if any(a.startswith("-h") or (a.startswith("--h") and "--help".startswith(a.split("=")[0])) for a in argv):
        return  # --help prints the usage and exits 0 by design
    with tempfile.TemporaryDirectory() as tmp, no_execution():
        code, stdout, stderr = run_main(["run", f"--out={tmp}/out", "--epochs=1", *argv])
        assert "Traceback" not in stderr
        assert code in (0, 2)
        if code == 2:
            assert len(stderr.strip().splitlines()) == 1
        assert not Path(tmp, "out").exists()


# -- record files ---------------------------------------------------------------------------------

def good_record(i: int) -> dict:
    return new_record(suite="resilience", scenario="s", unit_key=f"u-{i}", config={"seed": i}, metrics={"val_acc": 0.5},
                      task="xxz-4", model="mlp", model_size="64x16", corruption="label_flip", alpha=0.3, seed=i)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=5,
)
FIELDS = ["schema_version", "suite", "alpha", "seed", "status", "metrics", "config", "provenance", "unit_key"]


@st.composite
def record_line(draw):
    """(line, known_bad): a valid record, or one broken in a way the loader must reject or accept whole."""
    i = draw(st.integers(0, 9))
    kind = draw(st.sampled_from(["good", "truncated", "wrong_type", "missing", "garbage", "bytes", "blank", "deep"]))
    text = json.dumps(good_record(i), sort_keys=True)
    if kind == "good":
        return text.encode(), False
    if kind == "truncated":
        return text[: draw(st.integers(1, len(text) - 1))].encode(), True
    if kind == "wrong_type":
        rec = good_record(i)
        rec[draw(st.sampled_from(FIELDS))] = draw(json_values)
        return json.dumps(rec).encode(), False  # may or may not still be valid
    if kind == "missing":
        rec = good_record(i)
        del rec[draw(st.sampled_from(FIELDS))]
        return json.dumps(rec).encode(), True
    if kind == "garbage":
        junk = draw(st.text(alphabet=string.printable.replace("\n", "").replace("\r", ""), min_size=1, max_size=30))
        return junk.encode(), bool(junk.strip()) and not _is_json_object(junk)
    if kind == "bytes":
        raw = draw(st.binary(min_size=1, max_size=30)).replace(b"\n", b"\xff")
        return raw, bool(raw.strip())
    if kind == "deep":
        return b"[" * 5000 + b"]" * 5000, True
    return b"   ", False


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


@SETTINGS
@given(files=st.lists(st.lists(record_line(), min_size=1, max_size=5), min_size=1, max_size=3),
       chop=st.booleans())
def test_record_loading_is_all_or_a_one_line_error_naming_file_and_line(files, chop):
    with tempfile.TemporaryDirectory() as tmp:
        rec_dir = Path(tmp, "records")
        rec_dir.mkdir()
        paths = []
        for n, lines in enumerate(files):
            p = rec_dir / f"unit-{n}.jsonl"
            blob = b"\n".join(line for line, _ in lines) + b"\n"
            if chop:  # a file cut anywhere (a writer that did not use a temporary file)
                blob = blob[: max(1, len(blob) // 2)]
            p.write_bytes(blob)
            paths.append(p)
        try:
            recs = load_records([tmp])
        except QbenchError as exc:
            msg = str(exc)
            assert "\n" not in msg
            m = re.match(r"^(.*\.jsonl):(\d+): ", msg)
            assert m, msg
            assert Path(m.group(1)) in paths
            assert 1 <= int(m.group(2)) <= len(Path(m.group(1)).read_bytes().split(b"\n"))
        else:
            # accepted: every non-blank line became one record, nothing half-read
            n_lines = sum(1 for p in paths for line in p.read_bytes().split(b"\n") if line.strip())
            assert len(recs) == n_lines
            assert all(isinstance(r, dict) and "unit_key" in r for r in recs)
            if not chop:
                assert not any(bad for lines in files for _, bad in lines)
