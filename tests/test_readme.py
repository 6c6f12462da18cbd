"""Every ```python block of README.md runs as written and prints what the README shows.

The rules, for every section (whoever writes it):

- Each ```python block runs as a script in a fresh interpreter, from
  ``examples/`` (on ``sys.path``, so ``from my_layers import ...`` works as it
  does for a user who starts Python there). A block directly preceded by the
  line ``<!-- readme: continue -->`` runs in the same interpreter as the block
  before it instead, for text that says it builds on that block.
- What a block prints is shown in a plain ``` block right after it (blank lines
  between are allowed). A block without one must print nothing. Signatures and
  snippets that cannot run here (a cluster, a batch system) go in ```text blocks.
- A plain ``` block whose first line is ``$ fastcheck ...`` is a shell sample:
  that line runs in a shell from ``examples/`` and the rest of the block is what
  it prints (stdout and stderr together).
- Comparison is line by line after three normalisations: timing figures are
  masked ("in 0.0325 s" compares as "in <s> s"; "(and 0.37 s compiling)" and
  the note on fastcheck's own kernels compiled on first use, which only a cold
  cache prints, are dropped), and so is the scratch
  ("scratch 376 B"), which grows with the threads a check runs on (a check
  predicted to be short runs on one), and so is the count of cost evaluations,
  which includes the closer look's, and that stops after a time budget; and so
  are the figures that measure rounding, which follows the machine's BLAS
  kernels (OpenBLAS picks them by CPU: Haswell, SkylakeX, ...): an ``ok``
  tensor's difference, max abs error and worst index, a passing check's
  difference, the cost's measured noise and the steps fitted to it; runs
  of spaces collapse
  to one (table columns widen with their contents: rows compare cell by cell),
  and trailing blank lines go. Every other figure compares to the printed
  digits: fastcheck's results are deterministic.

After a change that moves the outputs, ``python tests/test_readme.py --update``
reruns every block and rewrites the output blocks (and the shell samples) that
differ from what they print now, timings as printed; an output that differs in
masked figures only is left as it is, so the README keeps the timings of a
quiet machine.
"""

import functools
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
from typing import NamedTuple

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
EXAMPLES = ROOT / "examples"
CONTINUE = "<!-- readme: continue -->"
SENTINEL = "@@ readme block done @@"
TIMEOUT = 1200
_FENCE = re.compile(r"^```(\w*)\s*$")
_MASKS = [(re.compile(r"\bin \d[\d.]*(?:e[+-]?\d+)? s\b"), "in <s> s"),
          # Compiling shows only when something compiled (a cold cache): dropped whole.
          (re.compile(r" \(and \d[\d.]*(?:e[+-]?\d+)? s compiling(?: the cost)?\)"), ""),
          (re.compile(r"^ *note: \S+ s of the compiling was fastcheck's own kernels.*\n?",
                      re.M), ""),
          (re.compile(r"\bscratch \d[\d.]* (?:B|KB|MB|GB)\b"), "scratch <bytes>"),
          (re.compile(r"\b\d+ cost evaluations\b"), "<n> cost evaluations"),
          # Rounding, which follows the machine's BLAS kernels (the user's sums, and J's):
          # an "ok" tensor's difference, largest error and where it is; a passing check's
          # difference; the measured noise of the cost and the steps fitted to it.
          (re.compile(r"^(\s+\S+\s+\([^)]*\)\s+\d+\s+)\d\.\d+e[+-]\d+\s+\d\.\d+e[+-]\d+\s+"
                      r"\S+?(?:\[[^\]]*\])?(\s+\d\.\de[+-]\d+\s+ok)$", re.M),
           r"\1<rounding>\2"),
          (re.compile(r"(difference = )\d\.\d+e[+-]\d+( \(< threshold)"), r"\1<rounding>\2"),
          # check_jvp's dot-product rows that agree: |<jvp(t), u> - <t, vjp(u)>| is rounding.
          (re.compile(r"^(\s+\S+\s+\S+\s+\S+\s+)\d\.\d+e[+-]\d+(\s+\d\.\de[+-]\d+\s+ok\s+-)$",
                      re.M), r"\1<rounding>\2"),
          (re.compile(r"(measured noise is )\S+( of \|J\|.*median )[\d.e+-]+"),
           r"\1<rounding>\2<step>")]

