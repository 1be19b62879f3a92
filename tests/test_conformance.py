"""`qbench check method`: every registered method conforms; a broken one fails in one line, status 2."""

import dataclasses
import textwrap

import numpy as np
import pytest

from qbench.cli import main
from qbench.methods import UnlearningMethod, list_methods, mean_bce
from qbench.methods.conformance import check_method


@pytest.mark.parametrize("name", list_methods())
def test_every_registered_method_conforms(name):
    report = check_method(name)
    assert report.passed, report.reason()
    assert [line.name for line in report.lines] == ["hyperparameters", "objective", "hyperparameters matter",
                                                     "setup deterministic"]


class _Finetune(UnlearningMethod):
    def objective(self, logits_fn, theta, data, hp, step):
        return mean_bce(logits_fn(theta, data["x_retain"]), data["y_retain"])


class _NaN(_Finetune):
    def objective(self, logits_fn, theta, data, hp, step):
        return super().objective(logits_fn, theta, data, hp, step) * float("nan")


@dataclasses.dataclass
class _Mutable:
    w: float = 1.0


class _NotFrozen(_Finetune):
    Hyperparameters = _Mutable


class _NoDefault(_Finetune):
    @dataclasses.dataclass(frozen=True)
    class Hyperparameters:
        w: float


class _Coin(_Finetune):
    """Draws its state from the global generator, not from context.seed."""

    def setup(self, logits_fn, theta0, data, hp, context):
        return {"coin": np.random.default_rng().random(3)}


@dataclasses.dataclass(frozen=True)
class _Dead:
    unused: float = 0.3


class _Unused(_Finetune):
    Hyperparameters = _Dead


@pytest.mark.parametrize("cls,check,needle", [
    (_NaN, "objective", "mlp: the objective is nan at the starting parameters"),
    (_NotFrozen, "hyperparameters", "_Mutable is a dataclass but not frozen"),
    (_NoDefault, "hyperparameters", "w without a default"),
    (_Coin, "setup deterministic", "two calls with seed 1234 differ in coin"),
    (_Unused, "hyperparameters matter", "unused: 0.3 and 0.15 give the same parameters"),
])
def test_a_broken_method_fails_with_a_one_line_reason(cls, check, needle):
    report = check_method(cls)
    assert not report.passed
    failed = [line for line in report.lines if not line.passed]
    assert failed[0].name == check and needle in failed[0].detail
    assert "\n" not in report.reason() and needle in report.reason()


PLUGINS = '''
import numpy as np
from qbench.methods import UnlearningMethod, mean_bce

class Fine(UnlearningMethod):
    def objective(self, logits_fn, theta, data, hp, step):
        return mean_bce(logits_fn(theta, data["x_retain"]), data["y_retain"])

class NotADataclass(Fine):
    class Hyperparameters:
        w = 1.0

class Coin(Fine):
    def setup(self, logits_fn, theta0, data, hp, context):
        return {"coin": np.random.default_rng().random(3)}
'''


def test_check_method_on_the_command_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_methods.py").write_text(textwrap.dedent(PLUGINS))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["check", "method", "salun"]) == 0
    out, err = capsys.readouterr()
    assert out.count("\nok   ") == 3 and out.startswith("ok   hyperparameters") and "passed: salun conforms" in out
    assert main(["check", "method", "my_methods:Fine"]) == 0
    capsys.readouterr()
    for attr, needle in [("NotADataclass", "fails hyperparameters: Hyperparameters"),
                         ("Coin", "fails setup deterministic: two calls with seed 1234 differ in coin")]:
        assert main(["check", "method", f"my_methods:{attr}"]) == 2
        out, err = capsys.readouterr()
        assert len(err.splitlines()) == 1 and err.startswith("qbench: error: method 'my_methods:") and needle in err
        assert "FAIL " in out
    for argv in (["check", "method"], ["check", "analytic", "salun"]):
        assert main(argv) == 2
        assert "usage: qbench check method NAME_OR_MODULE:ATTR" in capsys.readouterr()[1]
    assert main(["check", "method", "nope"]) == 2
    assert "unknown unlearning method 'nope'" in capsys.readouterr()[1]


def test_a_methods_place_in_tables_comes_from_its_registration():
    from qbench.methods import LAST, method_order

    builtin = ["retrain", "finetune", "gradient_ascent", "scrub", "scrub_alternating", "neg_grad_plus",
               "random_labels", "salun", "l1_sparse", "bad_teacher"]
    assert [method_order(m) for m in builtin] == list(range(10))
    # a plugin's name, or one a record gives as module:attribute, comes after them and is never imported
    assert method_order("my_plugin") == method_order("some_module:Method") == LAST > 9
