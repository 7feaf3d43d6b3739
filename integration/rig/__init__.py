"""The local rig: real HAProxy, Prometheus, two demo service versions and load, on loopback."""

from integration.rig.rig import Rig

__all__ = ["Rig"]
