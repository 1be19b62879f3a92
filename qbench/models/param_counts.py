"""Trainable parameter counts of the built-in models from their size and the task's input, without
building them (no TensorFlow): what ``qbench list models`` shows per task. Each equals the built
model's ``n_params`` (tests/test_controls.py checks them all)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence


def dense(n_in: int, hidden: Sequence[int]) -> int:
    """Weights and biases of Dense layers n_in -> hidden... -> 1."""
    widths = [int(n_in), *(int(h) for h in hidden), 1]
    return sum(a * b + b for a, b in zip(widths, widths[1:]))


def real_width(n_amplitudes: int, complex_input: bool) -> int:
    """Features of the 'real' encoding: the amplitudes, or [Re, Im] of complex ones."""
    return int(n_amplitudes) * (2 if complex_input else 1)


def qnn(size: Mapping[str, Any], n_amplitudes: int, complex_input: bool) -> int:
    """D*N*3 rotation angles and D RZZ angles per entangling pair (PROTOCOL 2.1); the rxry-cnot
    ansatz (4.3) has two angles per qubit and layer and no trainable entangler."""
    n, d = int(n_amplitudes).bit_length() - 1, int(size.get("depth", 6))
    if size.get("ansatz", "rxryrx-rzz") == "rxry-cnot":
        return d * n * 2
    pairs = {"ring": n if n > 1 else 0, "chain": n - 1, "none": 0}[size.get("entangler", "ring")]
    return d * (3 * n + pairs)


def mlp(size: Mapping[str, Any], n_amplitudes: int, complex_input: bool) -> int:
    return dense(real_width(n_amplitudes, complex_input), size.get("hidden", (16, 4)))


def linear(size: Mapping[str, Any], n_amplitudes: int, complex_input: bool) -> int:
    return dense(real_width(n_amplitudes, complex_input), ())


def mlp_matched(size: Mapping[str, Any], n_amplitudes: int, complex_input: bool) -> int:
    """The MLP after the fixed projection: the projection's input_dim * features numbers are not trained."""
    return dense(size.get("features", 10), size.get("hidden", (16, 4)))