pytestmark = pytest.mark.slow


class Block(NamedTuple):
    """A fenced block: its kind ("python" or "shell"), code, the line numbers
    (0-based, fences excluded) of its body, of the output block's body after it
    (None if there is none), and whether it continues the previous block."""

    kind: str
    code: str
    body: tuple
    output: tuple
    continues: bool

    @property
    def name(self):
        return f"README.md:{self.body[0]}"


def fences(lines):
    """(language, first body line, end fence line) of every fenced block."""
    found, k = [], 0
    while k < len(lines):
        match = _FENCE.match(lines[k])
        if match:
            end = next(j for j in range(k + 1, len(lines)) if lines[j].rstrip() == "```")
            found.append((match.group(1), k + 1, end))
            k = end
        k += 1
    return found


def parse(text):
    """The python blocks and shell samples of a README's ``text``, in order."""
    lines = text.split("\n")
    found = fences(lines)
    blocks, outputs = [], set()
    for n, (language, start, end) in enumerate(found):
        if language != "python":
            continue
        output = None
        if n + 1 < len(found) and found[n + 1][0] == "" \
                and all(not line.strip() for line in lines[end + 1:found[n + 1][1] - 1]):
            output = (found[n + 1][1], found[n + 1][2])
            outputs.add(found[n + 1][1])
        continues = start >= 2 and lines[start - 2].strip() == CONTINUE
        blocks.append(Block("python", "\n".join(lines[start:end]), (start, end), output,
                            continues))
    for language, start, end in found:
        if language == "" and start not in outputs and start < end \
                and lines[start].startswith("$ fastcheck"):
            blocks.append(Block("shell", lines[start][2:], (start, start + 1),
                                (start + 1, end), False))
    return sorted(blocks, key=lambda block: block.body)


def chains(blocks):
    """The python blocks grouped by interpreter: a block that continues joins the
    chain before it."""
    groups = []
    for block in blocks:
        if block.kind != "python":
            continue
        if block.continues and groups:
            groups[-1].append(block)
        else:
            groups.append([block])
    return groups


def run_chain(codes):
    """What each of ``codes`` (the blocks of one chain) prints, run as one script."""
    script = f"\nprint({SENTINEL!r}, flush=True)\n".join(codes) \
        + f"\nprint({SENTINEL!r}, flush=True)\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "readme_block.py"
        path.write_text(script)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            filter(None, [str(EXAMPLES), os.environ.get("PYTHONPATH")])))
        done = subprocess.run([sys.executable, str(path)], cwd=EXAMPLES, env=env,
                              capture_output=True, text=True, timeout=TIMEOUT)
    if done.returncode != 0:
        raise AssertionError(f"the block failed:\n{codes[-1]}\n{done.stderr[-4000:]}")
    outs = done.stdout.split(SENTINEL + "\n")
    assert len(outs) == len(codes) + 1 and outs[-1] == "", done.stdout
    return outs[:-1]


