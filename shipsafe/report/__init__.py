"""`shipsafe report`: one self-contained HTML file (and a PNG) of a rollout on one time axis.

data.py gathers what the store recorded (no plotting library); plot.py draws it with
matplotlib (imported only here); page.py writes the HTML around the inline SVG."""
