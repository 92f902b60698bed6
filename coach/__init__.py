"""retro-coach: a coach for walking backwards well.

Data flows sources -> signal -> detect -> coaching -> outputs, one sub-package each.
"""
import os

# The classifier predicts a few windows at a time; OpenMP thread start-up per call costs far
# more than the work (and a live coach must answer within milliseconds), so stay on one thread.
# `coach train` raises the limit for fitting.
os.environ.setdefault("OMP_NUM_THREADS", "1")

__version__ = "0.1.0"
