"""retro-coach: a coach for walking backwards well.

Data flows sources -> signal -> detect -> coaching -> outputs, one sub-package each.
"""

__version__ = "0.1.0"
