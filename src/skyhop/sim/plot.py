"""The timeline PNG of `skyhop sim spot --plot`: where each policy ran the job, and its progress.

Per policy, top to bottom: its name and cost; the trace's spot availability
(green: spot to be had); where the job ran (blue spot, orange on-demand,
grey waiting); its progress (black) against the uniform progress line (grey)
up to the deadline (red). Drawn on a `png.Canvas` with a 3x5 pixel font, so
plotting needs no plotting library.
"""

from __future__ import annotations

from typing import Sequence

from skyhop.jobs.policies import Market
from skyhop.sim.png import RGB, Canvas
from skyhop.sim.simulate import Job, Outcome, Window

WIDTH = 960
MARGIN = 16
SCALE = 2  # font pixels per glyph pixel
BAND = 10
CHART = 90
GAP = 14
COLORS: dict[Market, RGB] = {Market.SPOT: (52, 120, 220), Market.ON_DEMAND: (240, 140, 30), Market.NONE: (225, 225, 225)}
AVAILABLE, UNAVAILABLE = (90, 180, 90), (245, 245, 245)
INK, GUIDE, DEADLINE = (0, 0, 0), (170, 170, 170), (215, 40, 40)

# 3x5 glyphs: five rows top to bottom, '#' = ink; anything else is drawn as a space.
_GLYPHS = {
    "A": ".#. #.# ### #.# #.#", "B": "##. #.# ##. #.# ##.", "C": ".## #.. #.. #.. .##", "D": "##. #.# #.# #.# ##.", "E": "### #.. ##. #.. ###",
    "F": "### #.. ##. #.. #..", "G": ".## #.. #.# #.# .##", "H": "#.# #.# ### #.# #.#", "I": "### .#. .#. .#. ###", "J": "..# ..# ..# #.# .#.",
    "K": "#.# #.# ##. #.# #.#", "L": "#.. #.. #.. #.. ###", "M": "#.# ### ### #.# #.#", "N": "##. #.# #.# #.# #.#", "O": ".#. #.# #.# #.# .#.",
    "P": "##. #.# ##. #.. #..", "Q": ".#. #.# #.# ##. .##", "R": "##. #.# ##. #.# #.#", "S": ".## #.. .#. ..# ##.", "T": "### .#. .#. .#. .#.",
    "U": "#.# #.# #.# #.# ###", "V": "#.# #.# #.# #.# .#.", "W": "#.# #.# ### ### #.#", "X": "#.# #.# .#. #.# #.#", "Y": "#.# #.# .#. .#. .#.",
    "Z": "### ..# .#. #.. ###", "0": "### #.# #.# #.# ###", "1": ".#. ##. .#. .#. ###", "2": "##. ..# .#. #.. ###", "3": "##. ..# .#. ..# ##.",
    "4": "#.# #.# ### ..# ..#", "5": "### #.. ##. ..# ##.", "6": ".## #.. ### #.# ###", "7": "### ..# .#. .#. .#.", "8": "### #.# ### #.# ###",
    "9": "### #.# ### ..# ##.", ".": "... ... ... ... .#.", "_": "... ... ... ... ###", "-": "... ... ### ... ...", ":": "... .#. ... .#. ...",
    "%": "#.# ..# .#. #.. #.#", "(": ".#. #.. #.. #.. .#.", ")": ".#. ..# ..# ..# .#.", "/": "..# ..# .#. #.. #..", "=": "... ### ... ### ...",
    ",": "... ... ... .#. #..",
}


def text(canvas: Canvas, x: int, y: int, words: str, color: RGB = INK) -> None:
    for char in words.upper():
        rows = _GLYPHS.get(char, "... ... ... ... ...").split()
        for row, bits in enumerate(rows):
            for col, bit in enumerate(bits):
                if bit == "#":
                    canvas.rect(x + col * SCALE, y + row * SCALE, x + (col + 1) * SCALE, y + (row + 1) * SCALE, color)
        x += 4 * SCALE


def timeline_png(path: str, job: Job, window: Window, outcomes: Sequence[tuple[str, Outcome]]) -> None:
    """Draw each (policy name, recorded outcome) on `window` into the PNG at `path`."""
    label = 5 * SCALE + 6
    panel = label + BAND + 2 + BAND + 4 + CHART + GAP
    canvas = Canvas(WIDTH, MARGIN * 2 + panel * len(outcomes))
    span = job.deadline * 1.04
    right = WIDTH - MARGIN

    def x_of(seconds: float) -> int:
        return MARGIN + round((right - MARGIN) * min(seconds, span) / span)

    baseline = window.ondemand_price * (job.runtime + job.changeover) / 3600
    for index, (name, outcome) in enumerate(outcomes):
        top = MARGIN + index * panel
        finished = "NOT FINISHED" if outcome.finished_at is None else f"DONE AT {outcome.finished_at / 3600:.1f} H"
        text(canvas, MARGIN, top, f"{name}  COST {outcome.cost / baseline:.3f} OF ON-DEMAND  {finished}  DEADLINE {job.deadline / 3600:g} H")
        band = top + label
        for tick, available in enumerate(window.available):
            canvas.rect(x_of(tick * window.tick), band, x_of((tick + 1) * window.tick), band + BAND, AVAILABLE if available else UNAVAILABLE)
        runs = band + BAND + 2
        points = outcome.timeline
        for here, after in zip(points, points[1:]):
            canvas.rect(x_of(here.time), runs, x_of(after.time), runs + BAND, COLORS[here.market])
        chart_top = runs + BAND + 4
        bottom = chart_top + CHART

        def y_of(done: float, bottom: int = bottom) -> int:
            return bottom - round(CHART * done / job.runtime)

        canvas.rect(MARGIN, bottom, right, bottom + 1, GUIDE)
        canvas.rect(MARGIN, chart_top, MARGIN + 1, bottom, GUIDE)
        canvas.line(x_of(0), y_of(0), x_of(job.deadline), y_of(job.runtime), GUIDE)
        canvas.rect(x_of(job.deadline), chart_top, x_of(job.deadline) + 2, bottom + 1, DEADLINE)
        for here, after in zip(points, points[1:]):
            canvas.line(x_of(here.time), y_of(here.done), x_of(after.time), y_of(after.done), INK)
    canvas.save(path)
