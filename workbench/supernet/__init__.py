"""Once-for-all GhostNet: elastic Ghost modules, supernet training and subnet extraction.

Below `search/`, beside `training/`: the search asks a supernet for an accuracy exactly as it
asks proxy training (`workbench.supernet.accuracy`); the supernet knows nothing of Optuna.
"""

from workbench.supernet.envelope import Envelope, check_ghost_blocks, envelope_of
from workbench.supernet.net import GhostSupernet

__all__ = ["Envelope", "GhostSupernet", "check_ghost_blocks", "envelope_of"]