def run_shell(command):
    """What the shell sample ``command`` prints (stdout and stderr)."""
    bin_dir = pathlib.Path(sys.executable).parent
    env = dict(os.environ, PATH=os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")]))
    done = subprocess.run(command, shell=True, cwd=EXAMPLES, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=TIMEOUT)
    return done.stdout


def normalise(text):
    """Lines with timings masked, spaces collapsed, trailing blank lines dropped."""
    for pattern, mask in _MASKS:
        text = pattern.sub(mask, text)
    lines = [" ".join(line.split()) if line.strip() else "" for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


@functools.cache
def outputs():
    """{block name: what it prints now}, every block run once."""
    blocks = parse(README.read_text())
    got = {}
    for chain in chains(blocks):
        got.update(zip([block.name for block in chain], run_chain([b.code for b in chain])))
    for block in blocks:
        if block.kind == "shell":
            got[block.name] = run_shell(block.code)
    return got


def shown(block, lines):
    return "\n".join(lines[block.output[0]:block.output[1]]) if block.output else ""


BLOCKS = parse(README.read_text())


def test_the_readme_has_blocks_to_run():
    kinds = [block.kind for block in BLOCKS]
    assert kinds.count("python") >= 5 and kinds.count("shell") >= 1


def test_a_continued_block_has_a_block_before_it():
    assert not (BLOCKS and BLOCKS[0].continues)


@pytest.mark.parametrize("block", BLOCKS, ids=lambda block: block.name)
def test_block_prints_what_the_readme_shows(block):
    lines = README.read_text().split("\n")
    assert normalise(outputs()[block.name]) == normalise(shown(block, lines)), (
        f"{block.name} prints something else than the README shows; if the change is "
        "meant, run python tests/test_readme.py --update")


def test_normalise_masks_timings_and_collapses_spaces():
    printed = ("  47 coordinates, 128 cost evaluations in 0.0325 s, scratch 752 B (and 0.37 s "
               "compiling the cost)")
    assert normalise(printed + "\n\n") == ["47 coordinates, <n> cost evaluations in <s> s, "
                                          "scratch <bytes>"]
    assert normalise("a\n  note: 12.3 s of the compiling was fastcheck's own kernels, compiled "
                     "on first use and cached for later checks\nb") == ["a", "b"]
    assert normalise("  b2  (3, 1)  3  3.356e-08  1.326e-08  b2[2, 0]  2.0e-06  ok") == \
        normalise("  b2  (3, 1)  3  2.794e-08  1.104e-08  b2[1, 0]  2.0e-06  ok")
    assert normalise("  b2  (3, 1)  3  3.356e-08  1.326e-08  b2[2, 0]  2.0e-06  WRONG") != \
        normalise("  b2  (3, 1)  3  2.794e-08  1.104e-08  b2[1, 0]  2.0e-06  WRONG")
    assert normalise("  b2  (3, 1)  3  3.356e-08  1.326e-08  b2[2, 0]  2.0e-06  ok") != \
        normalise("  b2  (3, 1)  3  3.356e-08  1.326e-08  b2[2, 0]  3.0e-06  ok")
    assert normalise("fastcheck PASSED: difference = 7.536992e-11 (< threshold 1e-07)") == \
        normalise("fastcheck PASSED: difference = 9.900860e-11 (< threshold 1e-07)")
    assert normalise("the cost's measured noise is 1e-07 of |J| (float64 rounding is about "
                     "1e-16): steps fitted to it, median 0.0047") == normalise(
        "the cost's measured noise is 8.3e-08 of |J| (float64 rounding is about 1e-16): "
        "steps fitted to it, median 0.0044")
    assert normalise("W1  (5, 4)   ok") == normalise("W1 (5, 4) ok")
    assert normalise("difference = 2.850932e-01") != normalise("difference = 2.850933e-01")
    agree = "  x   5.026290e-01   5.026290e-01  {}  1.9e-06  {}  {}"
    assert normalise(agree.format("6.66e-16", "ok", "-")) == \
        normalise(agree.format("1.11e-16", "ok", "-"))
    assert normalise(agree.format("5.28e-01", "INCONSISTENT", "jvp")) != \
        normalise(agree.format("5.27e-01", "INCONSISTENT", "jvp"))


def update():
    """Rewrite README.md's output blocks that differ from what their block prints now."""
    text = README.read_text()
    lines = text.split("\n")
    got, rewritten = outputs(), []
    # From the last block up, so that earlier line numbers stay valid.
    for block in sorted(parse(text), key=lambda block: block.body, reverse=True):
        new = got[block.name].rstrip("\n").split("\n") if got[block.name].strip() else []
        if normalise(got[block.name]) == normalise(shown(block, lines)):
            continue
        rewritten.append(block.name)
        if block.output:
            lines[block.output[0]:block.output[1]] = new
        elif new:
            lines[block.body[1] + 1:block.body[1] + 1] = ["", "```", *new, "```"]
    README.write_text("\n".join(lines))
    print(json.dumps({"updated": README.name, "blocks": len(got), "rewritten": rewritten}))


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/test_readme.py --update")
    update()
