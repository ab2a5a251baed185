"""Problem C's command trainer for tune's samplers: DTLZ2 with three objectives in six variables
(Deb et al. 2002, benches/objectives/hv.py), reported as obj1, obj2, obj3 at every boundary.
Usage: python3 dtlz2.py"""

import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_here, os.path.join(_here, "..", "..", "client")]
from tune_client import Trial  # noqa: E402
import hv  # noqa: E402


def main():
    trial = Trial()
    f = hv.dtlz2([float(trial.params["x%d" % i]) for i in range(1, 7)])
    hv.report_constant(trial, obj1=f[0], obj2=f[1], obj3=f[2])


if __name__ == "__main__":
    main()
