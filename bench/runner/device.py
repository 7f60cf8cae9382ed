"""Before a run on a device other than the CPU: does each backend of the plan see it?

``python -m bench run --device gpu`` asks every backend with cells on the GPU,
each in a short process of its own (the runner imports no framework), to take
that device: the backend's own ``use_device`` (``torch.cuda.is_available()``,
``jax.devices("gpu")``, ``tf.config.list_physical_devices("GPU")``; NumPy runs
on the CPU only). Then, before anything is written:

* a backend named with ``--backend`` that cannot take the device stops the run:
  one line per such backend (what is missing, where the CUDA builds' recipe is),
  exit status 2, nothing run;
* of the default backends (every installed one), those that cannot are left out
  of the device's cells with one note each, and the others run; if none is left,
  the run stops as above.

A run on a remote ``--scheduler`` is not checked here: its workers are other
machines. ``python -m bench.runner.device BACKEND DEVICE`` is the probe itself:
it prints one JSON object (``{"ok": ..., "version": ..., "reason": ...}``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

from ..cells import ARTICLE, CellSpec

#: longest wait for one backend's answer (importing a framework on a busy machine)
PROBE_TIMEOUT = 300.0
#: where the CUDA builds of these backends' frameworks are installed from
GPU_RECIPE = 'README.md, section "GPU runs"'
GPU_BUILDS = ("jax", "torch", "tensorflow")


@dataclass(frozen=True)
class Answer:
    backend: str
    device: str
    ok: bool
    reason: str = ""  #: why not, in one line
    version: str = ""

    def line(self) -> str:
        who = f"{self.backend} {self.version}".strip()
        hint = f"; for its CUDA build see {GPU_RECIPE}" if self.backend in GPU_BUILDS else ""
        return f"--device {self.device}: {who} cannot run there: {self.reason}{hint}"


def needed(specs: list[CellSpec]) -> dict[str, set[str]]:
    """``{device: backends with cells on it}`` for every device other than the CPU."""
    out: dict[str, set[str]] = {}
    for spec in specs:
        if spec.device != "cpu" and spec.cell.backend != ARTICLE:
            out.setdefault(spec.device, set()).add(spec.cell.backend)
    return out


def probe_command(backend: str, device: str) -> list[str]:
    return [sys.executable, "-m", "bench.runner.device", backend, device]


def ask(pairs: list[tuple[str, str]], timeout: float = PROBE_TIMEOUT) -> list[Answer]:
    """One probe process per (backend, device), all at once; an answer for each."""
    procs = [
        (
            backend,
            device,
            subprocess.Popen(probe_command(backend, device), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        )
        for backend, device in pairs
    ]
    answers = []
    for backend, device, proc in procs:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            answers.append(Answer(backend, device, False, f"it did not answer within {timeout:g} s"))
            continue
        answers.append(_answer(backend, device, proc.returncode, out, err))
    return answers


def _answer(backend: str, device: str, code: int, out: str, err: str) -> Answer:
    for line in reversed(out.splitlines()):
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and "ok" in doc:
            return Answer(backend, device, bool(doc["ok"]), str(doc.get("reason") or ""), str(doc.get("version") or ""))
    last = next((line.strip() for line in reversed(err.splitlines()) if line.strip()), f"exit status {code}")
    return Answer(backend, device, False, f"its probe failed: {last[:300]}")


def check(
    specs: list[CellSpec],
    named: bool,
    note: Callable[[str], None],
    refuse: Callable[[list[str]], Exception],
    asker: Callable[[list[tuple[str, str]]], list[Answer]] = ask,
) -> list[CellSpec]:
    """The specs to run: the device's cells of default backends that cannot take it left out (a note
    each); raises ``refuse(lines)`` when a named backend cannot, or no backend is left for a device."""
    wanted = needed(specs)
    if not wanted:
        return specs
    answers = asker([(b, d) for d, names in sorted(wanted.items()) for b in sorted(names)])
    missing = [a for a in answers if not a.ok]
    if not missing:
        return specs
    lost = {(a.backend, a.device) for a in missing}
    empty = [d for d, names in wanted.items() if all((b, d) in lost for b in names)]
    if named or empty:
        lines = [a.line() for a in missing]
        for device in empty:
            lines.append(f"no backend of this run can run on the {device}: nothing was run")
        if not empty:
            able = sorted(f"{a.backend} ({a.device})" for a in answers if a.ok)
            lines.append(
                f"drop the backends above from --backend (these can run there: {', '.join(able)}); nothing was run"
            )
        raise refuse(lines)
    for a in missing:
        note(f"{a.line()}; its {a.device} cells are left out")
    return [s for s in specs if (s.cell.backend, s.device) not in lost]


def main(argv: list[str]) -> int:
    """The probe: can BACKEND take DEVICE here? One JSON line on stdout."""
    if len(argv) != 2:
        print("usage: python -m bench.runner.device BACKEND DEVICE", file=sys.stderr)
        return 2
    name, device = argv
    import backends

    from ..cli import load_plugins

    answer: dict[str, object] = {"ok": False}
    try:
        load_plugins()  # BENCH_PLUGINS, as the runner and its workers load them
        backend = backends.get(name)
        answer["version"] = backend.version()
        backend.use_device(device)
        answer["ok"] = True
    except Exception as exc:  # a missing framework, a broken import, no device: said in one line
        text = str(exc).strip().splitlines()
        answer["reason"] = (text[0] if text else type(exc).__name__)[:300]
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
