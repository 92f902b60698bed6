"""Sub-commands of this layer (registered by coach.cli)."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add this layer's sub-commands."""
