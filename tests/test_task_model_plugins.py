"""Tasks and models from outside the package: ``module:attribute`` names in a fresh process, and entry points."""

import importlib.metadata
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qbench.errors import QbenchError

ROOT = Path(__file__).resolve().parents[1]
TOY = "toy_task_model:ToyTask"
TINY = "toy_task_model:ToyModel"


def _env(plugdir: Path, cache_dir: str) -> dict[str, str]:
    return {"PYTHONPATH": f"{plugdir}:{ROOT}", "QBENCH_CACHE_DIR": cache_dir, "PATH": "/usr/bin:/bin",
            "TF_CPP_MIN_LOG_LEVEL": "2", "QBENCH_DISABLE_PLUGIN_AUTOLOAD": "1"}


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for f in (out / "records").glob("*.jsonl") for line in f.read_text().splitlines()]


def test_a_toy_task_and_model_from_outside_run_resilience_and_unlearning(tmp_path, cache_dir):
    plugdir = tmp_path / "plugins"
    plugdir.mkdir()
    shutil.copy(ROOT / "examples" / "toy_task_model.py", plugdir)
    env = _env(plugdir, cache_dir)
    common = ["--task", TOY, "--model", TINY, "--quick", "--seeds", "0", "--no-progress"]
    runs = {"resilience": ["--corruption", "label_flip"], "unlearning": ["--method", "finetune", "--method", "retrain"]}
    for suite, extra in runs.items():
        out = tmp_path / suite
        r = subprocess.run([sys.executable, "-m", "qbench", "run", "--suite", suite, *common, *extra, "--out", str(out)],
                           env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        recs = _records(out)
        assert recs and {(x["task"], x["model"], x["status"]) for x in recs} == {(TOY, TINY, "ok")}
        assert {x["model_size"] for x in recs} == {"2"}  # the model's own size for the toy family
        if suite == "resilience":
            assert sorted(x["alpha"] for x in recs) == [0.0, 0.3, 0.6]
            assert recs[0]["config"]["train"]["epochs"] == 2  # the quick tier: a tenth of the model's 20 epochs
        else:
            assert {x["method"] for x in recs} == {"finetune", "retrain", "oracle"}
            assert {x["config"]["lr"] for x in recs} == {0.05}  # the toy family's unlearning learning rate
            assert max(x["step"] for x in recs) == 10
    # a bad name is one line of bad input
    r = subprocess.run([sys.executable, "-m", "qbench", "run", "--suite", "resilience", "--task", "toy_task_model:Nope",
                        "--quick", "--out", str(tmp_path / "bad")], env=env, cwd=tmp_path, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and "has no attribute 'Nope'" in r.stderr
    assert not (tmp_path / "bad").exists()


@pytest.fixture
def toy_entry_points(tmp_path, monkeypatch):
    """Entry points ``toy`` (task) and ``tiny`` (model) pointing at the example module, and fresh registries
    (forgotten again afterwards)."""
    import qbench.models
    import qbench.tasks

    shutil.copy(ROOT / "examples" / "toy_task_model.py", tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = {"qbench.tasks": [importlib.metadata.EntryPoint("toy", TOY, "qbench.tasks")],
           "qbench.models": [importlib.metadata.EntryPoint("tiny", TINY, "qbench.models")]}

    def fake(group=None):
        return eps.get(group, [])

    monkeypatch.delenv("QBENCH_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.setattr(importlib.metadata, "entry_points", fake)
    for registry in (qbench.tasks.FAMILIES, qbench.models.MODELS):
        registry.forget_plugins()
    yield eps
    for registry in (qbench.tasks.FAMILIES, qbench.models.MODELS):
        registry.forget_plugins()


def test_tasks_and_models_join_through_entry_points(toy_entry_points):
    from qbench.models import list_models, model_class, model_info
    from qbench.protocol import model_size, task_family, train_config, unlearning_lr
    from qbench.tasks import get_task, list_tasks, task_info

    assert "toy" in list_tasks() and "tiny" in list_models()
    assert task_info("toy").name == task_family("toy") == "toy"
    assert unlearning_lr("toy") == 0.05
    assert get_task("toy", data_seed=1).x_train.shape == (32, 4)
    assert model_info("tiny").title == "tiny MLP" and model_class("tiny").__name__ == "TinyMLP"
    # the task's recipe for the built-in MLP; the model's own for the toy family and for xxz
    assert train_config("toy", "mlp").epochs == 20 and model_size("toy", "mlp") == {"hidden": (4,)}
    assert model_size("toy", "tiny") == {"hidden": (2,)} and model_size("xxz-6", "tiny") == {"hidden": (4,)}
    with pytest.raises(QbenchError, match="no training recipe for model 'tiny' on task 'mnist-1v9'"):
        train_config("mnist-1v9", "tiny")


@pytest.mark.parametrize("group,name,needle", [
    ("qbench.tasks", "xxz-12", "plugin task 'xxz-12' (toy_task_model:ToyTask) clashes with the built-in task 'xxz-12'"),
    ("qbench.models", "qnn", "plugin model 'qnn' (toy_task_model:ToyModel) clashes with the built-in model 'qnn'"),
])
def test_a_plugin_clashing_with_a_builtin_name_is_one_error(toy_entry_points, group, name, needle):
    from qbench.models import list_models
    from qbench.tasks import list_tasks

    ep = toy_entry_points[group][0]
    toy_entry_points[group] = [importlib.metadata.EntryPoint(name, ep.value, group)]
    with pytest.raises(QbenchError) as exc:
        (list_tasks if group == "qbench.tasks" else list_models)()
    assert str(exc.value).startswith(needle) and "\n" not in str(exc.value)


def test_an_installed_task_goes_by_the_names_its_family_declares(toy_entry_points, tmp_path):
    """Entry point ``tfim`` of a family declaring ``tasks=("tfim-8",)``: the task is ``tfim-8``, found (and read
    from a record) by its family's entry-point name without importing the plugin; ``tfim`` alone names no task."""
    import sys

    from qbench.tasks import check_task_name, get_task, list_tasks, named_task, plugin_tasks, task_info

    (tmp_path / "tfim_task.py").write_text("from dataclasses import replace\nfrom toy_task_model import ToyTask\n"
                                           "TFIM = replace(ToyTask, name='tfim', tasks=('tfim-8',))\n")
    toy_entry_points["qbench.tasks"].append(importlib.metadata.EntryPoint("tfim", "tfim_task:TFIM", "qbench.tasks"))
    assert named_task("tfim-8").source == "installed" and "tfim_task" not in sys.modules
    assert named_task("tfimx-8") is None
    assert task_info("tfim-8").name == "tfim" and get_task("tfim-8").x_val.shape == (32, 4)
    assert plugin_tasks() == ["tfim-8", "toy"] and "tfim" not in list_tasks()
    for wrong in ("tfim", "tfim-9"):
        with pytest.raises(QbenchError, match=f"unknown task '{wrong}': the plugin 'tfim' declares the task\\(s\\) tfim-8"):
            check_task_name(wrong)


def test_list_scenarios_shows_what_each_suite_builds_for_an_installed_task(toy_entry_points):
    from qbench.commands.info import _scenario_lines as scenario_lines

    lines = scenario_lines()
    shown = [line.split()[0] for line in lines[lines.index(next(x for x in lines if x.startswith("(tasks from plugins"))) + 1:]]
    # the toy family gives the MLP a recipe and the tiny model its own; capacity (an xxz-12 sweep) refuses it
    assert {"resilience/toy/mlp/label_flip", "resilience/toy/tiny/feature_randomization", "unlearning/toy/mlp",
            "corrective/toy/tiny", "sensitivity/toy/mlp", "landscape/toy/mlp"} <= set(shown)
    assert not [s for s in shown if s.startswith("capacity/") or "/qnn" in s]
